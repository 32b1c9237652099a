package gograd_test

// The backward half of the PyTorch fixture suite. A case with "grads" holds,
// for each float input, PyTorch's gradient of sum(out) and of sum(out * W)
// (W in "grad_weights", one per output) with respect to the input's created
// data, before its views. TestFixtureGrads builds that data, applies the
// views, runs the op as TestFixtures does and compares gograd's gradients:
// Gradient of the summed outputs for the first, and GradientWith(out, W)
// (or Gradient of the weighted sum, for several outputs) for the second,
// with the tolerance class "grad_tol" names, at the elements the optional
// mask keeps.
//
// Run one case: go test -run 'TestFixtureGrads/reduce/Softmax/f32_1$'

import (
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/gograd/gograd"
)

// fixtureGrad is PyTorch's gradient with respect to one input.
type fixtureGrad struct {
	Sum      fixtureTensor
	Weighted fixtureTensor
	Mask     *fixtureTensor // bool: the elements to compare (nil: all)
}

// knownGradFailures are backward cases that fail because of the core (a
// gradient rule of gradient.go, or a backend), not the composition of an op,
// by "area/case", or "DEVICE area/case" for one device kind (GO, CPU). They
// run, and are skipped with the reason when they fail; one that passes is
// an error (unless it may pass by the luck of rounding), so the list shrinks
// as the core is fixed. Run them as failures with -fixtures.known.
var knownGradFailures = map[string]knownFailure{}

type knownFailure struct {
	why     string
	mayPass bool // the failure depends on the weights' rounding
}

// A gradient of a float32 0-d operand that went through a float16 op
// carries float16 rounding, which the float32 tolerance does not cover, and
// Tan's float16 gradient at its special points is one rounding off: both
// pass or fail by the luck of the weights.
func init() {
	knownGradFailures["elementwise/Div/f16_0d_f32"] = knownFailure{"float16 rounding in a float32 0-d operand's gradient", true}
	knownGradFailures["elementwise/Tan/f16_special"] = knownFailure{"float16 rounding of 1/cos² near Tan's poles", true}
	// gograd multiplies the other elements in index order; PyTorch
	// multiplies the prefix and the suffix apart, so a product near the
	// float32 limits overflows in gograd where it does not in PyTorch
	// (-2.5 * 3e38 * (the rest)): a deliberate difference, not a bug.
	knownGradFailures["reduce/Prod/f32_special"] = knownFailure{"Prod's gradient overflows in a different association near float32's limits", false}
}

// knownGradFailure returns why the case is a known failure on this device.
func knownGradFailure(area, name string) (knownFailure, bool) {
	key := area + "/" + name
	kind, _, _ := strings.Cut(gograd.DefaultDevice(), ":")
	if k, ok := knownGradFailures[kind+" "+key]; ok {
		return k, true
	}
	k, ok := knownGradFailures[key]
	return k, ok
}

var fixturesKnown = flag.Bool("fixtures.known", false, "run the cases of knownGradFailures as ordinary ones")

func TestFixtureGrads(t *testing.T) {
	forEachDevice(t, testFixtureGrads)
	logSlack(t, "grad ")
}

func testFixtureGrads(t *testing.T) {
	total := 0
	for _, area := range fixtureAreas {
		t.Run(area, func(t *testing.T) {
			ff := loadFixtures(t, area)
			for _, c := range ff.Cases {
				if c.Grads == nil {
					continue
				}
				total++
				if _, ok := fixtureOps[c.Op]; !ok {
					continue // TestFixtures reports it
				}
				if fixtureTolerances[c.GradTol] == nil && c.GradTol != "exact" && c.GradTol != "bits" {
					t.Errorf("case %s: unknown gradient tolerance class %q", c.Name, c.GradTol)
					continue
				}
				t.Run(c.Name, func(t *testing.T) { runGradCase(t, area, c) })
			}
		})
	}
	if total < 200 {
		t.Errorf("%d backward cases, want at least 200", total)
	}
}

func runGradCase(t *testing.T, area string, c fixtureCase) {
	known, isKnown := knownGradFailure(area, c.Name)
	if !isKnown || *fixturesKnown {
		checkGradCase(t, c)
		return
	}
	var r fxCollect
	checkGradCase(&r, c)
	switch {
	case len(r.msgs) > 0:
		t.Skipf("known problem: %s\nfirst of %d mismatches: %s", known.why, len(r.msgs), r.msgs[0])
	case !known.mayPass:
		t.Errorf("case %s is in knownGradFailures (%s) but passes: remove it", c.Name, known.why)
	}
}

// fxCollect collects mismatches instead of failing.
type fxCollect struct{ msgs []string }

func (*fxCollect) Helper() {}

func (r *fxCollect) Errorf(format string, args ...any) {
	r.msgs = append(r.msgs, fmt.Sprintf(format, args...))
}

func checkGradCase(t fxReporter, c fixtureCase) {
	t.Helper()
	if len(c.Grads) != len(c.Inputs) {
		t.Errorf("case %s: %d grads for %d inputs", c.Name, len(c.Grads), len(c.Inputs))
		return
	}
	grads, raws, err := evalGradCase(c)
	if err != nil {
		t.Errorf("case %s (%s): backward: %v", c.Name, c.Op, err)
		return
	}
	k := 0
	for i, g := range c.Grads {
		if g == nil {
			continue
		}
		var mask []bool
		if g.Mask != nil {
			mask = fxBools(*g.Mask)
		}
		for v, w := range []fixtureTensor{g.Sum, g.Weighted} {
			where := fmt.Sprintf("case %s (%s): gradient of %s by input %d", c.Name, c.Op, [2]string{"sum(out)", "sum(out*W)"}[v], i)
			compareFixtureTensor(t, where, c.Name, c.GradTol, "grad ", grads[v][k], raws[v][k], w, mask)
		}
		k++
	}
}

// evalGradCase runs the case's op on its inputs and returns, for each of the
// two incoming gradients (ones, then W), the gradients with respect to the
// created data of the inputs that have "grads", and their bytes; a panic
// becomes an error.
func evalGradCase(c fixtureCase) (grads [2][]*gograd.Tensor, raws [2][][]byte, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic: %v", r)
		}
	}()
	in := make([]*gograd.Tensor, len(c.Inputs))
	var xs []*gograd.Tensor
	for i, ft := range c.Inputs {
		b := ft.base()
		if c.Grads[i] != nil {
			xs = append(xs, b)
		}
		in[i] = ft.view(b)
	}
	outs := fixtureOps[c.Op](in, c.Args)
	if len(outs) != len(c.GradWeights) {
		return grads, raws, fmt.Errorf("%d outputs, %d weights", len(outs), len(c.GradWeights))
	}
	ws := make([]*gograd.Tensor, len(outs))
	for i, w := range c.GradWeights {
		ws[i] = w.base()
		if !slices.Equal(ws[i].Shape(), outs[i].Shape()) {
			return grads, raws, fmt.Errorf("output %d of shape %v for weights %v", i, outs[i].Shape(), ws[i].Shape())
		}
	}
	// d sum(out): Gradient of a one-element loss.
	var loss *gograd.Tensor
	for _, o := range outs {
		if loss == nil {
			loss = o.Sum()
		} else {
			loss = loss.Add(o.Sum())
		}
	}
	grads[0] = gograd.Gradient(loss, xs...)
	// d sum(out*W): the incoming gradient W, or a weighted loss for several outputs.
	if len(outs) == 1 {
		grads[1] = gograd.GradientWith(outs[0], ws[0], xs...)
	} else {
		loss = nil
		for i, o := range outs {
			l := o.Mul(ws[i]).Sum()
			if loss == nil {
				loss = l
			} else {
				loss = loss.Add(l)
			}
		}
		grads[1] = gograd.Gradient(loss, xs...)
	}
	gograd.Realize(append(slices.Clone(grads[0]), grads[1]...)...)
	for v := range grads {
		for _, g := range grads[v] {
			raws[v] = append(raws[v], g.Bytes())
		}
	}
	return grads, raws, nil
}

// fxBools decodes a bool tensor.
func fxBools(ft fixtureTensor) []bool {
	raw := ft.bytes()
	out := make([]bool, len(raw))
	for i, b := range raw {
		out[i] = b != 0
	}
	return out
}

// fdCase is an op PyTorch 1.13 has no gradient for, checked by finite
// differences: f of float64 inputs of the given shapes.
type fdCase struct {
	name   string
	shapes [][]int
	f      func(in []*gograd.Tensor) *gograd.Tensor
	lo, hi float64 // inputs uniform in [lo, hi) (default [-1, 1))
	known  string  // a core problem that makes it fail (skipped unless -fixtures.known)
}

// TestFiniteDifferenceGrads checks, in float64, the gradients of the ops
// whose PyTorch 1.13 reference is a composition rather than an op of its own
// (RMSNorm, scaled dot-product attention), or has no gradient (batch_norm's
// running statistics, a fractional Var correction), or which no fixture
// covers (Dropout with 0 < p < 1, a copy between devices): the gradient of
// sum(out * W) with respect to every input against central differences.
func TestFiniteDifferenceGrads(t *testing.T) {
	kind, _, _ := strings.Cut(gograd.DefaultDevice(), ":")
	other := kind + ":1"
	cases := []fdCase{
		{name: "RMSNorm", shapes: [][]int{{2, 3, 4}, {4}}, f: func(in []*gograd.Tensor) *gograd.Tensor {
			return in[0].RMSNorm(in[1], 1e-6)
		}},
		{name: "RMSNorm/no_weight", shapes: [][]int{{3, 5}}, f: func(in []*gograd.Tensor) *gograd.Tensor {
			return in[0].RMSNorm(nil, 1e-5)
		}},
		{name: "ScaledDotProductAttention", shapes: [][]int{{2, 3, 4}, {2, 5, 4}, {2, 5, 3}}, f: func(in []*gograd.Tensor) *gograd.Tensor {
			return in[0].ScaledDotProductAttention(in[1], in[2], nil, false)
		}},
		{name: "ScaledDotProductAttention/float_mask", shapes: [][]int{{1, 2, 3, 4}, {1, 2, 5, 4}, {1, 2, 5, 2}, {3, 5}},
			f: func(in []*gograd.Tensor) *gograd.Tensor {
				return in[0].ScaledDotProductAttention(in[1], in[2], in[3], false)
			}},
		{name: "ScaledDotProductAttention/causal", shapes: [][]int{{1, 4, 3}, {1, 4, 3}, {1, 4, 2}}, f: func(in []*gograd.Tensor) *gograd.Tensor {
			return in[0].ScaledDotProductAttention(in[1], in[2], nil, true)
		}},
		{name: "BatchNorm/statistics", shapes: [][]int{{2, 3, 2}, {3}, {3}, {3}, {3}}, lo: 0.5, hi: 2,
			f: func(in []*gograd.Tensor) *gograd.Tensor { return in[0].BatchNorm(in[1], in[2], in[3], in[4], 1e-5) }},
		{name: "Var/correction_0.5", shapes: [][]int{{3, 4}}, f: func(in []*gograd.Tensor) *gograd.Tensor {
			return in[0].Var(1, gograd.Correction(0.5))
		}},
		{name: "Std/correction_0.5", shapes: [][]int{{3, 4}}, f: func(in []*gograd.Tensor) *gograd.Tensor {
			return in[0].Std(0, gograd.Correction(0.5))
		}},
		{name: "Dropout/p0.3", shapes: [][]int{{4, 5}}, f: func(in []*gograd.Tensor) *gograd.Tensor {
			gograd.Seed(7) // the same mask every time
			return in[0].Dropout(0.3)
		}},
		{name: "To", shapes: [][]int{{2, 3}, {2, 3}}, f: func(in []*gograd.Tensor) *gograd.Tensor {
			return in[0].To(other).Mul(in[1].To(other).Exp()).To(in[0].Device()).Sin()
		}},
		{name: "To_round_trip_times_input", shapes: [][]int{{2, 3}},
			f: func(in []*gograd.Tensor) *gograd.Tensor {
				return in[0].To(other).Mul(2).To(in[0].Device()).Mul(in[0])
			}},
	}
	rng := rand.New(rand.NewPCG(5, 6))
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var r fxReporter = t
			var col fxCollect
			if c.known != "" && !*fixturesKnown {
				r = &col
				defer func() {
					if len(col.msgs) == 0 { // the copy problem comes and goes
						t.Logf("%s is marked known (%s) but passed this time", c.name, c.known)
						return
					}
					t.Skipf("known problem: %s\nfirst of %d mismatches: %s", c.known, len(col.msgs), col.msgs[0])
				}()
			}
			lo, hi := c.lo, c.hi
			if lo == 0 && hi == 0 {
				lo, hi = -1, 1
			}
			vals := make([][]float64, len(c.shapes))
			for i, s := range c.shapes {
				vals[i] = make([]float64, prodInts(s))
				for j := range vals[i] {
					vals[i][j] = lo + (hi-lo)*rng.Float64()
				}
			}
			build := func(vs [][]float64) []*gograd.Tensor {
				in := make([]*gograd.Tensor, len(vs))
				for i, v := range vs {
					in[i] = gograd.FromSlice(v, c.shapes[i]...)
				}
				return in
			}
			in := build(vals)
			out := c.f(in)
			w := make([]float64, out.Numel())
			for i := range w {
				w[i] = rng.Float64()*2 - 1
			}
			grads := gograd.GradientWith(out, gograd.FromSlice(w).Reshape(out.Shape()...), in...)
			loss := func(vs [][]float64) float64 {
				s := 0.0
				for i, o := range c.f(build(vs)).Float64s() {
					s += o * w[i]
				}
				return s
			}
			for i := range vals {
				got := grads[i].Float64s()
				for j := range vals[i] {
					x := vals[i][j]
					h := 1e-6 * math.Max(1, math.Abs(x))
					vals[i][j] = x + h
					up := loss(vals)
					vals[i][j] = x - h
					down := loss(vals)
					vals[i][j] = x
					want := (up - down) / (2 * h)
					if math.Abs(got[j]-want) > 1e-6*(1+math.Abs(want)) {
						r.Errorf("%s: d/d input %d [%d] = %.9g, finite differences give %.9g", c.name, i, j, got[j], want)
					}
				}
			}
		})
	}
}

func prodInts(s []int) int {
	n := 1
	for _, d := range s {
		n *= d
	}
	return n
}
