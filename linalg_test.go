package gograd_test

import (
	"math"
	"math/rand/v2"
	"testing"

	g "github.com/gograd/gograd"
)

// TestMatmulPanels checks products large enough that Matmul first copies
// the right operand into column panels: values and both gradients against
// float64 loops, for a 2-D and a batched left operand, and that the copy
// is the one extra kernel.
func TestMatmulPanels(t *testing.T) {
	const k, n = 512, 2048 // a million floats in y: packed
	r := rand.New(rand.NewPCG(1, 2))
	vals := func(c int) []float32 {
		v := make([]float32, c)
		for i := range v {
			v[i] = float32(r.NormFloat64())
		}
		return v
	}
	yv := vals(k * n)
	for _, xshape := range [][]int{{130, k}, {2, 65, k}} {
		m := 130
		xv, gv := vals(m*k), vals(m*n)
		x := g.FromSlice(xv, xshape...).RequiresGrad(true)
		y := g.FromSlice(yv, k, n).RequiresGrad(true)
		out := x.Matmul(y)
		// d(sum(out*g))/dx = g @ y.T, /dy = x.T @ g.
		out.Mul(g.FromSlice(gv, out.Shape()...)).Sum().Backward()
		if kernels := countKernels(func() { out.Realize() }); kernels != 2 {
			t.Errorf("x %v: the product ran %d kernels, want 2 (the panels' copy and the product)", xshape, kernels)
		}
		want := make([]float64, m*n)
		wantDX, wantDY := make([]float64, m*k), make([]float64, k*n)
		for i := range m {
			for p := range k {
				a := float64(xv[i*k+p])
				for j := range n {
					b, gr := float64(yv[p*n+j]), float64(gv[i*n+j])
					want[i*n+j] += a * b
					wantDX[i*k+p] += gr * b
					wantDY[p*n+j] += a * gr
				}
			}
		}
		for _, c := range []struct {
			name string
			got  []float32
			want []float64
		}{{"x@y", out.Float32s(), want}, {"dx", x.Grad.Float32s(), wantDX}, {"dy", y.Grad.Float32s(), wantDY}} {
			if len(c.got) != len(c.want) {
				t.Fatalf("x %v: %s has %d values, want %d", xshape, c.name, len(c.got), len(c.want))
			}
			for i := range c.want {
				if d := math.Abs(float64(c.got[i]) - c.want[i]); d > 1e-4*(math.Sqrt(float64(max(k, m)))+math.Abs(c.want[i])) {
					t.Fatalf("x %v: %s[%d] = %g, want %g", xshape, c.name, i, c.got[i], c.want[i])
				}
			}
		}
	}
}
