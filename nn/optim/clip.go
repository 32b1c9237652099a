package optim

import (
	"fmt"
	"math"

	"github.com/gograd/gograd"
)

// ClipGradNorm scales the gradients of params so that their global norm
// (the 2-norm of all their elements together) is at most maxNorm, as
// torch.nn.utils.clip_grad_norm_: every Grad is multiplied by
// min(1, maxNorm / (norm + 1e-6)). It returns the norm before clipping.
//
// Nothing is computed yet: each Grad is replaced by the lazy scaled one,
// and the norm is lazy too; the optimizer's Step realizes both. Realize the
// norm before or with the step (opt.Step(loss, norm)) if you read it: after
// the step its graph would read the updated parameters. The norm of float16
// and bfloat16 gradients is computed and returned in float32. Parameters
// without a Grad are skipped; with none, the norm is a zero.
func ClipGradNorm(params []*gograd.Tensor, maxNorm float64) *gograd.Tensor {
	if !(maxNorm >= 0) {
		panic(fmt.Sprintf("optim: ClipGradNorm: max norm %v is not a number >= 0", maxNorm))
	}
	var sum *gograd.Tensor
	for _, p := range params {
		if p.Grad == nil {
			continue
		}
		g := p.Grad
		if g.DType().IsHalf() {
			g = g.Cast(gograd.Float32)
		}
		sq := g.Mul(g).Sum()
		if sum == nil {
			sum = sq
			continue
		}
		if sq.Device() != sum.Device() {
			sq = sq.To(sum.Device())
		}
		sum = sum.Add(sq)
	}
	if sum == nil {
		return gograd.Scalar(float32(0))
	}
	// Contiguous: the norm is one small kernel, read by every update,
	// rather than a sum of all the partial norms recomputed in each.
	norm := sum.Sqrt().Contiguous()
	if math.IsInf(maxNorm, 1) {
		return norm
	}
	coef := norm.Add(1e-6).Reciprocal().Mul(maxNorm).Minimum(1)
	for _, p := range params {
		if p.Grad == nil {
			continue
		}
		c := coef
		if c.Device() != p.Grad.Device() {
			c = c.To(p.Grad.Device())
		}
		p.Grad = p.Grad.Mul(c.Cast(p.Grad.DType()))
	}
	return norm
}
