package gograd_test

import (
	"bytes"
	"fmt"
	"math"
	"strings"
	"testing"

	g "github.com/gograd/gograd"
	"github.com/gograd/gograd/device"
	"github.com/gograd/gograd/internal/env"
)

// TestRowKernels: on the CPU device, reductions broadcast back along their
// own axes (a softmax's maximum and sum, a norm's statistics) stay in the
// kernel that reads them, which passes over each row once per reduction;
// the numbers are those of the GO device, which stores each statistic in a
// kernel of its own.
func TestRowKernels(t *testing.T) {
	if kind, _, _ := strings.Cut(g.DefaultDevice(), ":"); kind != "CPU" {
		t.Skipf("row kernels are the CPU device's; the default device is %s", kind)
	}
	w96, b96 := g.Rand(96).Realize(), g.Rand(96).Realize()
	w64 := g.Rand(64).Realize()
	tests := []struct {
		name  string
		shape []int
		want  int64 // kernels on CPU; 0: more than one
		f     func(x *g.Tensor) *g.Tensor
	}{
		{"softmax, rows of 4096", []int{8, 4096}, 1, func(x *g.Tensor) *g.Tensor { return x.Softmax(-1) }},
		{"softmax, rows of 37", []int{5, 37}, 1, func(x *g.Tensor) *g.Tensor { return x.Softmax(-1) }},
		{"softmax along a strided axis", []int{3, 50, 7}, 1, func(x *g.Tensor) *g.Tensor { return x.Softmax(1) }},
		{"softmax of one row", []int{1, 300}, 1, func(x *g.Tensor) *g.Tensor { return x.Softmax(-1) }},
		{"log softmax", []int{6, 100}, 1, func(x *g.Tensor) *g.Tensor { return x.LogSoftmax(-1) }},
		{"layer norm", []int{7, 96}, 1, func(x *g.Tensor) *g.Tensor {
			return x.LayerNorm([]int{96}, w96.To(x.Device()), b96.To(x.Device()), 1e-5)
		}},
		{"RMS norm", []int{9, 64}, 1, func(x *g.Tensor) *g.Tensor { return x.RMSNorm(w64.To(x.Device()), 1e-6) }},
		{"variance (the mean a phase of its kernel)", []int{4, 33}, 1, func(x *g.Tensor) *g.Tensor { return x.Var(1) }},
		{"normalized over two axes", []int{3, 8, 20}, 1, func(x *g.Tensor) *g.Tensor {
			return x.Sub(x.Mean([]int{1, 2}, g.KeepDim)).Div(x.Std([]int{1, 2}, g.KeepDim))
		}},
		{"softmax then permuted (stored by a row kernel)", []int{6, 40}, 2, func(x *g.Tensor) *g.Tensor { return x.Softmax(-1).Permute(1, 0).Mul(2) }},
		{"softmax then reshaped (stored by a row kernel)", []int{6, 40}, 2, func(x *g.Tensor) *g.Tensor { return x.Softmax(-1).Reshape(3, 80).Add(1) }},
		{"softmax of rows too long to keep in cache", []int{2, 1 << 17}, 0, func(x *g.Tensor) *g.Tensor { return x.Softmax(-1) }},
		{"softmax read by a product (stored by a row kernel)", []int{4, 6, 40}, 2, func(x *g.Tensor) *g.Tensor {
			return x.Softmax(-1).Matmul(x.Permute(0, 2, 1))
		}},
		{"a broadcast viewed again", []int{6, 40}, 0, func(x *g.Tensor) *g.Tensor {
			return x.Max(1, g.KeepDim).Expand(6, 40).Permute(1, 0).Add(x.Permute(1, 0))
		}},
		{"sum of a softmax", []int{5, 64}, 1, func(x *g.Tensor) *g.Tensor { return x.Softmax(-1).Mul(x).Sum(1) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			x := g.Randn(tc.shape...).Mul(3).Realize()
			var got *g.Tensor
			n := countKernels(func() { got = tc.f(x).Realize() })
			switch {
			case tc.want > 0 && n != tc.want:
				t.Errorf("%d kernels, want %d", n, tc.want)
			case tc.want == 0 && n < 2:
				t.Errorf("%d kernel, want the reductions in kernels of their own", n)
			}
			old := g.SetDefaultDevice("GO")
			want := tc.f(g.FromSliceOn("GO", x.Float32s(), tc.shape...)).Float32s()
			g.SetDefaultDevice(old)
			for i, v := range got.Float32s() {
				if d := math.Abs(float64(v - want[i])); d > 1e-5*(1+math.Abs(float64(want[i]))) {
					t.Fatalf("element %d: %g, GO device %g", i, v, want[i])
				}
			}
		})
	}
}

// TestRowKernelGradients: the backward pass of a softmax and a layer norm,
// whose row kernels read gradients along the rows as well, against the GO
// device.
func TestRowKernelGradients(t *testing.T) {
	if kind, _, _ := strings.Cut(g.DefaultDevice(), ":"); kind != "CPU" {
		t.Skipf("row kernels are the CPU device's; the default device is %s", kind)
	}
	shape := []int{6, 48}
	data := g.Randn(shape...).Float32s()
	up := g.Randn(shape...).Float32s()
	grad := func(dev string) []float32 {
		old := g.SetDefaultDevice(dev)
		defer g.SetDefaultDevice(old)
		x := g.FromSliceOn(dev, data, shape...).RequiresGrad(true)
		y := x.Softmax(-1).Add(x.LayerNorm([]int{48}, nil, nil, 1e-5))
		y.Mul(g.FromSliceOn(dev, up, shape...)).Sum().Backward()
		return x.Grad.Float32s()
	}
	got, want := grad(g.DefaultDevice()), grad("GO")
	for i := range got {
		if d := math.Abs(float64(got[i] - want[i])); d > 1e-4*(1+math.Abs(float64(want[i]))) {
			t.Fatalf("gradient element %d: %g, GO device %g", i, got[i], want[i])
		}
	}
}

// TestRowKernelDebug: DEBUG=3 marks a row kernel's line with "rows".
func TestRowKernelDebug(t *testing.T) {
	if kind, _, _ := strings.Cut(g.DefaultDevice(), ":"); kind != "CPU" {
		t.Skipf("row kernels are the CPU device's; the default device is %s", kind)
	}
	var buf bytes.Buffer
	old := device.DebugOutput
	device.DebugOutput = &buf
	oldLevel := env.SetDebug(3)
	defer func() { device.DebugOutput = old; env.SetDebug(oldLevel) }()
	// A shape no other test (or earlier run of this one) uses, so that
	// its kernel compiles here.
	debugRuns++
	rows := 2 + debugRuns
	g.Rand(rows, 43).Realize().Softmax(-1).Realize()
	name := fmt.Sprintf("--- kernel r_%d_43 ", rows)
	for _, l := range strings.Split(buf.String(), "\n") {
		if strings.HasPrefix(l, name) {
			if !strings.HasSuffix(l, " rows") {
				t.Errorf("DEBUG=3 line of the softmax's row kernel lacks \"rows\": %q", l)
			}
			return
		}
	}
	t.Fatalf("DEBUG=3 printed no %q line:\n%s", name, buf.String())
}

var debugRuns int
