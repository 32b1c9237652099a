package gograd

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"unsafe"

	"github.com/gograd/gograd/device"
	"github.com/gograd/gograd/dtype"
	"github.com/gograd/gograd/uop"
)

// Element is a Go type a tensor can be made from or read into.
type Element interface {
	~bool | ~int8 | ~uint8 | ~int16 | ~uint16 | ~int32 | ~uint32 | ~int64 | ~uint64 | ~float32 | ~float64
}

// dtypeFor returns the dtype stored as Go type T.
func dtypeFor[T Element]() DType {
	var z T
	switch any(z).(type) {
	case bool:
		return Bool
	case int8:
		return Int8
	case uint8:
		return Uint8
	case int16:
		return Int16
	case uint16:
		return Uint16
	case int32:
		return Int32
	case uint32:
		return Uint32
	case int64:
		return Int64
	case uint64:
		return Uint64
	case float32:
		return Float32
	case float64:
		return Float64
	}
	panic(fmt.Sprintf("gograd: no dtype for %T", z))
}

func checkShape(op string, shape []int) {
	for _, s := range shape {
		if s < 0 {
			panic(fmt.Sprintf("gograd: %s: negative dimension in shape %v", op, shape))
		}
	}
}

// fromBytes makes a realized tensor from raw element bytes.
func fromBytes(op string, raw []byte, dt DType, shape []int, dev string) *Tensor {
	checkShape(op, shape)
	n := uop.Prod(shape)
	if n*dt.Size() != len(raw) {
		panic(fmt.Sprintf("gograd: %s: %d bytes of %s do not fill shape %v (%d elements)", op, len(raw), dt, shape, n))
	}
	d := device.MustGet(resolveDevice([]string{dev}))
	buf := device.NewBuffer(d, dt, n)
	if n > 0 {
		buf.CopyIn(raw)
	}
	return fromUOp(uop.Buffer(buf).Reshape(shape))
}

func sliceBytes[T any](data []T) []byte {
	if len(data) == 0 {
		return []byte{}
	}
	var z T
	return unsafe.Slice((*byte)(unsafe.Pointer(&data[0])), len(data)*int(unsafe.Sizeof(z)))
}

// FromSlice makes a tensor holding a copy of data. With no shape it is 1-D;
// otherwise the shape must hold exactly len(data) elements.
func FromSlice[T Element](data []T, shape ...int) *Tensor {
	if len(shape) == 0 {
		shape = []int{len(data)}
	}
	return fromBytes("FromSlice", sliceBytes(data), dtypeFor[T](), shape, "")
}

// FromSliceOn is FromSlice on device dev.
func FromSliceOn[T Element](dev string, data []T, shape ...int) *Tensor {
	if len(shape) == 0 {
		shape = []int{len(data)}
	}
	return fromBytes("FromSliceOn", sliceBytes(data), dtypeFor[T](), shape, dev)
}

// FromBytes makes a tensor of dtype dt from little-endian element bytes, for
// types with no Go equivalent (float16, bfloat16 as their 16-bit patterns).
func FromBytes(raw []byte, dt DType, shape ...int) *Tensor {
	return fromBytes("FromBytes", append([]byte(nil), raw...), dt, shape, "")
}

// Scalar makes a 0-d tensor holding v.
func Scalar[T Element](v T) *Tensor {
	return fromBytes("Scalar", sliceBytes([]T{v}), dtypeFor[T](), []int{}, "")
}

// Empty makes a tensor of float32 whose contents are unspecified (zero on
// the devices gograd has).
func Empty(shape ...int) *Tensor { return EmptyOf(Float32, shape...) }

// EmptyOf is Empty for dtype dt.
func EmptyOf(dt DType, shape ...int) *Tensor {
	checkShape("Empty", shape)
	d := device.MustGet(resolveDevice(nil))
	buf := device.NewBuffer(d, dt, uop.Prod(shape))
	return fromUOp(uop.Buffer(buf).Reshape(shape))
}

// constOn returns a lazy tensor of shape filled with v, as dtype dt on dev:
// a scalar constant broadcast by views, so it costs no memory.
func constOn(dev string, dt DType, v any, shape []int) *Tensor {
	ones := make([]int, len(shape))
	for i := range ones {
		ones[i] = 1
	}
	return fromUOp(uop.Const(dev, dt, v).Reshape(ones).Expand(shape))
}

// defaultDTypeOf returns the dtype PyTorch gives a Go scalar.
func defaultDTypeOf(v any) DType {
	switch v.(type) {
	case bool:
		return Bool
	case float32, float64:
		return dtype.DefaultFloat
	case int, int8, int16, int32, int64, uint8, uint16, uint32, uint64:
		return Int64
	}
	panic(fmt.Sprintf("gograd: %T is not a number", v))
}

// Full makes a tensor of shape filled with v. Its dtype is dt if given,
// else float32 for a Go float, int64 for a Go int, bool for a Go bool.
func Full(shape []int, v any, dt ...DType) *Tensor {
	checkShape("Full", shape)
	d := defaultDTypeOf(v)
	if len(dt) > 0 {
		d = dt[0]
	}
	return constOn(resolveDevice(nil), d, v, shape)
}

// Zeros makes a float32 tensor of zeros.
func Zeros(shape ...int) *Tensor { return Full(shape, float32(0)) }

// Ones makes a float32 tensor of ones.
func Ones(shape ...int) *Tensor { return Full(shape, float32(1)) }

// FullLike makes a tensor with t's shape, dtype and device filled with v.
func FullLike(t *Tensor, v any) *Tensor { return constOn(t.Device(), t.DType(), v, t.uop.Shape()) }

// ZerosLike makes a tensor of zeros like t.
func ZerosLike(t *Tensor) *Tensor { return FullLike(t, 0) }

// OnesLike makes a tensor of ones like t.
func OnesLike(t *Tensor) *Tensor { return FullLike(t, 1) }

// Arange makes the int64 tensor [0, 1, ..., n-1].
func Arange(n int) *Tensor {
	checkShape("Arange", []int{n})
	out := make([]int64, n)
	for i := range out {
		out[i] = int64(i)
	}
	return FromSlice(out)
}

// ArangeF makes the float32 tensor start, start+step, ... below stop (above
// for a negative step), like torch.arange with float arguments.
func ArangeF(start, stop, step float64) *Tensor {
	if step == 0 {
		panic("gograd: ArangeF: step is zero")
	}
	n := int(math.Ceil((stop - start) / step))
	n = max(n, 0)
	out := make([]float32, n)
	for i := range out {
		out[i] = float32(start + float64(i)*step)
	}
	return FromSlice(out)
}

// Linspace makes n evenly spaced float32 values from start to stop inclusive.
func Linspace(start, stop float64, n int) *Tensor {
	checkShape("Linspace", []int{n})
	out := make([]float32, n)
	for i := range out {
		if n == 1 {
			out[i] = float32(start)
			break
		}
		// Like PyTorch: step forward from start for the first half and
		// backward from stop for the second, so both ends are exact.
		step := (stop - start) / float64(n-1)
		if i < n/2 {
			out[i] = float32(start + step*float64(i))
		} else {
			out[i] = float32(stop - step*float64(n-1-i))
		}
	}
	return FromSlice(out)
}

// Eye makes the n×n float32 identity matrix, lazily: a column of ones padded,
// flattened and cut so that the ones land on the diagonal.
func Eye(n int) *Tensor {
	checkShape("Eye", []int{n})
	if n == 0 {
		return Zeros(0, 0)
	}
	return Ones(n, 1).Pad([][2]int{{0, 0}, {0, n}}).Flatten().Shrink([][2]int{{0, n * n}}).Reshape(n, n)
}

var (
	rngMu sync.Mutex
	rng   = rand.New(rand.NewPCG(0, 0))
)

// Seed resets the random generator, so Rand, Randn, RandInt, Uniform and
// Dropout repeat their values.
func Seed(seed uint64) {
	rngMu.Lock()
	defer rngMu.Unlock()
	rng = rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
}

// Rand makes a float32 tensor of uniform values in [0, 1).
func Rand(shape ...int) *Tensor { return Uniform(0, 1, shape...) }

// Uniform makes a float32 tensor of uniform values in [lo, hi).
func Uniform(lo, hi float64, shape ...int) *Tensor {
	checkShape("Uniform", shape)
	out := make([]float32, uop.Prod(shape))
	rngMu.Lock()
	for i := range out {
		out[i] = float32(lo + (hi-lo)*rng.Float64())
		if out[i] >= float32(hi) { // rounding to float32 can reach hi
			out[i] = float32(lo)
		}
	}
	rngMu.Unlock()
	return FromSlice(out, shape...)
}

// Randn makes a float32 tensor of standard normal values.
func Randn(shape ...int) *Tensor {
	checkShape("Randn", shape)
	out := make([]float32, uop.Prod(shape))
	rngMu.Lock()
	for i := range out {
		out[i] = float32(rng.NormFloat64())
	}
	rngMu.Unlock()
	return FromSlice(out, shape...)
}

// RandInt makes an int64 tensor of uniform integers in [lo, hi).
func RandInt(lo, hi int, shape ...int) *Tensor {
	checkShape("RandInt", shape)
	if hi <= lo {
		panic(fmt.Sprintf("gograd: RandInt: empty range [%d, %d)", lo, hi))
	}
	out := make([]int64, uop.Prod(shape))
	rngMu.Lock()
	for i := range out {
		out[i] = int64(lo) + rng.Int64N(int64(hi-lo))
	}
	rngMu.Unlock()
	return FromSlice(out, shape...)
}

// FromBytesShared makes a tensor of dtype dt that uses raw as its memory
// when the default device keeps buffers in host memory (GO), and copies it
// otherwise. keep is held alive as long as the tensor's buffer is (a memory
// mapping, say). raw must stay valid and is written to if the tensor is
// assigned to.
func FromBytesShared(raw []byte, keep any, dt DType, shape ...int) *Tensor {
	checkShape("FromBytesShared", shape)
	n := uop.Prod(shape)
	if n*dt.Size() != len(raw) {
		panic(fmt.Sprintf("gograd: FromBytesShared: %d bytes of %s do not fill shape %v", len(raw), dt, shape))
	}
	d := device.MustGet(resolveDevice(nil))
	return fromUOp(uop.Buffer(device.NewBufferOn(d, dt, n, raw, keep)).Reshape(shape))
}
