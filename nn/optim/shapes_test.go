package optim_test

import (
	"fmt"
	"math"
	"testing"

	"github.com/gograd/gograd"
	"github.com/gograd/gograd/nn/optim"
)

// refOptimizer is a float64 reference of one optimizer on one parameter,
// written with loops from the formulas in the doc comments, to check the
// tensor code on shapes the torch fixtures do not have (0-d, odd sizes,
// sizes the code generators vectorize).
type refOptimizer struct {
	name string
	make func(p []*gograd.Tensor) optim.Optimizer
	step func(p, g []float64, st *refState, lr float64)
}

type refState struct {
	t       int
	m, v, x []float64
}

func (s *refState) init(n int) {
	if s.m == nil {
		s.m, s.v, s.x = make([]float64, n), make([]float64, n), make([]float64, n)
	}
	s.t++
}

var refOptimizers = []refOptimizer{
	{"SGD Nesterov", func(p []*gograd.Tensor) optim.Optimizer {
		return optim.NewSGD(p, 0.1, optim.SGDOpts{Momentum: 0.9, Nesterov: true})
	}, func(p, g []float64, st *refState, lr float64) {
		st.init(len(p))
		for i := range p {
			if st.t == 1 {
				st.m[i] = g[i]
			} else {
				st.m[i] = 0.9*st.m[i] + g[i]
			}
			p[i] -= lr * (g[i] + 0.9*st.m[i])
		}
	}},
	{"Adam amsgrad", func(p []*gograd.Tensor) optim.Optimizer {
		o := optim.AdamDefaults()
		o.Amsgrad = true
		return optim.NewAdam(p, 0.1, o)
	}, func(p, g []float64, st *refState, lr float64) {
		st.init(len(p))
		bc1, bc2 := 1-math.Pow(0.9, float64(st.t)), 1-math.Pow(0.999, float64(st.t))
		for i := range p {
			st.m[i] = 0.9*st.m[i] + 0.1*g[i]
			st.v[i] = 0.999*st.v[i] + 0.001*g[i]*g[i]
			st.x[i] = max(st.x[i], st.v[i])
			p[i] -= lr / bc1 * st.m[i] / (math.Sqrt(st.x[i])/math.Sqrt(bc2) + 1e-8)
		}
	}},
	{"AdamW", func(p []*gograd.Tensor) optim.Optimizer { return optim.NewAdamW(p, 0.1) },
		func(p, g []float64, st *refState, lr float64) {
			st.init(len(p))
			bc1, bc2 := 1-math.Pow(0.9, float64(st.t)), 1-math.Pow(0.999, float64(st.t))
			for i := range p {
				p[i] *= 1 - lr*0.01
				st.m[i] = 0.9*st.m[i] + 0.1*g[i]
				st.v[i] = 0.999*st.v[i] + 0.001*g[i]*g[i]
				p[i] -= lr / bc1 * st.m[i] / (math.Sqrt(st.v[i])/math.Sqrt(bc2) + 1e-8)
			}
		}},
	{"LAMB weight decay", func(p []*gograd.Tensor) optim.Optimizer {
		o := optim.LAMBDefaults()
		o.WeightDecay = 0.1
		return optim.NewLAMB(p, 0.1, o)
	}, func(p, g []float64, st *refState, lr float64) {
		st.init(len(p))
		bc1, bc2 := 1-math.Pow(0.9, float64(st.t)), 1-math.Pow(0.999, float64(st.t))
		u := make([]float64, len(p))
		pn, un := 0.0, 0.0
		for i := range p {
			st.m[i] = 0.9*st.m[i] + 0.1*g[i]
			st.v[i] = 0.999*st.v[i] + 0.001*g[i]*g[i]
			u[i] = st.m[i]/bc1/(math.Sqrt(st.v[i]/bc2)+1e-6) + 0.1*p[i]
			pn += p[i] * p[i]
			un += u[i] * u[i]
		}
		trust := 1.0
		if pn > 0 && un > 0 {
			trust = math.Sqrt(pn) / math.Sqrt(un)
		}
		for i := range p {
			p[i] -= lr * trust * u[i]
		}
	}},
}

func TestStepShapes(t *testing.T) {
	shapes := [][]int{{}, {1}, {3}, {32}, {16, 8}, {5, 7}, {2, 3, 4}}
	for _, ro := range refOptimizers {
		for _, shape := range shapes {
			t.Run(fmt.Sprintf("%s/%v", ro.name, shape), func(t *testing.T) {
				defer failOnPanic(t)
				gograd.Seed(3)
				p := gograd.Randn(shape...).Realize()
				want := toF64(p.Float32s())
				opt := ro.make([]*gograd.Tensor{p})
				var st refState
				for step := range 3 {
					g := gograd.Randn(shape...).Realize()
					p.Grad = g
					ro.step(want, toF64(g.Float32s()), &st, opt.LR())
					opt.Step()
					for i, v := range p.Float32s() {
						if !closeTo(float64(v), want[i], 1e-5, 1e-6) {
							t.Fatalf("step %d element %d: %v, want %v", step, i, v, want[i])
						}
					}
					opt.SetLR(opt.LR() / 2)
				}
			})
		}
	}
}

func toF64(v []float32) []float64 {
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = float64(x)
	}
	return out
}
