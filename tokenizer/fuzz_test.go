package tokenizer

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"

	"github.com/gograd/gograd/nn/gguf"
)

// FuzzLoadLlama2c parses arbitrary bytes as a tokenizer.bin: an error or a
// tokenizer, never a panic; a tokenizer must then encode and decode.
func FuzzLoadLlama2c(f *testing.F) {
	f.Add(tokBin(5, []string{"<unk>", "\n<s>\n", "\n</s>\n", "<0x41>", " ", "a", " a"}, []float32{0, 0, 0, 0, -1, -1, -2}), 0)
	f.Add(tokBin(3, []string{"<unk>", "ab", "b"}, []float32{0, -1, -2}), 3)
	f.Add(append(le32(1<<30), 0, 0, 0), 1<<30)
	f.Add([]byte{}, -1)
	if data, err := os.ReadFile(filepath.Join(sharedData, "llama2c", "tok512.bin")); err == nil {
		f.Add(data, 512)
	}
	f.Fuzz(func(t *testing.T, data []byte, vocabSize int) {
		tok, err := ParseLlama2c(data, vocabSize)
		exercise(t, tok, err)
	})
}

// exercise checks what a fuzzed parser returned: an error and no
// tokenizer, or a tokenizer that encodes and decodes a few texts.
func exercise(t *testing.T, tok *Tokenizer, err error) {
	if err != nil {
		if tok != nil {
			t.Fatal("a tokenizer and an error")
		}
		return
	}
	for _, s := range []string{"", "a", " hello  world\n", "日本\xff"} {
		ids := tok.Encode(s, true)
		tok.EncodeSpecial(s, true)
		tok.Decode(ids)
		stream(tok, ids)
	}
}

var (
	fuzzOnce       sync.Once
	fuzzTokenizers map[string]*Tokenizer
)

// fuzzSetup loads the vocabularies FuzzEncode checks: the BPE fixtures
// always, the SPM ones when the shared data is there.
func fuzzSetup(f *testing.F) map[string]*Tokenizer {
	fuzzOnce.Do(func() {
		fuzzTokenizers = map[string]*Tokenizer{}
		for _, name := range []string{"llama-bpe", "gpt-2"} {
			fuzzTokenizers[name] = fixtureTokenizer(f, name)
		}
		if g, err := gguf.Open(filepath.Join(sharedData, "gguf", "ggml-vocab-llama-spm.gguf")); err == nil {
			if tok, err := FromGGUF(g); err == nil {
				fuzzTokenizers["llama-spm"] = tok
			}
		}
		if tok, err := LoadLlama2c(filepath.Join(sharedData, "llama2c", "tokenizer.bin"), 32000); err == nil {
			fuzzTokenizers["tokenizer.bin"] = tok
		}
	})
	if _, ok := fuzzTokenizers["llama-spm"]; !ok {
		f.Logf("%s absent: FuzzEncode checks the BPE fixtures only", sharedData)
	}
	return fuzzTokenizers
}

// FuzzEncode checks that Decode(Encode(s)) == s for valid UTF-8 under every
// vocabulary, except that the GGUF SentencePiece vocabulary reads a literal
// ▁ as a space (as SentencePiece does); that streaming gives the same text;
// and that the pre-tokenizers cover any input exactly.
func FuzzEncode(f *testing.F) {
	toks := fuzzSetup(f)
	for _, s := range []string{"", " ", "Hello world", " Hello, y'all!\n\n", "日本語 🦙.cpp", "\t\r\n 333 3.3 ''''", "Führer ½ \u00a0x", "<s></s><|eot_id|>", "a▁b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, name := range []string{"llama-bpe", "gpt-2", "default"} {
			checkSplit(t, name, s)
		}
		for name, tok := range toks {
			ids := tok.Encode(s, true)
			tok.EncodeSpecial(s, true)
			if !utf8.ValidString(s) {
				tok.Decode(ids)
				continue
			}
			want := s
			if name == "llama-spm" {
				want = strings.ReplaceAll(s, "▁", " ")
			}
			if got := tok.Decode(ids); got != want {
				t.Errorf("%s: Decode(Encode(%q)) = %q", name, s, got)
			}
			streamed := strings.Join(stream(tok, ids), "")
			if tok.addSpacePrefix && s != "" {
				want = " " + want
			}
			if streamed != want {
				t.Errorf("%s: streamed %q, want %q", name, streamed, want)
			}
		}
	})
}
