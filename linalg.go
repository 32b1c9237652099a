package gograd

import (
	"fmt"

	"github.com/gograd/gograd/dtype"
	"github.com/gograd/gograd/uop"
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
	var out *Tensor
	if p := panelWidth(x, y, dt); p > 0 {
		out = panelMatmul(x, y, p)
	} else {
		// x: (..., n, 1, k); y: (..., 1, m, k)
		xe := x.Unsqueeze(-2)
		ye := y.Transpose(-1, -2).Unsqueeze(-3)
		a, b := xe.broadcast("Matmul", ye)
		out = a.Mul(b).Sum(-1)
	}
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

// panel is the width of the column panels a large right operand is copied
// into before a product (panelMatmul), a multiple of every vector width the
// kernel optimiser picks.
const panel = 64

// panelWidth says whether the product x @ y should read y from column panels,
// and how wide (0: read y in place). It does for float32 products with a
// 2-D y of at least a million elements (no longer held in a core's cache)
// whose columns the panels divide, when x has enough rows to share the
// copy: 256, or 32 where reading y in place is slow anyway, as when y is a
// transposed view (x @ W.T, a Linear layer: the product would read W in
// short runs along its rows) or its rows lie a multiple of 4 KiB apart
// (they then share a few cache sets). Measured on a Zen 5 core: x @ W.T
// with W 5632x2048 goes from 24 to 17 ms at 64 rows of x; a row-major y of
// 5632 columns runs 20% slower packed at 64 rows and 15% faster at 256.
func panelWidth(x, y *Tensor, dt dtype.DType) int {
	if dt != Float32 || y.Ndim() != 2 {
		return 0
	}
	k, n := y.Dim(0), y.Dim(1)
	if n%panel != 0 || k*n < 1<<20 {
		return 0
	}
	rows := x.Numel() / k
	slowInPlace := y.uop.Op == uop.PERMUTE || n%1024 == 0
	if rows < 32 || rows < 256 && !slowInPlace {
		return 0
	}
	return panel
}

// panelMatmul is x @ y with y first copied into panels of p columns, the
// layout (n/p, k, p), as BLAS libraries pack their operands. A kernel tile
// then reads its p columns of y for every k from one contiguous run. Read in
// place from a row-major y, those rows lie n floats apart: with n a power of
// two they fall into a few cache sets and evict each other, and the tile
// reads y from memory again for every block of rows of x (a 2048x2048
// product ran at a third of the speed).
func panelMatmul(x, y *Tensor, p int) *Tensor {
	k, n := y.Dim(0), y.Dim(1)
	packed := y.Reshape(k, n/p, p).Permute(1, 0, 2).Contiguous() // (n/p, k, p)
	// x: (..., m, 1, 1, k); packed as (1, n/p, p, k)
	shape := append(x.Shape()[:x.Ndim()-1], 1, 1, k)
	xe := x.Reshape(shape...)
	ye := packed.Permute(0, 2, 1)
	out := xe.Mul(ye).Sum(-1) // (..., m, n/p, p)
	return out.Reshape(append(x.Shape()[:x.Ndim()-1], n)...)
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
