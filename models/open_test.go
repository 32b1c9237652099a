package models

import (
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
)

// sentencePieceModel is a serialized SentencePiece BPE model (byte
// fallback, ids <unk> 0, <s> 1, </s> 2) of the given pieces after those
// three.
func sentencePieceModel(pieces ...string) []byte {
	var b []byte
	for i, p := range append([]string{"<unk>", "<s>", "</s>"}, pieces...) {
		var m []byte
		m = protowire.AppendTag(m, 1, protowire.BytesType)
		m = protowire.AppendString(m, p)
		m = protowire.AppendTag(m, 2, protowire.Fixed32Type)
		m = protowire.AppendFixed32(m, math.Float32bits(-float32(i)))
		if i < 3 {
			m = protowire.AppendTag(m, 3, protowire.VarintType)
			m = protowire.AppendVarint(m, map[bool]uint64{true: 2, false: 3}[i == 0]) // UNKNOWN, CONTROL
		}
		b = protowire.AppendTag(b, 1, protowire.BytesType)
		b = protowire.AppendBytes(b, m)
	}
	var tr []byte
	tr = protowire.AppendTag(tr, 3, protowire.VarintType) // model_type BPE
	tr = protowire.AppendVarint(tr, 2)
	tr = protowire.AppendTag(tr, 35, protowire.VarintType) // byte_fallback
	tr = protowire.AppendVarint(tr, 1)
	b = protowire.AppendTag(b, 2, protowire.BytesType)
	return protowire.AppendBytes(b, tr)
}

// TestOpenHuggingFaceFolder opens a Hugging Face folder (the random GQA
// LLaMA of testdata, vocabulary 96) with no tokenizer, with a
// tokenizer.json, with a tokenizer.model beside it (which wins), and with
// one given as o.Tokenizer that is too large for the model.
func TestOpenHuggingFaceFolder(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{"config.json", "model.safetensors"} {
		src, err := filepath.Abs(filepath.Join("..", "testdata", "llama", "random_hf", f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(src, filepath.Join(dir, f)); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := Open(dir, OpenOptions{}); err == nil || !strings.Contains(err.Error(), "tokenizer.model or tokenizer.json") {
		t.Errorf("Open of a folder without a tokenizer: %v, want an error naming tokenizer.model and tokenizer.json", err)
	}
	// A byte-level BPE tokenizer.json: a, b, Ġ and the merge of a and b.
	bpe := `{"pre_tokenizer": {"type": "ByteLevel", "use_regex": true},
		"added_tokens": [{"id": 4, "content": "<|endoftext|>", "special": true}],
		"model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2, "Ġ": 3}, "merges": ["a b"]}}`
	if err := os.WriteFile(filepath.Join(dir, "tokenizer.json"), []byte(bpe), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, tok, err := Open(dir, OpenOptions{}); err != nil {
		t.Error(err)
	} else if got, want := tok.Encode("ab b", false), []int{2, 3, 1}; !slices.Equal(got, want) || tok.EOS() != 4 {
		t.Errorf("with tokenizer.json: Encode(\"ab b\") = %v, want %v; EOS %d, want 4", got, want, tok.EOS())
	}
	if err := os.WriteFile(filepath.Join(dir, "tokenizer.model"), sentencePieceModel("▁", "a", "b", "▁a", "▁ab"), 0o644); err != nil {
		t.Fatal(err)
	}
	m, tok, err := Open(dir, OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := tok.Encode("ab", true), []int{1, 7}; !slices.Equal(got, want) || m.Config.Vocab != 96 {
		t.Errorf("Encode(\"ab\") = %v, want %v (vocabulary %d)", got, want, m.Config.Vocab)
	}
	big := make([]string, 100)
	for i := range big {
		big[i] = string(rune('A' + i))
	}
	other := filepath.Join(t.TempDir(), "big.model")
	if err := os.WriteFile(other, sentencePieceModel(big...), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := Open(dir, OpenOptions{Tokenizer: other}); err == nil || !strings.Contains(err.Error(), "103 tokens") {
		t.Errorf("Open with a 103-token tokenizer for a 96-token model: %v, want an error", err)
	}
}
