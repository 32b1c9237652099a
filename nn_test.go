package gograd_test

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"

	g "github.com/gograd/gograd"
)

// The references in this file are plain Go loops over realized data,
// written from PyTorch's definitions (not from gograd's compositions).

// nnRandn returns a realized tensor of standard normal values and its data.
func nnRandn(shape ...int) (*g.Tensor, []float32) {
	t := g.Randn(shape...).Realize()
	return t, t.Float32s()
}

func nnProd(s []int) int {
	n := 1
	for _, d := range s {
		n *= d
	}
	return n
}

// nnClose reports the first element where got and want differ by more than
// tol (absolute plus relative), or "" when they agree; NaN matches NaN.
func nnClose(got, want []float32, tol float64) string {
	if len(got) != len(want) {
		return fmt.Sprintf("%d elements, want %d", len(got), len(want))
	}
	for i := range got {
		a, b := float64(got[i]), float64(want[i])
		if math.IsNaN(a) && math.IsNaN(b) || a == b {
			continue
		}
		if math.IsNaN(a) || math.IsNaN(b) || math.Abs(a-b) > tol*(1+math.Abs(b)) {
			return fmt.Sprintf("element %d: got %v, want %v", i, a, b)
		}
	}
	return ""
}

func nnCheck(t *testing.T, name string, got *g.Tensor, shape []int, want []float32) {
	t.Helper()
	if !slices.Equal(got.Shape(), shape) {
		t.Fatalf("%s: shape %v, want %v", name, got.Shape(), shape)
	}
	if d := nnClose(got.Float32s(), want, 1e-4); d != "" {
		t.Errorf("%s: %s", name, d)
	}
}

// nnOpt returns v, or def when v is nil, for option lists of one value.
func nnOpt(v []int, i, def int) int {
	switch len(v) {
	case 0:
		return def
	case 1:
		return v[0]
	}
	return v[i]
}

// refConv2d is PyTorch's conv2d: out[n][o][y][x] = bias[o] + sum over c in
// o's group, ky, kx of in[n][c][y*s-p+ky*d][x*s-p+kx*d] * w[o][c][ky][kx].
func refConv2d(x []float32, xs []int, w []float32, ws []int, b []float32, o g.ConvOpts) ([]float32, []int) {
	n, c, h, wd := xs[0], xs[1], xs[2], xs[3]
	oc, cg, kh, kw := ws[0], ws[1], ws[2], ws[3]
	grp := max(o.Groups, 1)
	sh, sw := nnOpt(o.Stride, 0, 1), nnOpt(o.Stride, 1, 1)
	ph, pw := nnOpt(o.Padding, 0, 0), nnOpt(o.Padding, 1, 0)
	dh, dw := nnOpt(o.Dilation, 0, 1), nnOpt(o.Dilation, 1, 1)
	oh := (h+2*ph-dh*(kh-1)-1)/sh + 1
	ow := (wd+2*pw-dw*(kw-1)-1)/sw + 1
	out := make([]float32, n*oc*oh*ow)
	opg := oc / grp
	for ni := range n {
		for oi := range oc {
			gi := oi / opg
			for y := range oh {
				for xx := range ow {
					var acc float64
					if b != nil {
						acc = float64(b[oi])
					}
					for ci := range cg {
						cin := gi*cg + ci
						for ky := range kh {
							iy := y*sh - ph + ky*dh
							if iy < 0 || iy >= h {
								continue
							}
							for kx := range kw {
								ix := xx*sw - pw + kx*dw
								if ix < 0 || ix >= wd {
									continue
								}
								acc += float64(x[((ni*c+cin)*h+iy)*wd+ix]) * float64(w[((oi*cg+ci)*kh+ky)*kw+kx])
							}
						}
					}
					out[((ni*oc+oi)*oh+y)*ow+xx] = float32(acc)
				}
			}
		}
	}
	return out, []int{n, oc, oh, ow}
}

func TestConv2d(t *testing.T) {
	tests := []struct {
		name   string
		x, w   []int
		bias   bool
		opts   g.ConvOpts
		relu   bool
		layout string
	}{
		{"plain", []int{1, 3, 8, 8}, []int{4, 3, 3, 3}, true, g.ConvOpts{}, false, ""},
		{"pad1", []int{2, 3, 7, 9}, []int{5, 3, 3, 3}, true, g.ConvOpts{Padding: []int{1}}, true, ""},
		{"stride2", []int{2, 2, 9, 8}, []int{3, 2, 3, 3}, false, g.ConvOpts{Stride: []int{2}, Padding: []int{1}}, false, ""},
		{"stride2 pad2", []int{1, 2, 10, 10}, []int{2, 2, 5, 5}, true, g.ConvOpts{Stride: []int{2}, Padding: []int{2}}, false, ""},
		{"dilation2", []int{1, 2, 11, 10}, []int{3, 2, 3, 3}, true, g.ConvOpts{Dilation: []int{2}}, false, ""},
		{"dilation2 pad2", []int{2, 3, 8, 8}, []int{4, 3, 3, 3}, true, g.ConvOpts{Dilation: []int{2}, Padding: []int{2}}, true, ""},
		{"groups2", []int{2, 4, 6, 6}, []int{6, 2, 3, 3}, true, g.ConvOpts{Groups: 2, Padding: []int{1}}, false, ""},
		{"depthwise", []int{1, 4, 7, 7}, []int{4, 1, 3, 3}, true, g.ConvOpts{Groups: 4, Padding: []int{1}}, false, ""},
		{"non-square", []int{1, 3, 9, 12}, []int{2, 3, 2, 4}, true, g.ConvOpts{Stride: []int{2, 3}, Padding: []int{1, 2}, Dilation: []int{2, 1}}, false, ""},
		{"1x1", []int{3, 5, 4, 4}, []int{7, 5, 1, 1}, true, g.ConvOpts{}, false, ""},
		{"1x1 stride3", []int{1, 2, 7, 8}, []int{3, 2, 1, 1}, true, g.ConvOpts{Stride: []int{3}}, false, ""},
		{"stride>kernel", []int{1, 2, 11, 11}, []int{2, 2, 2, 2}, false, g.ConvOpts{Stride: []int{3}, Padding: []int{1}}, false, ""},
		{"stride dilation groups", []int{2, 4, 13, 11}, []int{4, 2, 3, 2}, true, g.ConvOpts{Stride: []int{2, 1}, Padding: []int{2, 0}, Dilation: []int{3, 2}, Groups: 2}, false, ""},
		{"kernel = input", []int{1, 2, 5, 5}, []int{3, 2, 5, 5}, true, g.ConvOpts{}, false, ""},
		{"batch 3 large", []int{3, 8, 16, 16}, []int{16, 8, 3, 3}, true, g.ConvOpts{Padding: []int{1}}, true, ""},
		{"permuted input", []int{2, 3, 6, 5}, []int{4, 3, 3, 3}, true, g.ConvOpts{Padding: []int{1}}, false, "permuted"},
	}
	g.Seed(1)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			x, xd := nnRandn(tc.x...)
			if tc.layout == "permuted" { // a non-contiguous view as input
				xp, _ := nnRandn(tc.x[0], tc.x[2], tc.x[3], tc.x[1])
				x = xp.Permute(0, 3, 1, 2)
				xd = x.Float32s()
			}
			w, wd := nnRandn(tc.w...)
			var b *g.Tensor
			var bd []float32
			if tc.bias {
				b, bd = nnRandn(tc.w[0])
			}
			want, shape := refConv2d(xd, tc.x, wd, tc.w, bd, tc.opts)
			got := x.Conv2d(w, b, tc.opts)
			if tc.relu {
				got = got.Relu()
				for i, v := range want {
					want[i] = max(v, 0)
				}
			}
			nnCheck(t, "Conv2d", got, shape, want)
		})
	}
}

func TestConv1d(t *testing.T) {
	tests := []struct {
		x, w []int
		opts g.ConvOpts
	}{
		{[]int{2, 3, 10}, []int{4, 3, 3}, g.ConvOpts{}},
		{[]int{1, 4, 17}, []int{6, 2, 5}, g.ConvOpts{Stride: []int{2}, Padding: []int{2}, Dilation: []int{2}, Groups: 2}},
		{[]int{3, 2, 9}, []int{2, 2, 1}, g.ConvOpts{Stride: []int{4}}},
	}
	g.Seed(2)
	for i, tc := range tests {
		x, xd := nnRandn(tc.x...)
		w, wd := nnRandn(tc.w...)
		b, bd := nnRandn(tc.w[0])
		// A 1-D convolution is a 2-D one over a height of 1.
		o2 := g.ConvOpts{Stride: []int{1, nnOpt(tc.opts.Stride, 0, 1)}, Padding: []int{0, nnOpt(tc.opts.Padding, 0, 0)}, Dilation: []int{1, nnOpt(tc.opts.Dilation, 0, 1)}, Groups: tc.opts.Groups}
		want, s := refConv2d(xd, []int{tc.x[0], tc.x[1], 1, tc.x[2]}, wd, []int{tc.w[0], tc.w[1], 1, tc.w[2]}, bd, o2)
		nnCheck(t, fmt.Sprint("Conv1d ", i), x.Conv1d(w, b, tc.opts), []int{s[0], s[1], s[3]}, want)
	}
}

// refConvTranspose2d scatters every input element times the kernel into
// the output, as the adjoint of conv2d: out[n][g*og+o][iy*s-p+ky*d][...] +=
// x[n][c][iy][ix] * w[c][o][ky][kx] for c in group g.
func refConvTranspose2d(x []float32, xs []int, w []float32, ws []int, b []float32, o g.ConvTransposeOpts) ([]float32, []int) {
	n, c, h, wd := xs[0], xs[1], xs[2], xs[3]
	og, kh, kw := ws[1], ws[2], ws[3]
	grp := max(o.Groups, 1)
	sh, sw := nnOpt(o.Stride, 0, 1), nnOpt(o.Stride, 1, 1)
	ph, pw := nnOpt(o.Padding, 0, 0), nnOpt(o.Padding, 1, 0)
	dh, dw := nnOpt(o.Dilation, 0, 1), nnOpt(o.Dilation, 1, 1)
	oph, opw := nnOpt(o.OutputPadding, 0, 0), nnOpt(o.OutputPadding, 1, 0)
	oh := (h-1)*sh - 2*ph + dh*(kh-1) + oph + 1
	ow := (wd-1)*sw - 2*pw + dw*(kw-1) + opw + 1
	oc := og * grp
	acc := make([]float64, n*oc*oh*ow)
	cpg := c / grp
	for ni := range n {
		for ci := range c {
			gi := ci / cpg
			for iy := range h {
				for ix := range wd {
					v := float64(x[((ni*c+ci)*h+iy)*wd+ix])
					for oi := range og {
						for ky := range kh {
							y := iy*sh - ph + ky*dh
							if y < 0 || y >= oh {
								continue
							}
							for kx := range kw {
								xx := ix*sw - pw + kx*dw
								if xx < 0 || xx >= ow {
									continue
								}
								acc[((ni*oc+gi*og+oi)*oh+y)*ow+xx] += v * float64(w[((ci*og+oi)*kh+ky)*kw+kx])
							}
						}
					}
				}
			}
		}
	}
	out := make([]float32, len(acc))
	for i, v := range acc {
		if b != nil {
			v += float64(b[(i/(oh*ow))%oc])
		}
		out[i] = float32(v)
	}
	return out, []int{n, oc, oh, ow}
}

func TestConvTranspose2d(t *testing.T) {
	tests := []struct {
		x, w []int
		opts g.ConvTransposeOpts
	}{
		{[]int{1, 2, 4, 4}, []int{2, 3, 3, 3}, g.ConvTransposeOpts{}},
		{[]int{2, 3, 5, 4}, []int{3, 2, 3, 3}, g.ConvTransposeOpts{Stride: []int{2}, Padding: []int{1}}},
		{[]int{1, 2, 4, 5}, []int{2, 2, 4, 4}, g.ConvTransposeOpts{Stride: []int{2}, Padding: []int{1}, OutputPadding: []int{1}}},
		{[]int{1, 4, 3, 3}, []int{4, 1, 3, 2}, g.ConvTransposeOpts{Stride: []int{3, 2}, Dilation: []int{2, 1}, Groups: 2}},
		{[]int{2, 2, 4, 4}, []int{2, 2, 3, 3}, g.ConvTransposeOpts{Padding: []int{2}, Dilation: []int{2}}},
		{[]int{1, 2, 3, 3}, []int{2, 1, 2, 2}, g.ConvTransposeOpts{Stride: []int{2}, Padding: []int{3}, OutputPadding: []int{1}}},
	}
	g.Seed(3)
	for i, tc := range tests {
		x, xd := nnRandn(tc.x...)
		w, wd := nnRandn(tc.w...)
		b, bd := nnRandn(tc.w[1] * max(tc.opts.Groups, 1))
		want, s := refConvTranspose2d(xd, tc.x, wd, tc.w, bd, tc.opts)
		nnCheck(t, fmt.Sprint("ConvTranspose2d ", i), x.ConvTranspose2d(w, b, tc.opts), s, want)
	}
}

// TestConvTransposeOfConstant transposes a convolution of a constant (the
// gradient of sum(conv)): its kernel sums masked constants over 3-long
// loops, which GCC 12.2's loop vectorizer got wrong at -O3 with AVX2 or
// AVX-512 (the CPU device now turns that vectorizer off for GCC).
func TestConvTransposeOfConstant(t *testing.T) {
	forEachDevice(t, func(t *testing.T) {
		g.Seed(5)
		w, wd := nnRandn(3, 2, 3, 3)
		ones := make([]float32, 3*3*3)
		for i := range ones {
			ones[i] = 1
		}
		want, s := refConvTranspose2d(ones, []int{1, 3, 3, 3}, wd, []int{3, 2, 3, 3}, nil, g.ConvTransposeOpts{})
		nnCheck(t, "ConvTranspose2d of ones", g.Ones(1, 3, 3, 3).ConvTranspose2d(w, nil, g.ConvTransposeOpts{}), s, want)
	})
}

// refPool2d is PyTorch's max_pool2d / avg_pool2d over the last two axes of
// x (B, H, W), with its output size rule (ceil mode drops a window that
// starts in the right padding) and divisor rule.
func refPool2d(x []float32, xs []int, o g.PoolOpts, avg bool) ([]float32, []int) {
	b, h, w := xs[0], xs[1], xs[2]
	kh, kw := nnOpt(o.Kernel, 0, 0), nnOpt(o.Kernel, 1, 0)
	sh, sw := kh, kw
	if o.Stride != nil {
		sh, sw = nnOpt(o.Stride, 0, 1), nnOpt(o.Stride, 1, 1)
	}
	ph, pw := nnOpt(o.Padding, 0, 0), nnOpt(o.Padding, 1, 0)
	dh, dw := nnOpt(o.Dilation, 0, 1), nnOpt(o.Dilation, 1, 1)
	size := func(in, k, s, p, d int) int {
		num := in + 2*p - d*(k-1) - 1
		if o.CeilMode {
			num += s - 1
		}
		out := num/s + 1
		if o.CeilMode && (out-1)*s >= in+p {
			out--
		}
		return out
	}
	oh, ow := size(h, kh, sh, ph, dh), size(w, kw, sw, pw, dw)
	out := make([]float32, b*oh*ow)
	for bi := range b {
		for y := range oh {
			for xx := range ow {
				best := math.Inf(-1)
				sum, cnt, area := 0.0, 0, 0
				for ky := range kh {
					iy := y*sh - ph + ky*dh
					for kx := range kw {
						ix := xx*sw - pw + kx*dw
						if iy < h+ph && ix < w+pw { // inside the padded input
							area++
						}
						if iy < 0 || iy >= h || ix < 0 || ix >= w {
							continue
						}
						v := float64(x[(bi*h+iy)*w+ix])
						if v > best || math.IsNaN(v) {
							best = v
						}
						sum += v
						cnt++
					}
				}
				r := best
				if avg {
					if o.ExcludePad {
						r = sum / float64(cnt)
					} else {
						r = sum / float64(area)
					}
				}
				out[(bi*oh+y)*ow+xx] = float32(r)
			}
		}
	}
	return out, []int{oh, ow}
}

func TestPool2d(t *testing.T) {
	tests := []struct {
		x    []int
		opts g.PoolOpts
	}{
		{[]int{1, 2, 8, 8}, g.PoolOpts{Kernel: []int{2}}},
		{[]int{2, 3, 7, 9}, g.PoolOpts{Kernel: []int{3}, Stride: []int{2}, Padding: []int{1}}},
		{[]int{1, 1, 9, 9}, g.PoolOpts{Kernel: []int{3}, Stride: []int{1}}},
		{[]int{2, 2, 7, 7}, g.PoolOpts{Kernel: []int{2}, CeilMode: true}},
		{[]int{1, 2, 10, 11}, g.PoolOpts{Kernel: []int{3}, Stride: []int{2}, Padding: []int{1}, CeilMode: true}},
		{[]int{1, 2, 6, 6}, g.PoolOpts{Kernel: []int{2}, Stride: []int{2}, Padding: []int{1}, CeilMode: true}},
		{[]int{1, 1, 8, 7}, g.PoolOpts{Kernel: []int{3, 2}, Stride: []int{2, 3}, Padding: []int{1, 0}}},
		{[]int{3, 5, 5}, g.PoolOpts{Kernel: []int{2}, Stride: []int{1}, Padding: []int{1}}},
		{[]int{1, 2, 9, 10}, g.PoolOpts{Kernel: []int{3}, Stride: []int{2}, Padding: []int{1}, ExcludePad: true}},
		{[]int{1, 2, 10, 9}, g.PoolOpts{Kernel: []int{3}, Stride: []int{2}, Padding: []int{1}, CeilMode: true, ExcludePad: true}},
		{[]int{1, 1, 6, 8}, g.PoolOpts{Kernel: []int{2}, Stride: []int{3}}},
		{[]int{1, 1, 11, 11}, g.PoolOpts{Kernel: []int{4}, Stride: []int{3}, Padding: []int{2}, CeilMode: true}},
	}
	g.Seed(4)
	for i, tc := range tests {
		x, xd := nnRandn(tc.x...)
		sp := tc.x[len(tc.x)-2:]
		lead := tc.x[:len(tc.x)-2]
		for _, avg := range []bool{false, true} {
			want, os := refPool2d(xd, []int{nnProd(lead), sp[0], sp[1]}, tc.opts, avg)
			shape := append(slices.Clone(lead), os...)
			name := fmt.Sprintf("MaxPool2d %d %+v", i, tc.opts)
			got := x.MaxPool2d(tc.opts)
			if avg {
				name = fmt.Sprintf("AvgPool2d %d %+v", i, tc.opts)
				got = x.AvgPool2d(tc.opts)
			}
			nnCheck(t, name, got, shape, want)
		}
	}
	// Dilation (max pooling only, as in PyTorch).
	x, xd := nnRandn(2, 2, 11, 10)
	o := g.PoolOpts{Kernel: []int{3}, Stride: []int{2}, Padding: []int{1}, Dilation: []int{2, 3}, CeilMode: true}
	want, os := refPool2d(xd, []int{4, 11, 10}, o, false)
	nnCheck(t, "MaxPool2d dilation", x.MaxPool2d(o), append([]int{2, 2}, os...), want)
}

func TestMaxPoolKeepsInfAndNaN(t *testing.T) {
	inf := float32(math.Inf(1))
	nan := float32(math.NaN())
	x := g.FromSlice([]float32{-inf, -inf, 1, inf, nan, 2, 3, 4, -5, -6, -7, -8, 0, 0, 0, 0}, 1, 1, 4, 4)
	got := x.MaxPool2d(g.PoolOpts{Kernel: []int{2}}).Float32s()
	if !math.IsNaN(float64(got[0])) || got[1] != inf || got[2] != 0 || got[3] != 0 {
		t.Errorf("MaxPool2d with inf and NaN: %v, want [NaN +Inf 0 0]", got)
	}
	// Integer inputs pad with the type's minimum.
	xi := g.FromSlice([]int32{-9, -8, -7, -6}, 1, 1, 2, 2)
	gi := xi.MaxPool2d(g.PoolOpts{Kernel: []int{2}, Stride: []int{1}, Padding: []int{1}}).Int32s()
	if !slices.Equal(gi, []int32{-9, -8, -8, -7, -6, -6, -7, -6, -6}) {
		t.Errorf("MaxPool2d of int32 with padding: %v", gi)
	}
}

func TestAdaptiveAvgPool2d(t *testing.T) {
	tests := []struct{ x, out []int }{
		{[]int{2, 3, 8, 8}, []int{4, 4}},
		{[]int{1, 2, 7, 9}, []int{3, 4}},
		{[]int{2, 5, 5}, []int{1, 1}},
		{[]int{1, 1, 5, 7}, []int{7, 3}},
		{[]int{1, 2, 6, 10}, []int{3, 4}},
	}
	g.Seed(5)
	for _, tc := range tests {
		x, xd := nnRandn(tc.x...)
		h, w := tc.x[len(tc.x)-2], tc.x[len(tc.x)-1]
		b := nnProd(tc.x[:len(tc.x)-2])
		oh, ow := tc.out[0], tc.out[1]
		want := make([]float32, b*oh*ow)
		for bi := range b {
			for y := range oh {
				y0, y1 := y*h/oh, ((y+1)*h+oh-1)/oh
				for xx := range ow {
					x0, x1 := xx*w/ow, ((xx+1)*w+ow-1)/ow
					s := 0.0
					for i := y0; i < y1; i++ {
						for j := x0; j < x1; j++ {
							s += float64(xd[(bi*h+i)*w+j])
						}
					}
					want[(bi*oh+y)*ow+xx] = float32(s / float64((y1-y0)*(x1-x0)))
				}
			}
		}
		shape := append(slices.Clone(tc.x[:len(tc.x)-2]), oh, ow)
		nnCheck(t, fmt.Sprint("AdaptiveAvgPool2d ", tc.x, tc.out), x.AdaptiveAvgPool2d(oh, ow), shape, want)
	}
}

// refNorm normalizes rows of n elements of x: (x - mean)/sqrt(var + eps)
// with the biased variance.
func refNorm(x []float32, n int, eps float64) []float64 {
	out := make([]float64, len(x))
	for r := 0; r < len(x); r += n {
		m, v := 0.0, 0.0
		for _, e := range x[r : r+n] {
			m += float64(e)
		}
		m /= float64(n)
		for _, e := range x[r : r+n] {
			v += (float64(e) - m) * (float64(e) - m)
		}
		v /= float64(n)
		for i := r; i < r+n; i++ {
			out[i] = (float64(x[i]) - m) / math.Sqrt(v+eps)
		}
	}
	return out
}

func TestNorms(t *testing.T) {
	g.Seed(6)
	t.Run("LayerNorm", func(t *testing.T) {
		for _, tc := range []struct {
			x, norm []int
			affine  bool
		}{
			{[]int{4, 10}, []int{10}, true},
			{[]int{2, 3, 4, 5}, []int{4, 5}, true},
			{[]int{3, 7}, []int{7}, false},
			{[]int{6}, []int{6}, true},
		} {
			x, xd := nnRandn(tc.x...)
			n := nnProd(tc.norm)
			ref := refNorm(xd, n, 1e-5)
			var w, b *g.Tensor
			var wd, bd []float32
			if tc.affine {
				w, wd = nnRandn(tc.norm...)
				b, bd = nnRandn(tc.norm...)
			}
			want := make([]float32, len(ref))
			for i, v := range ref {
				if tc.affine {
					v = v*float64(wd[i%n]) + float64(bd[i%n])
				}
				want[i] = float32(v)
			}
			nnCheck(t, fmt.Sprint("LayerNorm ", tc.x, tc.norm), x.LayerNorm(tc.norm, w, b, 1e-5), tc.x, want)
		}
	})
	t.Run("RMSNorm", func(t *testing.T) {
		x, xd := nnRandn(3, 2, 8)
		w, wd := nnRandn(8)
		for _, weighted := range []bool{true, false} {
			want := make([]float32, len(xd))
			for r := 0; r < len(xd); r += 8 {
				ms := 0.0
				for _, e := range xd[r : r+8] {
					ms += float64(e) * float64(e)
				}
				inv := 1 / math.Sqrt(ms/8+1e-6)
				for i := r; i < r+8; i++ {
					v := float64(xd[i]) * inv
					if weighted {
						v *= float64(wd[i-r])
					}
					want[i] = float32(v)
				}
			}
			ww := w
			if !weighted {
				ww = nil
			}
			nnCheck(t, fmt.Sprint("RMSNorm weighted=", weighted), x.RMSNorm(ww, 1e-6), []int{3, 2, 8}, want)
		}
	})
	t.Run("BatchNorm", func(t *testing.T) {
		for _, shape := range [][]int{{2, 3, 4, 5}, {4, 3}, {2, 3, 6}} {
			x, xd := nnRandn(shape...)
			c := shape[1]
			inner := nnProd(shape[2:])
			m, md := nnRandn(c)
			vr := g.Rand(c).Add(0.5).Realize()
			vd := vr.Float32s()
			w, wd := nnRandn(c)
			b, bd := nnRandn(c)
			want := make([]float32, len(xd))
			for i, e := range xd {
				ch := (i / inner) % c
				want[i] = float32((float64(e)-float64(md[ch]))/math.Sqrt(float64(vd[ch])+1e-5)*float64(wd[ch]) + float64(bd[ch]))
			}
			nnCheck(t, fmt.Sprint("BatchNorm ", shape), x.BatchNorm(m, vr, w, b, 1e-5), shape, want)
			for i, e := range xd {
				ch := (i / inner) % c
				want[i] = float32((float64(e) - float64(md[ch])) / math.Sqrt(float64(vd[ch])+1e-5))
			}
			nnCheck(t, fmt.Sprint("BatchNorm no affine ", shape), x.BatchNorm(m, vr, nil, nil, 1e-5), shape, want)
		}
	})
	t.Run("GroupNorm", func(t *testing.T) {
		for _, tc := range []struct {
			x      []int
			groups int
		}{{[]int{2, 6, 4, 3}, 3}, {[]int{3, 4, 5}, 1}, {[]int{2, 4, 3, 3}, 4}, {[]int{2, 6}, 2}} {
			x, xd := nnRandn(tc.x...)
			c := tc.x[1]
			inner := nnProd(tc.x[2:])
			w, wd := nnRandn(c)
			b, bd := nnRandn(c)
			ref := refNorm(xd, len(xd)/(tc.x[0]*tc.groups), 1e-5)
			want := make([]float32, len(ref))
			for i, v := range ref {
				ch := (i / inner) % c
				want[i] = float32(v*float64(wd[ch]) + float64(bd[ch]))
			}
			nnCheck(t, fmt.Sprint("GroupNorm ", tc.x, tc.groups), x.GroupNorm(tc.groups, w, b, 1e-5), tc.x, want)
		}
	})
}

func TestEmbedding(t *testing.T) {
	g.Seed(7)
	w, wd := nnRandn(10, 4)
	for _, tc := range []struct {
		idx   *g.Tensor
		shape []int
	}{
		{g.FromSlice([]int64{3, 0, 9, 3, 7, 1}, 2, 3), []int{2, 3}},
		{g.FromSlice([]int32{5}), []int{1}},
		{g.FromSlice([]uint8{2, 2, 8, 0}), []int{4}},
		{g.FromSlice([]int64{6}).Reshape(), []int{}}, // 0-d
	} {
		ids := tc.idx.Int64s()
		want := make([]float32, 0, len(ids)*4)
		for _, id := range ids {
			want = append(want, wd[id*4:id*4+4]...)
		}
		nnCheck(t, fmt.Sprint("Embedding ", ids), tc.idx.Embedding(w), append(tc.shape, 4), want)
	}
	// A row of weights holding Inf or NaN does not leak into other rows.
	bad := g.FromSlice([]float32{float32(math.Inf(1)), float32(math.NaN()), 1, 2}, 2, 2)
	if got := g.FromSlice([]int64{1}).Embedding(bad).Float32s(); !slices.Equal(got, []float32{1, 2}) {
		t.Errorf("Embedding next to Inf/NaN rows: %v, want [1 2]", got)
	}
}

// refAttention is softmax(q kᵀ/sqrt(d) + mask) v for one batch element.
func refAttention(q, k, v []float32, l, s, d, dv int, allow func(i, j int) bool, add func(i, j int) float64) []float32 {
	out := make([]float32, l*dv)
	for i := range l {
		sc := make([]float64, s)
		m := math.Inf(-1)
		for j := range s {
			dot := 0.0
			for e := range d {
				dot += float64(q[i*d+e]) * float64(k[j*d+e])
			}
			sc[j] = dot/math.Sqrt(float64(d)) + add(i, j)
			if !allow(i, j) {
				sc[j] = math.Inf(-1)
			}
			m = max(m, sc[j])
		}
		sum := 0.0
		for j := range s {
			sc[j] = math.Exp(sc[j] - m)
			sum += sc[j]
		}
		for e := range dv {
			acc := 0.0
			for j := range s {
				acc += sc[j] / sum * float64(v[j*dv+e])
			}
			out[i*dv+e] = float32(acc)
		}
	}
	return out
}

func TestScaledDotProductAttention(t *testing.T) {
	g.Seed(8)
	b, h, l, s, d, dv := 2, 3, 5, 7, 4, 6
	q, qd := nnRandn(b, h, l, d)
	k, kd := nnRandn(b, h, s, d)
	v, vd := nnRandn(b, h, s, dv)
	boolMask := g.Rand(l, s).Lt(0.7).Or(g.Arange(s).Eq(0)).Realize() // every row attends somewhere
	bm := boolMask.Bools()
	floatMask, fm := nnRandn(b, 1, l, s)
	all := func(i, j int) bool { return true }
	zero := func(i, j int) float64 { return 0 }
	for _, tc := range []struct {
		name   string
		mask   *g.Tensor
		causal bool
		allow  func(bh, i, j int) bool
		add    func(bh, i, j int) float64
	}{
		{"plain", nil, false, nil, nil},
		{"causal", nil, true, func(_, i, j int) bool { return j <= i }, nil},
		{"bool mask", boolMask, false, func(_, i, j int) bool { return bm[i*s+j] }, nil},
		{"float mask", floatMask, false, nil, func(bh, i, j int) float64 { return float64(fm[((bh/h)*l+i)*s+j]) }},
		{"float mask causal", floatMask, true, func(_, i, j int) bool { return j <= i }, func(bh, i, j int) float64 { return float64(fm[((bh/h)*l+i)*s+j]) }},
	} {
		var want []float32
		for bh := range b * h {
			al, ad := all, zero
			if tc.allow != nil {
				al = func(i, j int) bool { return tc.allow(bh, i, j) }
			}
			if tc.add != nil {
				ad = func(i, j int) float64 { return tc.add(bh, i, j) }
			}
			want = append(want, refAttention(qd[bh*l*d:], kd[bh*s*d:], vd[bh*s*dv:], l, s, d, dv, al, ad)...)
		}
		nnCheck(t, "ScaledDotProductAttention "+tc.name, q.ScaledDotProductAttention(k, v, tc.mask, tc.causal), []int{b, h, l, dv}, want)
	}
}

func TestDropout(t *testing.T) {
	x := g.Ones(100, 100).Mul(3).Realize()
	for _, p := range []float64{0, 0.1, 0.5, 0.9, 1} {
		g.Seed(9)
		got := x.Dropout(p).Float32s()
		g.Seed(9)
		again := x.Dropout(p).Float32s()
		if !slices.Equal(got, again) {
			t.Errorf("Dropout(%v): the same seed gave different masks", p)
		}
		zeros := 0
		kept := float32(3)
		if p < 1 {
			kept = float32(3 / (1 - p))
		}
		for _, v := range got {
			switch {
			case v == 0:
				zeros++
			case math.Abs(float64(v-kept)) > 1e-5:
				t.Fatalf("Dropout(%v): kept element %v, want %v", p, v, kept)
			}
		}
		// 10000 Bernoulli draws: the fraction is within 0.03 of p with
		// overwhelming probability (6 standard deviations), and this seed is fixed.
		if frac := float64(zeros) / float64(len(got)); math.Abs(frac-p) > 0.03 {
			t.Errorf("Dropout(%v): %v of the elements zeroed", p, frac)
		}
	}
}

// refLinearWeights is PyTorch's linear interpolation rule for one axis: the
// two source indices and their weights for each output index, in float32.
func refLinearWeights(in, out int, align bool) (i0, i1 []int, l0, l1 []float32) {
	for d := range out {
		if in == out {
			i0, i1, l0, l1 = append(i0, d), append(i1, d), append(l0, 1), append(l1, 0)
			continue
		}
		var src float32
		switch {
		case align && out > 1:
			src = float32(in-1) / float32(out-1) * float32(d)
		case align:
			src = 0
		default:
			src = max(float32(in)/float32(out)*(float32(d)+0.5)-0.5, 0)
		}
		a := int(src)
		b := a
		if a < in-1 {
			b = a + 1
		}
		w1 := min(max(src-float32(a), 0), 1)
		i0, i1, l0, l1 = append(i0, a), append(i1, b), append(l0, 1-w1), append(l1, w1)
	}
	return
}

func TestInterpolate(t *testing.T) {
	g.Seed(10)
	nearest := func(in, out int) []int {
		src := make([]int, out)
		scale := float32(in) / float32(out)
		for d := range src {
			switch {
			case in == out:
				src[d] = d
			case out == 2*in:
				src[d] = d / 2
			default:
				src[d] = min(int(math.Floor(float64(float32(d)*scale))), in-1)
			}
		}
		return src
	}
	tests := []struct {
		x     []int
		size  []int
		mode  string
		align bool
	}{
		{[]int{1, 2, 4, 4}, []int{8, 8}, "nearest", false},
		{[]int{2, 1, 3, 5}, []int{9, 10}, "nearest", false},
		{[]int{1, 2, 8, 6}, []int{4, 3}, "nearest", false},
		{[]int{1, 1, 5, 7}, []int{3, 11}, "nearest", false},
		{[]int{1, 3, 7}, []int{10}, "nearest", false},
		{[]int{1, 2, 2, 3, 4}, []int{3, 6, 5}, "nearest", false},
		{[]int{2, 3, 6}, []int{11}, "linear", false},
		{[]int{2, 3, 6}, []int{11}, "linear", true},
		{[]int{1, 2, 9}, []int{4}, "linear", false},
		{[]int{1, 2, 9}, []int{1}, "linear", true},
		{[]int{1, 2, 4, 5}, []int{8, 7}, "bilinear", false},
		{[]int{1, 2, 4, 5}, []int{8, 7}, "bilinear", true},
		{[]int{2, 1, 7, 6}, []int{3, 4}, "bilinear", false},
		{[]int{2, 1, 7, 6}, []int{3, 4}, "bilinear", true},
		{[]int{1, 1, 3, 3}, []int{3, 6}, "bilinear", false},
	}
	for _, tc := range tests {
		name := fmt.Sprint("Interpolate ", tc.x, tc.size, " ", tc.mode, " align=", tc.align)
		x, xd := nnRandn(tc.x...)
		nsp := len(tc.size)
		in := tc.x[2:]
		lead := tc.x[0] * tc.x[1]
		outShape := append(slices.Clone(tc.x[:2]), tc.size...)
		want := make([]float32, lead*nnProd(tc.size))
		if tc.mode == "nearest" {
			srcs := make([][]int, nsp)
			for j := range nsp {
				srcs[j] = nearest(in[j], tc.size[j])
			}
			idx := make([]int, nsp)
			for o := range want {
				r := o
				for j := nsp - 1; j >= 0; j-- {
					idx[j] = r % tc.size[j]
					r /= tc.size[j]
				}
				off := r
				for j := range nsp {
					off = off*in[j] + srcs[j][idx[j]]
				}
				want[o] = xd[off]
			}
		} else {
			// Separable: along the last axis first, then the one before.
			cur := slices.Clone(xd)
			curShape := slices.Clone(tc.x)
			for j := nsp - 1; j >= 0; j-- {
				ax := 2 + j
				i0, i1, l0, l1 := refLinearWeights(curShape[ax], tc.size[j], tc.align)
				outer := nnProd(curShape[:ax])
				inner := nnProd(curShape[ax+1:])
				n := curShape[ax]
				next := make([]float32, outer*tc.size[j]*inner)
				for a := range outer {
					for d := range tc.size[j] {
						for c := range inner {
							v0 := cur[(a*n+i0[d])*inner+c]
							v1 := cur[(a*n+i1[d])*inner+c]
							next[(a*tc.size[j]+d)*inner+c] = l0[d]*v0 + l1[d]*v1
						}
					}
				}
				cur = next
				curShape[ax] = tc.size[j]
			}
			want = cur
		}
		nnCheck(t, name, x.Interpolate(tc.size, tc.mode, tc.align), outShape, want)
	}
}

// nnKernels realizes y and returns the number of kernels that ran.
func nnKernels(y *g.Tensor) int64 {
	g.ResetStats()
	y.Realize()
	return g.Stats("").Kernels
}

func TestNNKernelCounts(t *testing.T) {
	g.Seed(11)
	x, _ := nnRandn(2, 3, 16, 16)
	w, _ := nnRandn(8, 3, 3, 3)
	b, _ := nnRandn(8)
	seq, _ := nnRandn(2, 5, 32)
	lw, _ := nnRandn(32)
	q, _ := nnRandn(2, 4, 8, 16)
	k, _ := nnRandn(2, 4, 8, 16)
	v, _ := nnRandn(2, 4, 8, 16)
	emb, _ := nnRandn(50, 8)
	ids := g.FromSlice([]int64{1, 5, 49, 0}, 2, 2)
	mean, _ := nnRandn(3)
	vr := g.Rand(3).Add(1).Realize()
	tests := []struct {
		name string
		y    *g.Tensor
		max  int64
	}{
		{"Conv2d+bias+relu", x.Conv2d(w, b, g.ConvOpts{Padding: []int{1}}).Relu(), 1},
		{"Conv2d stride 2 dilation 2 groups", x.Conv2d(g.Randn(6, 1, 3, 3).Realize(), nil, g.ConvOpts{Stride: []int{2}, Dilation: []int{2}, Padding: []int{2}, Groups: 3}).Relu(), 1},
		{"Conv1d+bias+relu", seq.Conv1d(g.Randn(4, 5, 3).Realize(), g.Randn(4).Realize(), g.ConvOpts{Padding: []int{1}}).Relu(), 1},
		{"MaxPool2d", x.MaxPool2d(g.PoolOpts{Kernel: []int{3}, Stride: []int{2}, Padding: []int{1}}), 1},
		{"MaxPool2d ceil", x.MaxPool2d(g.PoolOpts{Kernel: []int{3}, Stride: []int{2}, CeilMode: true}), 1},
		{"MaxPool2d of exp, stride > kernel", x.Exp().MaxPool2d(g.PoolOpts{Kernel: []int{2}, Stride: []int{3}}), 1},
		// relu(conv) stored for the pool by the convolution's own kernel
		{"MaxPool2d of Conv2d+bias+relu", x.Conv2d(w, b, g.ConvOpts{Padding: []int{1}}).Relu().MaxPool2d(g.PoolOpts{Kernel: []int{2}}), 2},
		{"AvgPool2d", x.AvgPool2d(g.PoolOpts{Kernel: []int{2}}), 1},
		{"AvgPool2d padded", x.AvgPool2d(g.PoolOpts{Kernel: []int{3}, Stride: []int{2}, Padding: []int{1}, CeilMode: true, ExcludePad: true}), 1},
		{"AdaptiveAvgPool2d even", x.AdaptiveAvgPool2d(4, 4), 1},
		{"AdaptiveAvgPool2d uneven", x.AdaptiveAvgPool2d(5, 3), 2},
		{"ConvTranspose2d stride 2", x.ConvTranspose2d(g.Randn(3, 4, 3, 3).Realize(), b.Shrink([][2]int{{0, 4}}), g.ConvTransposeOpts{Stride: []int{2}, Padding: []int{1}}).Relu(), 1},
		{"LayerNorm", seq.LayerNorm([]int{32}, lw, lw, 1e-5), 3},
		{"RMSNorm", seq.RMSNorm(lw, 1e-6), 2},
		{"BatchNorm", x.BatchNorm(mean, vr, mean, mean, 1e-5).Relu(), 1},
		{"GroupNorm", x.GroupNorm(3, mean, mean, 1e-5), 3},
		{"Embedding", ids.Embedding(emb), 1},
		// scores, max, sum, the probabilities (computed once, not once per
		// output feature of probs @ v), and probs @ v
		{"ScaledDotProductAttention", q.ScaledDotProductAttention(k, v, nil, true), 5},
		{"Interpolate nearest x2", x.Interpolate([]int{32, 32}, "nearest", false).Add(1), 1},
		{"Interpolate bilinear", x.Interpolate([]int{20, 30}, "bilinear", true), 2},
		{"Dropout", x.Dropout(0.5), 1},
	}
	for _, tc := range tests {
		if n := nnKernels(tc.y); n > tc.max || n == 0 {
			t.Errorf("%s: %d kernels, want at most %d", tc.name, n, tc.max)
		}
	}
}

func TestNNPanics(t *testing.T) {
	x := g.Zeros(1, 3, 8, 8)
	tests := []struct {
		name string
		f    func()
		msg  string
	}{
		{"conv channels", func() { x.Conv2d(g.Zeros(4, 2, 3, 3), nil, g.ConvOpts{}) }, "gograd: Conv2d: input (1, 3, 8, 8) has 3 channels but weight (4, 2, 3, 3) expects 2 (groups 1)"},
		{"conv groups", func() { x.Conv2d(g.Zeros(4, 1, 3, 3), nil, g.ConvOpts{Groups: 2}) }, "has 3 channels but weight (4, 1, 3, 3) expects 2 (groups 2)"},
		{"conv rank", func() { x.Conv2d(g.Zeros(4, 3, 3), nil, g.ConvOpts{}) }, "must both have 4 axes"},
		{"conv bias", func() { x.Conv2d(g.Zeros(4, 3, 3, 3), g.Zeros(3), g.ConvOpts{}) }, "bias (3) does not match the 4 output channels"},
		{"conv kernel too big", func() { x.Conv2d(g.Zeros(4, 3, 9, 9), nil, g.ConvOpts{}) }, "larger than input"},
		{"conv stride list", func() { x.Conv2d(g.Zeros(4, 3, 3, 3), nil, g.ConvOpts{Stride: []int{1, 2, 3}}) }, "stride [1 2 3]: want 1 or 2 values"},
		{"conv stride 0", func() { x.Conv2d(g.Zeros(4, 3, 3, 3), nil, g.ConvOpts{Stride: []int{0}}) }, "must be at least 1"},
		{"pool no kernel", func() { x.MaxPool2d(g.PoolOpts{}) }, "MaxPool2d: no kernel size"},
		{"pool padding", func() { x.AvgPool2d(g.PoolOpts{Kernel: []int{2}, Padding: []int{2}}) }, "at most half"},
		{"layernorm shape", func() { x.LayerNorm([]int{7}, nil, nil, 1e-5) }, "LayerNorm: normalized shape (7) is not the trailing shape of input (1, 3, 8, 8)"},
		{"batchnorm stats", func() { x.BatchNorm(g.Zeros(4), g.Zeros(3), nil, nil, 1e-5) }, "BatchNorm: mean (4) does not match the 3 channels"},
		{"groupnorm groups", func() { x.GroupNorm(2, nil, nil, 1e-5) }, "3 channels of input (1, 3, 8, 8) do not split into 2 groups"},
		{"embedding float", func() { g.Zeros(3).Embedding(g.Zeros(4, 2)) }, "Embedding: indices (3) must be integers"},
		{"attention shapes", func() { g.Zeros(2, 4).ScaledDotProductAttention(g.Zeros(3, 5), g.Zeros(3, 4), nil, false) }, "do not fit"},
		{"dropout p", func() { x.Dropout(1.5) }, "Dropout: probability 1.5"},
		{"interpolate mode", func() { x.Interpolate([]int{4, 4}, "cubic", false) }, `unknown mode "cubic"`},
		{"interpolate linear 4-D", func() { x.Interpolate([]int{4, 4}, "linear", false) }, "linear takes 3 axes"},
		{"interpolate size", func() { x.Interpolate([]int{4}, "nearest", false) }, "want one size per axis"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			defer func() {
				r := recover()
				if r == nil {
					t.Fatalf("no panic, want %q", tc.msg)
				}
				if s := fmt.Sprint(r); !strings.Contains(s, tc.msg) || !strings.HasPrefix(s, "gograd: ") {
					t.Errorf("panic %q, want it to contain %q", s, tc.msg)
				}
			}()
			tc.f()
		})
	}
}

// The weight's gradient of a convolution over a batch too large to sum in
// one pass (summed in chunks of images, then the chunks) against plain
// loops, on packed (rows of 30, 16 channels) and unpacked (8 channels)
// weights.
func TestConvWeightGradientInChunks(t *testing.T) {
	forEachDevice(t, func(t *testing.T) {
		g.Seed(7)
		const n, c, h = 32, 16, 32 // 2 MiB holds 17 images: two chunks of 16
		for _, o := range []int{16, 8} {
			x, xd := nnRandn(n, c, h, h)
			w, _ := nnRandn(o, c, 3, 3)
			dy, dyd := nnRandn(n, o, h-2, h-2)
			gw := g.GradientWith(x.Conv2d(w, nil, g.ConvOpts{}), dy, w)[0].Float32s()
			for i := range o * c * 9 {
				oc, ic, ky, kx := i/(c*9), i/9%c, i/3%3, i%3
				var want float64
				for b := range n {
					for y := range h - 2 {
						for xx := range h - 2 {
							want += float64(dyd[((b*o+oc)*(h-2)+y)*(h-2)+xx]) * float64(xd[((b*c+ic)*h+y+ky)*h+xx+kx])
						}
					}
				}
				if d := math.Abs(float64(gw[i]) - want); d > 1e-3*(1+math.Abs(want)) {
					t.Fatalf("%d output channels: weight gradient [%d %d %d %d] = %g, want %g", o, oc, ic, ky, kx, gw[i], want)
				}
			}
		}
	})
}

// TestConvGradientStoredPadded checks the gradients of a 5x5 convolution
// whose output gradient is computed (an exp after it), which store that
// gradient once with the input gradient's padding, against the same
// gradients from a realized output gradient, which take the plain path.
func TestConvGradientStoredPadded(t *testing.T) {
	forEachDevice(t, func(t *testing.T) {
		g.Seed(3)
		x, _ := nnRandn(4, 3, 9, 9)
		w, _ := nnRandn(16, 3, 5, 5)
		b, _ := nnRandn(16)
		y := x.Conv2d(w, b, g.ConvOpts{Padding: []int{1}})
		got := g.Gradient(y.Mul(0.1).Exp().Sum(), x, w, b)
		dy := y.Mul(0.1).Exp().Mul(0.1).Realize() // the same gradient, a buffer
		want := g.GradientWith(x.Conv2d(w, b, g.ConvOpts{Padding: []int{1}}), dy, x, w, b)
		for i, name := range []string{"input", "weight", "bias"} {
			a, e := got[i].Float32s(), want[i].Float32s()
			for j := range e {
				if d := math.Abs(float64(a[j] - e[j])); d > 1e-4*(1+math.Abs(float64(e[j]))) {
					t.Fatalf("%s gradient [%d] = %g, want %g", name, j, a[j], e[j])
				}
			}
		}
	})
}
