package gograd

import (
	"fmt"
	"unsafe"

	"github.com/gograd/gograd/device"
	"github.com/gograd/gograd/schedule"
)

// Bytes realizes t and returns a copy of its elements, contiguous, as raw
// little-endian bytes.
func (t *Tensor) Bytes() []byte {
	t.Realize()
	if t.Numel() == 0 {
		return []byte{}
	}
	buf, st := schedule.ViewOf(t.uop)
	if !st.Contiguous() || st.Size() != buf.Size {
		c := t.Contiguous().Realize()
		buf, _ = schedule.ViewOf(c.uop)
	}
	out := make([]byte, buf.Nbytes())
	buf.CopyOut(out)
	return out
}

// Data realizes t and returns its elements as a new []T, converting the
// dtype to T's if they differ.
func Data[T Element](t *Tensor) []T {
	out := make([]T, t.Numel())
	CopyTo(out, t)
	return out
}

// CopyTo realizes t and copies its elements into dst, converting the dtype
// to T's if they differ; dst must hold exactly t.Numel() elements. When t
// is a contiguous buffer of T's dtype already (a decoding step's logits,
// read every token) the elements are copied once, straight into dst.
func CopyTo[T Element](dst []T, t *Tensor) {
	if len(dst) != t.Numel() {
		panic(fmt.Sprintf("gograd: CopyTo: %d elements into %d", t.Numel(), len(dst)))
	}
	if len(dst) == 0 {
		t.Realize()
		return
	}
	if want := dtypeFor[T](); t.DType() != want {
		t = t.Cast(want)
	}
	t.Realize()
	buf, st := schedule.ViewOf(t.uop)
	if !st.Contiguous() || st.Size() != buf.Size {
		buf, _ = schedule.ViewOf(t.Contiguous().Realize().uop)
	}
	var z T
	buf.CopyOut(unsafe.Slice((*byte)(unsafe.Pointer(&dst[0])), len(dst)*int(unsafe.Sizeof(z))))
}

// Float32s returns the elements as float32.
func (t *Tensor) Float32s() []float32 { return Data[float32](t) }

// Float64s returns the elements as float64.
func (t *Tensor) Float64s() []float64 { return Data[float64](t) }

// Int32s returns the elements as int32.
func (t *Tensor) Int32s() []int32 { return Data[int32](t) }

// Int64s returns the elements as int64.
func (t *Tensor) Int64s() []int64 { return Data[int64](t) }

// Bools returns the elements as bool.
func (t *Tensor) Bools() []bool { return Data[bool](t) }

// Item returns the value of a one-element tensor as a float64.
func (t *Tensor) Item() float64 {
	if t.Numel() != 1 {
		panic(fmt.Sprintf("gograd: Item: tensor of shape %v has %d elements, not 1", t.uop.Shape(), t.Numel()))
	}
	return Data[float64](t)[0]
}

// viewOf returns t's buffer and whether t is the buffer's whole contiguous view.
func viewOf(t *Tensor) (*device.Buffer, bool) {
	if !schedule.IsBufferView(t.uop) {
		return nil, false
	}
	buf, st := schedule.ViewOf(t.uop)
	return buf, st.Contiguous() && st.Size() == buf.Size
}
