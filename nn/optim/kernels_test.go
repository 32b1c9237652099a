package optim_test

import (
	"testing"

	"github.com/gograd/gograd"
	"github.com/gograd/gograd/nn/optim"
)

// count runs f and returns the kernels it ran and compiled.
func count(f func()) (kernels, compiles int64) {
	gograd.ResetStats()
	f()
	s := gograd.Stats("")
	return s.Kernels, s.Compiles
}

// scalarKernels is the kernels a step runs besides the parameters' updates:
// one, shared by every parameter on the device, that counts the step and
// computes the per-step scalars (learning rate, bias corrections) from the
// counts and the learning rate on the device.
const scalarKernels = 1

// kernelCases are the optimizers whose kernels per step the tests pin: want
// is the kernels of the update of one parameter whose gradient is realized
// (a step on it runs scalarKernels more).
var kernelCases = []struct {
	name string
	make func([]*gograd.Tensor) optim.Optimizer
	want int64
}{
	{"SGD", func(p []*gograd.Tensor) optim.Optimizer { return optim.NewSGD(p, 0.1) }, 1},
	{"SGD momentum", func(p []*gograd.Tensor) optim.Optimizer {
		return optim.NewSGD(p, 0.1, optim.SGDOpts{Momentum: 0.9, Dampening: 0.1})
	}, 1},
	{"SGD Nesterov", func(p []*gograd.Tensor) optim.Optimizer {
		return optim.NewSGD(p, 0.1, optim.SGDOpts{Momentum: 0.9, Nesterov: true})
	}, 1},
	{"SGD momentum weight decay", func(p []*gograd.Tensor) optim.Optimizer {
		return optim.NewSGD(p, 0.1, optim.SGDOpts{Momentum: 0.9, WeightDecay: 1e-4})
	}, 1},
	{"Adam", func(p []*gograd.Tensor) optim.Optimizer { return optim.NewAdam(p, 1e-3) }, 1},
	{"Adam weight decay", func(p []*gograd.Tensor) optim.Optimizer {
		o := optim.AdamDefaults()
		o.WeightDecay = 0.01
		return optim.NewAdam(p, 1e-3, o)
	}, 1},
	{"Adam amsgrad", func(p []*gograd.Tensor) optim.Optimizer {
		o := optim.AdamDefaults()
		o.Amsgrad = true
		return optim.NewAdam(p, 1e-3, o)
	}, 1},
	{"AdamW", func(p []*gograd.Tensor) optim.Optimizer { return optim.NewAdamW(p, 1e-3) }, 1},
	{"LAMB", func(p []*gograd.Tensor) optim.Optimizer { return optim.NewLAMB(p, 1e-3) }, 2},
	{"LAMB weight decay", func(p []*gograd.Tensor) optim.Optimizer {
		o := optim.LAMBDefaults()
		o.WeightDecay = 0.01
		return optim.NewLAMB(p, 1e-3, o)
	}, 2},
}

// A step on one parameter with a realized gradient is the scalars' kernel
// and one fused update kernel (two for LAMB), compiled at the first step
// only, though the learning rate changes at every step.
func TestStepKernelsOneParameter(t *testing.T) {
	for _, tc := range kernelCases {
		t.Run(tc.name, func(t *testing.T) {
			defer failOnPanic(t)
			p := gograd.Rand(16, 8).Realize()
			opt := tc.make([]*gograd.Tensor{p})
			sched := optim.NewScheduler(opt, optim.Cosine{Base: 0.1, Steps: 5})
			for step := range 4 {
				p.Grad = gograd.Randn(16, 8)
				k, c := count(func() { opt.Step() })
				if k != scalarKernels+tc.want {
					t.Errorf("step %d: %d kernels, want %d", step, k, scalarKernels+tc.want)
				}
				if step > 0 && c != 0 {
					t.Errorf("step %d: %d kernels compiled, want 0 (the per-step scalars should not change the kernels)", step, c)
				}
				sched.Step()
			}
		})
	}
}

// models are small models for the kernel counts: their parameters and a
// function that builds the loss on a fixed batch.
var models = []struct {
	name string
	make func() ([]*gograd.Tensor, func() *gograd.Tensor)
}{
	{"one parameter", func() ([]*gograd.Tensor, func() *gograd.Tensor) {
		gograd.Seed(5)
		x, w := gograd.Randn(32, 8).Realize(), gograd.Randn(8, 4).Realize().RequiresGrad(true)
		return []*gograd.Tensor{w}, func() *gograd.Tensor { return x.Matmul(w).Tanh().Mean() }
	}},
	{"two-layer MLP", func() ([]*gograd.Tensor, func() *gograd.Tensor) {
		gograd.Seed(7)
		x, y := gograd.Randn(32, 8).Realize(), gograd.Randn(32, 4).Realize()
		w1, b1 := gograd.Randn(8, 16).Mul(0.3).Realize().RequiresGrad(true), gograd.Zeros(16).Contiguous().Realize().RequiresGrad(true)
		w2, b2 := gograd.Randn(16, 4).Mul(0.3).Realize().RequiresGrad(true), gograd.Zeros(4).Contiguous().Realize().RequiresGrad(true)
		return []*gograd.Tensor{w1, b1, w2, b2}, func() *gograd.Tensor {
			d := x.Matmul(w1).Add(b1).Relu().Matmul(w2).Add(b2).Sub(y)
			return d.Mul(d).Mean()
		}
	}},
}

// A whole training step (forward, backward and update in one Step) runs
// the kernels of the forward and backward passes plus the scalars' kernel
// and the update kernels, one per parameter (two for LAMB): the update adds
// nothing else, and reads the gradients the backward pass computes anyway.
func TestStepKernelsModel(t *testing.T) {
	for _, m := range models {
		for _, tc := range kernelCases {
			t.Run(m.name+"/"+tc.name, func(t *testing.T) {
				defer failOnPanic(t)
				params, lossFn := m.make()
				opt := tc.make(params)
				// The forward and backward passes alone, on the same graph.
				loss := lossFn()
				loss.Backward()
				grads := []*gograd.Tensor{loss}
				for _, p := range params {
					grads = append(grads, p.Grad)
				}
				fb, _ := count(func() { gograd.Realize(grads...) })
				opt.ZeroGrad()
				for step := range 3 {
					loss := lossFn()
					loss.Backward()
					k, _ := count(func() { opt.Step(loss) })
					if want := fb + scalarKernels + int64(len(params))*tc.want; k != want {
						t.Errorf("step %d: %d kernels, want %d (forward and backward %d + updates %d)", step, k, want, fb, k-fb)
					}
					opt.ZeroGrad()
					if step == 2 {
						t.Logf("%s, %s: %d kernels per training step: forward+backward %d, update %d", m.name, tc.name, k, fb, k-fb)
					}
				}
			})
		}
	}
}

// Clipping the gradients by their global norm inside the step adds, for n
// parameters, n kernels for the squared norms (one of them also sums them
// into the total norm) and n that scale the gradients (Step realizes the
// clipped gradients, which the updates read).
func TestStepKernelsClip(t *testing.T) {
	for _, m := range models {
		t.Run(m.name, func(t *testing.T) {
			params, lossFn := m.make()
			opt := optim.NewAdamW(params, 1e-3)
			loss := lossFn()
			loss.Backward()
			plain, _ := count(func() { opt.Step(loss) })
			opt.ZeroGrad()
			loss = lossFn()
			loss.Backward()
			norm := optim.ClipGradNorm(params, 0.1)
			clipped, _ := count(func() { opt.Step(loss, norm) })
			n := int64(len(params))
			if clipped != plain+2*n {
				t.Errorf("clipped step ran %d kernels, want %d (unclipped %d + %d)", clipped, plain+2*n, plain, 2*n)
			}
			t.Logf("%s: AdamW step %d kernels, with ClipGradNorm %d", m.name, plain, clipped)
		})
	}
}
