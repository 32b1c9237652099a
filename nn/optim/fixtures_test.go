package optim_test

// The torch.optim fixtures: tools/gen_optim_fixtures.py runs torch 1.13 and
// writes testdata/{optimizers,schedules,clip}.json; these tests replay every
// case in gograd and compare.
//
// Regenerate with: /usr/bin/python3 tools/gen_optim_fixtures.py
// Run one case:    go test ./nn/optim -run 'TestOptimizerFixtures/adamw$'

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/gograd/gograd"
	"github.com/gograd/gograd/nn/optim"
)

// Tolerances. Parameters and losses: |got - want| <= optRtol*|want| +
// optAtol, elementwise, after every step. gograd computes in float32 like
// torch but rounds differently in places (tanh composed from exp2, a/b as
// a*(1/b), sums in another order), and ten steps carry those differences
// on; optAtol only keeps elements that pass near zero from failing on a
// relative test alone. Learning rates are float64 on both sides.
const (
	optRtol   = 1e-5
	optAtol   = 1e-7
	schedRtol = 1e-12
	clipRtol  = 1e-5
)

type fxTensor struct {
	Shape []int
	Data  []float64
}

func (f fxTensor) tensor() *gograd.Tensor {
	d := make([]float32, len(f.Data))
	for i, v := range f.Data {
		d[i] = float32(v)
	}
	return gograd.FromSlice(d, f.Shape...)
}

type optFixtures struct {
	Format     int
	Torch      string
	Steps      int
	X, Y, W, B fxTensor
	Cases      []optCase
}

type optCase struct {
	Name     string
	Kind     string
	Hyper    map[string]any
	Losses   []float64
	LRs      []float64
	Params   [][][]float64 // step, parameter, element
	Schedule string
	Clip     *float64
}

func readJSON(t *testing.T, name string, v any) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatalf("missing fixture file (run /usr/bin/python3 tools/gen_optim_fixtures.py): %v", err)
	}
	if err := json.Unmarshal(raw, v); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
}

// closeTo reports whether got is within atol + rtol*|want| of want.
func closeTo(got, want, rtol, atol float64) bool {
	return math.Abs(got-want) <= atol+rtol*math.Abs(want)
}

func hyperF(h map[string]any, key string, def float64) float64 {
	if v, ok := h[key]; ok {
		return v.(float64)
	}
	return def
}

func hyperB(h map[string]any, key string) bool {
	v, ok := h[key]
	return ok && v.(bool)
}

// newOptimizer builds the optimizer a fixture case names.
func newOptimizer(t *testing.T, kind string, params []*gograd.Tensor, h map[string]any) optim.Optimizer {
	lr := h["lr"].(float64)
	adam := func(o optim.AdamOpts) optim.AdamOpts {
		o.Beta1 = hyperF(h, "beta1", o.Beta1)
		o.Beta2 = hyperF(h, "beta2", o.Beta2)
		o.Eps = hyperF(h, "eps", o.Eps)
		o.WeightDecay = hyperF(h, "weight_decay", o.WeightDecay)
		o.Amsgrad = hyperB(h, "amsgrad")
		o.Maximize = hyperB(h, "maximize")
		return o
	}
	switch kind {
	case "SGD":
		return optim.NewSGD(params, lr, optim.SGDOpts{
			Momentum:    hyperF(h, "momentum", 0),
			Dampening:   hyperF(h, "dampening", 0),
			WeightDecay: hyperF(h, "weight_decay", 0),
			Nesterov:    hyperB(h, "nesterov"),
			Maximize:    hyperB(h, "maximize"),
		})
	case "Adam":
		return optim.NewAdam(params, lr, adam(optim.AdamDefaults()))
	case "AdamW":
		return optim.NewAdamW(params, lr, adam(optim.AdamWDefaults()))
	case "LAMB":
		return optim.NewLAMB(params, lr, adam(optim.LAMBDefaults()))
	}
	t.Fatalf("unknown optimizer kind %q", kind)
	return nil
}

// schedCase is one schedules.json case; Then describes the schedule a
// warm-up leads to.
type schedCase struct {
	Name        string
	LR          float64
	Kind        string
	StepSize    int     `json:"step_size"`
	Gamma       float64 `json:"gamma"`
	Steps       int     `json:"steps"`
	Min         float64 `json:"min"`
	Warmup      int     `json:"warmup"`
	StartFactor float64 `json:"start_factor"`
	TotalSteps  int     `json:"total_steps"`
	Then        *schedCase
	LRs         []float64
}

// schedule builds the Go schedule of a case, with base learning rate base.
func (c schedCase) schedule(t *testing.T, base float64) optim.Schedule {
	switch c.Kind {
	case "StepDecay":
		return optim.StepDecay{Base: base, StepSize: c.StepSize, Gamma: c.Gamma}
	case "Cosine":
		return optim.Cosine{Base: base, Min: c.Min, Steps: c.Steps}
	case "Warmup":
		return optim.Warmup{Steps: c.Warmup, StartFactor: c.StartFactor, Then: c.Then.schedule(t, base)}
	case "OneCycle":
		return optim.OneCycle{MaxLR: base, TotalSteps: c.TotalSteps}
	}
	t.Fatalf("unknown schedule kind %q", c.Kind)
	return nil
}

type schedFixtures struct {
	Format int
	Cases  []schedCase
}

func TestOptimizerFixtures(t *testing.T) {
	var fx optFixtures
	readJSON(t, "optimizers.json", &fx)
	var sf schedFixtures
	readJSON(t, "schedules.json", &sf)
	if fx.Format != 1 || len(fx.Cases) == 0 || fx.Steps == 0 {
		t.Fatalf("optimizers.json: format %d, %d cases, %d steps", fx.Format, len(fx.Cases), fx.Steps)
	}
	scheds := map[string]schedCase{}
	for _, c := range sf.Cases {
		scheds[c.Name] = c
	}
	kinds := map[string]bool{}
	for _, c := range fx.Cases {
		kinds[c.Kind] = true
		t.Run(c.Name, func(t *testing.T) { runOptCase(t, fx, c, scheds) })
	}
	for _, k := range []string{"SGD", "Adam", "AdamW", "LAMB"} {
		if !kinds[k] {
			t.Errorf("no fixture case for %s", k)
		}
	}
}

func runOptCase(t *testing.T, fx optFixtures, c optCase, scheds map[string]schedCase) {
	defer failOnPanic(t)
	x, y := fx.X.tensor(), fx.Y.tensor()
	w, b := fx.W.tensor().RequiresGrad(true), fx.B.tensor().RequiresGrad(true)
	params := []*gograd.Tensor{w, b}
	opt := newOptimizer(t, c.Kind, params, c.Hyper)
	var sched *optim.Scheduler
	if c.Schedule != "" {
		sc, ok := scheds[c.Schedule]
		if !ok {
			t.Fatalf("unknown schedule %q", c.Schedule)
		}
		sched = optim.NewScheduler(opt, sc.schedule(t, c.Hyper["lr"].(float64)))
	}
	if len(c.Params) != fx.Steps || len(c.Losses) != fx.Steps || len(c.LRs) != fx.Steps {
		t.Fatalf("case has %d params, %d losses, %d lrs for %d steps", len(c.Params), len(c.Losses), len(c.LRs), fx.Steps)
	}
	slack := 0.0 // the largest share of the tolerance an element used
	defer func() { t.Logf("used %.1f%% of the tolerance", 100*slack) }()
	for step := range fx.Steps {
		opt.ZeroGrad()
		d := x.Matmul(w).Add(b).Tanh().Sub(y)
		loss := d.Mul(d).Mean()
		loss.Backward()
		also := []*gograd.Tensor{loss}
		if c.Clip != nil {
			also = append(also, optim.ClipGradNorm(params, *c.Clip))
		}
		if lr := opt.LR(); !closeTo(lr, c.LRs[step], schedRtol, 0) {
			t.Errorf("step %d: learning rate %v, want %v", step, lr, c.LRs[step])
		}
		opt.Step(also...)
		if sched != nil {
			sched.Step()
		}
		if got := loss.Item(); !closeTo(got, c.Losses[step], optRtol, optAtol) {
			t.Errorf("step %d: loss %v, want %v", step, got, c.Losses[step])
		}
		for i, p := range params {
			got, want := p.Float32s(), c.Params[step][i]
			if len(got) != len(want) {
				t.Fatalf("step %d: parameter %d has %d elements, want %d", step, i, len(got), len(want))
			}
			bad := 0
			for k := range got {
				slack = max(slack, math.Abs(float64(got[k])-want[k])/(optAtol+optRtol*math.Abs(want[k])))
				if !closeTo(float64(got[k]), want[k], optRtol, optAtol) {
					if bad < 3 {
						t.Errorf("step %d: parameter %d element %d: %v, want %v (rel. error %.2g)", step, i, k, got[k], want[k],
							math.Abs(float64(got[k])-want[k])/math.Abs(want[k]))
					}
					bad++
				}
			}
			if bad > 0 {
				t.Fatalf("step %d: parameter %d: %d of %d elements differ", step, i, bad, len(got))
			}
		}
	}
}

func TestScheduleFixtures(t *testing.T) {
	var sf schedFixtures
	readJSON(t, "schedules.json", &sf)
	if sf.Format != 1 || len(sf.Cases) == 0 {
		t.Fatalf("schedules.json: format %d with %d cases", sf.Format, len(sf.Cases))
	}
	for _, c := range sf.Cases {
		t.Run(c.Name, func(t *testing.T) {
			s := c.schedule(t, c.LR)
			for step, want := range c.LRs {
				if got := s.LR(step); !closeTo(got, want, schedRtol, 1e-18) {
					t.Errorf("step %d: learning rate %v, want %v", step, got, want)
				}
			}
			// The same sequence through a Scheduler driving an optimizer.
			p := gograd.Zeros(1).Contiguous().Realize()
			opt := optim.NewSGD([]*gograd.Tensor{p}, 1)
			sched := optim.NewScheduler(opt, s)
			for step, want := range c.LRs {
				if got := opt.LR(); !closeTo(got, want, schedRtol, 1e-18) {
					t.Fatalf("scheduler step %d: optimizer learning rate %v, want %v", step, got, want)
				}
				if step < len(c.LRs)-1 {
					sched.Step()
				}
			}
			if sched.Steps() != len(c.LRs)-1 {
				t.Errorf("scheduler counted %d steps, want %d", sched.Steps(), len(c.LRs)-1)
			}
		})
	}
}

type clipCase struct {
	Name      string
	MaxNorm   float64 `json:"max_norm"`
	Grads     []fxTensor
	TotalNorm float64 `json:"total_norm"`
	Clipped   [][]float64
}

func TestClipGradNormFixtures(t *testing.T) {
	var cf struct {
		Format int
		Cases  []clipCase
	}
	readJSON(t, "clip.json", &cf)
	if cf.Format != 1 || len(cf.Cases) == 0 {
		t.Fatalf("clip.json: format %d with %d cases", cf.Format, len(cf.Cases))
	}
	for _, c := range cf.Cases {
		t.Run(c.Name, func(t *testing.T) {
			var params []*gograd.Tensor
			for _, g := range c.Grads {
				p := gograd.Zeros(g.Shape...).Contiguous().Realize()
				p.Grad = g.tensor()
				params = append(params, p)
			}
			norm := optim.ClipGradNorm(params, c.MaxNorm)
			realize := []*gograd.Tensor{norm}
			for _, p := range params {
				realize = append(realize, p.Grad)
			}
			gograd.Realize(realize...)
			if got := norm.Item(); !closeTo(got, c.TotalNorm, clipRtol, 0) {
				t.Errorf("total norm %v, want %v", got, c.TotalNorm)
			}
			for i, p := range params {
				got := p.Grad.Float32s()
				for k, want := range c.Clipped[i] {
					if !closeTo(float64(got[k]), want, clipRtol, 1e-9) {
						t.Errorf("gradient %d element %d: %v, want %v", i, k, got[k], want)
					}
				}
			}
		})
	}
}

// failOnPanic turns a panic into a test failure, so that one failing case
// does not hide the others.
func failOnPanic(t *testing.T) {
	t.Helper()
	if r := recover(); r != nil {
		t.Fatalf("panic: %v", r)
	}
}
