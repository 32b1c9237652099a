package optim_test

import (
	"testing"

	"github.com/gograd/gograd"
	"github.com/gograd/gograd/jit"
	"github.com/gograd/gograd/nn/optim"
)

// A training step written the usual way (forward, backward and opt.Step
// inside the function) and run through jit.New gives the parameters of the
// eager loop after every step, with the learning rate changed between
// steps by a schedule outside the function: the step counts, the learning
// rate and the scalars made from them live on the device, so the replayed
// kernels read this step's values, and replays compile nothing.
func TestJITStepMatchesEager(t *testing.T) {
	const steps = 12
	cases := []struct {
		name  string
		make  func([]*gograd.Tensor) optim.Optimizer
		sched optim.Schedule
	}{
		{"SGD momentum weight decay", func(p []*gograd.Tensor) optim.Optimizer {
			return optim.NewSGD(p, 0.1, optim.SGDOpts{Momentum: 0.9, Dampening: 0.1, WeightDecay: 0.01})
		}, optim.Cosine{Base: 0.1, Min: 0.01, Steps: steps}},
		{"Adam", func(p []*gograd.Tensor) optim.Optimizer { return optim.NewAdam(p, 0.05) },
			optim.OneCycle{MaxLR: 0.05, TotalSteps: steps}},
		{"AdamW", func(p []*gograd.Tensor) optim.Optimizer {
			o := optim.AdamWDefaults()
			o.WeightDecay = 0.1
			return optim.NewAdamW(p, 0.05, o)
		}, optim.Cosine{Base: 0.05, Min: 0.001, Steps: steps}},
		{"LAMB", func(p []*gograd.Tensor) optim.Optimizer {
			o := optim.LAMBDefaults()
			o.WeightDecay = 0.01
			return optim.NewLAMB(p, 0.02, o)
		}, optim.OneCycle{MaxLR: 0.02, TotalSteps: steps}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			defer failOnPanic(t)
			// A linear model (weight and bias) on a new batch each step.
			gograd.Seed(11)
			w0, b0 := gograd.Randn(8, 4).Float32s(), gograd.Randn(4).Float32s()
			var xs, ys []*gograd.Tensor
			for range steps {
				xs = append(xs, gograd.Randn(16, 8).Realize())
				ys = append(ys, gograd.Randn(16, 4).Realize())
			}
			model := func() []*gograd.Tensor {
				return []*gograd.Tensor{
					gograd.FromSlice(w0, 8, 4).RequiresGrad(true),
					gograd.FromSlice(b0, 4).RequiresGrad(true),
				}
			}
			lossOf := func(p []*gograd.Tensor, x, y *gograd.Tensor) *gograd.Tensor {
				d := x.Matmul(p[0]).Add(p[1]).Sub(y)
				return d.Mul(d).Mean()
			}

			eager, jitted := model(), model()
			eagerOpt, jitOpt := tc.make(eager), tc.make(jitted)
			eagerSched, jitSched := optim.NewScheduler(eagerOpt, tc.sched), optim.NewScheduler(jitOpt, tc.sched)
			step := jit.New(func(in ...*gograd.Tensor) []*gograd.Tensor {
				jitOpt.ZeroGrad()
				loss := lossOf(jitted, in[0], in[1])
				loss.Backward()
				jitOpt.Step(loss)
				return []*gograd.Tensor{loss}
			})
			var eagerKernels, replayKernels int64
			for s := range steps {
				eagerOpt.ZeroGrad()
				loss := lossOf(eager, xs[s], ys[s])
				loss.Backward()
				k, _ := count(func() { eagerOpt.Step(loss) })
				eagerKernels = k
				wantLoss := loss.Item()

				gograd.ResetStats()
				out := step.Call(xs[s], ys[s])
				st := gograd.Stats("")
				gotLoss := out[0].Item()
				if s >= 2 {
					replayKernels = st.Kernels
					if st.Compiles != 0 {
						t.Errorf("call %d: the replay compiled %d kernels, want 0", s+1, st.Compiles)
					}
					if n := len(step.Captured()); st.Kernels != int64(n) {
						t.Errorf("call %d: the replay ran %d kernels, captured %d", s+1, st.Kernels, n)
					}
				}
				if !closeTo(gotLoss, wantLoss, 1e-6, 0) {
					t.Errorf("step %d: jitted loss %v, eager %v", s, gotLoss, wantLoss)
				}
				for i := range eager {
					want, got := eager[i].Float32s(), jitted[i].Float32s()
					for e := range want {
						if !closeTo(float64(got[e]), float64(want[e]), 1e-6, 0) {
							t.Fatalf("step %d (lr %v): parameter %d element %d: jitted %v, eager %v", s, eagerOpt.LR(), i, e, got[e], want[e])
						}
					}
				}
				eagerSched.Step()
				jitSched.Step()
				if eagerOpt.LR() != jitOpt.LR() {
					t.Fatalf("step %d: learning rates %v and %v", s, eagerOpt.LR(), jitOpt.LR())
				}
			}
			t.Logf("%s: a step runs %d kernels eagerly (forward, backward and update), %d replayed",
				tc.name, eagerKernels, replayKernels)
		})
	}
}
