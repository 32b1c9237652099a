// Package tokenizer turns text into the token ids of LLaMA-family models and
// back: SentencePiece-style BPE with byte fallback (LLaMA 1 and 2, Mistral,
// Mixtral, llama2.c's tokenizer.bin) and GPT-2-style byte-level BPE with a
// pre-tokenizer (LLaMA 3, GPT-2 and their relatives).
//
// It may import the standard library, nn/gguf (to read a vocabulary from
// GGUF metadata) and google.golang.org/protobuf's wire decoder (for
// SentencePiece models), nothing else of gograd: tokenizing needs no
// tensors.
//
// # Building a tokenizer
//
// Everything a tokenizer needs is a [Vocab]: the token strings, their scores
// and ggml token types, BPE merges, the special token ids and the flags that
// say whether BOS/EOS are added. [New] checks it and builds the lookup
// tables; [FromGGUF] (through [VocabFromGGUF]) fills a Vocab from the
// tokenizer.ggml.* keys of a GGUF file with llama.cpp's defaults;
// [LoadLlama2c] and [ParseLlama2c] read llama2.c's tokenizer.bin;
// [LoadSentencePiece] and [ParseSentencePiece] the SentencePiece
// tokenizer.model of Hugging Face's LLaMA 1/2 and Mistral folders; [LoadHF]
// and [ParseHF] a byte-level BPE tokenizer.json (LLaMA 3, GPT-2). A
// malformed file or vocabulary is an error, never a panic.
//
//	tok, err := tokenizer.FromGGUF(f)
//	ids := tok.Encode("Once upon a time", true) // [BOS, ...] when the model wants BOS
//	text := tok.Decode(ids)                     // "Once upon a time"
//
// # What it matches
//
// The "llama" model follows llama.cpp's SPM tokenizer: spaces become U+2581
// (▁), a space is prefixed when the vocabulary asks for it
// (add_space_prefix), characters are merged pairwise by token score through
// a priority queue (ties go to the leftmost pair), and what no token covers
// falls back to byte tokens <0xXX>. The "gpt2" model follows llama.cpp's
// byte-level BPE: a pre-tokenizer splits the text into words (the LLaMA 3
// pattern, GPT-2's, or llama.cpp's "default" chain, written here as small
// scanners because Go's regexp has no lookahead), bytes are mapped to
// printable characters as GPT-2 does, and merges are applied by rank.
// Both are checked against llama.cpp's own test vectors (for LLaMA 2,
// LLaMA 3 and GPT-2), the pre-tokenizers also against Perl running the
// original patterns.
//
// User-defined tokens are always matched as whole tokens in the input, as
// llama.cpp does; control tokens (<s>, <|eot_id|>, ...) only by
// [Tokenizer.EncodeSpecial], so that user text cannot inject them.
//
// # Decoding
//
// Decoding joins the bytes of all tokens before converting to a string, so
// a character split over several byte-fallback tokens comes out whole;
// invalid UTF-8 becomes U+FFFD only at the end. [Decoder] does the same for
// a stream of tokens, holding back the bytes of an incomplete character.
//
// Encode and Decode are safe for concurrent use; a Decoder is not.
package tokenizer
