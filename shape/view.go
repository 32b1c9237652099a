// Package shape turns chains of movement ops into views: a View maps the
// indices of a shape to an offset in a buffer (strides, offset, and a mask of
// valid indices for padding), and a ShapeTracker stacks views when one cannot
// express a reshape. Kernels read memory through them as index arithmetic, so
// RESHAPE, PERMUTE, EXPAND, PAD, SHRINK and FLIP never move data.
//
// Package shape imports uop (to build index expressions) and nothing above it.
package shape

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/gograd/gograd/uop"
)

// View is a strided window on a buffer. An index i (one per axis) is valid
// when Mask[k][0] <= i[k] < Mask[k][1] for every axis, and then reads element
// Offset + sum(i[k]*Strides[k]); an invalid index reads zero.
type View struct {
	Shape      []int
	Strides    []int
	Offset     int
	Mask       [][2]int // nil when every index is valid
	Contiguous bool     // the identity view of a buffer of Shape
	// VarOffset is a symbolic part of the offset, added to Offset: an index
	// expression of variables (a window that slides with a KV-cache
	// position), or nil. Movement ops carry it unchanged.
	VarOffset *uop.UOp
}

// Strides returns the row-major strides of shape; axes of size 1 get stride 0.
func Strides(shape []int) []int {
	st := make([]int, len(shape))
	acc := 1
	for i := len(shape) - 1; i >= 0; i-- {
		if shape[i] != 1 {
			st[i] = acc
		}
		acc *= shape[i]
	}
	return st
}

// Contig returns the contiguous view of shape.
func Contig(shape []int) View { return NewView(shape, Strides(shape), 0, nil) }

// NewView builds a view in canonical form: stride 0 on size-1 axes, no mask
// when the mask keeps everything, and an all-invalid view collapsed. A view
// with no axes and a non-nil empty mask is invalid (reads zero).
func NewView(shape, strides []int, offset int, mask [][2]int) View {
	shape = slices.Clone(shape)
	strides = slices.Clone(strides)
	for i, s := range shape {
		if s == 1 {
			strides[i] = 0
		}
	}
	if mask != nil && len(shape) == 0 {
		return View{Shape: shape, Strides: strides, Mask: [][2]int{}}
	}
	if mask != nil {
		mask = slices.Clone(mask)
		full, empty := true, false
		for i, m := range mask {
			m[0], m[1] = max(m[0], 0), min(m[1], shape[i])
			if m[0] >= m[1] {
				empty = true
			}
			if m[0] != 0 || m[1] != shape[i] {
				full = false
			}
			mask[i] = m
		}
		switch {
		case empty:
			for i := range mask {
				mask[i] = [2]int{0, 0}
				strides[i] = 0
			}
			offset = 0
		case full:
			mask = nil
		}
	}
	contiguous := offset == 0 && mask == nil && slices.Equal(strides, Strides(shape))
	return View{Shape: shape, Strides: strides, Offset: offset, Mask: mask, Contiguous: contiguous}
}

// Size is the number of indices of the view.
func (v View) Size() int {
	n := 1
	for _, s := range v.Shape {
		n *= s
	}
	return n
}

func (v View) maskOrFull() [][2]int {
	if v.Mask != nil || len(v.Shape) == 0 {
		return v.Mask
	}
	m := make([][2]int, len(v.Shape))
	for i, s := range v.Shape {
		m[i] = [2]int{0, s}
	}
	return m
}

// Permute reorders the axes.
func (v View) Permute(order []int) View {
	shape, strides := make([]int, len(order)), make([]int, len(order))
	var mask [][2]int
	if v.Mask != nil {
		mask = make([][2]int, len(order))
	}
	for i, o := range order {
		shape[i], strides[i] = v.Shape[o], v.Strides[o]
		if mask != nil {
			mask[i] = v.Mask[o]
		}
	}
	return NewView(shape, strides, v.Offset, mask)
}

// Expand broadcasts size-1 axes to newShape.
func (v View) Expand(newShape []int) View {
	var mask [][2]int
	if v.Mask != nil {
		mask = slices.Clone(v.Mask)
		for i, m := range mask {
			if v.Shape[i] != newShape[i] {
				if m == [2]int{0, 1} {
					mask[i] = [2]int{0, newShape[i]}
				} else {
					mask[i] = [2]int{0, 0}
				}
			}
		}
	}
	return NewView(newShape, v.Strides, v.Offset, mask)
}

// Pad adds (before, after) invalid positions to each axis.
func (v View) Pad(pads [][2]int) View {
	shape := slices.Clone(v.Shape)
	mask := v.maskOrFull()
	mask = slices.Clone(mask)
	off := v.Offset
	for i, p := range pads {
		shape[i] += p[0] + p[1]
		mask[i] = [2]int{mask[i][0] + p[0], mask[i][1] + p[0]}
		off -= p[0] * v.Strides[i]
	}
	return NewView(shape, v.Strides, off, mask)
}

// Shrink keeps [start, end) of each axis.
func (v View) Shrink(bounds [][2]int) View {
	shape := make([]int, len(bounds))
	off := v.Offset
	var mask [][2]int
	if v.Mask != nil {
		mask = make([][2]int, len(bounds))
	}
	for i, b := range bounds {
		shape[i] = b[1] - b[0]
		off += b[0] * v.Strides[i]
		if mask != nil {
			mask[i] = [2]int{max(v.Mask[i][0]-b[0], 0), min(v.Mask[i][1]-b[0], shape[i])}
		}
	}
	return NewView(shape, v.Strides, off, mask)
}

// Flip reverses the axes marked true.
func (v View) Flip(axes []bool) View {
	strides := slices.Clone(v.Strides)
	off := v.Offset
	var mask [][2]int
	if v.Mask != nil {
		mask = slices.Clone(v.Mask)
	}
	for i, f := range axes {
		if !f {
			continue
		}
		off += (v.Shape[i] - 1) * strides[i]
		strides[i] = -strides[i]
		if mask != nil {
			mask[i] = [2]int{v.Shape[i] - mask[i][1], v.Shape[i] - mask[i][0]}
		}
	}
	return NewView(v.Shape, strides, off, mask)
}

// Reshape returns v with newShape, or false when no single view can express it.
func (v View) Reshape(newShape []int) (View, bool) {
	if slices.Equal(v.Shape, newShape) {
		return v, true
	}
	if v.Contiguous {
		return Contig(newShape), true
	}
	if v.Mask != nil && isEmptyMask(v.Mask) {
		mask := make([][2]int, len(newShape))
		return NewView(newShape, make([]int, len(newShape)), 0, mask), true
	}
	// Drop size-1 axes, then match groups of old and new axes with equal products.
	type ax struct {
		size, stride int
		mask         [2]int
	}
	var old []ax
	om := v.maskOrFull()
	for i, s := range v.Shape {
		if s != 1 {
			old = append(old, ax{s, v.Strides[i], om[i]})
		} else if om[i] != [2]int{0, 1} {
			return View{}, false
		}
	}
	var newIdx []int // positions in newShape of non-1 axes
	for i, s := range newShape {
		if s != 1 {
			newIdx = append(newIdx, i)
		}
	}
	strides := make([]int, len(newShape))
	var mask [][2]int
	if v.Mask != nil {
		mask = make([][2]int, len(newShape))
		for i, s := range newShape {
			mask[i] = [2]int{0, s}
		}
	}
	oi, ni := 0, 0
	for oi < len(old) || ni < len(newIdx) {
		if oi >= len(old) || ni >= len(newIdx) {
			return View{}, false
		}
		// Grow both groups until their products match.
		og, ng := []ax{old[oi]}, []int{newShape[newIdx[ni]]}
		op, np := old[oi].size, newShape[newIdx[ni]]
		oi++
		ni++
		for op != np {
			if op < np {
				if oi >= len(old) {
					return View{}, false
				}
				og = append(og, old[oi])
				op *= old[oi].size
				oi++
			} else {
				if ni >= len(newIdx) {
					return View{}, false
				}
				ng = append(ng, newShape[newIdx[ni]])
				np *= newShape[newIdx[ni]]
				ni++
			}
		}
		// The old axes of the group must be one strided run.
		for k := 0; k+1 < len(og); k++ {
			if og[k].stride != og[k+1].stride*og[k+1].size {
				return View{}, false
			}
		}
		// Masks: only the outermost axis of each side may be partial, and
		// only when it maps onto whole blocks of the other side.
		gm := [2]int{0, op}
		if mask != nil {
			for k := 1; k < len(og); k++ {
				if og[k].mask != [2]int{0, og[k].size} {
					return View{}, false
				}
			}
			inner := op / og[0].size
			gm = [2]int{og[0].mask[0] * inner, og[0].mask[1] * inner}
		}
		base := og[len(og)-1].stride
		acc := 1
		first := ni - len(ng)
		for k := len(ng) - 1; k >= 0; k-- {
			strides[newIdx[first+k]] = base * acc
			acc *= ng[k]
		}
		if mask != nil && gm != [2]int{0, op} {
			innerNew := op / ng[0]
			if gm[0]%innerNew != 0 || gm[1]%innerNew != 0 {
				return View{}, false
			}
			mask[newIdx[first]] = [2]int{gm[0] / innerNew, gm[1] / innerNew}
		}
	}
	return NewView(newShape, strides, v.Offset, mask), true
}

func isEmptyMask(m [][2]int) bool {
	if m != nil && len(m) == 0 {
		return true
	}
	for _, x := range m {
		if x[0] >= x[1] {
			return true
		}
	}
	return false
}

// Key identifies the view.
func (v View) Key() string {
	var b strings.Builder
	for i, s := range v.Shape {
		b.WriteString(strconv.Itoa(s))
		b.WriteByte('/')
		b.WriteString(strconv.Itoa(v.Strides[i]))
		if v.Mask != nil {
			b.WriteByte('[')
			b.WriteString(strconv.Itoa(v.Mask[i][0]))
			b.WriteByte(':')
			b.WriteString(strconv.Itoa(v.Mask[i][1]))
			b.WriteByte(']')
		}
		b.WriteByte(',')
	}
	b.WriteByte('+')
	b.WriteString(strconv.Itoa(v.Offset))
	if v.VarOffset != nil {
		b.WriteByte('+')
		b.WriteString(v.VarOffset.Expr())
	}
	if v.Mask != nil && len(v.Mask) == 0 {
		b.WriteString("!")
	}
	return b.String()
}

func (v View) String() string {
	s := fmt.Sprintf("View(shape=%v, strides=%v, offset=%d", v.Shape, v.Strides, v.Offset)
	if v.VarOffset != nil {
		s += "+" + v.VarOffset.Expr()
	}
	if v.Mask != nil {
		s += fmt.Sprintf(", mask=%v", v.Mask)
		if len(v.Mask) == 0 {
			s += " (invalid)"
		}
	}
	return s + ")"
}
