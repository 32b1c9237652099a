package gguf

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/gograd/gograd/dtype"
	"github.com/gograd/gograd/nn/quant"
)

// Elems returns the number of elements of the tensor.
func (t *Tensor) Elems() int {
	n := 1
	for _, d := range t.Dims {
		n *= int(d) // checked when the file was read: no overflow
	}
	return n
}

// Shape returns the tensor's sizes in row-major order, outermost first (the
// reverse of Dims): a matrix of R rows of C columns is [R, C].
func (t *Tensor) Shape() []int {
	s := make([]int, len(t.Dims))
	for i, d := range t.Dims {
		s[len(s)-1-i] = int(d)
	}
	return s
}

// matrix returns the tensor seen as a matrix: rows of Dims[0] columns.
func (t *Tensor) matrix() (rows, cols int) {
	if len(t.Dims) == 0 {
		return 1, 1
	}
	cols = int(t.Dims[0])
	if cols == 0 {
		return 0, 0
	}
	return t.Elems() / cols, cols
}

func (t *Tensor) errorf(format string, args ...any) error {
	path := ""
	if t.file != nil {
		path = t.file.Path
	}
	return fmt.Errorf("gguf: %s: tensor %q: %s", path, clip(t.Name), fmt.Sprintf(format, args...))
}

// Float32s decodes the tensor to float32, in its own element order: F32,
// F16 and BF16 exactly, the quantized types of package quant as ggml's
// reference dequantisation computes them (quant.DequantizeBlocks). It is
// plain and slow, meant for tests and conversions; other types return an
// error that names them.
func (t *Tensor) Float32s() ([]float32, error) {
	n := t.Elems()
	le := binary.LittleEndian
	switch t.Type {
	case F32:
		out := make([]float32, n)
		for i := range out {
			out[i] = math.Float32frombits(le.Uint32(t.Data[4*i:]))
		}
		return out, nil
	case F16:
		out := make([]float32, n)
		for i := range out {
			out[i] = dtype.Float16Float(le.Uint16(t.Data[2*i:]))
		}
		return out, nil
	case BF16:
		out := make([]float32, n)
		for i := range out {
			out[i] = dtype.BFloat16Float(le.Uint16(t.Data[2*i:]))
		}
		return out, nil
	}
	f, ok := t.Type.Quantized()
	if !ok {
		return nil, t.errorf("cannot decode tensors of type %s", t.Type)
	}
	out := make([]float32, n)
	if err := quant.DequantizeBlocks(f, t.Data, out); err != nil {
		return nil, t.errorf("%v", err)
	}
	return out, nil
}

// Planes repacks a quantized tensor (Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q4_K,
// Q5_K, Q6_K) into quant.Planes of Dims[0] columns and as many rows as the
// other dimensions make (quant.FromBlocks). Float and other types return
// an error naming the type.
func (t *Tensor) Planes() (*quant.Planes, error) {
	f, ok := t.Type.Quantized()
	if !ok {
		return nil, t.errorf("type %s has no quantized planes", t.Type)
	}
	rows, cols := t.matrix()
	p, err := quant.FromBlocks(f, rows, cols, t.Data)
	if err != nil {
		return nil, t.errorf("%v", err)
	}
	return p, nil
}
