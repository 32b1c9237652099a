package quant

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/gograd/gograd/dtype"
)

// QuantizeQ8_0 quantizes a rows × cols float32 matrix (row-major) as ggml's
// quantize_row_q8_0_ref does, to the Planes FromBlocks gives for Q8_0: per
// block of 32, d = amax/127 rounded to half, q = round(w/d) (half away from
// zero, scaling by the float32 reciprocal of the unrounded d). Its Blocks(Q8_0)
// are ggml's bytes bit for bit. cols must be a multiple of 32 and w hold
// rows × cols values.
func QuantizeQ8_0(rows, cols int, w []float32) (*Planes, error) {
	if err := checkFloats(Q8_0, rows, cols, w); err != nil {
		return nil, err
	}
	n := rows * cols
	p := &Planes{Rows: rows, Cols: cols, Bits: 8, Group: 32, ScaleF16: true,
		Q: make([]byte, n), Scale: make([]byte, n/32*2)}
	parallel(n/32, 32, func(lo, hi int) { quantizeQ8_0(p, w, lo, hi) })
	return p, nil
}

// quantizeQ8_0 quantizes blocks [lo, hi) of w into p.
func quantizeQ8_0(p *Planes, w []float32, lo, hi int) {
	for i := lo; i < hi; i++ {
		x := w[32*i : 32*i+32]
		var amax float32
		for _, v := range x {
			amax = max(amax, abs32(v))
		}
		d := amax / 127
		var id float32
		if d != 0 {
			id = 1 / d
		}
		binary.LittleEndian.PutUint16(p.Scale[2*i:], dtype.Float16Bits(d))
		q := p.Q[32*i : 32*i+32]
		for j, v := range x {
			q[j] = byte(roundInt8(v * id))
		}
	}
}

// QuantizeQ4_0 quantizes a rows × cols float32 matrix (row-major) as ggml's
// quantize_row_q4_0_ref does, to the Planes FromBlocks gives for Q4_0: per
// block of 32, d = max/-8 where max is the value of largest magnitude (the
// first of equals), stored as half; q = min(15, trunc(w*id + 8.5)) with id
// the float32 reciprocal of the unrounded d. Every operation rounds to
// float32 as the C source reads; a build of ggml that fuses w*id + 8.5 into
// one multiply-add can round differently when w*id lies within an ulp of a
// half-integer. Its Blocks(Q4_0) are ggml's bytes. cols must be a multiple
// of 32 and w hold rows × cols values.
func QuantizeQ4_0(rows, cols int, w []float32) (*Planes, error) {
	if err := checkFloats(Q4_0, rows, cols, w); err != nil {
		return nil, err
	}
	n := rows * cols
	p := &Planes{Rows: rows, Cols: cols, Bits: 4, Offset: 8, Group: 32, ScaleF16: true,
		Q: make([]byte, n/2), Scale: make([]byte, n/32*2)}
	parallel(n/32, 32, func(lo, hi int) { quantizeQ4_0(p, w, lo, hi) })
	return p, nil
}

// quantizeQ4_0 quantizes blocks [lo, hi) of w into p.
func quantizeQ4_0(p *Planes, w []float32, lo, hi int) {
	for i := lo; i < hi; i++ {
		x := w[32*i : 32*i+32]
		var amax, vmax float32
		for _, v := range x {
			if a := abs32(v); amax < a {
				amax, vmax = a, v
			}
		}
		d := vmax / -8
		var id float32
		if d != 0 {
			id = 1 / d
		}
		binary.LittleEndian.PutUint16(p.Scale[2*i:], dtype.Float16Bits(d))
		q := p.Q[16*i : 16*i+16]
		for j := range 16 {
			x0 := float32(x[j] * id) // rounded: no fused multiply-add
			x1 := float32(x[16+j] * id)
			q[j] = nibble(x0+8.5) | nibble(x1+8.5)<<4
		}
	}
}

// nibble is MIN(15, (int8_t)v) for v in [0, 16.5], the range Q4_0's values
// take; values outside it (from Inf or NaN input, where C's conversion is
// undefined) are clamped to [0, 15].
func nibble(v float32) byte {
	switch {
	case v >= 15:
		return 15
	case v >= 0:
		return byte(v)
	}
	return 0
}

// roundInt8 is C's (int8_t)roundf(v), halves away from zero, for v in
// (-128.5, 127.5), the range Q8_0's scaled values take: adding ±0.5 in
// float64 is exact there, and the conversion truncates. Values outside it
// (from Inf or NaN input, where C's conversion is undefined) are clamped.
func roundInt8(v float32) int8 {
	f := float64(v)
	return int8(min(max(int64(f+math.Copysign(0.5, f)), -128), 127))
}

func abs32(v float32) float32 { return math.Float32frombits(math.Float32bits(v) &^ (1 << 31)) }

// checkFloats checks a float32 matrix given to a quantizer of format f.
func checkFloats(f Format, rows, cols int, w []float32) error {
	if rows < 0 || cols < 0 || cols%f.BlockElems() != 0 {
		return fmt.Errorf("quant: cannot quantize a %d x %d matrix to %s: columns must be a multiple of %d", rows, cols, f, f.BlockElems())
	}
	if cols > 0 && rows > len(w)/cols || rows*cols != len(w) {
		return fmt.Errorf("quant: %d x %d matrix to quantize to %s has %d values", rows, cols, f, len(w))
	}
	return nil
}
