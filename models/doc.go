// Package models holds model families built from gograd's tensors, with
// what it takes to run them: weights (float or quantized, dequantised
// inside the kernels that read them), loaders for model files, a KV cache,
// sampling and generation.
//
// # LLaMA
//
// Llama is the LLaMA architecture and its relatives (Llama 2 and 3,
// Mistral, TinyLlama, llama2.c's story models): RMSNorm, rotary position
// embeddings (with LLaMA 3's frequency scaling), grouped-query attention,
// a SwiGLU feed-forward block and a tied or separate output. It loads from
// GGUF files, llama2.c checkpoints and Hugging Face safetensors folders;
// every loader names tensors as GGUF does and uses GGUF's RoPE convention
// (adjacent pairs), permuting Hugging Face's query and key rows as
// llama.cpp's converter does.
//
// A prompt runs as one batched pass (Llama.Prefill); every later token is
// one step (Llama.Step) that a JIT captures once and replays: the position
// and the token are variables, so no step recompiles or reschedules
// anything. A step attends to a power of two of the cache's first keys
// past its position (the rest masked), each length a JIT of its own. The
// KV cache is a pair of buffers per layer that the steps write in place
// at the position (Tensor.ShrinkAt).
//
// # Quantized weights
//
// A Weight is a float matrix or quantized planes (package nn/quant: 8, 5
// or 4 bits with per-group scales). Its Dense form is a lazy expression
// that unpacks and scales the planes, so the scheduler fuses the
// dequantisation into the matmul that reads it: no float copy of a
// quantized matrix is ever made.
//
// Package models imports gograd, jit, nn, nn/gguf, nn/quant, nn/llama2c
// and tokenizer.
package models
