package gograd

import (
	"fmt"
	"math"
	"slices"

	"github.com/gograd/gograd/schedule"
	"github.com/gograd/gograd/uop"
)

type keepDim bool

// KeepDim, passed to a reduction, keeps the reduced axes with size 1.
const KeepDim = keepDim(true)

// Correction, passed to Var or Std, sets the divisor to N - c (default 1).
type Correction float64

type reduceOpts struct {
	axes  []int
	keep  bool
	corr  float64
	dtype *DType // Sum and Prod: the dtype to compute in
}

// parseReduce reads a reduction's options: axes as ints (none: all axes),
// KeepDim, Correction, and for Sum and Prod a DType.
func (t *Tensor) parseReduce(op string, opts []any) reduceOpts {
	r := reduceOpts{corr: 1}
	var axes []int
	for _, o := range opts {
		switch v := o.(type) {
		case int:
			axes = append(axes, v)
		case []int:
			axes = append(axes, v...)
		case keepDim:
			r.keep = bool(v)
		case Correction:
			r.corr = float64(v)
		case DType:
			if op != "Sum" && op != "Prod" {
				panic(fmt.Sprintf("gograd: %s: a dtype option (%v) is for Sum and Prod", op, v))
			}
			r.dtype = &v
		default:
			panic(fmt.Sprintf("gograd: %s: unknown option %v (%T)", op, o, o))
		}
	}
	r.axes = t.axes(op, axes)
	if t.Ndim() == 0 {
		r.axes = nil // axis 0 or -1 of a 0-d tensor is the tensor itself, as in PyTorch
	}
	return r
}

// reduceShape is t's shape after reducing axes (kept as 1 when keep).
func (t *Tensor) reduceShape(axes []int, keep bool) []int {
	var out []int
	for i, s := range t.uop.Shape() {
		switch {
		case !slices.Contains(axes, i):
			out = append(out, s)
		case keep:
			out = append(out, 1)
		}
	}
	if out == nil {
		out = []int{}
	}
	return out
}

// reduce applies a primitive reduce over axes, splitting a large reduction
// to a few outputs in two stages so the first runs in parallel.
func (t *Tensor) reduce(op uop.Op, axes []int, keep bool) *Tensor {
	s := t.uop.Shape()
	var real []int
	for _, a := range axes {
		if s[a] != 1 {
			real = append(real, a)
		}
	}
	out := t
	if len(real) > 0 {
		out = t.splitReduce(op, real)
	}
	return out.Reshape(t.reduceShape(axes, keep)...)
}

// splitReduce reduces axes (sizes > 1), keeping them as 1.
func (t *Tensor) splitReduce(op uop.Op, axes []int) *Tensor {
	s := t.uop.Shape()
	outN, redN := 1, 1
	for i, d := range s {
		if slices.Contains(axes, i) {
			redN *= d
		} else {
			outN *= d
		}
	}
	if outN < 16 && redN >= 1<<15 {
		split := 0
		for d := 256; d >= 16; d-- {
			if redN%d == 0 {
				split = d
				break
			}
		}
		if split > 0 {
			var keepAx, order []int
			for i := range s {
				if !slices.Contains(axes, i) {
					keepAx = append(keepAx, i)
				}
			}
			order = append(keepAx, axes...)
			x := t.Permute(order...)
			var shp []int
			for _, a := range keepAx {
				shp = append(shp, s[a])
			}
			n := len(shp)
			x = x.Reshape(append(shp, split, redN/split)...)
			first := fromUOp(x.uop.Reduce(op, n+1))
			second := fromUOp(first.uop.Reduce(op, n))
			return second.Reshape(t.reduceShape(axes, true)...)
		}
	}
	return fromUOp(t.uop.Reduce(op, axes...))
}

// sumType is the dtype PyTorch sums in: int64 for bool and integers, float32
// for halves (cast back after), the type itself otherwise.
func (t *Tensor) sumInput() (*Tensor, DType) {
	dt := t.DType()
	switch {
	case dt == Bool || (dt.IsInt() && dt != Uint64):
		return t.Cast(Int64), Int64
	case dt.IsHalf():
		return t.Cast(Float32), dt
	}
	return t, dt
}

// Sum adds over the given axes (all if none); pass KeepDim to keep them.
// Integers and bools are summed in int64, as in PyTorch; a DType option
// (PyTorch's dtype=) casts the input to it and sums in it, as int32 sums
// of int32 products that cannot overflow do.
func (t *Tensor) Sum(opts ...any) *Tensor {
	o := t.parseReduce("Sum", opts)
	if o.dtype != nil {
		return t.Cast(*o.dtype).reduce(uop.ADD, o.axes, o.keep)
	}
	x, dt := t.sumInput()
	return x.reduce(uop.ADD, o.axes, o.keep).Cast(dt)
}

// Prod multiplies over the given axes; options as for Sum.
func (t *Tensor) Prod(opts ...any) *Tensor {
	o := t.parseReduce("Prod", opts)
	if o.dtype != nil {
		return t.Cast(*o.dtype).reduce(uop.MUL, o.axes, o.keep)
	}
	x, dt := t.sumInput()
	return x.reduce(uop.MUL, o.axes, o.keep).Cast(dt)
}

// Max takes the maximum over the given axes (NaN if any is NaN).
func (t *Tensor) Max(opts ...any) *Tensor {
	o := t.parseReduce("Max", opts)
	return t.reduce(uop.MAX, o.axes, o.keep)
}

// Min takes the minimum over the given axes.
func (t *Tensor) Min(opts ...any) *Tensor {
	o := t.parseReduce("Min", opts)
	if t.DType().IsFloat() {
		return t.Neg().reduce(uop.MAX, o.axes, o.keep).Neg()
	}
	// Bitwise not reverses the order of signed and unsigned integers alike.
	return t.BitNot().reduce(uop.MAX, o.axes, o.keep).BitNot()
}

// Any reports whether any element over the axes is nonzero.
func (t *Tensor) Any(opts ...any) *Tensor {
	o := t.parseReduce("Any", opts)
	return t.asBool().reduce(uop.MAX, o.axes, o.keep)
}

// All reports whether every element over the axes is nonzero.
func (t *Tensor) All(opts ...any) *Tensor {
	o := t.parseReduce("All", opts)
	return t.Not().reduce(uop.MAX, o.axes, o.keep).Not()
}

// count is the number of elements reduced over axes.
func (t *Tensor) count(axes []int) int {
	n := 1
	for _, a := range axes {
		n *= t.Dim(a)
	}
	return n
}

// Mean averages over the given axes.
func (t *Tensor) Mean(opts ...any) *Tensor {
	o := t.parseReduce("Mean", opts)
	x := t.floaty()
	n := x.count(o.axes)
	s := x.Sum(o.axes, keepDim(o.keep))
	if n == 0 {
		return s.Mul(math.NaN())
	}
	return s.Div(float64(n))
}

// Var is the variance over the given axes, dividing by N - Correction (default 1).
func (t *Tensor) Var(opts ...any) *Tensor {
	o := t.parseReduce("Var", opts)
	x := t.floaty()
	m := x.Mean(o.axes, KeepDim)
	d := x.Sub(m)
	return d.Mul(d).Sum(o.axes, keepDim(o.keep)).Div(math.Max(float64(x.count(o.axes))-o.corr, 0))
}

// VarMean returns the variance (as Var) and the mean over the given axes,
// as PyTorch's var_mean, for normalizing: the mean is stored by its
// reduction's kernel (where Var and Mean leave theirs fused into their
// consumers), and the variance is of x less that stored mean, so the
// caller's x - mean are the same centred values. Fused, the C compiler may
// contract sum*(1/n) and the subtraction into one fused multiply-add, and
// the centred values of a row would no longer sum to zero (the gradient of
// sum(LayerNorm(x)) for x with a large offset).
//
// On a device with row kernels (schedule.AllowRowKernels) the mean is not
// stored on purpose: one row kernel computes it, rounded as stored (see
// codegen's linearizer), and normalizes the row with it; where kernels share
// it (a backward pass) the scheduler stores the mean, not the sum, for the
// same reason.
func (t *Tensor) VarMean(opts ...any) (variance, mean *Tensor) {
	o := t.parseReduce("VarMean", opts)
	x := t.floaty()
	m := x.Mean(o.axes, KeepDim)
	if !schedule.RowKernels(x.Device()) {
		m = m.Contiguous()
	}
	d := x.Sub(m)
	v := d.Mul(d).Sum(o.axes, keepDim(o.keep)).Div(math.Max(float64(x.count(o.axes))-o.corr, 0))
	return v, m.Reshape(v.Shape()...)
}

// Std is the square root of Var.
func (t *Tensor) Std(opts ...any) *Tensor { return t.Var(opts...).Sqrt() }

// LogSumExp is log(sum(exp(t))) over the axes, computed stably.
func (t *Tensor) LogSumExp(opts ...any) *Tensor {
	o := t.parseReduce("LogSumExp", opts)
	x := t.floaty()
	// The shift by the maximum cancels out of the value and of the
	// gradient, so no gradient flows through it (two reduces saved).
	m := x.Max(o.axes, KeepDim).Detach()
	m = m.isInf().Where(0.0, m)
	r := x.Sub(m).Exp().Sum(o.axes, KeepDim).Log().Add(m)
	return r.Reshape(x.reduceShape(o.axes, o.keep)...)
}

func (t *Tensor) isInf() *Tensor { return t.Abs().Eq(math.Inf(1)) }

// IsNaN reports NaN elements.
func (t *Tensor) IsNaN() *Tensor { return t.Ne(t) }

// IsInf reports infinite elements.
func (t *Tensor) IsInf() *Tensor { return t.isInf() }

// Softmax is exp(t)/sum(exp(t)) along axis: three kernels (max, sum,
// divide), or one on a device with row kernels (see
// schedule.AllowRowKernels).
func (t *Tensor) Softmax(axis int) *Tensor {
	x := t.floaty()
	axis = x.axis(axis, "Softmax")
	e := x.Sub(x.Max(axis, KeepDim).Detach()).Exp() // the shift cancels: no gradient through it
	return e.Div(e.Sum(axis, KeepDim))
}

// LogSoftmax is log(Softmax(t)) along axis, computed stably.
func (t *Tensor) LogSoftmax(axis int) *Tensor {
	x := t.floaty()
	axis = x.axis(axis, "LogSoftmax")
	d := x.Sub(x.Max(axis, KeepDim).Detach()) // the shift cancels: no gradient through it
	return d.Sub(d.Exp().Sum(axis, KeepDim).Log())
}

// Argmax returns the int64 index of the first maximum along an axis (of the
// flattened tensor when no axis is given); NaN counts as the maximum.
func (t *Tensor) Argmax(opts ...any) *Tensor {
	o := t.parseReduce("Argmax", opts)
	if !hasInt(opts) {
		r := t.Flatten().argmaxAxis(0, false)
		if o.keep {
			ones := make([]int, t.Ndim())
			for i := range ones {
				ones[i] = 1
			}
			return r.Reshape(ones...)
		}
		return r
	}
	if len(o.axes) != 1 {
		panic(fmt.Sprintf("gograd: Argmax: one axis at most, got %v", o.axes))
	}
	return t.argmaxAxis(o.axes[0], o.keep)
}

func (x *Tensor) argmaxAxis(axis int, keep bool) *Tensor {
	n := x.Dim(axis)
	m := x.Max(axis, KeepDim)
	isMax := x.Eq(m)
	if x.DType().IsFloat() {
		isMax = isMax.Or(x.IsNaN().And(m.IsNaN()))
	}
	// Count down from n so that the first maximum weighs most.
	shape := make([]int, x.Ndim())
	for i := range shape {
		shape[i] = 1
	}
	shape[axis] = n
	desc := Arange(n).To(x.Device()).Mul(-1).Add(n).Reshape(shape...)
	idx := isMax.Where(desc, int64(0)).Max(axis, keepDim(keep))
	return idx.Mul(-1).Add(n)
}

func hasInt(opts []any) bool {
	for _, o := range opts {
		switch o.(type) {
		case int, []int:
			return true
		}
	}
	return false
}

// Argmin returns the index of the first minimum along axis.
func (t *Tensor) Argmin(opts ...any) *Tensor {
	if t.DType().IsFloat() {
		return t.Neg().Argmax(opts...)
	}
	return t.BitNot().Argmax(opts...)
}

// triMask returns the bool (n, n) mask j <= i (lower triangle with diagonal).
func lowerMask(dev string, n int) *Tensor {
	r := Arange(n).To(dev)
	return r.Reshape(n, 1).Ge(r.Reshape(1, n))
}

// cumulative reduces every prefix along axis: out[i] = op(x[0..i]), as one
// masked reduction over a broadcast (n, n) view.
func (t *Tensor) cumulative(op string, axis int, reduceMax bool) *Tensor {
	axis = t.axis(axis, op)
	if t.Ndim() == 0 {
		return t.Reshape(1).cumulative(op, 0, reduceMax).Reshape()
	}
	x := t.Transpose(axis, -1)
	n := x.Dim(-1)
	mask := lowerMask(t.Device(), n)
	xe := x.Unsqueeze(-2) // (..., 1, n): row i reads every j
	var r *Tensor
	if reduceMax {
		fill := math.Inf(-1)
		if !x.DType().IsFloat() {
			fill = x.DType().Min()
		}
		// The fill is a 0-d tensor of x's dtype, so integers stay integers.
		r = mask.Where(xe, fromUOp(uop.Const(x.Device(), x.DType(), fill))).Max(-1)
	} else {
		in, dt := xe.sumInput()
		r = mask.Where(in, 0).Sum(-1).Cast(dt)
	}
	return r.Transpose(axis, -1)
}

// CumSum is the running sum along axis.
func (t *Tensor) CumSum(axis int) *Tensor { return t.cumulative("CumSum", axis, false) }

// CumMax is the running maximum along axis.
func (t *Tensor) CumMax(axis int) *Tensor { return t.cumulative("CumMax", axis, true) }
