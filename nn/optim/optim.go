// Package optim trains the parameters of a model: optimizers (SGD with
// momentum and Nesterov, Adam, AdamW, LAMB), learning-rate schedules (step
// decay, cosine annealing, linear warm-up, one-cycle) and gradient clipping
// by global norm, with PyTorch 1.13's semantics (tests compare against
// torch.optim; see tools/gen_optim_fixtures.py).
//
// # A step is lazy tensor math and one realize
//
// An optimizer step is ordinary gograd tensor math ending in Assigns into
// the parameters and the optimizer's state (momentum buffers, moments, step
// counts), realized together with the gradients they read in one
// gograd.Realize. The scheduler fuses the in-place updates of one parameter
// into one kernel: a step on parameters whose gradients are already
// computed is one small kernel shared by all of them (the per-step scalars,
// below) plus one kernel per parameter for SGD, Adam and AdamW, and two for
// LAMB (its two norms are one reduce kernel).
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
// # Per-step scalars live on the device
//
// Nothing a step computes is computed in Go, so a step can run inside
// jit.New, whose replays run only the captured kernels: host work in the
// step would be frozen at its capture. Each device holding parameters has
// two float64 buffers: the steps each parameter there has taken (PyTorch
// counts per parameter, and skips those without a gradient), and the
// learning rate. A step adds one to the counts of the parameters it
// updates (an Assign, in its realize) and computes from the new counts and
// the learning rate, in float64, the values that change from step to step:
// Adam's and LAMB's bias corrections 1 - beta^t (as 1 - 2^(t log2 beta),
// libm's exp2), the step size, AdamW's decay factor 1 - lr*wd, SGD's
// momentum weight (1 at a parameter's first step). These are one small
// kernel per device, with the counts' update, whose outputs every update
// kernel loads and casts to its parameter's dtype. SetLR, called between
// steps (by a Scheduler, say), writes the new rate straight into the
// learning-rate buffers, without a kernel, and the next step, eager or
// replayed, reads it. The state buffers (counts and moments) are allocated,
// as zeros, when the optimizer is made, so the first step is an in-place
// update like the others. The kernels of a step are therefore the same at
// every step and compiled once, whatever the schedule does to the learning
// rate. (Baked-in constants would compile new kernels at every step, and
// scalars uploaded from Go at every step would freeze under the JIT.)
//
//	step := jit.New(func(in ...*gograd.Tensor) []*gograd.Tensor {
//		opt.ZeroGrad()
//		d := model(in[0]).Sub(in[1])
//		loss := d.Mul(d).Mean()
//		loss.Backward()
//		opt.Step(loss)
//		return []*gograd.Tensor{loss}
//	})
//	for x, y := range batches {
//		fmt.Println(step.Call(x, y)[0].Item())
//		sched.Step() // between steps: the next replay reads the new rate
//	}
//
// Which parameters have a gradient is part of the step's graph, so under
// the JIT it is the one of the captured call.
//
// Misuse (a negative learning rate, a gradient of the wrong shape) panics
// with a message that starts with "optim: <Name>:".
//
// Package optim imports the Tensor API (package gograd) only.
package optim

import (
	"encoding/binary"
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
	// it) by writing it into a buffer on the device that the steps read:
	// the kernels stay the same, and steps replayed by the JIT see it.
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
	// scalars returns, lazily, the values that may change from step to
	// step, each a float64 vector with one element per parameter: lr holds
	// the learning rate and t the number of the step each parameter takes
	// (1 at its first step), both float64 vectors of that length.
	scalars(lr, t *gograd.Tensor) []*gograd.Tensor
	// update returns the new value of parameter p with gradient g and of
	// its state (zeros before the first step). sc(j) is the parameter's
	// element of scalar j, as a 0-d tensor of p's dtype.
	update(p, g *gograd.Tensor, state []*gograd.Tensor, sc func(j int) *gograd.Tensor) (*gograd.Tensor, []*gograd.Tensor)
}

// clock is the per-step state of the parameters on one device, kept on
// that device so that a step does no host work: the step count of each
// parameter and the learning rate, both float64.
type clock struct {
	params []int          // indices of the parameters on the device
	steps  *gograd.Tensor // [len(params)]: the steps each has taken (PyTorch counts per parameter)
	lr     *gograd.Tensor // [1]: the learning rate, written in place by SetLR
}

// base holds what every optimizer shares: parameters, learning rate, the
// state per parameter and the clocks.
type base struct {
	name   string
	params []*gograd.Tensor
	lr     float64            // the learning rate in the clocks' buffers
	state  [][]*gograd.Tensor // state buffers of each parameter
	clocks []*clock           // one per device, in the order of the parameters
	rule   rule
}

func newBase(name string, params []*gograd.Tensor, lr float64, nstate int, r rule) base {
	b := base{name: name, params: slices.Clone(params), rule: r}
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
	byDev := map[string]*clock{}
	for i, p := range b.params {
		c := byDev[p.Device()]
		if c == nil {
			c = &clock{}
			byDev[p.Device()] = c
			b.clocks = append(b.clocks, c)
		}
		c.params = append(c.params, i)
	}
	for _, c := range b.clocks {
		dev := b.params[c.params[0]].Device()
		c.steps = gograd.FromSliceOn(dev, make([]float64, len(c.params)))
		c.lr = gograd.FromSliceOn(dev, []float64{lr})
	}
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

// SetLR changes the learning rate of the next steps: it writes the rate
// into the learning-rate buffer on each device, at once and without a
// kernel, so it belongs between steps (a step queued by Update and not yet
// realized reads the new rate).
func (b *base) SetLR(lr float64) {
	if !(lr >= 0) || math.IsInf(lr, 0) {
		panic(fmt.Sprintf("optim: %s: learning rate %v is not a finite number >= 0", b.name, lr))
	}
	b.lr = lr
	raw := binary.LittleEndian.AppendUint64(nil, math.Float64bits(lr))
	for _, c := range b.clocks {
		gograd.BufferOf(c.lr).CopyIn(raw)
	}
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
	var out []*gograd.Tensor
	for _, c := range b.clocks {
		n := len(c.params)
		active := make([]bool, n)
		for r, i := range c.params {
			p := b.params[i]
			active[r] = p.Grad != nil && p.Numel() > 0
		}
		if !slices.Contains(active, true) {
			continue
		}
		// The parameters that step count one more step; the scalars of
		// every parameter are computed from the new counts and the
		// learning rate in one small kernel (with the counts' update),
		// which every update kernel reads: Contiguous, or each would
		// recompute them.
		t := c.steps.Add(indicator(c.steps, active))
		cols := b.rule.scalars(c.lr.Expand(n), t)
		for j := range cols {
			cols[j] = cols[j].Contiguous()
		}
		out = append(out, c.steps.Assign(t))
		for r, i := range c.params {
			if !active[r] {
				continue
			}
			p := b.params[i]
			at := func(j int) *gograd.Tensor { return cols[j].Slice(gograd.At(r)).Cast(p.DType()) }
			newP, newState := b.rule.update(p, p.Grad, b.state[i], at)
			for k, s := range newState {
				out = append(out, b.state[i][k].Assign(s))
			}
			out = append(out, p.Assign(newP), p.Grad)
		}
	}
	return out
}

// indicator returns, as a lazy constant like v (a float64 vector), 1 where
// active is true and 0 elsewhere.
func indicator(v *gograd.Tensor, active []bool) *gograd.Tensor {
	n := len(active)
	one := gograd.FullLike(v, 1)
	if !slices.Contains(active, false) {
		return one
	}
	var sum *gograd.Tensor
	for a := 0; a < n; a++ {
		if !active[a] {
			continue
		}
		e := a
		for e < n && active[e] {
			e++
		}
		run := one.Shrink([][2]int{{0, e - a}}).Pad([][2]int{{a, n - e}})
		if sum == nil {
			sum = run
		} else {
			sum = sum.Add(run)
		}
		a = e
	}
	return sum
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
