package quant

import (
	"fmt"
	"math"
)

// Format is one of ggml's quantized block formats. A block holds BlockElems
// consecutive elements of a row in BlockBytes bytes; a row of a matrix is a
// whole number of blocks.
type Format uint8

// The block formats this package reads (ggml-common.h's block_* structs).
const (
	// Q8_0: f16 d, 32 × int8 q; w = d*q.
	Q8_0 Format = iota + 1
	// Q4_0: f16 d, 16 bytes of nibbles (element i low, 16+i high); w = d*(q-8).
	Q4_0
	// Q4_1: f16 d, f16 m, 16 bytes of nibbles; w = d*q + m.
	Q4_1
	// Q5_0: f16 d, uint32 of fifth bits (bit i for element i), 16 bytes of nibbles; w = d*(q-16).
	Q5_0
	// Q5_1: f16 d, f16 m, uint32 of fifth bits, 16 bytes of nibbles; w = d*q + m.
	Q5_1
	// Q4_K: a 256-element superblock of 8 sub-blocks of 32: f16 d, f16 dmin,
	// 12 bytes of 6-bit sub-scales and sub-mins, 128 bytes of nibbles;
	// w = d*sc*q - dmin*m.
	Q4_K
	// Q5_K: Q4_K plus 32 bytes of fifth bits.
	Q5_K
	// Q6_K: 256 elements in 16 sub-blocks of 16: 128 bytes of low nibbles,
	// 64 bytes of 2-bit high parts, 16 int8 sub-scales, f16 d;
	// w = d*sc*(q-32).
	Q6_K
)

var formats = [...]struct {
	name         string
	elems, bytes int
}{
	Q8_0: {"Q8_0", 32, 34},
	Q4_0: {"Q4_0", 32, 18},
	Q4_1: {"Q4_1", 32, 20},
	Q5_0: {"Q5_0", 32, 22},
	Q5_1: {"Q5_1", 32, 24},
	Q4_K: {"Q4_K", 256, 144},
	Q5_K: {"Q5_K", 256, 176},
	Q6_K: {"Q6_K", 256, 210},
}

// Formats lists every format, in the order of the constants.
var Formats = []Format{Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q4_K, Q5_K, Q6_K}

func (f Format) valid() bool { return f >= Q8_0 && f <= Q6_K }

// String returns ggml's name of the format ("Q4_K").
func (f Format) String() string {
	if !f.valid() {
		return fmt.Sprintf("Format(%d)", uint8(f))
	}
	return formats[f].name
}

// BlockElems returns the number of elements in one block (32 or 256); 0
// for an invalid format.
func (f Format) BlockElems() int {
	if !f.valid() {
		return 0
	}
	return formats[f].elems
}

// BlockBytes returns the size in bytes of one block; 0 for an invalid
// format.
func (f Format) BlockBytes() int {
	if !f.valid() {
		return 0
	}
	return formats[f].bytes
}

// checkBlocks checks that data holds rows × cols elements of format f.
func checkBlocks(f Format, rows, cols int, data []byte) error {
	if !f.valid() {
		return fmt.Errorf("quant: unknown format %d", uint8(f))
	}
	if rows < 0 || cols < 0 {
		return fmt.Errorf("quant: %s matrix of %d x %d", f, rows, cols)
	}
	be := f.BlockElems()
	if cols%be != 0 {
		return fmt.Errorf("quant: %s row of %d elements is not a whole number of %d-element blocks", f, cols, be)
	}
	rowBytes := cols / be * f.BlockBytes()
	if rowBytes > 0 && rows > math.MaxInt/rowBytes {
		return fmt.Errorf("quant: %d x %d %s matrix is too large", rows, cols, f)
	}
	if want := rows * rowBytes; want != len(data) {
		return fmt.Errorf("quant: %d x %d %s matrix needs %d bytes, got %d", rows, cols, f, want, len(data))
	}
	return nil
}
