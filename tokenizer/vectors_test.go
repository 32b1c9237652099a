package tokenizer

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/gograd/gograd/nn/gguf"
)

// sharedData is ../shared/data from the module root.
var sharedData = filepath.Join("..", "..", "shared", "data")

// sharedFile returns the path of a file under shared/data, skipping the
// test when it is absent.
func sharedFile(t testing.TB, rel string) string {
	t.Helper()
	p := filepath.Join(sharedData, filepath.FromSlash(rel))
	if _, err := os.Stat(p); err != nil {
		t.Skipf("%s not found (the shared data folder sits beside the repository as ../shared/data): %v", p, err)
	}
	return p
}

// vector is one of llama.cpp's tokenizer test cases.
type vector struct {
	text string
	ids  []int
}

// readVectors reads llama.cpp's test vectors: the .inp file holds the
// inputs, each followed by a line "__ggml_vocab_test__"; the .out file one
// line of space-separated ids per input (test-tokenizer-0.cpp's format).
func readVectors(t testing.TB, inp, out string) []vector {
	t.Helper()
	in, err := os.ReadFile(inp)
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	texts, err := parseVectorInputs(string(in))
	if err != nil {
		t.Fatalf("%s: %v", inp, err)
	}
	lines := strings.Split(strings.TrimSuffix(string(want), "\n"), "\n")
	if len(lines) != len(texts) {
		t.Fatalf("%s has %d inputs, %s %d outputs", inp, len(texts), out, len(lines))
	}
	vs := make([]vector, len(texts))
	for i, text := range texts {
		vs[i].text = text
		for _, f := range strings.Fields(lines[i]) {
			id, err := strconv.Atoi(f)
			if err != nil {
				t.Fatalf("%s line %d: %v", out, i+1, err)
			}
			vs[i].ids = append(vs[i].ids, id)
		}
	}
	return vs
}

func parseVectorInputs(s string) ([]string, error) {
	const sep = "\n__ggml_vocab_test__\n"
	var texts []string
	for s != "" {
		k := strings.Index(s, sep)
		if k < 0 {
			return nil, fmt.Errorf("input %d has no separator after it", len(texts)+1)
		}
		texts = append(texts, s[:k])
		s = s[k+len(sep):]
	}
	return texts, nil
}

// checkVectors encodes every vector without special tokens, as llama.cpp's
// test-tokenizer-0 does, compares the ids, and checks that decoding gives
// the input back. It returns the number of cases that pass both.
func checkVectors(t *testing.T, tok *Tokenizer, vs []vector) int {
	t.Helper()
	pass := 0
	for i, v := range vs {
		got := tok.Encode(v.text, false)
		ok := true
		if !slices.Equal(got, v.ids) {
			t.Errorf("case %d %q:\n got %v\nwant %v", i, v.text, got, v.ids)
			ok = false
		}
		if back := tok.Decode(v.ids); back != v.text {
			t.Errorf("case %d: Decode(want ids) = %q, want %q", i, back, v.text)
			ok = false
		}
		if ok {
			pass++
		}
	}
	t.Logf("%d of %d vectors pass", pass, len(vs))
	return pass
}

func spmVectors(t *testing.T) []vector {
	return readVectors(t, sharedFile(t, "gguf/ggml-vocab-llama-spm.gguf.inp"), sharedFile(t, "gguf/ggml-vocab-llama-spm.gguf.out"))
}

func TestVectorsSPMTokenizerBin(t *testing.T) {
	vs := spmVectors(t)
	tok, err := LoadLlama2c(sharedFile(t, "llama2c/tokenizer.bin"), 32000)
	if err != nil {
		t.Fatal(err)
	}
	checkVectors(t, tok, vs)
}

func TestVectorsSPMGGUF(t *testing.T) {
	vs := spmVectors(t)
	f, err := gguf.Open(sharedFile(t, "gguf/ggml-vocab-llama-spm.gguf"))
	if err != nil {
		t.Fatal(err)
	}
	tok, err := FromGGUF(f)
	if err != nil {
		t.Fatal(err)
	}
	checkVectors(t, tok, vs)
}

// TestVectorsLlamaCppModels runs every vocabulary of llama.cpp's models/
// folder that has test vectors beside it, from the folder named by
// GOGRAD_LLAMACPP_MODELS (the vocabularies are megabytes each, so they are
// not in the repository; the BPE ones are checked through the fixtures of
// TestVectorsBPEFixtures instead). Vocabularies of a model or pre-tokenizer
// this package does not support are skipped, saying so.
func TestVectorsLlamaCppModels(t *testing.T) {
	dir := os.Getenv("GOGRAD_LLAMACPP_MODELS")
	if dir == "" {
		t.Skip("GOGRAD_LLAMACPP_MODELS not set (point it at a llama.cpp checkout's models/ folder to run its tokenizer vectors)")
	}
	files, err := filepath.Glob(filepath.Join(dir, "ggml-vocab-*.gguf"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatalf("no ggml-vocab-*.gguf in %s", dir)
	}
	for _, path := range files {
		t.Run(filepath.Base(path), func(t *testing.T) {
			if _, err := os.Stat(path + ".out"); err != nil {
				t.Skip("no test vectors")
			}
			f, err := gguf.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			v, err := VocabFromGGUF(f)
			if err != nil {
				t.Skip(err)
			}
			tok, err := New(v)
			if err != nil {
				t.Skip(err)
			}
			checkVectors(t, tok, readVectors(t, path+".inp", path+".out"))
		})
	}
}
