package gograd

import (
	"fmt"
	"math"
	"slices"
	"sync/atomic"

	"github.com/gograd/gograd/dtype"
	"github.com/gograd/gograd/uop"
)

// Reshape returns t with a new shape of the same size; one size may be -1.
func (t *Tensor) Reshape(shape ...int) *Tensor {
	shape = slices.Clone(shape)
	infer := -1
	known := 1
	for i, s := range shape {
		switch {
		case s == -1 && infer < 0:
			infer = i
		case s < 0:
			panic(fmt.Sprintf("gograd: Reshape: bad shape %v for %v", shape, t.uop.Shape()))
		default:
			known *= s
		}
	}
	if infer >= 0 {
		if known == 0 || t.Numel()%known != 0 {
			panic(fmt.Sprintf("gograd: Reshape: cannot infer -1 in %v for %v", shape, t.uop.Shape()))
		}
		shape[infer] = t.Numel() / known
	}
	if uop.Prod(shape) != t.Numel() {
		panic(fmt.Sprintf("gograd: Reshape: shape %v does not hold the %d elements of %v", shape, t.Numel(), t.uop.Shape()))
	}
	return fromUOp(t.uop.Reshape(shape))
}

// Permute reorders the axes: axis i of the result is axis order[i] of t.
func (t *Tensor) Permute(order ...int) *Tensor {
	if len(order) != t.Ndim() {
		panic(fmt.Sprintf("gograd: Permute: order %v for shape %v", order, t.uop.Shape()))
	}
	o := make([]int, len(order))
	seen := make([]bool, len(order))
	for i, a := range order {
		a = t.axis(a, "Permute")
		if seen[a] {
			panic(fmt.Sprintf("gograd: Permute: order %v repeats an axis", order))
		}
		seen[a], o[i] = true, a
	}
	return fromUOp(t.uop.Permute(o))
}

// Transpose swaps axes a and b.
func (t *Tensor) Transpose(a, b int) *Tensor {
	a, b = t.axis(a, "Transpose"), t.axis(b, "Transpose")
	order := make([]int, t.Ndim())
	for i := range order {
		order[i] = i
	}
	order[a], order[b] = order[b], order[a]
	return t.Permute(order...)
}

// T transposes the last two axes.
func (t *Tensor) T() *Tensor { return t.Transpose(-2, -1) }

// Expand broadcasts t to shape; -1 keeps a size, and new leading axes may be added.
func (t *Tensor) Expand(shape ...int) *Tensor {
	s := t.uop.Shape()
	if len(shape) < len(s) {
		panic(fmt.Sprintf("gograd: Expand: shape %v has fewer axes than %v", shape, s))
	}
	shape = slices.Clone(shape)
	off := len(shape) - len(s)
	for i := range shape {
		if shape[i] == -1 {
			if i < off {
				panic(fmt.Sprintf("gograd: Expand: -1 in new axis of %v", shape))
			}
			shape[i] = s[i-off]
		}
		if i >= off && s[i-off] != 1 && s[i-off] != shape[i] {
			panic(fmt.Sprintf("gograd: Expand: cannot expand %v to %v", s, shape))
		}
	}
	return t.expandTo(shape)
}

// Squeeze removes the given axes of size 1, or every size-1 axis if none are given.
func (t *Tensor) Squeeze(axes ...int) *Tensor {
	s := t.uop.Shape()
	var out []int
	if len(axes) == 0 {
		for _, d := range s {
			if d != 1 {
				out = append(out, d)
			}
		}
	} else {
		ax := t.axes("Squeeze", axes)
		for i, d := range s {
			if !slices.Contains(ax, i) || d != 1 {
				out = append(out, d)
			}
		}
	}
	return t.Reshape(out...)
}

// Unsqueeze inserts an axis of size 1 before axis (negative counts from the end).
func (t *Tensor) Unsqueeze(axis int) *Tensor {
	n := t.Ndim()
	if axis < 0 {
		axis += n + 1
	}
	if axis < 0 || axis > n {
		panic(fmt.Sprintf("gograd: Unsqueeze: axis %d out of range for shape %v", axis, t.uop.Shape()))
	}
	return t.Reshape(slices.Insert(t.Shape(), axis, 1)...)
}

// Flatten merges axes start..end (inclusive; default all) into one.
func (t *Tensor) Flatten(startEnd ...int) *Tensor {
	if t.Ndim() == 0 {
		return t.Reshape(1)
	}
	start, end := 0, t.Ndim()-1
	if len(startEnd) > 0 {
		start = t.axis(startEnd[0], "Flatten")
	}
	if len(startEnd) > 1 {
		end = t.axis(startEnd[1], "Flatten")
	}
	s := t.Shape()
	out := append(slices.Clone(s[:start]), uop.Prod(s[start:end+1]))
	return t.Reshape(append(out, s[end+1:]...)...)
}

// Unflatten splits axis into sizes.
func (t *Tensor) Unflatten(axis int, sizes ...int) *Tensor {
	axis = t.axis(axis, "Unflatten")
	s := t.Shape()
	out := append(slices.Clone(s[:axis]), sizes...)
	return t.Reshape(append(out, s[axis+1:]...)...)
}

// Shrink keeps [start, end) of each axis.
func (t *Tensor) Shrink(bounds [][2]int) *Tensor {
	s := t.uop.Shape()
	if len(bounds) != len(s) {
		panic(fmt.Sprintf("gograd: Shrink: %d bounds for shape %v", len(bounds), s))
	}
	for i, b := range bounds {
		if b[0] < 0 || b[1] > s[i] || b[0] > b[1] {
			panic(fmt.Sprintf("gograd: Shrink: bounds %v out of range for shape %v", bounds, s))
		}
	}
	return fromUOp(t.uop.Shrink(bounds))
}

// ShrinkAt keeps length elements of axis starting at start, a variable
// bound with Var.Bind: the kernels take the start at launch, so one
// compiled (or JIT-captured) step serves every value — a KV cache written
// at the current position, the embedding row of the current token. Every
// value the variable may take must leave the window inside the axis. The
// result can be assigned to (Assign writes through it) but has no gradient.
func (t *Tensor) ShrinkAt(axis int, start *Tensor, length int) *Tensor {
	s := t.uop.Shape()
	axis = t.axis(axis, "ShrinkAt")
	v := start.uop
	if v.Op != uop.BIND && v.Op != uop.DEFINE_VAR {
		panic(fmt.Sprintf("gograd: ShrinkAt: start must be a bound variable (Var.Bind), not %v", v.Op))
	}
	if v.Op == uop.BIND {
		v = v.Src[0]
	}
	a := v.Arg.(uop.VarArg)
	if length < 0 || a.Min < 0 || a.Max+int64(length) > int64(s[axis]) {
		panic(fmt.Sprintf("gograd: ShrinkAt: window of %d from %s in [%d, %d] leaves axis %d of shape %v", length, a.Name, a.Min, a.Max, axis, s))
	}
	bounds := make([][2]int, len(s))
	for i, n := range s {
		bounds[i] = [2]int{0, n}
	}
	bounds[axis] = [2]int{0, length}
	return fromUOp(t.uop.ShrinkVar(bounds, axis, start.uop))
}

// Pad zero-pads (before, after) on each axis; negative amounts crop.
func (t *Tensor) Pad(pads [][2]int) *Tensor {
	s := t.uop.Shape()
	if len(pads) != len(s) {
		panic(fmt.Sprintf("gograd: Pad: %d pads for shape %v", len(pads), s))
	}
	crop := make([][2]int, len(s))
	pos := make([][2]int, len(s))
	for i, p := range pads {
		crop[i] = [2]int{max(-p[0], 0), s[i] - max(-p[1], 0)}
		if crop[i][0] > crop[i][1] {
			panic(fmt.Sprintf("gograd: Pad: pads %v crop more than shape %v", pads, s))
		}
		pos[i] = [2]int{max(p[0], 0), max(p[1], 0)}
	}
	return fromUOp(t.Shrink(crop).uop.Pad(pos))
}

// PadValue pads with value (converted to t's dtype, as in PyTorch) instead
// of zero.
func (t *Tensor) PadValue(pads [][2]int, value any) *Tensor {
	p := t.Pad(pads)
	if v := toFloat64(value); v == 0 && !math.Signbit(v) {
		return p
	}
	mask := fromUOp(uop.Const(t.Device(), Bool, true)).expandTo(t.uop.Shape()).Pad(pads)
	return mask.Where(p, fromUOp(uop.Const(t.Device(), t.DType(), value)))
}

// PadMode pads with mode "constant" (zeros), "reflect" (mirror without the
// edge) or "replicate" (repeat the edge).
func (t *Tensor) PadMode(pads [][2]int, mode string) *Tensor {
	switch mode {
	case "constant", "zeros":
		return t.Pad(pads)
	case "reflect", "replicate", "circular":
	default:
		panic(fmt.Sprintf("gograd: PadMode: unknown mode %q", mode))
	}
	x := t
	for ax, p := range pads {
		n := x.Dim(ax)
		if p[0] == 0 && p[1] == 0 {
			continue
		}
		var parts []*Tensor
		switch mode {
		case "reflect":
			if p[0] >= n || p[1] >= n {
				panic(fmt.Sprintf("gograd: PadMode: reflect pad %v too large for size %d", p, n))
			}
			parts = []*Tensor{x.narrow(ax, 1, p[0]).Flip(ax), x, x.narrow(ax, n-1-p[1], p[1]).Flip(ax)}
		case "replicate":
			parts = []*Tensor{x.narrow(ax, 0, 1).expandAxis(ax, p[0]), x, x.narrow(ax, n-1, 1).expandAxis(ax, p[1])}
		case "circular":
			parts = []*Tensor{x.narrow(ax, n-p[0], p[0]), x, x.narrow(ax, 0, p[1])}
		}
		x = Cat(ax, parts...)
	}
	return x
}

// narrow keeps length elements of axis from start.
func (t *Tensor) narrow(axis, start, length int) *Tensor {
	b := make([][2]int, t.Ndim())
	for i, s := range t.uop.Shape() {
		b[i] = [2]int{0, s}
	}
	b[axis] = [2]int{start, start + length}
	return t.Shrink(b)
}

// expandAxis broadcasts a size-1 axis to n.
func (t *Tensor) expandAxis(axis, n int) *Tensor {
	s := t.Shape()
	s[axis] = n
	return t.Expand(s...)
}

// Flip reverses the given axes.
func (t *Tensor) Flip(axes ...int) *Tensor {
	f := make([]bool, t.Ndim())
	for _, a := range t.axes("Flip", axes) {
		f[a] = true
	}
	return fromUOp(t.uop.Flip(f))
}

// End stands for an omitted start or stop in a slice (Python's None).
const End = math.MaxInt

// SliceSpec selects along one axis; make one with Sl, At, or use All.
type SliceSpec struct {
	start, stop, step int
	index             bool // select one element and drop the axis
}

// Sl selects start:stop:step (step defaults to 1); negative values count
// from the end and End stands for an omitted bound, as in Python.
func Sl(start, stop int, step ...int) SliceSpec {
	st := 1
	if len(step) > 0 {
		st = step[0]
	}
	return SliceSpec{start, stop, st, false}
}

// At selects index i (negative counts from the end) and drops the axis.
func At(i int) SliceSpec { return SliceSpec{start: i, index: true} }

// All selects a whole axis.
var All = SliceSpec{End, End, 1, false}

// Slice indexes t with one spec per leading axis, like Python's t[a:b:c, i, ...].
func (t *Tensor) Slice(specs ...SliceSpec) *Tensor {
	if len(specs) > t.Ndim() {
		panic(fmt.Sprintf("gograd: Slice: %d specs for shape %v", len(specs), t.uop.Shape()))
	}
	x := t
	var drop []int
	for ax, sp := range specs {
		n := x.Dim(ax)
		if sp.index {
			i := sp.start
			if i < 0 {
				i += n
			}
			if i < 0 || i >= n {
				panic(fmt.Sprintf("gograd: Slice: index %d out of range for axis %d of shape %v", sp.start, ax, t.uop.Shape()))
			}
			x = x.narrow(ax, i, 1)
			drop = append(drop, ax)
			continue
		}
		if sp.step == 0 {
			panic("gograd: Slice: step is zero")
		}
		lo, hi := sliceBounds(n, sp)
		if sp.step > 0 {
			x = x.narrow(ax, lo, max(hi-lo, 0))
		} else {
			// Elements hi+1..lo inclusive, walked backwards.
			x = x.narrow(ax, hi+1, max(lo-hi, 0)).Flip(ax)
		}
		if st := abs(sp.step); st > 1 {
			x = x.stepAxis(ax, st)
		}
	}
	if len(drop) == 0 {
		return x
	}
	var shape []int
	for i, s := range x.uop.Shape() {
		if !slices.Contains(drop, i) {
			shape = append(shape, s)
		}
	}
	return x.Reshape(shape...)
}

func abs(a int) int {
	if a < 0 {
		return -a
	}
	return a
}

// sliceBounds resolves start and stop as Python's slice.indices does.
func sliceBounds(n int, sp SliceSpec) (int, int) {
	norm := func(v, def, lo, hi int) int {
		if v == End {
			return def
		}
		if v < 0 {
			v += n
		}
		return min(max(v, lo), hi)
	}
	if sp.step > 0 {
		return norm(sp.start, 0, 0, n), norm(sp.stop, n, 0, n)
	}
	return norm(sp.start, n-1, -1, n-1), norm(sp.stop, -1, -1, n-1)
}

// stepAxis keeps every step-th element of axis, with views only: pad to a
// multiple of step, split the axis, keep the first of each group.
func (t *Tensor) stepAxis(axis, step int) *Tensor {
	n := t.Dim(axis)
	m := (n + step - 1) / step
	pads := make([][2]int, t.Ndim())
	pads[axis] = [2]int{0, m*step - n}
	x := t.Pad(pads)
	s := x.Shape()
	split := append(slices.Clone(s[:axis]), m, step)
	split = append(split, s[axis+1:]...)
	x = x.Reshape(split...)
	b := make([][2]int, len(split))
	for i, d := range split {
		b[i] = [2]int{0, d}
	}
	b[axis+1] = [2]int{0, 1}
	x = x.Shrink(b)
	out := append(slices.Clone(s[:axis]), m)
	return x.Reshape(append(out, s[axis+1:]...)...)
}

// Repeat tiles t reps[i] times along axis i (like torch.Tensor.repeat);
// extra leading reps add axes.
func (t *Tensor) Repeat(reps ...int) *Tensor {
	if len(reps) < t.Ndim() {
		panic(fmt.Sprintf("gograd: Repeat: %d repeats for shape %v", len(reps), t.uop.Shape()))
	}
	s := t.Shape()
	for len(s) < len(reps) {
		s = append([]int{1}, s...)
	}
	x := t.Reshape(s...)
	var inter, expanded, final []int
	for i, d := range s {
		inter = append(inter, 1, d)
		expanded = append(expanded, reps[i], d)
		final = append(final, reps[i]*d)
	}
	return x.Reshape(inter...).Expand(expanded...).Reshape(final...)
}

// Roll shifts elements along axis by shift, wrapping around.
func (t *Tensor) Roll(shift, axis int) *Tensor {
	axis = t.axis(axis, "Roll")
	n := t.Dim(axis)
	if n == 0 {
		return t
	}
	shift = ((shift % n) + n) % n
	if shift == 0 {
		return t
	}
	return Cat(axis, t.narrow(axis, n-shift, shift), t.narrow(axis, 0, n-shift))
}

// Cat joins tensors along axis; other axes must match. It pads each to the
// full size and selects each where its padding mask is true (a select, not a
// sum, so -0.0 survives), so it fuses into one kernel.
func Cat(axis int, ts ...*Tensor) *Tensor {
	if len(ts) == 0 {
		panic("gograd: Cat: no tensors")
	}
	first := ts[0]
	axis = first.axis(axis, "Cat")
	dt := first.DType()
	total := 0
	for _, x := range ts {
		if x.Ndim() != first.Ndim() {
			panic(fmt.Sprintf("gograd: Cat: shapes %v and %v differ in rank", first.uop.Shape(), x.uop.Shape()))
		}
		for i, d := range x.uop.Shape() {
			if i != axis && d != first.uop.Shape()[i] {
				panic(fmt.Sprintf("gograd: Cat: shapes %v and %v differ off axis %d", first.uop.Shape(), x.uop.Shape(), axis))
			}
		}
		if x.Device() != first.Device() {
			panic(fmt.Sprintf("gograd: Cat: tensors on %s and %s", first.Device(), x.Device()))
		}
		dt = dtype.Promote(dt, x.DType())
		total += x.Dim(axis)
	}
	var out *Tensor
	off := 0
	for _, x := range ts {
		pads := make([][2]int, x.Ndim())
		pads[axis] = [2]int{off, total - off - x.Dim(axis)}
		off += x.Dim(axis)
		p := x.Cast(dt).Pad(pads)
		if out == nil {
			out = p
			continue
		}
		valid := fromUOp(uop.Const(x.Device(), Bool, true)).expandTo(x.uop.Shape()).Pad(pads)
		out = valid.Where(p, out)
	}
	return out
}

// Cat joins t and others along axis.
func (t *Tensor) Cat(axis int, others ...*Tensor) *Tensor {
	return Cat(axis, append([]*Tensor{t}, others...)...)
}

// Stack joins tensors of one shape along a new axis.
func Stack(axis int, ts ...*Tensor) *Tensor {
	if len(ts) == 0 {
		panic("gograd: Stack: no tensors")
	}
	us := make([]*Tensor, len(ts))
	for i, x := range ts {
		if !slices.Equal(x.uop.Shape(), ts[0].uop.Shape()) {
			panic(fmt.Sprintf("gograd: Stack: shapes %v and %v differ", ts[0].uop.Shape(), x.uop.Shape()))
		}
		us[i] = x.Unsqueeze(axis)
	}
	ax := axis
	if ax < 0 {
		ax += ts[0].Ndim() + 1
	}
	return Cat(ax, us...)
}

// Split cuts axis into pieces of the given sizes (one size: equal pieces,
// the last possibly smaller).
func (t *Tensor) Split(axis int, sizes ...int) []*Tensor {
	axis = t.axis(axis, "Split")
	n := t.Dim(axis)
	if len(sizes) == 1 {
		sz := sizes[0]
		if sz <= 0 {
			panic(fmt.Sprintf("gograd: Split: size %d", sz))
		}
		sizes = nil
		for off := 0; off < n; off += sz {
			sizes = append(sizes, min(sz, n-off))
		}
	}
	total := 0
	for _, s := range sizes {
		total += s
	}
	if total != n {
		panic(fmt.Sprintf("gograd: Split: sizes %v do not add up to %d (axis %d of %v)", sizes, n, axis, t.uop.Shape()))
	}
	out := make([]*Tensor, len(sizes))
	off := 0
	for i, s := range sizes {
		out[i] = t.narrow(axis, off, s)
		off += s
	}
	return out
}

// Chunk splits axis into n pieces of equal size (the last possibly smaller).
func (t *Tensor) Chunk(n, axis int) []*Tensor {
	axis = t.axis(axis, "Chunk")
	d := t.Dim(axis)
	return t.Split(axis, max((d+n-1)/n, 1))
}

// Contiguous makes t its own contiguous buffer when it is realized. Each
// call is a new node, so two Contiguous tensors never share a buffer (which
// matters once one of them is assigned to).
func (t *Tensor) Contiguous() *Tensor {
	return fromUOp(uop.New(uop.CONTIGUOUS, t.DType(), []*uop.UOp{t.uop}, contiguousIDs.Add(1)))
}

var contiguousIDs atomic.Int64

// To returns t on device dev; the copy is lazy, a COPY in the graph.
func (t *Tensor) To(dev string) *Tensor {
	name := resolveDevice([]string{dev})
	if name == t.Device() {
		return t
	}
	return fromUOp(uop.New(uop.COPY, t.DType(), []*uop.UOp{t.uop}, name))
}
