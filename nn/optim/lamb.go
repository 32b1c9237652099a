package optim

import (
	"github.com/gograd/gograd"
)

// LAMBDefaults returns the defaults of NewLAMB: betas 0.9 and 0.999, eps
// 1e-6 (as the LAMB paper and most implementations), no weight decay.
func LAMBDefaults() AdamOpts { return AdamOpts{Beta1: 0.9, Beta2: 0.999, Eps: 1e-6} }

// LAMB is layer-wise adaptive moments (You et al., "Large Batch
// Optimization for Deep Learning: Training BERT in 76 minutes", 2019,
// Algorithm 2): Adam's bias-corrected direction plus decoupled weight
// decay, scaled per parameter by the trust ratio |p| / |u|:
//
//	m = beta1 * m + (1 - beta1) * g
//	v = beta2 * v + (1 - beta2) * g^2
//	u = (m / (1 - beta1^t)) / (sqrt(v / (1 - beta2^t)) + eps) + weight_decay * p
//	p = p - lr * (|p| / |u|) * u      (ratio 1 where |p| or |u| is 0)
//
// This is the variant TensorFlow Addons, timm and NVIDIA apex share with
// bias correction on: the paper's scaling function phi is the identity
// (no clamp of |p|, which the paper leaves open and the reference
// implementations do not use), the ratio falls back to 1 for a zero norm
// (a freshly zeroed bias would otherwise never move), and there is no
// gradient clipping inside the optimizer (use ClipGradNorm). PyTorch has
// no LAMB; the test fixture comes from a torch implementation of these
// lines in tools/gen_optim_fixtures.py. Amsgrad and Maximize are not
// supported.
//
// The two norms are one reduce kernel and the update one more, so a step
// on a parameter is two kernels (and the scalars' kernel all parameters
// share).
type LAMB struct {
	base
	opts AdamOpts
}

// NewLAMB returns LAMB over params with learning rate lr and opts (at most
// one; LAMBDefaults if none).
func NewLAMB(params []*gograd.Tensor, lr float64, opts ...AdamOpts) *LAMB {
	o := pickOpts("LAMB", LAMBDefaults(), opts)
	if o.Amsgrad || o.Maximize {
		panic("optim: LAMB: Amsgrad and Maximize are not supported")
	}
	l := &LAMB{opts: o}
	l.base = newBase("LAMB", params, lr, 2, l)
	return l
}

// scalars: 1 / (1 - beta1^t), 1 / (1 - beta2^t) and the learning rate.
func (l *LAMB) scalars(lr, t *gograd.Tensor) []*gograd.Tensor {
	o := l.opts
	return []*gograd.Tensor{biasCorrection(o.Beta1, t).Reciprocal(), biasCorrection(o.Beta2, t).Reciprocal(), lr}
}

func (l *LAMB) update(p, g *gograd.Tensor, state []*gograd.Tensor, sc func(int) *gograd.Tensor) (*gograd.Tensor, []*gograd.Tensor) {
	o := l.opts
	m, v := moments(g, state[0], state[1], o.Beta1, o.Beta2)
	u := m.Mul(sc(0)).Div(v.Mul(sc(1)).Sqrt().Add(o.Eps))
	if o.WeightDecay != 0 {
		u = u.Add(p.Mul(o.WeightDecay))
	}
	// Both squared norms in one reduce: row 0 sums p^2, row 1 sums u^2.
	// first is [[1], [0]], a padded constant (no data).
	n := p.Numel()
	rows := func(x *gograd.Tensor) *gograd.Tensor { return x.Mul(x).Reshape(1, n).Expand(2, n) }
	first := gograd.FullLike(p, 1).Reshape(n).Shrink([][2]int{{0, 1}}).Reshape(1, 1).Pad([][2]int{{0, 1}, {0, 0}})
	norms := first.Where(rows(p), rows(u)).Sum(1).Sqrt()
	pn, un := norms.Slice(gograd.At(0)), norms.Slice(gograd.At(1))
	trust := pn.Gt(0).And(un.Gt(0)).Where(pn.Div(un), gograd.FullLike(pn, 1))
	return p.Sub(u.Mul(trust.Mul(sc(2)))), []*gograd.Tensor{m, v}
}
