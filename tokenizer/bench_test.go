package tokenizer

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/gograd/gograd/nn/gguf"
)

// benchTokenizers are the vocabularies the benchmarks run: the BPE fixtures
// (which cover bench.txt) always, the SPM ones when shared data is there.
func benchTokenizers(b *testing.B) map[string]*Tokenizer {
	toks := map[string]*Tokenizer{
		"llama3": fixtureTokenizer(b, "llama-bpe"),
		"gpt2":   fixtureTokenizer(b, "gpt-2"),
	}
	if f, err := gguf.Open(filepath.Join(sharedData, "gguf", "ggml-vocab-llama-spm.gguf")); err == nil {
		if tok, err := FromGGUF(f); err == nil {
			toks["llama2-gguf"] = tok
		}
	}
	if tok, err := LoadLlama2c(filepath.Join(sharedData, "llama2c", "tokenizer.bin"), 32000); err == nil {
		toks["llama2-bin"] = tok
	}
	return toks
}

func benchText(b *testing.B) string {
	data, err := os.ReadFile(filepath.Join("testdata", "bench.txt"))
	if err != nil {
		b.Fatal(err)
	}
	return string(data)
}

// BenchmarkEncode encodes testdata/bench.txt (2.6 KB of prose, code,
// numbers and eight scripts) and reports tokens per second.
func BenchmarkEncode(b *testing.B) {
	text := benchText(b)
	for _, name := range []string{"llama2-gguf", "llama2-bin", "llama3", "gpt2"} {
		tok, ok := benchTokenizers(b)[name]
		if !ok {
			continue
		}
		b.Run(name, func(b *testing.B) {
			n := len(tok.Encode(text, true))
			b.SetBytes(int64(len(text)))
			b.ReportAllocs()
			for b.Loop() {
				tok.Encode(text, true)
			}
			b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "tokens/s")
		})
	}
}

// BenchmarkDecode streams the tokens of bench.txt through a Decoder.
func BenchmarkDecode(b *testing.B) {
	text := benchText(b)
	for _, name := range []string{"llama2-gguf", "llama3"} {
		tok, ok := benchTokenizers(b)[name]
		if !ok {
			continue
		}
		b.Run(name, func(b *testing.B) {
			ids := tok.Encode(text, true)
			b.ReportAllocs()
			for b.Loop() {
				d := tok.NewDecoder()
				for _, id := range ids {
					d.Next(id)
				}
				d.Flush()
			}
			b.ReportMetric(float64(len(ids))*float64(b.N)/b.Elapsed().Seconds(), "tokens/s")
		})
	}
}
