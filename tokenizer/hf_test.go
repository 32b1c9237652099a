package tokenizer

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestHFMatchesFixtures reads Hugging Face tokenizer.json files (LLaMA 3's
// and GPT-2's, reduced by tools/hfreduce to the tokens llama.cpp's test
// vectors reach) and checks them against the vocabularies llama.cpp's
// conversions give (the .vocab.json fixtures, reduced alike): every token,
// type and merge, the special ids and flags, then the vectors.
func TestHFMatchesFixtures(t *testing.T) {
	for _, name := range []string{"llama-bpe", "gpt-2"} {
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join("testdata", name+".tokenizer.json"))
			if err != nil {
				t.Fatal(err)
			}
			got, err := VocabFromHF(data, nil)
			if err != nil {
				t.Fatal(err)
			}
			want := fixtureVocab(t, name)
			if !slices.Equal(got.Tokens, want.Tokens) || !slices.Equal(got.Types, want.Types) || !slices.Equal(got.Merges, want.Merges) {
				t.Fatalf("tokens, types or merges differ from the fixture's (%d vs %d tokens, %d vs %d merges)",
					len(got.Tokens), len(want.Tokens), len(got.Merges), len(want.Merges))
			}
			if got.Pre != want.Pre || got.BOS != want.BOS || got.EOS != want.EOS || got.UNK != want.UNK ||
				got.AddBOS != want.AddBOS || got.AddEOS != want.AddEOS || got.AddSpacePrefix != want.AddSpacePrefix {
				t.Errorf("got pre %q BOS %d EOS %d UNK %d add %v/%v/%v, fixture pre %q BOS %d EOS %d UNK %d add %v/%v/%v",
					got.Pre, got.BOS, got.EOS, got.UNK, got.AddBOS, got.AddEOS, got.AddSpacePrefix,
					want.Pre, want.BOS, want.EOS, want.UNK, want.AddBOS, want.AddEOS, want.AddSpacePrefix)
			}
			tok, err := LoadHF(filepath.Join("testdata", name+".tokenizer.json"))
			if err != nil {
				t.Fatal(err)
			}
			checkVectors(t, tok, readVectors(t, filepath.Join("testdata", name+".inp"), filepath.Join("testdata", name+".out")))
		})
	}
}

// TestHFConfig checks that tokenizer_config.json's special tokens (as
// strings or AddedToken objects) and flags win over the defaults.
func TestHFConfig(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("testdata", "llama-bpe.tokenizer.json"))
	if err != nil {
		t.Fatal(err)
	}
	v, err := VocabFromHF(data, []byte(`{"bos_token": {"content": "<|end_of_text|>", "special": true}, "eos_token": "<|eot_id|>", "add_bos_token": false}`))
	if err != nil {
		t.Fatal(err)
	}
	if v.BOS != 128001 || v.EOS != 128009 || v.AddBOS {
		t.Errorf("BOS %d EOS %d AddBOS %v, want 128001 128009 false", v.BOS, v.EOS, v.AddBOS)
	}
	if _, err := VocabFromHF(data, []byte(`{"eos_token": "<|no such token|>"}`)); err == nil || !strings.Contains(err.Error(), "no such token") {
		t.Errorf("a config naming no token: %v", err)
	}
}

func TestHFErrors(t *testing.T) {
	const pre = `"pre_tokenizer": {"type": "ByteLevel", "use_regex": true}`
	tests := []struct {
		name, json, want string
	}{
		{"not JSON", `{"model": `, "unexpected end"},
		{"WordPiece", `{"model": {"type": "WordPiece", "vocab": {"a": 0}}}`, `model type "WordPiece"`},
		{"SentencePiece-style", `{"model": {"type": "BPE", "byte_fallback": true, "vocab": {"a": 0}}}`, "tokenizer.model"},
		{"no ByteLevel", `{"model": {"type": "BPE", "vocab": {"a": 0}}}`, "no ByteLevel"},
		{"other pattern", `{"pre_tokenizer": {"type": "Sequence", "pretokenizers": [{"type": "Split", "pattern": {"Regex": "\\w+"}}, {"type": "ByteLevel"}]}, "model": {"type": "BPE", "vocab": {"a": 0}}}`, "split pattern"},
		{"negative id", `{` + pre + `, "model": {"type": "BPE", "vocab": {"a": -1}}}`, "id -1"},
		{"huge id", `{` + pre + `, "model": {"type": "BPE", "vocab": {"a": 100000000}}}`, "ids up to"},
		{"one id twice", `{` + pre + `, "model": {"type": "BPE", "vocab": {"a": 0, "b": 0}}}`, "id 0 is both"},
		{"added over another", `{"added_tokens": [{"id": 0, "content": "<s>"}], ` + pre + `, "model": {"type": "BPE", "vocab": {"a": 0}}}`, "added token"},
		{"bad merges", `{` + pre + `, "model": {"type": "BPE", "vocab": {"a": 0}, "merges": [1, 2]}}`, "merges"},
		{"merge with a space", `{` + pre + `, "model": {"type": "BPE", "vocab": {"a": 0}, "merges": [["a b", "c"]]}}`, "has a space"},
	}
	for _, tt := range tests {
		tok, err := ParseHF([]byte(tt.json), nil)
		if err == nil || tok != nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: ParseHF = %v, %v; want an error containing %q", tt.name, tok, err, tt.want)
		}
	}
	// Merges as pairs (tokenizers 0.20 and later) read like strings.
	v, err := VocabFromHF([]byte(`{`+pre+`, "model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2}, "merges": [["a", "b"]]}}`), nil)
	if err != nil || !slices.Equal(v.Merges, []string{"a b"}) {
		t.Errorf("merges as pairs: %v, %v", v.Merges, err)
	}
}

func FuzzParseHF(f *testing.F) {
	const pre = `"pre_tokenizer": {"type": "ByteLevel", "use_regex": true}`
	f.Add([]byte(`{`+pre+`, "model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2, "Ġ": 3}, "merges": ["a b"]}}`), []byte(nil))
	f.Add([]byte(`{"added_tokens": [{"id": 4, "content": "<|endoftext|>", "special": true}], `+pre+`, "model": {"type": "BPE", "vocab": {"a": 0}, "merges": [["a", "a"]]}}`), []byte(`{"bos_token": "<|endoftext|>", "add_bos_token": true}`))
	f.Fuzz(func(t *testing.T, data, config []byte) {
		tok, err := ParseHF(data, config)
		exercise(t, tok, err)
	})
}
