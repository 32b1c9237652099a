// Package gguf reads and writes GGUF, the model file format of llama.cpp
// and ggml: a header of typed metadata (key, value pairs) and tensor
// descriptions, then the tensors' data, each aligned. The format is
// documented in ggml's docs/gguf.md.
//
// # Reading
//
// Open memory-maps a file and Parse reads one from bytes; both validate the
// whole header before returning, so a File's tensors and metadata can be
// used without further checks. Tensor data is never copied: Tensor.Data is
// a slice of the mapping. Quantized tensors stay quantized; Tensor.Planes
// repacks them into the layout gograd's kernels read (package quant), and
// Tensor.Float32s decodes any supported type to float32 as ggml's
// reference dequantisation does.
//
//	f, err := gguf.Open("model.gguf")
//	...
//	dim, err := f.Uint("llama.embedding_length") // any integer width
//	tokens, err := f.Strings("tokenizer.ggml.tokens")
//	t, ok := f.Tensor("blk.0.attn_q.weight")     // t.Dims[0] is the row length
//	planes, err := t.Planes()                    // Q4_0 ... Q6_K, for the kernels
//
// Versions 2 and 3 are read (they differ only in that 3 allows big-endian
// files, which this package rejects); version 1 is rejected with an error
// that says so.
//
// # Malformed files
//
// Every malformed, truncated or corrupted file gives an error that starts
// "gguf: <name>:" and says what is wrong and where, never a panic. Every
// count and length read from the file is checked against the bytes that
// remain before anything is allocated for it, so memory use stays within a
// small multiple of the file's size whatever the file says. Tensors must
// have at most 4 dimensions whose product does not overflow, a known type
// whose block divides the first dimension, data aligned and inside the
// file, and no two may overlap; keys and tensor names must be unique;
// nested arrays go at most 16 levels deep.
//
// # Writing
//
// Write writes a version 3 file from metadata and tensors, padding the
// data to the alignment; what it writes reads back unchanged.
//
// Package gguf imports the standard library, internal/mmap, dtype and
// nn/quant; nothing else of gograd.
package gguf
