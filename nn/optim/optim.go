// Package optim trains the parameters of a model: optimizers (SGD with
// momentum and Nesterov, Adam, AdamW, LAMB), learning-rate schedules (step
// decay, cosine annealing, linear warm-up, one-cycle) and gradient clipping
// by global norm, with PyTorch 1.13's semantics (tests compare against
// torch.optim; see tools/gen_optim_fixtures.py).
//
// # A step is lazy tensor math and one realize
//
// An optimizer step is ordinary gograd tensor math ending in Assigns into
// the parameters and the optimizer's state (momentum buffers, moments),
// realized together with the gradients they read in one gograd.Realize.
// The scheduler fuses the in-place updates of one parameter into one
// kernel: a step on a parameter whose gradient is already computed is one
// kernel for SGD, Adam and AdamW, and two for LAMB (its two norms are one
// reduce kernel).
//
//	opt := optim.NewAdamW(params, 1e-3)
//	for range steps {
//		opt.ZeroGrad()
//		d := model(x).Sub(y)
//		loss := d.Mul(d).Mean()
//		loss.Backward()
//		opt.Step(loss) // the forward, backward and update in one schedule
//		fmt.Println(loss.Item())
//	}
//
// Anything computed from the parameters' old values, like the loss or the
// norm ClipGradNorm returns, must be realized before or with the step (pass
// it to Step), not after: the step overwrites the buffers its graph reads.
//
// # Per-step scalars live in a buffer
//
// Values that change from step to step (the learning rate, Adam's bias
// corrections) are computed in float64 in Go and uploaded, a few numbers per
// parameter, into one small buffer per device each step; the kernels load
// them. The state buffers are allocated, as zeros, when the optimizer is
// made, so the first step is an in-place update like the others. The
// kernels of a step are therefore the same at every step and compiled
// once, whatever the schedule does to the learning rate. (Baked-in
// constants would compile new kernels at every step.)
//
// Misuse (a negative learning rate, a gradient of the wrong shape) panics
// with a message that starts with "optim: <Name>:".
//
// Package optim imports the Tensor API (package gograd) only.
package optim

import (
	"fmt"
	"math"
	"slices"

	"github.com/gograd/gograd"
)

// Optimizer updates a fixed list of parameters from their gradients.
type Optimizer interface {
	// Params returns the parameters, in the order they were given.
	Params() []*gograd.Tensor
	// LR returns the learning rate the next step uses.
	LR() float64
	// SetLR changes the learning rate of the next steps (a Scheduler calls
	// it); the kernels stay the same.
	SetLR(lr float64)
	// ZeroGrad sets every parameter's Grad to nil, so the next Backward
	// starts afresh instead of accumulating.
	ZeroGrad()
	// Update queues the step: it assigns the new values to the parameters
	// and the optimizer's state, lazily, and returns the tensors to realize
	// (the parameters, the state and the gradients) in one gograd.Realize,
	// with whatever else should be computed from the old parameters. Step
	// is Update and that realize.
	Update() []*gograd.Tensor
	// Step updates every parameter that has a Grad (the others are
	// skipped, as in PyTorch) and realizes the update, the gradients it
	// reads and the tensors also, in one schedule. Pass the loss (and the
	// norm of ClipGradNorm) to compute them from the old parameters, sharing
	// the forward pass with the backward one.
	Step(also ...*gograd.Tensor)
}

// rule is what differs between optimizers: the per-step scalars and the
// update of one parameter.
type rule interface {
	// scalars returns the values that may change from step to step, for a
	// parameter at step t (1 at the first step) with learning rate lr.
	scalars(lr float64, t int) []float64
	// update returns the new value of parameter p with gradient g and of
	// its state (zeros before the first step). sc(j) is scalar j of
	// scalars, as a 0-d tensor of p's dtype.
	update(p, g *gograd.Tensor, state []*gograd.Tensor, sc func(j int) *gograd.Tensor) (*gograd.Tensor, []*gograd.Tensor)
}

// base holds what every optimizer shares: parameters, learning rate, the
// state per parameter and the step counts.
type base struct {
	name    string
	params  []*gograd.Tensor
	lr      float64
	nscalar int
	nstate  int
	steps   []int              // steps taken by each parameter (PyTorch counts per parameter)
	state   [][]*gograd.Tensor // state buffers of each parameter
	rule    rule
}

func newBase(name string, params []*gograd.Tensor, lr float64, nscalar, nstate int, r rule) base {
	b := base{name: name, params: slices.Clone(params), nscalar: nscalar, nstate: nstate, rule: r}
	b.SetLR(lr)
	if len(params) == 0 {
		panic(fmt.Sprintf("optim: %s: no parameters", name))
	}
	for i, p := range params {
		if p == nil {
			panic(fmt.Sprintf("optim: %s: parameter %d is nil", name, i))
		}
		if !p.DType().IsFloat() {
			panic(fmt.Sprintf("optim: %s: parameter %d is %s, not a float tensor", name, i, p.DType()))
		}
		if j := slices.Index(params[:i], p); j >= 0 {
			panic(fmt.Sprintf("optim: %s: parameter %d is parameter %d again", name, i, j))
		}
	}
	// The state starts as zeros in buffers of its own, realized with any
	// lazy parameter (Assign needs buffers) in one schedule.
	b.steps = make([]int, len(params))
	b.state = make([][]*gograd.Tensor, len(params))
	all := slices.Clone(b.params)
	for i, p := range b.params {
		for range nstate {
			z := zerosBuffer(p)
			b.state[i] = append(b.state[i], z)
			all = append(all, z)
		}
	}
	gograd.Realize(all...)
	return b
}

// zerosBuffer returns a new buffer of zeros with p's shape, dtype and
// device: uploaded, so no kernel runs for float32 and float64. (Not
// ZerosLike(p).Contiguous(): equal graphs are one node, and realized
// together they would share one buffer.)
func zerosBuffer(p *gograd.Tensor) *gograd.Tensor {
	n, dev := p.Numel(), p.Device()
	var z *gograd.Tensor
	switch p.DType() {
	case gograd.Float32:
		z = gograd.FromSliceOn(dev, make([]float32, n))
	case gograd.Float64:
		z = gograd.FromSliceOn(dev, make([]float64, n))
	default: // float16, bfloat16: zero bit patterns
		z = gograd.FromSliceOn(dev, make([]uint16, n)).Bitcast(p.DType()).Contiguous()
	}
	return z.Reshape(p.Shape()...)
}

// Params returns the parameters, in the order they were given.
func (b *base) Params() []*gograd.Tensor { return slices.Clone(b.params) }

// LR returns the learning rate the next step uses.
func (b *base) LR() float64 { return b.lr }

// SetLR changes the learning rate of the next steps.
func (b *base) SetLR(lr float64) {
	if !(lr >= 0) || math.IsInf(lr, 0) {
		panic(fmt.Sprintf("optim: %s: learning rate %v is not a finite number >= 0", b.name, lr))
	}
	b.lr = lr
}

// ZeroGrad sets every parameter's Grad to nil.
func (b *base) ZeroGrad() {
	for _, p := range b.params {
		p.Grad = nil
	}
}

// Update queues the step's Assigns and returns the tensors to realize.
func (b *base) Update() []*gograd.Tensor {
	for i, p := range b.params {
		if p.Grad != nil && !slices.Equal(p.Grad.Shape(), p.Shape()) {
			panic(fmt.Sprintf("optim: %s: gradient of shape %v for parameter %d of shape %v", b.name, p.Grad.Shape(), i, p.Shape()))
		}
		if p.Grad != nil && p.Grad.Device() != p.Device() {
			panic(fmt.Sprintf("optim: %s: gradient on %s for parameter %d on %s", b.name, p.Grad.Device(), i, p.Device()))
		}
	}
	// One row of scalars per parameter (zeros for those without a
	// gradient), uploaded once per device. Parameter i always reads row i,
	// so its kernel is the same at every step.
	host := make([]float64, len(b.params)*b.nscalar)
	for i, p := range b.params {
		if p.Grad == nil || p.Numel() == 0 {
			continue
		}
		b.steps[i]++
		copy(host[i*b.nscalar:], b.rule.scalars(b.lr, b.steps[i]))
	}
	scalars := map[string]*gograd.Tensor{}
	var out []*gograd.Tensor
	for i, p := range b.params {
		if p.Grad == nil || p.Numel() == 0 {
			continue
		}
		sc, ok := scalars[p.Device()]
		if !ok {
			sc = gograd.FromSliceOn(p.Device(), host, len(b.params), b.nscalar)
			scalars[p.Device()] = sc
		}
		at := func(j int) *gograd.Tensor {
			return sc.Slice(gograd.At(i), gograd.At(j)).Cast(p.DType())
		}
		newP, newState := b.rule.update(p, p.Grad, b.state[i], at)
		for k, s := range newState {
			out = append(out, b.state[i][k].Assign(s))
		}
		out = append(out, p.Assign(newP), p.Grad)
	}
	return out
}

// Step queues the update and realizes it with the gradients and also.
func (b *base) Step(also ...*gograd.Tensor) {
	gograd.Realize(append(b.Update(), also...)...)
}

// checkHyper panics unless v is a number in [lo, hi).
func checkHyper(opt, what string, v, lo, hi float64) {
	if !(v >= lo && v < hi) {
		panic(fmt.Sprintf("optim: %s: %s %v is not in [%v, %v)", opt, what, v, lo, hi))
	}
}
