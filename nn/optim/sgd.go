package optim

import (
	"fmt"
	"math"

	"github.com/gograd/gograd"
)

// SGDOpts are the hyperparameters of SGD besides the learning rate; the
// zero value is plain gradient descent.
type SGDOpts struct {
	Momentum    float64 // momentum factor (0: none)
	Dampening   float64 // dampening of the momentum's gradient term
	WeightDecay float64 // L2 penalty added to the gradient
	Nesterov    bool    // Nesterov momentum (needs Momentum > 0 and Dampening 0)
	Maximize    bool    // ascend the objective instead of descending
}

// SGD is stochastic gradient descent with optional momentum, as
// torch.optim.SGD:
//
//	d = g + weight_decay * p
//	buf = d at the first step, else momentum * buf + (1 - dampening) * d
//	d = d + momentum * buf (Nesterov), or buf
//	p = p - lr * d
type SGD struct {
	base
	opts SGDOpts
}

// NewSGD returns SGD over params with learning rate lr; opts (at most one)
// default to plain gradient descent.
func NewSGD(params []*gograd.Tensor, lr float64, opts ...SGDOpts) *SGD {
	var o SGDOpts
	switch len(opts) {
	case 0:
	case 1:
		o = opts[0]
	default:
		panic(fmt.Sprintf("optim: SGD: %d option sets, want at most one", len(opts)))
	}
	checkHyper("SGD", "momentum", o.Momentum, 0, math.Inf(1))
	checkHyper("SGD", "weight decay", o.WeightDecay, 0, math.Inf(1))
	if math.IsNaN(o.Dampening) || math.IsInf(o.Dampening, 0) {
		panic(fmt.Sprintf("optim: SGD: dampening %v is not a finite number", o.Dampening))
	}
	if o.Nesterov && (o.Momentum <= 0 || o.Dampening != 0) {
		panic(fmt.Sprintf("optim: SGD: Nesterov momentum needs momentum > 0 and dampening 0, not %v and %v", o.Momentum, o.Dampening))
	}
	s := &SGD{opts: o}
	nstate := 0
	if o.Momentum != 0 {
		nstate = 1
	}
	s.base = newBase("SGD", params, lr, nstate, s)
	return s
}

// scalars: the negated learning rate, and the weight of the gradient in
// the momentum buffer: 1 at the first step (the buffer, zero until then,
// becomes the gradient), 1 - dampening after.
func (s *SGD) scalars(lr, t *gograd.Tensor) []*gograd.Tensor {
	return []*gograd.Tensor{lr.Neg(), t.Eq(1).Where(gograd.FullLike(t, 1), gograd.FullLike(t, 1-s.opts.Dampening))}
}

func (s *SGD) update(p, g *gograd.Tensor, state []*gograd.Tensor, sc func(int) *gograd.Tensor) (*gograd.Tensor, []*gograd.Tensor) {
	o := s.opts
	d := g
	if o.Maximize {
		d = d.Neg()
	}
	if o.WeightDecay != 0 {
		d = d.Add(p.Mul(o.WeightDecay))
	}
	var newState []*gograd.Tensor
	if o.Momentum != 0 {
		buf := state[0].Mul(o.Momentum).Add(d.Mul(sc(1)))
		newState = []*gograd.Tensor{buf}
		if o.Nesterov {
			d = d.Add(buf.Mul(o.Momentum))
		} else {
			d = buf
		}
	}
	return p.Add(d.Mul(sc(0))), newState
}
