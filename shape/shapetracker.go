package shape

import (
	"fmt"
	"slices"
	"strings"

	"github.com/gograd/gograd/dtype"
	"github.com/gograd/gograd/uop"
)

// ShapeTracker is a stack of views: the last view maps the tracker's indices
// to a linear index into the shape of the view below it, and so on down to
// the buffer. Most chains of movement ops need one view; a reshape of a view
// that is not a single strided run pushes a second. ShapeTrackers are values:
// every method returns a new one.
type ShapeTracker struct {
	Views []View
}

// New returns the tracker of a contiguous buffer of shape.
func New(shape []int) ShapeTracker { return ShapeTracker{[]View{Contig(shape)}} }

// Shape is the shape the tracker presents.
func (st ShapeTracker) Shape() []int { return st.Views[len(st.Views)-1].Shape }

// Size is the number of elements of the shape.
func (st ShapeTracker) Size() int { return st.Views[len(st.Views)-1].Size() }

// Contiguous reports whether the tracker is the identity on a buffer.
func (st ShapeTracker) Contiguous() bool { return len(st.Views) == 1 && st.Views[0].Contiguous }

func (st ShapeTracker) with(v View) ShapeTracker {
	if last := st.last(); last.VarOffset != nil && v.VarOffset == nil {
		v.VarOffset, v.Contiguous = last.VarOffset, false
	}
	views := slices.Clone(st.Views)
	views[len(views)-1] = v
	return ShapeTracker{views}.simplify()
}

// simplify drops a lower view that is the identity of a contiguous buffer.
func (st ShapeTracker) simplify() ShapeTracker {
	for len(st.Views) > 1 && st.Views[len(st.Views)-2].Contiguous {
		st.Views = append(slices.Clone(st.Views[:len(st.Views)-2]), st.Views[len(st.Views)-1])
	}
	return st
}

func (st ShapeTracker) last() View { return st.Views[len(st.Views)-1] }

// Permute reorders axes.
func (st ShapeTracker) Permute(order []int) ShapeTracker { return st.with(st.last().Permute(order)) }

// Expand broadcasts size-1 axes.
func (st ShapeTracker) Expand(shape []int) ShapeTracker { return st.with(st.last().Expand(shape)) }

// Pad zero-pads axes.
func (st ShapeTracker) Pad(pads [][2]int) ShapeTracker { return st.with(st.last().Pad(pads)) }

// Shrink keeps a window of each axis.
func (st ShapeTracker) Shrink(bounds [][2]int) ShapeTracker {
	return st.with(st.last().Shrink(bounds))
}

// ShrinkVar keeps a window of each axis, the one along axis starting at the
// index variable start (bounds[axis] is [0, length) relative to it). The
// axis must not be padded.
func (st ShapeTracker) ShrinkVar(bounds [][2]int, axis int, start *uop.UOp) ShapeTracker {
	last := st.last()
	if m := last.Mask; m != nil && (len(m) == 0 || m[axis] != [2]int{0, last.Shape[axis]}) {
		panic(fmt.Sprintf("shape: a window at a variable offset along padded axis %d of %v", axis, last))
	}
	v := last.Shrink(bounds)
	term := start
	if s := last.Strides[axis]; s != 1 {
		term = start.Alu(uop.MUL, uop.Index(int64(s)))
	}
	if last.Strides[axis] == 0 {
		term = nil
	}
	switch {
	case term == nil:
		v.VarOffset = last.VarOffset
	case last.VarOffset != nil:
		v.VarOffset = uop.Simplify(last.VarOffset.Alu(uop.ADD, term))
	default:
		v.VarOffset = term
	}
	v.Contiguous = v.Contiguous && v.VarOffset == nil
	return st.with(v)
}

// Flip reverses axes.
func (st ShapeTracker) Flip(axes []bool) ShapeTracker { return st.with(st.last().Flip(axes)) }

// Reshape changes the shape, pushing a view when the last cannot express it.
func (st ShapeTracker) Reshape(shape []int) ShapeTracker {
	if v, ok := st.last().Reshape(shape); ok {
		return st.with(v)
	}
	return ShapeTracker{append(slices.Clone(st.Views), Contig(shape))}.simplify()
}

// ApplyNode applies the movement op u (its op and argument, and a
// VarShrink's variable, its second source, as a kernel-level index variable).
func (st ShapeTracker) ApplyNode(u *uop.UOp) ShapeTracker {
	if a, ok := u.Arg.(uop.VarShrink); ok {
		return st.ShrinkVar(a.Bounds, a.Axis, KernelVar(u.Src[1]))
	}
	return st.Apply(u.Op, u.Arg)
}

// KernelVar returns the kernel-level index variable (no device, with its
// bounds) of a tensor-level DEFINE_VAR or BIND.
func KernelVar(u *uop.UOp) *uop.UOp {
	if u.Op == uop.BIND {
		u = u.Src[0]
	}
	if u.Op != uop.DEFINE_VAR {
		panic(fmt.Sprintf("shape: a window offset must be a variable, not %v", u))
	}
	a := u.Arg.(uop.VarArg)
	return uop.Var(a.Name, a.Min, a.Max)
}

// Apply applies a movement op given as a uop op and its argument.
func (st ShapeTracker) Apply(op uop.Op, arg any) ShapeTracker {
	switch op {
	case uop.RESHAPE:
		return st.Reshape(arg.([]int))
	case uop.PERMUTE:
		return st.Permute(arg.([]int))
	case uop.EXPAND:
		return st.Expand(arg.([]int))
	case uop.PAD:
		return st.Pad(arg.([][2]int))
	case uop.SHRINK:
		return st.Shrink(arg.([][2]int))
	case uop.FLIP:
		return st.Flip(arg.([]bool))
	}
	panic("shape: not a movement op: " + op.String())
}

// Key identifies the tracker (for hash-consing kernel ASTs).
func (st ShapeTracker) Key() string {
	var b strings.Builder
	for _, v := range st.Views {
		b.WriteString(v.Key())
		b.WriteByte(';')
	}
	return b.String()
}

func (st ShapeTracker) String() string {
	parts := make([]string, len(st.Views))
	for i, v := range st.Views {
		parts[i] = v.String()
	}
	return "ST(" + strings.Join(parts, ", ") + ")"
}

// RealStrides returns the stride of each axis in buffer elements, or false for
// an axis whose stride is not a constant (a tracker of more than one view).
func (st ShapeTracker) RealStrides() ([]int, bool) {
	if len(st.Views) != 1 {
		return nil, false
	}
	return st.Views[0].Strides, true
}

// Index returns the buffer index and the validity of the element at idxs
// (one index expression per axis), simplified.
func (st ShapeTracker) Index(idxs []*uop.UOp) (idx, valid *uop.UOp) {
	idx, valid = st.Views[len(st.Views)-1].index(idxs, uop.KConst(dtype.Bool, true))
	for i := len(st.Views) - 2; i >= 0; i-- {
		v := st.Views[i]
		idx, valid = v.index(unravel(idx, v.Shape), valid)
	}
	return uop.Simplify(idx), uop.Simplify(valid)
}

// unravel splits a linear index into indices of shape.
func unravel(idx *uop.UOp, shape []int) []*uop.UOp {
	out := make([]*uop.UOp, len(shape))
	acc := 1
	for i := len(shape) - 1; i >= 0; i-- {
		d := idx
		if acc != 1 {
			d = d.Alu(uop.IDIV, uop.Index(int64(acc)))
		}
		if i > 0 {
			d = d.Alu(uop.MOD, uop.Index(int64(shape[i])))
		}
		out[i] = uop.Simplify(d)
		acc *= shape[i]
	}
	return out
}

// index is the index and validity of one view at idxs.
func (v View) index(idxs []*uop.UOp, valid *uop.UOp) (*uop.UOp, *uop.UOp) {
	idx := uop.Index(int64(v.Offset))
	if v.VarOffset != nil {
		idx = idx.Alu(uop.ADD, v.VarOffset)
	}
	for i, x := range idxs {
		if v.Strides[i] != 0 && v.Shape[i] != 1 {
			idx = idx.Alu(uop.ADD, x.Alu(uop.MUL, uop.Index(int64(v.Strides[i]))))
		}
	}
	if v.Mask != nil && len(v.Mask) == 0 {
		return idx, uop.KConst(dtype.Bool, false)
	}
	if v.Mask != nil {
		for i, m := range v.Mask {
			if m[0] > 0 {
				valid = valid.Alu(uop.AND, uop.Index(int64(m[0]-1)).Alu(uop.CMPLT, idxs[i]))
			}
			if m[1] < v.Shape[i] || m[0] >= m[1] {
				valid = valid.Alu(uop.AND, idxs[i].Alu(uop.CMPLT, uop.Index(int64(m[1]))))
			}
		}
	}
	return idx, valid
}
