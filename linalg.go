package gograd

import (
	"fmt"

	"github.com/gograd/gograd/dtype"
)

// Matmul is the matrix product with PyTorch's rules: 1-D operands are
// promoted to a row or column and the added axis removed, leading axes
// broadcast. It is a broadcast multiply and a sum over the shared axis,
// which fuse into one kernel.
func (t *Tensor) Matmul(w *Tensor) *Tensor {
	if t.Ndim() == 0 || w.Ndim() == 0 {
		panic(fmt.Sprintf("gograd: Matmul: 0-d operand (shapes %v and %v)", t.uop.Shape(), w.uop.Shape()))
	}
	x, y := t, w
	if x.Ndim() == 1 {
		x = x.Unsqueeze(0)
	}
	if y.Ndim() == 1 {
		y = y.Unsqueeze(1)
	}
	k := x.Dim(-1)
	if y.Dim(-2) != k {
		panic(fmt.Sprintf("gograd: Matmul: shapes %v and %v: inner sizes %d and %d differ", t.uop.Shape(), w.uop.Shape(), k, y.Dim(-2)))
	}
	dt := dtype.Promote(x.DType(), y.DType())
	if dt.IsHalf() {
		// As PyTorch: exact products, a float32 sum, one rounding at the end
		// (the casts fuse into the kernel's loads). Cast before the
		// broadcast, so that the gradient sums over it in float32 too.
		x, y = x.Cast(Float32), y.Cast(Float32)
	}
	// x: (..., n, 1, k); y: (..., 1, m, k)
	xe := x.Unsqueeze(-2)
	ye := y.Transpose(-1, -2).Unsqueeze(-3)
	a, b := xe.broadcast("Matmul", ye)
	out := a.Mul(b).Sum(-1)
	if dt.IsInt() || dt.IsHalf() {
		out = out.Cast(dt) // integers keep their type too (Sum gives int64)
	}
	if t.Ndim() == 1 {
		out = out.Squeeze(-2)
	}
	if w.Ndim() == 1 {
		out = out.Squeeze(-1)
	}
	return out
}

// Dot is Matmul.
func (t *Tensor) Dot(w *Tensor) *Tensor { return t.Matmul(w) }

// Linear is t @ weight.T + bias, with weight of shape (out, in) as in
// PyTorch; bias may be nil.
func (t *Tensor) Linear(weight, bias *Tensor) *Tensor {
	out := t.Matmul(weight.T())
	if bias != nil {
		out = out.Add(bias)
	}
	return out
}
