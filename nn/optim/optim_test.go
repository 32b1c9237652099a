package optim_test

import (
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/gograd/gograd"
	"github.com/gograd/gograd/nn/optim"
)

func param(v ...float32) *gograd.Tensor { return gograd.FromSlice(v).RequiresGrad(true) }

// panicOf runs f and returns what it panicked with, as a string ("" if it
// did not panic).
func panicOf(f func()) (msg string) {
	defer func() {
		if r := recover(); r != nil {
			msg = fmt.Sprint(r)
		}
	}()
	f()
	return ""
}

func TestMisusePanics(t *testing.T) {
	ps := func() []*gograd.Tensor { return []*gograd.Tensor{param(1, 2)} }
	withGrad := func(shape ...int) []*gograd.Tensor {
		p := param(1, 2)
		p.Grad = gograd.Ones(shape...)
		return []*gograd.Tensor{p}
	}
	tests := []struct {
		name, want string
		f          func()
	}{
		{"no parameters", "optim: SGD: no parameters", func() { optim.NewSGD(nil, 0.1) }},
		{"negative lr", "optim: Adam: learning rate -0.1", func() { optim.NewAdam(ps(), -0.1) }},
		{"NaN lr", "optim: AdamW: learning rate NaN", func() { optim.NewAdamW(ps(), math.NaN()) }},
		{"SetLR infinite", "optim: LAMB: learning rate +Inf", func() { optim.NewLAMB(ps(), 1).SetLR(math.Inf(1)) }},
		{"nil parameter", "optim: SGD: parameter 1 is nil", func() { optim.NewSGD([]*gograd.Tensor{param(1), nil}, 0.1) }},
		{"int parameter", "optim: SGD: parameter 0 is int64", func() { optim.NewSGD([]*gograd.Tensor{gograd.Arange(3)}, 0.1) }},
		{"duplicate parameter", "optim: Adam: parameter 1 is parameter 0 again", func() {
			p := param(1)
			optim.NewAdam([]*gograd.Tensor{p, p}, 0.1)
		}},
		{"two option sets", "optim: SGD: 2 option sets", func() { optim.NewSGD(ps(), 0.1, optim.SGDOpts{}, optim.SGDOpts{}) }},
		{"negative momentum", "optim: SGD: momentum -0.5", func() { optim.NewSGD(ps(), 0.1, optim.SGDOpts{Momentum: -0.5}) }},
		{"nesterov without momentum", "optim: SGD: Nesterov momentum needs momentum > 0", func() {
			optim.NewSGD(ps(), 0.1, optim.SGDOpts{Nesterov: true})
		}},
		{"nesterov with dampening", "optim: SGD: Nesterov momentum needs", func() {
			optim.NewSGD(ps(), 0.1, optim.SGDOpts{Momentum: 0.9, Dampening: 0.1, Nesterov: true})
		}},
		{"beta1 of one", "optim: Adam: beta1 1 is not in [0, 1)", func() {
			o := optim.AdamDefaults()
			o.Beta1 = 1
			optim.NewAdam(ps(), 0.1, o)
		}},
		{"negative eps", "optim: AdamW: eps -1", func() {
			o := optim.AdamWDefaults()
			o.Eps = -1
			optim.NewAdamW(ps(), 0.1, o)
		}},
		{"negative weight decay", "optim: LAMB: weight decay -0.1", func() {
			o := optim.LAMBDefaults()
			o.WeightDecay = -0.1
			optim.NewLAMB(ps(), 0.1, o)
		}},
		{"LAMB amsgrad", "optim: LAMB: Amsgrad and Maximize are not supported", func() {
			o := optim.LAMBDefaults()
			o.Amsgrad = true
			optim.NewLAMB(ps(), 0.1, o)
		}},
		{"gradient of another shape", "optim: Adam: gradient of shape [3] for parameter 0 of shape [2]", func() {
			optim.NewAdam(withGrad(3), 0.1).Step()
		}},
		{"clip negative max norm", "optim: ClipGradNorm: max norm -1", func() { optim.ClipGradNorm(ps(), -1) }},
		{"clip NaN max norm", "optim: ClipGradNorm: max norm NaN", func() { optim.ClipGradNorm(ps(), math.NaN()) }},
		{"negative step", "optim: Cosine: step -1 is negative", func() { optim.Cosine{Base: 1, Steps: 3}.LR(-1) }},
		{"step size zero", "optim: StepDecay: step size 0", func() { optim.StepDecay{Base: 1, Gamma: 0.5}.LR(0) }},
		{"cosine without steps", "optim: Cosine: 0 steps", func() { optim.Cosine{Base: 1}.LR(0) }},
		{"warmup to nothing", "optim: Warmup: no schedule", func() { optim.Warmup{Steps: 3, StartFactor: 0.1}.LR(0) }},
		{"warmup from zero", "optim: Warmup: start factor 0", func() { optim.Warmup{Steps: 3, Then: optim.Constant(1)}.LR(0) }},
		{"one cycle past its end", "optim: OneCycle: step 11 is past the 10 total steps", func() {
			optim.OneCycle{MaxLR: 1, TotalSteps: 10}.LR(11)
		}},
		{"one cycle without steps", "optim: OneCycle: 0 total steps", func() { optim.OneCycle{MaxLR: 1}.LR(0) }},
		{"scheduler without optimizer", "optim: NewScheduler: nil optimizer", func() { optim.NewScheduler(nil, optim.Constant(1)) }},
	}
	for _, tc := range tests {
		got := panicOf(tc.f)
		if !strings.HasPrefix(got, tc.want) {
			t.Errorf("%s: panicked with %q, want a message starting with %q", tc.name, got, tc.want)
		}
	}
}

// Parameters without a gradient are skipped and keep their own step count,
// as in PyTorch: a parameter whose first gradient comes at the second step
// gets Adam's first-step update.
func TestStepSkipsParametersWithoutGradient(t *testing.T) {
	a, b := param(1, 2, 3), param(1, 2, 3)
	opt := optim.NewAdam([]*gograd.Tensor{a, b}, 0.1)
	a.Grad = gograd.FromSlice([]float32{0.5, -1, 2})
	opt.Step()
	if got := fmt.Sprint(b.Float32s()); got != "[1 2 3]" {
		t.Fatalf("parameter without a gradient changed to %v", got)
	}
	opt.ZeroGrad()
	if a.Grad != nil || b.Grad != nil {
		t.Fatalf("ZeroGrad left gradients %v %v", a.Grad, b.Grad)
	}
	b.Grad = gograd.FromSlice([]float32{0.5, -1, 2})
	before := a.Float32s()
	opt.Step()
	if got := fmt.Sprint(a.Float32s()); got != fmt.Sprint(before) {
		t.Fatalf("parameter without a gradient changed from %v to %v", before, got)
	}
	// Adam's first step moves each element by lr against its gradient's sign
	// (up to eps): b must look like a after its first step.
	want := []float64{0.9, 2.1, 2.9}
	for i, v := range b.Float32s() {
		if !closeTo(float64(v), want[i], 1e-6, 0) {
			t.Errorf("b[%d] = %v after its first step, want %v", i, v, want[i])
		}
	}
}

// After a step, Grad holds the realized gradient at the old parameters, and
// the loss passed to Step is the loss at the old parameters.
func TestStepRealizesGradientsAndAlso(t *testing.T) {
	p := param(1, -2, 3)
	opt := optim.NewSGD([]*gograd.Tensor{p}, 0.25)
	loss := p.Mul(p).Sum()
	loss.Backward()
	opt.Step(loss)
	for _, tc := range []struct {
		what string
		got  []float32
		want string
	}{
		{"parameter", p.Float32s(), "[0.5 -1 1.5]"},
		{"gradient", p.Grad.Float32s(), "[2 -4 6]"},
		{"loss", loss.Float32s(), "[14]"},
	} {
		if got := fmt.Sprint(tc.got); got != tc.want {
			t.Errorf("%s after the step: %v, want %v", tc.what, got, tc.want)
		}
	}
}

// Update returns the tensors to realize; realizing them (with other work)
// is a step.
func TestUpdateThenRealize(t *testing.T) {
	p := param(1, 2)
	opt := optim.NewSGD([]*gograd.Tensor{p}, 0.5, optim.SGDOpts{Momentum: 0.5})
	for range 2 {
		p.Grad = gograd.FromSlice([]float32{1, 1})
		gograd.Realize(opt.Update()...)
	}
	// buf: 1, then 0.5*1 + 1 = 1.5; p: 1 - 0.5 - 0.75 = -0.25.
	if got := fmt.Sprint(p.Float32s()); got != "[-0.25 0.75]" {
		t.Fatalf("after two steps: %v, want [-0.25 0.75]", got)
	}
	params := opt.Params()
	params[0] = nil
	if opt.Params()[0] != p {
		t.Fatalf("Params returned the optimizer's own slice")
	}
}

// Float64 parameters update in float64 and with float64 per-step scalars.
func TestFloat64Parameters(t *testing.T) {
	p := gograd.FromSlice([]float64{1, 2}).RequiresGrad(true)
	opt := optim.NewAdamW([]*gograd.Tensor{p}, 1e-3)
	p.Grad = gograd.FromSlice([]float64{0.1, -0.2})
	opt.Step()
	if p.DType() != gograd.Float64 {
		t.Fatalf("parameter became %s", p.DType())
	}
	// First AdamW step: p*(1-lr*wd) - lr*sign(g) (up to eps).
	want := []float64{1*(1-1e-5) - 1e-3, 2*(1-1e-5) + 1e-3}
	for i, v := range p.Float64s() {
		if !closeTo(v, want[i], 1e-9, 0) {
			t.Errorf("p[%d] = %v, want %v", i, v, want[i])
		}
	}
}

// A parameter with no elements is skipped; a step on it costs nothing.
func TestEmptyParameter(t *testing.T) {
	p := gograd.Zeros(0, 3).Contiguous().Realize().RequiresGrad(true)
	q := param(1)
	opt := optim.NewLAMB([]*gograd.Tensor{p, q}, 0.1)
	p.Grad, q.Grad = gograd.Zeros(0, 3), gograd.Ones(1)
	opt.Step()
	if got := p.Shape(); fmt.Sprint(got) != "[0 3]" {
		t.Fatalf("empty parameter became shape %v", got)
	}
}

func TestClipGradNormEdges(t *testing.T) {
	// No gradients: the norm is zero.
	if got := optim.ClipGradNorm([]*gograd.Tensor{param(1)}, 1).Item(); got != 0 {
		t.Errorf("norm without gradients: %v, want 0", got)
	}
	// An infinite max norm leaves the gradients alone and returns the norm.
	p := param(0, 0)
	p.Grad = gograd.FromSlice([]float32{3, 4})
	g := p.Grad
	norm := optim.ClipGradNorm([]*gograd.Tensor{p}, math.Inf(1))
	if p.Grad != g {
		t.Errorf("an infinite max norm replaced the gradient")
	}
	if got := norm.Item(); got != 5 {
		t.Errorf("norm of [3 4]: %v, want 5", got)
	}
	// Clipping to 1 with lazy gradients, then a step, in one realize.
	q := param(1, 1)
	opt := optim.NewSGD([]*gograd.Tensor{q}, 1)
	loss := q.Mul(gograd.FromSlice([]float32{3, 4})).Sum()
	loss.Backward()
	norm = optim.ClipGradNorm(opt.Params(), 1)
	opt.Step(norm)
	if got := norm.Item(); got != 5 {
		t.Errorf("norm: %v, want 5", got)
	}
	want := []float64{1 - 0.6, 1 - 0.8}
	for i, v := range q.Float32s() {
		if !closeTo(float64(v), want[i], 1e-6, 0) {
			t.Errorf("q[%d] = %v after a clipped step, want %v", i, v, want[i])
		}
	}
}

// OneCycle's defaults are PyTorch's; explicit fields change them.
func TestOneCycleOptions(t *testing.T) {
	def := optim.OneCycle{MaxLR: 1, TotalSteps: 100}
	if got := def.LR(0); !closeTo(got, 1.0/25, 1e-15, 0) {
		t.Errorf("first rate %v, want max/25", got)
	}
	if got := def.LR(29); !closeTo(got, 1, 1e-15, 0) {
		t.Errorf("rate at the peak (step 29 of 100) %v, want 1", got)
	}
	if got := def.LR(99); !closeTo(got, 1.0/25/1e4, 1e-12, 0) {
		t.Errorf("last rate %v, want max/25/1e4", got)
	}
	o := optim.OneCycle{MaxLR: 1, TotalSteps: 11, PctStart: 0.5, DivFactor: 10, FinalDivFactor: 100}
	if got := o.LR(0); !closeTo(got, 0.1, 1e-15, 0) {
		t.Errorf("first rate %v, want 0.1", got)
	}
	if got := o.LR(10); !closeTo(got, 0.001, 1e-12, 0) {
		t.Errorf("last rate %v, want 0.001", got)
	}
}

func TestConstantAndWarmupToConstant(t *testing.T) {
	w := optim.Warmup{Steps: 4, StartFactor: 0.25, Then: optim.Constant(0.8)}
	want := []float64{0.2, 0.35, 0.5, 0.65, 0.8, 0.8}
	for step, lr := range want {
		if got := w.LR(step); !closeTo(got, lr, 1e-15, 0) {
			t.Errorf("step %d: %v, want %v", step, got, lr)
		}
	}
}

// Each parameter counts its own steps on its own device: a five-parameter
// Adam over two devices, whose parameters get gradients at different steps,
// matches five one-parameter Adams, with the learning rate changing.
func TestStepCountsPerParameterAndDevice(t *testing.T) {
	devs := []string{"GO:1", gograd.DefaultDevice(), "GO:1", gograd.DefaultDevice(), "GO:1"}
	params := func() []*gograd.Tensor {
		var ps []*gograd.Tensor
		for i, d := range devs {
			ps = append(ps, gograd.FromSliceOn(d, []float32{float32(i + 1), -2}).RequiresGrad(true))
		}
		return ps
	}
	ps, refs := params(), params()
	opt := optim.NewAdam(ps, 0.1)
	var refOpts []optim.Optimizer
	for _, r := range refs {
		refOpts = append(refOpts, optim.NewAdam([]*gograd.Tensor{r}, 0.1))
	}
	for step := range 8 {
		opt.ZeroGrad()
		for i := range ps {
			if (step+i)%3 == 0 {
				continue
			}
			g := []float32{float32(step) - 3, float32(i) + 0.5}
			ps[i].Grad = gograd.FromSliceOn(devs[i], g)
			refs[i].Grad = gograd.FromSliceOn(devs[i], g)
			refOpts[i].Step()
			refOpts[i].ZeroGrad()
		}
		opt.Step()
		lr := 0.1 / float64(step+2)
		opt.SetLR(lr)
		for _, r := range refOpts {
			r.SetLR(lr)
		}
		for i := range ps {
			got, want := ps[i].Float32s(), refs[i].Float32s()
			for e := range got {
				if !closeTo(float64(got[e]), float64(want[e]), 1e-6, 0) {
					t.Fatalf("step %d: parameter %d (on %s) is %v, want %v", step, i, devs[i], got, want)
				}
			}
		}
	}
}
