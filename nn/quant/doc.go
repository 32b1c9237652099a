// Package quant holds quantized weight matrices in the layout gograd's
// dequantising matmul kernels read (Planes), converts ggml's block formats
// (Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q4_K, Q5_K, Q6_K, as GGUF files store them)
// into it, and quantizes float32 matrices to Q8_0 and Q4_0.
//
// # Planes
//
// A ggml block interleaves its scales with its quantized values, and each
// format orders its nibbles and high bits its own way. Planes separates
// them into flat arrays with one canonical order for each bit width, so
// that one kernel per width serves every format:
//
//	w[r][c] = Scale[r][g] * (q[r][c] - Offset) + Min[r][g]    g = c / Group
//
// The conversions are exact: Planes.Dequantize of a converted matrix equals
// ggml's reference dequantisation of the blocks bit for bit (DequantizeBlocks
// does the float32 arithmetic of ggml-quants.c's dequantize_row_*, in the
// same order), because every scale is folded in float32 exactly as ggml
// computes it before the multiply.
//
// # Errors
//
// Data that does not fit its description (a length that is not a whole
// number of blocks, columns that are not a multiple of the block size)
// returns an error; conversions never panic on bytes from a file. A Planes
// value whose fields disagree with each other is misuse, and its methods
// panic with a message that says what disagrees (Check reports it as an
// error instead).
//
// Package quant imports only the standard library.
package quant
