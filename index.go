package gograd

import "fmt"

// This file holds the indexing ops. gograd has no gather primitive: reading
// x at a data-dependent index is a comparison of the index with an Arange
// (a one-hot mask) and a masked sum, which the scheduler fuses into one
// reduce kernel. Where(mask, x, 0) rather than mask*x keeps an Inf or NaN
// elsewhere in x out of the result. Indices outside the axis select nothing
// (zeros); negative indices are not wrapped, as in PyTorch's gather.

// checkIndex panics unless index holds integers.
func checkIndex(op string, x, index *Tensor) {
	if index.DType().IsFloat() || index.DType() == Bool {
		panic(fmt.Sprintf("gograd: %s: index %s of %s must be integers (input %s)", op, shapeStr(index.Shape()), index.DType(), shapeStr(x.Shape())))
	}
	if index.Device() != x.Device() {
		panic(fmt.Sprintf("gograd: %s: index on %s, input on %s", op, index.Device(), x.Device()))
	}
}

// oneHot returns idx == [0, n) with the n axis inserted at pos: bool of
// idx's shape with n added before axis pos.
func oneHot(idx *Tensor, n, pos int) *Tensor {
	s := onesOf(idx.Ndim() + 1)
	s[pos] = n
	return idx.Unsqueeze(pos).Eq(Arange(n).To(idx.Device()).Reshape(s...))
}

// sumPick sums x over axis where mask is true, in x's dtype: with one true
// element per sum it picks that element.
func sumPick(mask, x *Tensor, axis int) *Tensor {
	return mask.Where(x, sumIdentityOf(x)).Sum(axis).Cast(x.DType())
}

// Gather picks along axis: out[i][j][k] = x[index[i][j][k]][j][k] for axis 0,
// and likewise for the others, as torch.gather. index has x's number of axes
// and sizes no larger than x's off axis; out has index's shape.
func (x *Tensor) Gather(axis int, index *Tensor) *Tensor {
	const op = "Gather"
	checkIndex(op, x, index)
	axis = x.axis(axis, op)
	if index.Ndim() != x.Ndim() {
		panic(fmt.Sprintf("gograd: %s: index %s and input %s differ in rank", op, shapeStr(index.Shape()), shapeStr(x.Shape())))
	}
	for i, d := range index.Shape() {
		if i != axis && d > x.Dim(i) {
			panic(fmt.Sprintf("gograd: %s: index %s larger than input %s off axis %d", op, shapeStr(index.Shape()), shapeStr(x.Shape()), axis))
		}
	}
	// x cut to index's shape off axis; the mask (..., m, n, ...) against x
	// (..., 1, n, ...), summed over n, in place so the result needs no permute.
	b := wholeBounds(index.Shape())
	b[axis] = [2]int{0, x.Dim(axis)}
	xs := x.Shrink(b).Unsqueeze(axis)
	return sumPick(oneHot(index, x.Dim(axis), axis+1), xs, axis+1)
}

// Scatter returns a copy of x with src written along axis at index:
// out[index[i][j]][j] = src[i][j] for axis 0, as torch.scatter. Indices are
// assumed unique per destination (a repeated one sums its sources). index
// has x's number of axes, sizes no larger than src's, nor x's off axis.
func (x *Tensor) Scatter(axis int, index, src *Tensor) *Tensor {
	const op = "Scatter"
	checkIndex(op, x, index)
	axis = x.axis(axis, op)
	if index.Ndim() != x.Ndim() || src.Ndim() != x.Ndim() {
		panic(fmt.Sprintf("gograd: %s: input %s, index %s and src %s differ in rank", op, shapeStr(x.Shape()), shapeStr(index.Shape()), shapeStr(src.Shape())))
	}
	for i, d := range index.Shape() {
		if d > src.Dim(i) || (i != axis && d > x.Dim(i)) {
			panic(fmt.Sprintf("gograd: %s: index %s larger than src %s or input %s off axis %d", op, shapeStr(index.Shape()), shapeStr(src.Shape()), shapeStr(x.Shape()), axis))
		}
	}
	n := x.Dim(axis)
	// src cut to index's shape; both padded off axis to x's shape, the
	// index with -1 (which selects nothing), so the result is one kernel.
	ss := src.Shrink(wholeBounds(index.Shape())).Cast(x.DType())
	pads := make([][2]int, x.Ndim())
	for i := range pads {
		if i != axis {
			pads[i] = [2]int{0, x.Dim(i) - index.Dim(i)}
		}
	}
	it := index.PadValue(pads, -1)
	ss = ss.Pad(pads).Unsqueeze(axis + 1) // (..., m, 1, ...)
	mask := oneHot(it, n, axis+1)         // (..., m, n, ...)
	return mask.Any(axis).Where(sumPick(mask, ss, axis), x)
}

// IndexSelect picks the entries of axis at the 1-D integer index, as
// torch.index_select: the result has len(index) entries on axis.
func (x *Tensor) IndexSelect(axis int, index *Tensor) *Tensor {
	const op = "IndexSelect"
	checkIndex(op, x, index)
	axis = x.axis(axis, op)
	if index.Ndim() != 1 {
		panic(fmt.Sprintf("gograd: %s: index %s must be 1-D (input %s)", op, shapeStr(index.Shape()), shapeStr(x.Shape())))
	}
	m, n := index.Dim(0), x.Dim(axis)
	// mask (m, n) placed at (axis, axis+1) against x with a 1 inserted at axis.
	ms := onesOf(x.Ndim() + 1)
	ms[axis], ms[axis+1] = m, n
	mask := oneHot(index, n, 1).Reshape(ms...)
	return sumPick(mask, x.Unsqueeze(axis), axis+1)
}

// triMask is the bool mask of the last two axes of x where col - row
// compares with k: upper (col - row >= k) or lower (col - row <= k).
func triMask(x *Tensor, k int, upper bool) *Tensor {
	r, c := x.Dim(-2), x.Dim(-1)
	row := Arange(r).To(x.Device()).Reshape(r, 1).Add(k)
	col := Arange(c).To(x.Device()).Reshape(1, c)
	if upper {
		return col.Ge(row)
	}
	return col.Le(row)
}

// Tril keeps the lower triangle of the last two axes, the elements with
// col - row <= k, and zeroes the rest, as torch.tril.
func (x *Tensor) Tril(k int) *Tensor {
	if x.Ndim() < 2 {
		panic(fmt.Sprintf("gograd: Tril: input %s has fewer than 2 axes", shapeStr(x.Shape())))
	}
	return triMask(x, k, false).Where(x, zeroOf(x))
}

// Triu keeps the upper triangle of the last two axes, the elements with
// col - row >= k, and zeroes the rest, as torch.triu.
func (x *Tensor) Triu(k int) *Tensor {
	if x.Ndim() < 2 {
		panic(fmt.Sprintf("gograd: Triu: input %s has fewer than 2 axes", shapeStr(x.Shape())))
	}
	return triMask(x, k, true).Where(x, zeroOf(x))
}

// OneHot returns the int64 one-hot encoding of integer x: x's shape +
// (numClasses), 1 where the last index equals the value, as F.one_hot.
// numClasses -1 takes the largest value plus one, which realizes x.
func (x *Tensor) OneHot(numClasses int) *Tensor {
	if x.DType().IsFloat() || x.DType() == Bool {
		panic(fmt.Sprintf("gograd: OneHot: input %s of %s must be integers", shapeStr(x.Shape()), x.DType()))
	}
	if numClasses == -1 {
		if x.Numel() == 0 {
			panic(fmt.Sprintf("gograd: OneHot: cannot infer the number of classes of empty input %s", shapeStr(x.Shape())))
		}
		numClasses = int(x.Max().Item()) + 1
	}
	if numClasses < 1 {
		panic(fmt.Sprintf("gograd: OneHot: %d classes for input %s", numClasses, shapeStr(x.Shape())))
	}
	return oneHot(x, numClasses, x.Ndim()).Cast(Int64)
}
