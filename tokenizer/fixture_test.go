package tokenizer

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// fixture is a reduced byte-level BPE vocabulary written by
// tools/tokfixture: the tokens llama.cpp's test vectors (and bench.txt) can
// reach, at their original ids, and the merges they can use, in their
// original order.
type fixture struct {
	Source         string    `json:"source"`
	Model          string    `json:"model"`
	Pre            string    `json:"pre"`
	NTokens        int       `json:"n_tokens"`
	BOS            int       `json:"bos"`
	EOS            int       `json:"eos"`
	UNK            int       `json:"unk"`
	PAD            int       `json:"pad"`
	EOG            []int     `json:"eog"`
	AddBOS         bool      `json:"add_bos"`
	AddEOS         bool      `json:"add_eos"`
	AddSpacePrefix bool      `json:"add_space_prefix"`
	IDs            []int     `json:"ids"`
	Texts          []string  `json:"texts"`
	Types          []int32   `json:"types"`
	Scores         []float32 `json:"scores"`
	Merges         []string  `json:"merges"`
}

// fixtureVocab reads testdata/<name>.vocab.json into a Vocab; the ids the
// fixture leaves out are empty, unused tokens.
func fixtureVocab(t testing.TB, name string) Vocab {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name+".vocab.json"))
	if err != nil {
		t.Fatal(err)
	}
	var fx fixture
	if err := json.Unmarshal(data, &fx); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if len(fx.Texts) != len(fx.IDs) || len(fx.Types) != len(fx.IDs) || fx.Scores != nil && len(fx.Scores) != len(fx.IDs) {
		t.Fatalf("%s: ids, texts, types and scores differ in length", name)
	}
	v := Vocab{
		Model: fx.Model, Pre: fx.Pre,
		Tokens: make([]string, fx.NTokens), Types: make([]int32, fx.NTokens),
		Merges: fx.Merges,
		BOS:    fx.BOS, EOS: fx.EOS, UNK: fx.UNK, PAD: fx.PAD, EOG: fx.EOG,
		AddBOS: fx.AddBOS, AddEOS: fx.AddEOS, AddSpacePrefix: fx.AddSpacePrefix,
	}
	for i := range v.Types {
		v.Types[i] = TypeUnused
	}
	if fx.Scores != nil {
		v.Scores = make([]float32, fx.NTokens)
	}
	for k, id := range fx.IDs {
		if id < 0 || id >= fx.NTokens {
			t.Fatalf("%s: id %d out of range", name, id)
		}
		v.Tokens[id], v.Types[id] = fx.Texts[k], fx.Types[k]
		if fx.Scores != nil {
			v.Scores[id] = fx.Scores[k]
		}
	}
	return v
}

func fixtureTokenizer(t testing.TB, name string) *Tokenizer {
	t.Helper()
	tok, err := New(fixtureVocab(t, name))
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// TestVectorsBPEFixtures runs llama.cpp's vectors for LLaMA 3
// (ggml-vocab-llama-bpe) and GPT-2 (ggml-vocab-gpt-2) through the reduced
// vocabularies committed under testdata.
func TestVectorsBPEFixtures(t *testing.T) {
	for _, name := range []string{"llama-bpe", "gpt-2"} {
		t.Run(name, func(t *testing.T) {
			tok := fixtureTokenizer(t, name)
			vs := readVectors(t, filepath.Join("testdata", name+".inp"), filepath.Join("testdata", name+".out"))
			if pass := checkVectors(t, tok, vs); pass != len(vs) {
				t.Errorf("%d of %d vectors pass", pass, len(vs))
			}
		})
	}
}
