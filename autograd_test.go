package gograd_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	g "github.com/gograd/gograd"
)

func TestBackwardMatchesPyTorch(t *testing.T) {
	// torch: x@w+b, relu, sum, backward (values printed by PyTorch 1.13).
	x := g.FromSlice([]float32{1, -2, 3, 4, 5, -6}, 2, 3).RequiresGrad(true)
	w := g.FromSlice([]float32{0.5, -1, 2, 1, 0, 3}, 3, 2).RequiresGrad(true)
	b := g.FromSlice([]float32{0.1, -0.2}).RequiresGrad(true)
	x.Matmul(w).Add(b).Relu().Sum().Backward()
	n := countKernels(func() { g.Realize(x.Grad, w.Grad, b.Grad) })
	if n > 4 {
		t.Errorf("backward of matmul+bias+relu+sum ran %d kernels, want at most 4", n)
	}
	for _, c := range []struct {
		name string
		got  []float32
		want string
	}{
		{"x", x.Grad.Float32s(), "[-1 1 3 0.5 2 0]"},
		{"w", w.Grad.Float32s(), "[4 1 5 -2 -6 3]"},
		{"b", b.Grad.Float32s(), "[1 1]"},
	} {
		if fmt.Sprint(c.got) != c.want {
			t.Errorf("grad of %s = %v, want %v", c.name, c.got, c.want)
		}
	}
	// A second Backward accumulates into Grad, as in PyTorch.
	x.Matmul(w).Add(b).Relu().Sum().Backward()
	if got := fmt.Sprint(b.Grad.Float32s()); got != "[2 2]" {
		t.Errorf("accumulated grad of b = %v, want [2 2]", got)
	}
}

func TestDetachAndNoGrad(t *testing.T) {
	x := g.FromSlice([]float64{1, 2, 3}).RequiresGrad(true)
	y := x.Mul(x).Add(x.Detach().Mul(10)).Sum()
	if got := fmt.Sprint(g.Gradient(y, x)[0].Float64s()); got != "[2 4 6]" {
		t.Errorf("gradient through Detach: %v, want [2 4 6]", got)
	}
	z := g.NoGrad(func() *g.Tensor { return x.Mul(3) })
	if got := fmt.Sprint(g.Gradient(z.Mul(x).Sum(), x)[0].Float64s()); got != "[3 6 9]" {
		t.Errorf("gradient past NoGrad: %v, want [3 6 9]", got)
	}
	if got := fmt.Sprint(z.Float64s()); got != "[3 6 9]" {
		t.Errorf("NoGrad changed the value: %v", got)
	}
	other := g.FromSlice([]float64{5})
	if got := fmt.Sprint(g.Gradient(x.Sum(), other)[0].Float64s()); got != "[0]" {
		t.Errorf("gradient with respect to an unrelated tensor: %v, want [0]", got)
	}
	mustPanic(t, []string{"Backward", "[3]"}, func() { x.Mul(2).Backward() })
}

// TestWithGradient checks a custom gradient: rounding with a
// straight-through gradient (Round's own is zero), the need flags, and the
// panics for an input the value is not computed from and for a wrong
// number of gradients.
func TestWithGradient(t *testing.T) {
	x := g.FromSlice([]float64{0.4, 1.6, -2.2}).RequiresGrad(true)
	w := g.FromSlice([]float64{1, 2, 3}).RequiresGrad(true)
	c := g.FromSlice([]float64{10, 20, 30})
	var needs []string
	straight := func(v *g.Tensor) *g.Tensor {
		return g.WithGradient(v.Round().Add(c), "straight-through", []*g.Tensor{v, c}, func(gr *g.Tensor, need []bool) []*g.Tensor {
			needs = append(needs, fmt.Sprint(need))
			return []*g.Tensor{gr, nil}
		})
	}
	y := straight(x.Mul(w)).Mul(w).Sum() // sum((round(x*w) + c) * w)
	grads := g.Gradient(y, x, w)
	if got := y.Item(); got != 125 {
		t.Errorf("value %v, want 125", got)
	}
	// d/dx = w*w; d/dw = round(x*w) + c + x*w.
	if got := fmt.Sprint(grads[0].Float64s()); got != "[1 4 9]" {
		t.Errorf("gradient of x %v, want [1 4 9]", got)
	}
	if got := fmt.Sprint(grads[1].Float64s()); got != "[10.4 26.2 16.4]" {
		t.Errorf("gradient of w %v, want [10.4 26.2 16.4]", got)
	}
	if got := fmt.Sprint(needs); got != "[[true false]]" {
		t.Errorf("need flags %v, want [[true false]]", got)
	}
	mustPanic(t, []string{"WithGradient", "input 1 is not a tensor the value is computed from"}, func() {
		g.WithGradient(x.Exp(), "k", []*g.Tensor{x, w}, nil)
	})
	bad := g.WithGradient(x.Exp(), "two for one", []*g.Tensor{x}, func(gr *g.Tensor, need []bool) []*g.Tensor {
		return []*g.Tensor{gr, gr}
	})
	mustPanic(t, []string{"WithGradient", "returned 2 gradients for 1 inputs"}, func() { g.Gradient(bad.Sum(), x) })
}

// numericGrad is the central-difference gradient of the weighted sum of f.
func numericGrad(f func(*g.Tensor) *g.Tensor, x []float64, shape []int, weights []float64) []float64 {
	eval := func(v []float64) float64 {
		out := f(g.FromSlice(v, shape...)).Float64s()
		s := 0.0
		for i, o := range out {
			s += o * weights[i]
		}
		return s
	}
	grad := make([]float64, len(x))
	for i := range x {
		h := 1e-6 * math.Max(1, math.Abs(x[i]))
		p, m := append([]float64(nil), x...), append([]float64(nil), x...)
		p[i] += h
		m[i] -= h
		grad[i] = (eval(p) - eval(m)) / (2 * h)
	}
	return grad
}

// TestGradientsByFiniteDifferences checks the gradient rules through a set
// of composite ops, in float64, against central differences of a weighted
// sum (so the incoming gradient is not all ones).
func TestGradientsByFiniteDifferences(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	shape := []int{3, 4}
	ops := []struct {
		name string
		f    func(*g.Tensor) *g.Tensor
		pos  bool // inputs must be positive
	}{
		{"exp", (*g.Tensor).Exp, false},
		{"log", (*g.Tensor).Log, true},
		{"sqrt", (*g.Tensor).Sqrt, true},
		{"sin cos", func(x *g.Tensor) *g.Tensor { return x.Sin().Mul(x.Cos()) }, false},
		{"reciprocal", (*g.Tensor).Reciprocal, true},
		{"tanh", (*g.Tensor).Tanh, false},
		{"sigmoid", (*g.Tensor).Sigmoid, false},
		{"gelu", (*g.Tensor).Gelu, false},
		{"silu", (*g.Tensor).Silu, false},
		{"pow 3", func(x *g.Tensor) *g.Tensor { return x.Pow(3) }, false},
		{"pow x^x", func(x *g.Tensor) *g.Tensor { return x.Pow(x) }, true},
		{"div", func(x *g.Tensor) *g.Tensor { return x.Div(x.Add(3)) }, true},
		{"max over axis", func(x *g.Tensor) *g.Tensor { return x.Max(1) }, false},
		{"min over all", func(x *g.Tensor) *g.Tensor { return x.Min() }, false},
		{"prod", func(x *g.Tensor) *g.Tensor { return x.Prod(0) }, true},
		{"mean var", func(x *g.Tensor) *g.Tensor { return x.Var(1).Add(x.Mean(0).Sum()) }, false},
		{"softmax", func(x *g.Tensor) *g.Tensor { return x.Softmax(-1) }, false},
		{"log softmax", func(x *g.Tensor) *g.Tensor { return x.LogSoftmax(0) }, false},
		{"logsumexp", func(x *g.Tensor) *g.Tensor { return x.LogSumExp(1) }, false},
		{"matmul self", func(x *g.Tensor) *g.Tensor { return x.Matmul(x.T()) }, false},
		{"permute pad flip", func(x *g.Tensor) *g.Tensor {
			return x.Permute(1, 0).Pad([][2]int{{1, 0}, {0, 2}}).Flip(0).Mul(x.Sum())
		}, false},
		{"slice step cat", func(x *g.Tensor) *g.Tensor {
			return g.Cat(0, x.Slice(g.Sl(0, g.End, 2)), x.Slice(g.Sl(-1, g.End, -1)))
		}, false},
		{"expand repeat", func(x *g.Tensor) *g.Tensor { return x.Reshape(3, 1, 4).Expand(3, 2, 4).Repeat(1, 2, 1) }, false},
		{"where maximum", func(x *g.Tensor) *g.Tensor { return x.Gt(0.5).Where(x.Mul(x), x.Maximum(0.2)) }, false},
		{"cumsum", func(x *g.Tensor) *g.Tensor { return x.CumSum(1) }, false},
		{"abs clip", func(x *g.Tensor) *g.Tensor { return x.Abs().Clip(0.1, 0.8) }, false},
		{"layer norm", func(x *g.Tensor) *g.Tensor { return x.LayerNorm([]int{4}, nil, nil, 1e-5) }, false},
		{"conv2d", func(x *g.Tensor) *g.Tensor {
			w := g.FromSlice([]float64{0.5, -1, 2, 0.25}, 1, 1, 2, 2)
			return x.Reshape(1, 1, 3, 4).Conv2d(w, nil, g.ConvOpts{Padding: []int{1}})
		}, false},
		{"max pool", func(x *g.Tensor) *g.Tensor {
			return x.Reshape(1, 1, 3, 4).MaxPool2d(g.PoolOpts{Kernel: []int{2}, Stride: []int{1}})
		}, false},
	}
	for _, op := range ops {
		x := make([]float64, 12)
		for i := range x {
			x[i] = rng.Float64()*2 - 1
			if op.pos {
				x[i] = rng.Float64() + 0.5
			}
		}
		xt := g.FromSlice(x, shape...)
		out := op.f(xt)
		weights := make([]float64, out.Numel())
		for i := range weights {
			weights[i] = rng.Float64()*2 - 1
		}
		wt := g.FromSlice(weights).Reshape(out.Shape()...)
		got := g.GradientWith(out, wt, xt)[0].Float64s()
		want := numericGrad(op.f, x, shape, weights)
		for i := range got {
			if math.Abs(got[i]-want[i]) > 1e-5*(1+math.Abs(want[i])) {
				t.Errorf("%s: d/dx[%d] = %.9g, finite differences give %.9g", op.name, i, got[i], want[i])
				break
			}
		}
	}
}
