package uop

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/gograd/gograd/dtype"
)

// ReduceArg is the argument of REDUCE_AXIS: the reducing op (ADD, MUL or MAX)
// and the axes it reduces, in increasing order.
type ReduceArg struct {
	Op   Op
	Axes []int
}

func (r ReduceArg) Key() string {
	s := strconv.Itoa(int(r.Op)) + ":"
	for _, a := range r.Axes {
		s += strconv.Itoa(a) + ","
	}
	return s
}

func (r ReduceArg) String() string { return fmt.Sprintf("(%v, %v)", r.Op, r.Axes) }

// Identity returns the identity element of a reduce op for dtype dt.
func Identity(op Op, dt dtype.DType) any {
	switch op {
	case ADD:
		if dt.IsFloat() { // -0.0: the sum of -0.0s stays -0.0
			return ConstArg(dt, math.Copysign(0, -1))
		}
		return ConstArg(dt, 0)
	case MUL:
		return ConstArg(dt, 1)
	case MAX:
		return ConstArg(dt, dt.Min())
	}
	panic("uop: no identity for " + op.String())
}

// ConstArg normalises a Go number to the argument a CONST of dtype dt holds:
// float64 for floats, int64 for integers (uint64 as its bits), bool for bool.
func ConstArg(dt dtype.DType, v any) any {
	var f float64
	var i int64
	isInt := false
	switch x := v.(type) {
	case bool:
		if dt == dtype.Bool {
			return x
		}
		if x {
			f, i = 1, 1
		}
		isInt = true
	case int:
		f, i, isInt = float64(x), int64(x), true
	case int8:
		f, i, isInt = float64(x), int64(x), true
	case int16:
		f, i, isInt = float64(x), int64(x), true
	case int32:
		f, i, isInt = float64(x), int64(x), true
	case int64:
		f, i, isInt = float64(x), x, true
	case uint8:
		f, i, isInt = float64(x), int64(x), true
	case uint16:
		f, i, isInt = float64(x), int64(x), true
	case uint32:
		f, i, isInt = float64(x), int64(x), true
	case uint64:
		f, i, isInt = float64(x), int64(x), true
	case float32:
		f = float64(x)
	case float64:
		f = x
	default:
		panic(fmt.Sprintf("uop: %T is not a number", v))
	}
	switch {
	case dt == dtype.Bool:
		if isInt {
			return i != 0
		}
		return f != 0
	case dt.IsFloat():
		if dt == dtype.Float32 || dt.IsHalf() {
			f = float64(dtype.RoundHalf(dt, float32(f)))
		}
		return f
	default:
		if !isInt {
			if math.IsNaN(f) || math.IsInf(f, 0) {
				return int64(0)
			}
			i = int64(f)
		}
		return wrapInt(dt, i)
	}
}

// wrapInt wraps i to the range of the integer type dt.
func wrapInt(dt dtype.DType, i int64) int64 {
	switch dt {
	case dtype.Int8:
		return int64(int8(i))
	case dtype.Uint8:
		return int64(uint8(i))
	case dtype.Int16:
		return int64(int16(i))
	case dtype.Uint16:
		return int64(uint16(i))
	case dtype.Int32:
		return int64(int32(i))
	case dtype.Uint32:
		return int64(uint32(i))
	}
	return i
}

// Const returns a tensor-level scalar constant on device dev.
func Const(dev string, dt dtype.DType, v any) *UOp {
	return newWithDevice(CONST, dt, nil, ConstArg(dt, v), dev)
}

// KConst returns a kernel-level constant.
func KConst(dt dtype.DType, v any) *UOp { return New(CONST, dt, nil, ConstArg(dt, v)) }

// Index returns a kernel-level index constant.
func Index(v int64) *UOp { return New(CONST, dtype.Index, nil, v) }

// Buffer returns the node of a realized buffer (shape: its length).
func Buffer(b DeviceBuffer) *UOp { return New(BUFFER, b.ElemType(), nil, b) }

// Alu returns the elementwise op applied to u and others. The result dtype is
// bool for comparisons, the dtype of the second operand for WHERE, and u's
// dtype otherwise; operands must already share dtype and shape.
func (u *UOp) Alu(op Op, others ...*UOp) *UOp {
	src := append([]*UOp{u}, others...)
	dt := u.DType
	switch {
	case op.IsComparison():
		dt = dtype.Bool.Vec(u.DType.Count())
	case op == WHERE:
		dt = others[0].DType
	}
	return New(op, dt, src, nil)
}

// Cast converts u to dt (u itself when it already is dt).
func (u *UOp) Cast(dt dtype.DType) *UOp {
	if u.DType == dt {
		return u
	}
	return New(CAST, dt, []*UOp{u}, nil)
}

// Bitcast reinterprets u's bits as dt, which must have the same size.
func (u *UOp) Bitcast(dt dtype.DType) *UOp {
	if u.DType == dt {
		return u
	}
	return New(BITCAST, dt, []*UOp{u}, nil)
}

// Reduce reduces u over axes with op.
func (u *UOp) Reduce(op Op, axes ...int) *UOp {
	axes = slices.Clone(axes)
	slices.Sort(axes)
	return New(REDUCE_AXIS, u.DType, []*UOp{u}, ReduceArg{op, axes})
}

// Reshape returns u viewed with shape (no-op if unchanged).
func (u *UOp) Reshape(shape []int) *UOp {
	if slices.Equal(u.shape, shape) {
		return u
	}
	return New(RESHAPE, u.DType, []*UOp{u}, slices.Clone(shape))
}

// Permute reorders u's axes.
func (u *UOp) Permute(order []int) *UOp {
	identity := true
	for i, o := range order {
		identity = identity && i == o
	}
	if identity {
		return u
	}
	return New(PERMUTE, u.DType, []*UOp{u}, slices.Clone(order))
}

// Expand broadcasts u's size-1 axes to shape.
func (u *UOp) Expand(shape []int) *UOp {
	if slices.Equal(u.shape, shape) {
		return u
	}
	return New(EXPAND, u.DType, []*UOp{u}, slices.Clone(shape))
}

// Pad zero-pads u by (before, after) per axis.
func (u *UOp) Pad(pads [][2]int) *UOp {
	if allZeroPairs(pads) {
		return u
	}
	return New(PAD, u.DType, []*UOp{u}, slices.Clone(pads))
}

// Shrink keeps [start, end) of each axis.
func (u *UOp) Shrink(bounds [][2]int) *UOp {
	full := true
	for i, b := range bounds {
		full = full && b[0] == 0 && b[1] == u.shape[i]
	}
	if full {
		return u
	}
	return New(SHRINK, u.DType, []*UOp{u}, slices.Clone(bounds))
}

// VarShrink is the argument of a SHRINK whose window along Axis starts at
// a variable, the SHRINK's second source, rather than at a constant:
// Bounds[Axis] is [0, length) relative to it. One kernel then serves every
// value (a KV cache written at the current position, a row picked by a
// token id).
type VarShrink struct {
	Bounds [][2]int
	Axis   int
}

func (a VarShrink) Key() string {
	var kb strings.Builder
	writeArgKey(&kb, a.Bounds)
	kb.WriteString("@")
	kb.WriteString(strconv.Itoa(a.Axis))
	return kb.String()
}

func (a VarShrink) String() string { return fmt.Sprintf("%v from var on axis %d", a.Bounds, a.Axis) }

// ShrinkVar keeps bounds of each axis, except that along axis the window
// of length bounds[axis][1] starts at start (a 0-d index DEFINE_VAR or
// BIND) and bounds[axis][0] must be 0.
func (u *UOp) ShrinkVar(bounds [][2]int, axis int, start *UOp) *UOp {
	return New(SHRINK, u.DType, []*UOp{u, start}, VarShrink{slices.Clone(bounds), axis})
}

// ShrinkBounds returns a SHRINK's bounds (relative to the variable's value
// on a VarShrink's axis).
func ShrinkBounds(arg any) [][2]int {
	if v, ok := arg.(VarShrink); ok {
		return v.Bounds
	}
	return arg.([][2]int)
}

// Flip reverses the axes marked true.
func (u *UOp) Flip(axes []bool) *UOp {
	if !slices.Contains(axes, true) {
		return u
	}
	return New(FLIP, u.DType, []*UOp{u}, slices.Clone(axes))
}

func allZeroPairs(p [][2]int) bool {
	for _, x := range p {
		if x[0] != 0 || x[1] != 0 {
			return false
		}
	}
	return true
}

// inferShape derives the shape of a tensor-level node from its sources.
func inferShape(u *UOp) []int {
	switch u.Op {
	case BUFFER:
		return []int{u.Arg.(DeviceBuffer).Len()}
	case CONST, DEFINE_VAR:
		return []int{}
	case RESHAPE, EXPAND:
		return u.Arg.([]int)
	case PERMUTE:
		in := u.Src[0].shape
		out := make([]int, len(in))
		for i, o := range u.Arg.([]int) {
			out[i] = in[o]
		}
		return out
	case PAD:
		out := slices.Clone(u.Src[0].shape)
		for i, p := range u.Arg.([][2]int) {
			out[i] += p[0] + p[1]
		}
		return out
	case SHRINK:
		out := make([]int, len(u.Src[0].shape))
		for i, b := range ShrinkBounds(u.Arg) {
			out[i] = b[1] - b[0]
		}
		return out
	case REDUCE_AXIS:
		out := slices.Clone(u.Src[0].shape)
		for _, a := range u.Arg.(ReduceArg).Axes {
			out[a] = 1
		}
		return out
	case SINK:
		return nil
	}
	if len(u.Src) > 0 {
		if u.Op == WHERE {
			return u.Src[1].shape
		}
		return u.Src[0].shape
	}
	return nil
}
