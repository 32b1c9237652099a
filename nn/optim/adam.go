package optim

import (
	"fmt"
	"math"

	"github.com/gograd/gograd"
)

// AdamOpts are the hyperparameters of Adam, AdamW and LAMB besides the
// learning rate. Every field is used as given: start from the defaults the
// constructors use (AdamDefaults, AdamWDefaults, LAMBDefaults) and change
// what you need.
type AdamOpts struct {
	Beta1, Beta2 float64 // decay rates of the first and second moments, in [0, 1)
	Eps          float64 // added to the denominator
	WeightDecay  float64 // L2 penalty (Adam), decoupled decay (AdamW, LAMB)
	Amsgrad      bool    // keep the maximum of the second moments (Adam, AdamW)
	Maximize     bool    // ascend the objective (Adam, AdamW)
}

// AdamDefaults returns torch.optim.Adam's defaults: betas 0.9 and 0.999,
// eps 1e-8, no weight decay.
func AdamDefaults() AdamOpts { return AdamOpts{Beta1: 0.9, Beta2: 0.999, Eps: 1e-8} }

// AdamWDefaults returns torch.optim.AdamW's defaults: Adam's, with weight
// decay 0.01.
func AdamWDefaults() AdamOpts { o := AdamDefaults(); o.WeightDecay = 0.01; return o }

func pickOpts(name string, def AdamOpts, opts []AdamOpts) AdamOpts {
	switch len(opts) {
	case 0:
		return def
	case 1:
	default:
		panic(fmt.Sprintf("optim: %s: %d option sets, want at most one", name, len(opts)))
	}
	o := opts[0]
	checkHyper(name, "beta1", o.Beta1, 0, 1)
	checkHyper(name, "beta2", o.Beta2, 0, 1)
	checkHyper(name, "eps", o.Eps, 0, math.Inf(1))
	checkHyper(name, "weight decay", o.WeightDecay, 0, math.Inf(1))
	return o
}

// Adam is the Adam optimizer (Kingma and Ba, 2014) as torch.optim.Adam,
// with AdamW's decoupled weight decay when made by NewAdamW:
//
//	g = g + weight_decay * p                  (Adam)
//	p = p * (1 - lr * weight_decay)           (AdamW)
//	m = beta1 * m + (1 - beta1) * g
//	v = beta2 * v + (1 - beta2) * g^2
//	vmax = max(vmax, v)                       (Amsgrad; then used for v)
//	p = p - lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
type Adam struct {
	base
	opts      AdamOpts
	decoupled bool
}

// NewAdam returns Adam over params with learning rate lr and opts (at most
// one; AdamDefaults if none).
func NewAdam(params []*gograd.Tensor, lr float64, opts ...AdamOpts) *Adam {
	return newAdam("Adam", params, lr, pickOpts("Adam", AdamDefaults(), opts), false)
}

// NewAdamW returns AdamW (Loshchilov and Hutter, "Decoupled Weight Decay
// Regularization") over params with learning rate lr and opts (at most one;
// AdamWDefaults if none).
func NewAdamW(params []*gograd.Tensor, lr float64, opts ...AdamOpts) *Adam {
	return newAdam("AdamW", params, lr, pickOpts("AdamW", AdamWDefaults(), opts), true)
}

func newAdam(name string, params []*gograd.Tensor, lr float64, o AdamOpts, decoupled bool) *Adam {
	a := &Adam{opts: o, decoupled: decoupled}
	nstate := 2
	if o.Amsgrad {
		nstate = 3
	}
	a.base = newBase(name, params, lr, nstate, a)
	return a
}

// scalars: minus the step size lr / (1 - beta1^t), 1 / sqrt(1 - beta2^t),
// and AdamW's decay factor 1 - lr * weight_decay.
func (a *Adam) scalars(lr, t *gograd.Tensor) []*gograd.Tensor {
	o := a.opts
	decay := gograd.FullLike(lr, 1)
	if a.decoupled {
		decay = lr.Mul(-o.WeightDecay).Add(1)
	}
	return []*gograd.Tensor{lr.Neg().Div(biasCorrection(o.Beta1, t)), biasCorrection(o.Beta2, t).Sqrt().Reciprocal(), decay}
}

func (a *Adam) update(p, g *gograd.Tensor, state []*gograd.Tensor, sc func(int) *gograd.Tensor) (*gograd.Tensor, []*gograd.Tensor) {
	o := a.opts
	if o.Maximize {
		g = g.Neg()
	}
	if o.WeightDecay != 0 {
		if a.decoupled {
			p = p.Mul(sc(2))
		} else {
			g = g.Add(p.Mul(o.WeightDecay))
		}
	}
	m, v := moments(g, state[0], state[1], o.Beta1, o.Beta2)
	newState := []*gograd.Tensor{m, v}
	if o.Amsgrad {
		v = state[2].Maximum(v)
		newState = append(newState, v)
	}
	denom := v.Sqrt().Mul(sc(1)).Add(o.Eps)
	return p.Add(m.Div(denom).Mul(sc(0))), newState
}

// moments returns the updated first and second moments m and v of
// gradient g.
func moments(g, m, v *gograd.Tensor, beta1, beta2 float64) (*gograd.Tensor, *gograd.Tensor) {
	return m.Mul(beta1).Add(g.Mul(1 - beta1)), v.Mul(beta2).Add(g.Mul(g).Mul(1 - beta2))
}

// biasCorrection returns 1 - beta^t for the step numbers t (float64), as
// 1 - 2^(t log2(beta)): the exp2 and log2 of float64 are libm's.
func biasCorrection(beta float64, t *gograd.Tensor) *gograd.Tensor {
	if beta == 0 {
		return gograd.FullLike(t, 1)
	}
	return t.Mul(math.Log2(beta)).Exp2().Neg().Add(1)
}
