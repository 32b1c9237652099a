package tokenizer

import (
	"bytes"
	"slices"
	"strings"
	"testing"

	"github.com/gograd/gograd/nn/gguf"
)

// ggufVocab writes metadata to an in-memory GGUF file and reads it back.
func ggufVocab(t *testing.T, kv map[string]any) *gguf.File {
	t.Helper()
	var kvs []gguf.KV
	for _, k := range slices.Sorted(func(yield func(string) bool) {
		for k := range kv {
			if !yield(k) {
				return
			}
		}
	}) {
		kvs = append(kvs, gguf.KV{Key: k, Value: gguf.ValueOf(kv[k])})
	}
	var b bytes.Buffer
	if err := gguf.Write(&b, kvs, nil); err != nil {
		t.Fatal(err)
	}
	f, err := gguf.Parse("test.gguf", b.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func spmKV() map[string]any {
	return map[string]any{
		"tokenizer.ggml.model":      "llama",
		"tokenizer.ggml.tokens":     []string{"<unk>", "<s>", "</s>", "▁a", "a", "▁"},
		"tokenizer.ggml.scores":     []float32{0, 0, 0, -1, -2, -3},
		"tokenizer.ggml.token_type": []int32{2, 3, 3, 1, 1, 1},
	}
}

func TestFromGGUFDefaults(t *testing.T) {
	// A "llama" vocabulary with no special ids or flags gets llama.cpp's
	// defaults: BOS 1, EOS 2, UNK 0, BOS added, a space prefix.
	f := ggufVocab(t, spmKV())
	v, err := VocabFromGGUF(f)
	if err != nil {
		t.Fatal(err)
	}
	if v.BOS != 1 || v.EOS != 2 || v.UNK != 0 || v.PAD != -1 || !v.AddBOS || v.AddEOS || !v.AddSpacePrefix {
		t.Errorf("defaults: %+v", v)
	}
	tok, err := FromGGUF(f)
	if err != nil {
		t.Fatal(err)
	}
	if got := tok.Encode("a", true); !slices.Equal(got, []int{1, 3}) {
		t.Errorf("Encode = %v", got)
	}

	// The file's keys win; an id out of range keeps the default (llama.cpp
	// warns and does the same), as stories260K's padding id 2^32-1 does.
	kv := spmKV()
	kv["tokenizer.ggml.bos_token_id"] = uint32(2)
	kv["tokenizer.ggml.eos_token_id"] = uint32(1)
	kv["tokenizer.ggml.padding_token_id"] = uint32(4294967295)
	kv["tokenizer.ggml.eot_token_id"] = uint32(4)
	kv["tokenizer.ggml.add_bos_token"] = false
	kv["tokenizer.ggml.add_eos_token"] = true
	kv["tokenizer.ggml.add_space_prefix"] = false
	tok, err = FromGGUF(ggufVocab(t, kv))
	if err != nil {
		t.Fatal(err)
	}
	if got := tok.Encode("a", true); !slices.Equal(got, []int{4, 1}) {
		t.Errorf("Encode with the file's flags = %v, want [4 1]", got)
	}
	if tok.BOS() != 2 || tok.EOS() != 1 || !tok.IsEOG(4) || !tok.IsEOG(1) || tok.IsEOG(2) {
		t.Errorf("BOS %d EOS %d EOG(4) %v", tok.BOS(), tok.EOS(), tok.IsEOG(4))
	}

	// gpt2: BOS only for the LLaMA 3 pre-tokenizers.
	for pre, addBOS := range map[string]bool{"llama-bpe": true, "gpt-2": false} {
		f := ggufVocab(t, map[string]any{
			"tokenizer.ggml.model":        "gpt2",
			"tokenizer.ggml.pre":          pre,
			"tokenizer.ggml.tokens":       []string{"a", "b", "ab", "<|begin_of_text|>"},
			"tokenizer.ggml.merges":       []string{"a b"},
			"tokenizer.ggml.bos_token_id": uint32(3),
		})
		v, err := VocabFromGGUF(f)
		if err != nil {
			t.Fatal(err)
		}
		if v.AddBOS != addBOS || v.AddSpacePrefix || v.BOS != 3 || v.EOS != -1 {
			t.Errorf("%s: %+v", pre, v)
		}
	}
}

func TestFromGGUFErrors(t *testing.T) {
	for _, c := range []struct {
		name   string
		change func(map[string]any)
		want   string
	}{
		{"no model", func(kv map[string]any) { delete(kv, "tokenizer.ggml.model") }, `key "tokenizer.ggml.model": no such key`},
		{"no tokens", func(kv map[string]any) { delete(kv, "tokenizer.ggml.tokens") }, `key "tokenizer.ggml.tokens": no such key`},
		{"tokens not strings", func(kv map[string]any) { kv["tokenizer.ggml.tokens"] = []int32{1, 2} }, `"tokenizer.ggml.tokens"`},
		{"model t5", func(kv map[string]any) { kv["tokenizer.ggml.model"] = "t5" }, `unsupported tokenizer model "t5"`},
		{"scores length", func(kv map[string]any) { kv["tokenizer.ggml.scores"] = []float32{0} }, "1 scores for 6 tokens"},
		{"types length", func(kv map[string]any) { kv["tokenizer.ggml.token_type"] = []int32{1, 1} }, "2 token types for 6 tokens"},
		{"bos type", func(kv map[string]any) { kv["tokenizer.ggml.bos_token_id"] = "one" }, `"tokenizer.ggml.bos_token_id"`},
		{"flag type", func(kv map[string]any) { kv["tokenizer.ggml.add_bos_token"] = uint8(1) }, `"tokenizer.ggml.add_bos_token"`},
		{"gpt2 without merges", func(kv map[string]any) { kv["tokenizer.ggml.model"] = "gpt2" }, `key "tokenizer.ggml.merges": no such key`},
		{"unknown pre", func(kv map[string]any) {
			kv["tokenizer.ggml.model"], kv["tokenizer.ggml.pre"], kv["tokenizer.ggml.merges"] = "gpt2", "chameleon", []string{}
		}, `unsupported pre-tokenizer "chameleon"`},
	} {
		kv := spmKV()
		c.change(kv)
		_, err := FromGGUF(ggufVocab(t, kv))
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "test.gguf") {
			t.Errorf("%s: error %v, want one naming test.gguf and containing %q", c.name, err, c.want)
		}
	}
}
