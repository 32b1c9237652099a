// Package tinystories embeds the default model of "gograd run":
// stories260K, a 260K-parameter LLaMA-architecture model trained by Andrej
// Karpathy on the TinyStories dataset, as a llama2.c checkpoint with its
// 512-token tokenizer (MIT, see LICENSE; karpathy/tinyllamas). It is small
// enough to ship inside the binary, so "gograd run" works with nothing
// downloaded.
//
// Package tinystories imports only the standard library.
package tinystories

import _ "embed"

// Model is stories260K.bin, a llama2.c version 0 checkpoint: dim 64,
// hidden 172, 5 layers, 8 heads, 4 key/value heads, vocab 512, seq_len 512,
// shared classifier.
//
//go:embed stories260K.bin
var Model []byte

// Tokenizer is tok512.bin, the model's tokenizer in llama2.c's format.
//
//go:embed tok512.bin
var Tokenizer []byte

// VocabSize is the number of tokens in Tokenizer.
const VocabSize = 512
