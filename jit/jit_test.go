package jit_test

import (
	"fmt"
	"math"
	"testing"
	"time"

	g "github.com/gograd/gograd"
	"github.com/gograd/gograd/jit"
)

func close32(a, b []float32, tol float64) error {
	if len(a) != len(b) {
		return fmt.Errorf("lengths %d and %d", len(a), len(b))
	}
	for i := range a {
		if math.Abs(float64(a[i]-b[i])) > tol*(1+math.Abs(float64(b[i]))) {
			return fmt.Errorf("element %d: %v vs %v", i, a[i], b[i])
		}
	}
	return nil
}

func TestReplayMatchesDirect(t *testing.T) {
	w := g.Rand(16, 8).Realize()
	b := g.Rand(8).Realize()
	f := func(in ...*g.Tensor) []*g.Tensor {
		h := in[0].Matmul(w).Add(b).Relu()
		return []*g.Tensor{h.Softmax(-1), h.Sum(1)}
	}
	j := jit.New(f)
	for call := range 5 {
		x := g.Randn(4, 16).Realize()
		g.ResetStats()
		got := j.Call(x)
		stats := g.Stats("")
		want := f(x)
		for i := range got {
			if err := close32(got[i].Float32s(), want[i].Float32s(), 1e-6); err != nil {
				t.Fatalf("call %d output %d: %v", call, i, err)
			}
		}
		if call >= 2 {
			if stats.Compiles != 0 {
				t.Fatalf("replay compiled %d kernels", stats.Compiles)
			}
			if int(stats.Kernels) != len(j.Captured()) {
				t.Fatalf("replay ran %d kernels, captured %d", stats.Kernels, len(j.Captured()))
			}
		}
	}
	if n := len(j.Captured()); n < 2 {
		t.Fatalf("captured %d kernels", n)
	}
}

func TestSymbolicVariableDoesNotRecompile(t *testing.T) {
	pos := g.NewVar("pos", 0, 100)
	x := g.Arange(8).Cast(g.Float32).Realize()
	f := func(in ...*g.Tensor) []*g.Tensor {
		// Positions below pos are kept, the rest masked: a KV-cache style mask.
		p := in[1].Cast(g.Float32)
		return []*g.Tensor{in[0].Lt(p).Where(in[0].Mul(p), -1)}
	}
	j := jit.New(f)
	for step := range 6 {
		g.ResetStats()
		got := j.Call(x, pos.Bind(step+2))[0].Float32s()
		want := make([]float32, 8)
		for i := range want {
			if float32(i) < float32(step+2) {
				want[i] = float32(i) * float32(step+2)
			} else {
				want[i] = -1
			}
		}
		if err := close32(got, want, 0); err != nil {
			t.Fatalf("step %d: %v (got %v)", step, err, got)
		}
		if step > 0 && g.Stats("").Compiles != 0 {
			t.Fatalf("step %d recompiled for a new value of the variable", step)
		}
	}
}

// An in-place training step (SGD on a linear model) replays like the
// un-jitted loop.
func TestTrainingStepReplay(t *testing.T) {
	run := func(useJIT bool) []float32 {
		g.Seed(7)
		w := g.Randn(6, 1).Contiguous().Realize()
		xs := g.Randn(32, 6).Realize()
		ys := xs.Matmul(g.FromSlice([]float32{1, -2, 3, 0.5, 0, 1}, 6, 1)).Realize()
		step := func(in ...*g.Tensor) []*g.Tensor {
			wv := w.Detach().RequiresGrad(true)
			loss := in[0].Matmul(wv).Sub(in[1]).Pow(2).Mean()
			grad := g.Gradient(loss, wv)[0]
			w.Assign(w.Sub(grad.Mul(0.05)))
			return []*g.Tensor{loss, w}
		}
		j := jit.New(step)
		for range 20 {
			if useJIT {
				j.Call(xs, ys)
			} else {
				g.Realize(step(xs, ys)...)
			}
		}
		return w.Float32s()
	}
	a, b := run(false), run(true)
	if err := close32(b, a, 1e-6); err != nil {
		t.Fatalf("jitted training diverged from eager: %v\neager %v\njit   %v", err, a, b)
	}
}

// BenchmarkReplayOverhead times a replay of 64 tiny kernels: the time per
// kernel is the JIT's overhead plus a kernel launch.
func BenchmarkReplayOverhead(b *testing.B) {
	x := g.Rand(8).Realize()
	f := func(in ...*g.Tensor) []*g.Tensor {
		y := in[0]
		for i := range 64 {
			y = y.Add(float32(i)).Contiguous()
		}
		return []*g.Tensor{y}
	}
	j := jit.New(f)
	j.Call(x)
	j.Call(x)
	n := len(j.Captured())
	start := time.Now()
	for b.Loop() {
		j.Call(x)
	}
	b.ReportMetric(float64(time.Since(start).Nanoseconds())/float64(b.N)/float64(n), "ns/kernel")
}
