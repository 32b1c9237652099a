package gguf

import (
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"testing"
)

// sharedData returns the path of rel in the project's shared data folder,
// ../shared/data beside the module root (found by walking up to go.mod),
// and skips the test with a message when the file is absent.
func sharedData(t testing.TB, rel string) string {
	t.Helper()
	dir := sharedDir()
	if dir == "" {
		t.Skipf("no shared data folder beside the module root (../shared/data): skipping the test of %s", rel)
	}
	p := filepath.Join(dir, rel)
	if _, err := os.Stat(p); err != nil {
		t.Skipf("shared data %s is absent (%v): skipping", p, err)
	}
	return p
}

// readAll reads every value and tensor of f the way a loader would.
func readAll(t *testing.T, f *File) {
	t.Helper()
	for _, kv := range f.KV {
		_ = kv.Value.String()
		if kv.Value.Type() == Array {
			if _, err := kv.Value.Values(); err != nil {
				t.Errorf("%s: %v", kv.Key, err)
			}
		}
	}
	for _, tt := range f.Tensors {
		v, err := tt.Float32s()
		if err != nil {
			t.Errorf("%s: %v", tt.Name, err)
			continue
		}
		if len(v) != tt.Elems() {
			t.Errorf("%s: %d values for %d elements", tt.Name, len(v), tt.Elems())
		}
	}
}

func TestStories260K(t *testing.T) {
	path := sharedData(t, "gguf/stories260K.gguf")
	f, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if f.Version != 3 || len(f.KV) != 19 || len(f.Tensors) != 48 || f.Alignment != 32 {
		t.Fatalf("version %d, %d keys, %d tensors, alignment %d; want 3, 19, 48, 32", f.Version, len(f.KV), len(f.Tensors), f.Alignment)
	}
	readAll(t, f)
	for _, tc := range []struct {
		key  string
		want uint64
	}{
		{"llama.embedding_length", 64}, {"llama.feed_forward_length", 172}, {"llama.block_count", 5},
		{"llama.attention.head_count", 8}, {"llama.attention.head_count_kv", 4}, {"llama.context_length", 2048},
		{"llama.rope.dimension_count", 8}, {"tokenizer.ggml.bos_token_id", 1}, {"tokenizer.ggml.eos_token_id", 2},
	} {
		if got, err := f.Uint(tc.key); err != nil || got != tc.want {
			t.Errorf("%s = %d, %v; want %d", tc.key, got, err, tc.want)
		}
	}
	if eps, err := f.Float("llama.attention.layer_norm_rms_epsilon"); err != nil || float32(eps) != 1e-5 {
		t.Errorf("rms epsilon = %v, %v", eps, err)
	}
	if arch, err := f.String("general.architecture"); err != nil || arch != "llama" {
		t.Errorf("architecture = %q, %v", arch, err)
	}
	tokens, err := f.Strings("tokenizer.ggml.tokens")
	if err != nil || len(tokens) != 512 || tokens[1] != "<s>" {
		t.Fatalf("tokens: %d, %v", len(tokens), err)
	}
	scores, err := f.Float32s("tokenizer.ggml.scores")
	if err != nil || len(scores) != 512 {
		t.Fatalf("scores: %d, %v", len(scores), err)
	}
	types, err := f.Int32s("tokenizer.ggml.token_type")
	if err != nil || len(types) != 512 || types[0] != 2 {
		t.Fatalf("token types: %v, %v", types[:1], err)
	}
	emb, ok := f.Tensor("token_embd.weight")
	if !ok || emb.Type != F32 || emb.Shape()[0] != 512 || emb.Shape()[1] != 64 {
		t.Fatalf("token_embd.weight: %v", emb)
	}
	if emb.Owner() == nil {
		t.Error("a tensor of an opened file has no owner keeping its mapping")
	}

	// The same model as a llama2.c checkpoint: its embedding table follows a
	// header of 7 int32 and must hold the same floats.
	bin := sharedData(t, "llama2c/stories260K.bin")
	raw, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := emb.Float32s()
	for i, v := range got {
		if w := math.Float32frombits(binary.LittleEndian.Uint32(raw[28+4*i:])); w != v {
			t.Fatalf("token_embd.weight[%d] = %v, stories260K.bin has %v", i, v, w)
		}
	}
}

func TestVocabLlamaSPM(t *testing.T) {
	f, err := Open(sharedData(t, "gguf/ggml-vocab-llama-spm.gguf"))
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Tensors) != 0 || len(f.KV) != 22 {
		t.Fatalf("%d tensors, %d keys; want 0 and 22", len(f.Tensors), len(f.KV))
	}
	readAll(t, f)
	tokens, err := f.Strings("tokenizer.ggml.tokens")
	if err != nil || len(tokens) != 32000 {
		t.Fatalf("tokens: %d, %v", len(tokens), err)
	}
	if n, err := f.Uint("llama.vocab_size"); err != nil || n != 32000 {
		t.Errorf("vocab_size = %d, %v", n, err)
	}
	if tokens[29871] != "▁" {
		t.Errorf("token 29871 = %q, want the SentencePiece space", tokens[29871])
	}
}
