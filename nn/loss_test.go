package nn_test

import (
	"math"
	"slices"
	"testing"

	"github.com/gograd/gograd"
	"github.com/gograd/gograd/nn"
)

func TestLossValues(t *testing.T) {
	logits := gograd.FromSlice([]float32{0, 0, 0, 0, 2, 0, 0, 0}, 2, 4)
	target := gograd.FromSlice([]int64{3, 0})
	probs := gograd.FromSlice([]float32{0, 0, 0, 1, 1, 0, 0, 0}, 2, 4)
	cases := []struct {
		name string
		got  *gograd.Tensor
		want []float64
	}{
		// Row 0 is uniform: log 4; row 1: log(e² + 3) - 2.
		{"ce none", nn.CrossEntropy(logits, target, nn.ReduceNone), []float64{math.Log(4), math.Log(math.Exp(2)+3) - 2}},
		{"ce probabilities", nn.CrossEntropy(logits, probs, nn.ReduceNone), []float64{math.Log(4), math.Log(math.Exp(2)+3) - 2}},
		{"ce unbatched", nn.CrossEntropy(logits.Slice(gograd.At(1)), target.Slice(gograd.At(1))), []float64{math.Log(math.Exp(2)+3) - 2}},
		{"ce all ignored", nn.CrossEntropy(logits, gograd.FromSlice([]int64{-100, -100})), []float64{math.NaN()}},
		{"ce ignore keeps others", nn.CrossEntropy(logits, gograd.FromSlice([]int64{3, 7}), nn.IgnoreIndex(7)), []float64{math.Log(4)}},
		{"ce out of range adds nothing", nn.CrossEntropy(logits, gograd.FromSlice([]int64{3, 9}), nn.ReduceSum), []float64{math.Log(4)}},
		{"nll", nn.NLL(logits.Neg(), target, nn.ReduceSum), []float64{0 + 2}}, // -(-0) - (-2)
		{"mse", nn.MSE(gograd.FromSlice([]float32{1, 2}), gograd.FromSlice([]float32{3, 2})), []float64{2}},
		{"l1 sum", nn.L1(gograd.FromSlice([]float32{1, -2}), gograd.FromSlice([]float32{3, 2}), nn.ReduceSum), []float64{6}},
		{"bce clamps log at -100", nn.BCE(gograd.FromSlice([]float32{0, 1}), gograd.FromSlice([]float32{1, 1}), nn.ReduceNone), []float64{100, 0}},
		{"bce with logits is stable", nn.BCEWithLogits(gograd.FromSlice([]float32{100, -100, 0}), gograd.FromSlice([]float32{0, 0, 1}), nn.ReduceNone),
			[]float64{100, 0, math.Log(2)}},
	}
	for _, c := range cases {
		got := c.got.Float64s()
		if len(got) != len(c.want) {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
			continue
		}
		for i := range got {
			if math.IsNaN(got[i]) != math.IsNaN(c.want[i]) || math.Abs(got[i]-c.want[i]) > 1e-5 {
				t.Errorf("%s: %v, want %v", c.name, got, c.want)
				break
			}
		}
	}
}

// TestLossGradients compares each loss's autograd gradient with central
// finite differences, in float64.
func TestLossGradients(t *testing.T) {
	gograd.Seed(2)
	x := gograd.Randn(3, 4, 2).Cast(gograd.Float64).Realize()
	cls := gograd.FromSlice([]int64{0, 3, -100, 2, 1, 1}, 3, 2)
	w := gograd.FromSlice([]float64{0.5, 1, 2, 1.5})
	y01 := gograd.Rand(3, 4, 2).Cast(gograd.Float64).Realize()
	p := x.Sigmoid().Realize()
	cases := []struct {
		name string
		f    func(x *gograd.Tensor) *gograd.Tensor
	}{
		{"ce smooth weight", func(x *gograd.Tensor) *gograd.Tensor {
			return nn.CrossEntropy(x, cls, nn.LabelSmoothing(0.3), nn.Weight(w))
		}},
		{"ce probabilities", func(x *gograd.Tensor) *gograd.Tensor { return nn.CrossEntropy(x, y01, nn.ReduceSum) }},
		{"nll", func(x *gograd.Tensor) *gograd.Tensor { return nn.NLL(x, cls, nn.Weight(w)) }},
		{"mse", func(x *gograd.Tensor) *gograd.Tensor { return nn.MSE(x, y01) }},
		{"bce", func(x *gograd.Tensor) *gograd.Tensor { return nn.BCE(x.Sigmoid(), y01) }},
		{"bce with logits", func(x *gograd.Tensor) *gograd.Tensor {
			return nn.BCEWithLogits(x, y01, nn.PosWeight(gograd.FromSlice([]float64{2, 0.5})), nn.Weight(p))
		}},
	}
	vals := x.Float64s()
	for _, c := range cases {
		g := gograd.Gradient(c.f(x), x)[0].Float64s()
		for _, i := range []int{0, 5, 13, 22} {
			const h = 1e-6
			hi, lo := slices.Clone(vals), slices.Clone(vals)
			hi[i] += h
			lo[i] -= h
			fd := (c.f(gograd.FromSlice(hi, x.Shape()...)).Item() - c.f(gograd.FromSlice(lo, x.Shape()...)).Item()) / (2 * h)
			if math.Abs(fd-g[i]) > 1e-6+1e-5*math.Abs(fd) {
				t.Errorf("%s: gradient[%d] = %v, finite difference %v", c.name, i, g[i], fd)
			}
		}
	}
}

func TestLossMisuse(t *testing.T) {
	logits := gograd.Ones(2, 3)
	cases := []struct {
		want string
		f    func()
	}{
		{"nn: MSE: input (2, 3) and target (3,) differ in shape", func() { nn.MSE(logits, gograd.Ones(3)) }},
		{"nn: MSE: does not take option nn.LabelSmoothing(0.1)", func() { nn.MSE(logits, logits, nn.LabelSmoothing(0.1)) }},
		{"nn: CrossEntropy: does not take option PosWeight", func() { nn.CrossEntropy(logits, logits, nn.PosWeight(gograd.Ones(3))) }},
		{"nn: NLL: does not take option nn.LabelSmoothing(0.1)", func() { nn.NLL(logits, gograd.FromSlice([]int64{0, 1}), nn.LabelSmoothing(0.1)) }},
		{"nn: CrossEntropy: target (3,) does not match input (2, 3): want (2,)", func() { nn.CrossEntropy(logits, gograd.FromSlice([]int64{0, 1, 2})) }},
		{"nn: CrossEntropy: IgnoreIndex does not apply to probability targets (2, 3)", func() { nn.CrossEntropy(logits, logits, nn.IgnoreIndex(1)) }},
		{"nn: CrossEntropy: input (2, 3) and target (2, 1) differ in shape", func() { nn.CrossEntropy(logits, gograd.Ones(2, 1)) }},
		{"nn: NLL: target (2,) of float32 must be integer classes", func() { nn.NLL(logits, gograd.Ones(2)) }},
		{"nn: CrossEntropy: class weight (2,) does not match the 3 classes", func() {
			nn.CrossEntropy(logits, gograd.FromSlice([]int64{0, 1}), nn.Weight(gograd.Ones(2)))
		}},
		{"nn: CrossEntropy: label smoothing 2 is not in [0, 1]", func() { nn.CrossEntropy(logits, logits, nn.LabelSmoothing(2)) }},
		{"nn: BCE: weight (2,) does not broadcast to input (2, 3)", func() { nn.BCE(logits, logits, nn.Weight(gograd.Ones(2))) }},
		{"nn: L1: unknown reduction 7", func() { nn.L1(logits, logits, nn.Reduction(7)) }},
	}
	for _, c := range cases {
		expectPanic(t, c.want, c.f)
	}
}
