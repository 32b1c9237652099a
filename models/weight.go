package models

import (
	"fmt"
	"slices"
	"sync"

	g "github.com/gograd/gograd"
	"github.com/gograd/gograd/nn/quant"
)

// Weight is a matrix of Out rows and In columns (PyTorch's [out, in]):
// float values, or quantized planes dequantised inside the kernels that
// read them.
type Weight struct {
	Out, In int
	f       *g.Tensor // [Out, In] float, or nil
	q       *planes   // or the quantized planes
}

// planes are a quant.Planes on a device.
type planes struct {
	bits, group, offset int
	q, high, scale, min *g.Tensor
}

// FloatWeight wraps a float matrix of shape [out, in].
func FloatWeight(t *g.Tensor) *Weight {
	if t.Ndim() != 2 || !t.DType().IsFloat() {
		panic(fmt.Sprintf("models: FloatWeight: want a float matrix, got %v %v", t.DType(), t.Shape()))
	}
	return &Weight{Out: t.Dim(0), In: t.Dim(1), f: t}
}

// QuantWeight puts quantized planes on the default device, sharing their
// memory where the device keeps buffers in host memory.
func QuantWeight(p *quant.Planes) (*Weight, error) {
	if err := p.Check(); err != nil {
		return nil, err
	}
	w := &Weight{Out: p.Rows, In: p.Cols, q: &planes{bits: p.Bits, group: p.Group, offset: p.Offset}}
	groups := p.Cols / p.Group
	sdt := g.Float32
	if p.ScaleF16 {
		sdt = g.Float16
	}
	switch p.Bits {
	case 8:
		w.q.q = g.FromBytesShared(p.Q, nil, g.Int8, p.Rows, p.Cols)
	default:
		w.q.q = g.FromBytesShared(p.Q, nil, g.Uint8, p.Rows, p.Cols/2)
	}
	if p.Bits == 5 {
		w.q.high = g.FromBytesShared(p.High, nil, g.Uint8, p.Rows, p.Cols/8)
	}
	w.q.scale = g.FromBytesShared(p.Scale, nil, sdt, p.Rows, groups)
	if p.Min != nil {
		w.q.min = g.FromBytesShared(p.Min, nil, sdt, p.Rows, groups)
	}
	return w, nil
}

// Quantized reports the weight's bits per value, 0 for a float weight.
func (w *Weight) Quantized() int {
	if w.q == nil {
		return 0
	}
	return w.q.bits
}

// Dense is the weight as a float32 [Out, In] tensor: lazy, so a quantized
// weight is unpacked and scaled inside the kernel that reads it.
func (w *Weight) Dense() *g.Tensor {
	if w.f != nil {
		return w.f
	}
	return w.q.dequant(w.q.q, w.q.high, w.q.scale, w.q.min, w.Out, w.In)
}

// Rows is rows [start, start+n) of the weight as float32 [n, In], start a
// variable bound with Var.Bind (the embedding of the current token).
func (w *Weight) Rows(start *g.Tensor, n int) *g.Tensor {
	if w.f != nil {
		return w.f.ShrinkAt(0, start, n).Cast(g.Float32)
	}
	var high, min *g.Tensor
	if w.q.high != nil {
		high = w.q.high.ShrinkAt(0, start, n)
	}
	if w.q.min != nil {
		min = w.q.min.ShrinkAt(0, start, n)
	}
	return w.q.dequant(w.q.q.ShrinkAt(0, start, n), high, w.q.scale.ShrinkAt(0, start, n), min, n, w.In)
}

// Apply is x @ W.T: x of shape [..., In] gives [..., Out], in float32. A
// quantized weight is read in its groups' own shape, so that its scales'
// indices stay affine in the kernel's loops (and its loads vectorize); a
// 4-bit one as its two nibbles' halves of each group, so that each byte is
// loaded once and shifted by a constant.
func (w *Weight) Apply(x *g.Tensor) *g.Tensor {
	if x.Dim(-1) != w.In {
		panic(fmt.Sprintf("models: Weight.Apply: input %v for a weight of %d x %d", x.Shape(), w.Out, w.In))
	}
	x = x.Cast(g.Float32)
	if w.f != nil {
		return x.Matmul(w.f.T())
	}
	if w.q.min == nil && w.q.group%2 == 0 {
		return w.intApply(x)
	}
	lead := x.Shape()[:x.Ndim()-1]
	groups := w.In / w.q.group
	shape := func(inner ...int) []int { return append(append(slices.Clone(lead), 1, groups), inner...) }
	last2 := []int{len(lead) + 1, len(lead) + 2}
	if w.q.bits == 8 {
		return x.Reshape(shape(w.q.group)...).Mul(w.q.int8s(w.q.q, w.q.scale, w.q.min, w.Out, w.In)).Sum(last2)
	}
	lo, hi := w.q.nibbles(w.q.q, w.q.high, w.q.scale, w.q.min, w.Out, w.In)
	xs := x.Reshape(shape(2, 16)...)
	return index(xs, -2, 0).Mul(lo).Add(index(xs, -2, 1).Mul(hi)).Sum(last2)
}

// index is t's slice i along axis (negative: from the end), without that
// axis: a view.
func index(t *g.Tensor, axis, i int) *g.Tensor {
	if axis < 0 {
		axis += t.Ndim()
	}
	b := make([][2]int, t.Ndim())
	for d, n := range t.Shape() {
		b[d] = [2]int{0, n}
	}
	b[axis] = [2]int{i, i + 1}
	s := slices.Delete(slices.Clone(t.Shape()), axis, axis+1)
	return t.Shrink(b).Reshape(s...)
}

// intApply is Apply for planes without minimums, in integers as ggml
// does it: x is quantized to int8 in the weight's groups (one float scale
// each, the largest magnitude mapped to 127), each group's integer
// products are summed in int32 two at a time (the pairs become one
// multiply-add instruction, DOT2, on the CPU), and only those sums are
// converted to float and scaled by both groups' scales. The weight is
// read once, as bytes, with no per-element conversion to float.
func (w *Weight) intApply(x *g.Tensor) *g.Tensor {
	lead := slices.Clone(x.Shape()[:x.Ndim()-1])
	group := w.q.group
	groups := w.In / group
	xq, xs := quantizeActs(x, group)
	shape := func(inner ...int) []int { return append(append(slices.Clone(lead), 1, groups), inner...) }
	// pairs is v [..., n] as its even and odd elements, [..., n/2] each.
	pairs := func(v *g.Tensor) (even, odd *g.Tensor) {
		s := v.Shape()
		v = v.Reshape(append(slices.Clone(s[:len(s)-1]), s[len(s)-1]/2, 2)...)
		return index(v, -1, 0), index(v, -1, 1)
	}
	dot := func(a, b *g.Tensor) *g.Tensor { // sum of products in pairs, int32
		ae, ao := pairs(a)
		be, bo := pairs(b)
		return ae.Cast(g.Int32).Mul(be.Cast(g.Int32)).Add(ao.Cast(g.Int32).Mul(bo.Cast(g.Int32)))
	}
	var p *g.Tensor
	if w.q.bits == 8 {
		p = dot(w.q.q.Reshape(w.Out, groups, group), xq.Reshape(shape(group)...))
	} else {
		lo, hi := w.q.intNibbles(w.q.q, w.q.high, w.Out, w.In)
		xh := xq.Reshape(shape(2, 16)...)
		p = dot(lo, index(xh, -2, 0)).Add(dot(hi, index(xh, -2, 1)))
	}
	last := len(lead) + 2
	scale := w.q.scale.Cast(g.Float32).Reshape(w.Out, groups, 1).Mul(xs.Reshape(shape(1)...))
	return p.Cast(g.Float32).Mul(scale).Sum([]int{last - 1, last})
}

// quantizeActs quantizes x [..., n] to int8 in groups of group along its
// last axis, as ggml's Q8_0 does activations: xq [..., n/group, group]
// and the groups' scales xs [..., n/group], x ≈ xq * xs. Both are realized
// by their own kernels, so a matrix-vector product reads them instead of
// quantizing x again for every row.
func quantizeActs(x *g.Tensor, group int) (xq, xs *g.Tensor) {
	lead := slices.Clone(x.Shape()[:x.Ndim()-1])
	groups := x.Dim(-1) / group
	xg := x.Reshape(append(slices.Clone(lead), groups, group)...)
	amax := xg.Abs().Max(-1, g.KeepDim).Contiguous()
	inv := amax.Gt(float32(0)).Where(amax.Reciprocal().Mul(float32(127)), float32(0))
	// Rounded half away from zero, as ggml's roundf: the cast truncates.
	v := xg.Mul(inv)
	xq = v.Add(v.Gt(float32(0)).Where(float32(0.5), float32(-0.5))).Cast(g.Int8).Contiguous()
	xs = amax.Mul(float32(1.0 / 127)).Reshape(append(lead, groups)...)
	return xq, xs
}

// intNibbles are the integer values of 4- and 5-bit planes, offset
// applied, as int8 [rows, groups, 16] each: elements i and 16+i of each
// group of 32 (see nibbles).
func (p *planes) intNibbles(q, high *g.Tensor, rows, cols int) (lo, hi *g.Tensor) {
	lo, hi = p.unpack(q, high, rows, cols)
	off := int8(p.offset)
	return lo.Cast(g.Int8).Sub(off), hi.Cast(g.Int8).Sub(off)
}

// dequant is the lazy float32 [rows, cols] of quantized planes.
func (p *planes) dequant(q, high, scale, min *g.Tensor, rows, cols int) *g.Tensor {
	if p.bits == 8 {
		return p.int8s(q, scale, min, rows, cols).Reshape(rows, cols)
	}
	lo, hi := p.nibbles(q, high, scale, min, rows, cols)
	groups := cols / 32
	return g.Cat(2, lo.Reshape(rows, groups, 1, 16), hi.Reshape(rows, groups, 1, 16)).Reshape(rows, cols)
}

// int8s are the lazy float32 values of 8-bit planes, [rows, groups, group].
func (p *planes) int8s(q, scale, min *g.Tensor, rows, cols int) *g.Tensor {
	groups := cols / p.group
	return p.scaled(q.Cast(g.Float32).Reshape(rows, groups, p.group), scale, min)
}

// nibbles are the lazy float32 values of 4- and 5-bit planes, each
// [rows, groups, 16]: elements i and 16+i of a group of 32, which byte i
// holds in its low and high nibble (and, for 5 bits, bits i and 16+i of
// the group's high-bit word).
func (p *planes) nibbles(q, high, scale, min *g.Tensor, rows, cols int) (lo, hi *g.Tensor) {
	lo, hi = p.unpack(q, high, rows, cols)
	return p.scaled(lo.Cast(g.Float32), scale, min), p.scaled(hi.Cast(g.Float32), scale, min)
}

// unpack returns the stored values (offset not applied) of 4- and 5-bit
// planes as uint8 [rows, groups, 16] each, elements i and 16+i of each
// group of 32.
func (p *planes) unpack(q, high *g.Tensor, rows, cols int) (lo, hi *g.Tensor) {
	groups := cols / 32
	b := q.Reshape(rows, groups, 16)
	lo, hi = b.BitAnd(uint8(15)), b.Shr(uint8(4))
	if p.bits == 5 {
		_, bits := shifts(q.Device())
		h := high.Reshape(rows, groups, 4, 1).Expand(rows, groups, 4, 8).Shr(bits).BitAnd(uint8(1)).Shl(uint8(4)).Reshape(rows, groups, 32)
		lo = lo.BitOr(h.Shrink([][2]int{{0, rows}, {0, groups}, {0, 16}}))
		hi = hi.BitOr(h.Shrink([][2]int{{0, rows}, {0, groups}, {16, 32}}))
	}
	return lo, hi
}

// scaled applies the offset, the groups' scales and minimums to values
// [rows, groups, n].
func (p *planes) scaled(v, scale, min *g.Tensor) *g.Tensor {
	rows, groups, n := v.Dim(0), v.Dim(1), v.Dim(2)
	if p.offset != 0 {
		v = v.Sub(float32(p.offset))
	}
	v = v.Mul(scale.Cast(g.Float32).Reshape(rows, groups, 1).Expand(rows, groups, n))
	if min != nil {
		v = v.Add(min.Cast(g.Float32).Reshape(rows, groups, 1).Expand(rows, groups, n))
	}
	return v
}

var shiftTables sync.Map // device -> [2]*g.Tensor

// shifts returns, on dev, the shifts that pick a byte's two nibbles and its
// eight bits, shaped to broadcast along [rows, groups, 2, 16] and
// [rows, groups, 4, 8].
func shifts(dev string) (nibbles, bits *g.Tensor) {
	if t, ok := shiftTables.Load(dev); ok {
		p := t.([2]*g.Tensor)
		return p[0], p[1]
	}
	p := [2]*g.Tensor{
		g.FromSliceOn(dev, []uint8{0, 4}).Reshape(1, 1, 2, 1).Realize(),
		g.FromSliceOn(dev, []uint8{0, 1, 2, 3, 4, 5, 6, 7}).Reshape(1, 1, 1, 8).Realize(),
	}
	t, _ := shiftTables.LoadOrStore(dev, p)
	p = t.([2]*g.Tensor)
	return p[0], p[1]
}

// Quantize returns the weight as planes of 8 bits (ggml's Q8_0 scheme:
// int8 values with a half scale per 32) or 4 bits (Q4_0: nibbles offset
// by 8, a half scale per 32). A quantized weight, and one whose rows are
// not a whole number of groups of 32 (stories260K's feed-forward output,
// 172 wide), is returned as it is, as llama.cpp keeps such tensors in a
// wider type.
func (w *Weight) Quantize(bits int) (*Weight, error) {
	if w.q != nil || w.In%32 != 0 {
		return w, nil
	}
	v := w.f.Cast(g.Float32).Float32s()
	var p *quant.Planes
	var err error
	switch bits {
	case 8:
		p, err = quant.QuantizeQ8_0(w.Out, w.In, v)
	case 4:
		p, err = quant.QuantizeQ4_0(w.Out, w.In, v)
	default:
		return nil, fmt.Errorf("models: Quantize: %d bits (want 8 or 4)", bits)
	}
	if err != nil {
		return nil, err
	}
	return QuantWeight(p)
}
