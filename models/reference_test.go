package models

import (
	"encoding/json"
	"math"
	"os"
	"testing"
)

// refSequence is one sequence of a reference logits file: its tokens and
// the logits after the token at each listed position.
type refSequence struct {
	Name      string
	Tokens    []int
	Positions []int
	Logits    [][]float64
}

// checkLogits runs tokens through a fresh session in one pass and compares
// the logits at the positions with want, to tol (absolute, relative to the
// largest logit's size).
func checkLogits(t *testing.T, m *Llama, seq refSequence, tol float64) {
	t.Helper()
	s := m.NewSession(len(seq.Tokens))
	got, err := s.Scores(seq.Tokens)
	if err != nil {
		t.Fatal(err)
	}
	v := got.Float32s()
	V := m.Config.Vocab
	worst := 0.0
	for i, p := range seq.Positions {
		scale := 1.0
		for _, x := range seq.Logits[i] {
			scale = math.Max(scale, math.Abs(x))
		}
		for j, want := range seq.Logits[i] {
			if d := math.Abs(float64(v[p*V+j])-want) / scale; d > worst {
				worst = d
			}
		}
	}
	if worst > tol {
		t.Errorf("%s: logits differ from the reference by %.3g (relative to the largest), tolerance %.1g", seq.Name, worst, tol)
	}
	t.Logf("%s: %d positions, largest difference %.2g", seq.Name, len(seq.Positions), worst)
}

// TestStories260KMatchesPyTorch: stories260K's logits (in one batched pass)
// match tools/llama_reference.py's float64 PyTorch forward pass to 1e-4.
func TestStories260KMatchesPyTorch(t *testing.T) {
	var ref struct{ Sequences []refSequence }
	readJSON(t, "../testdata/llama/stories260K_logits.json", &ref)
	m, err := LoadLlama2c(sharedData(t, "llama2c/stories260K.bin"))
	if err != nil {
		t.Fatal(err)
	}
	for _, seq := range ref.Sequences {
		checkLogits(t, m, seq, 1e-4)
	}
}

// TestRandomLlamaFormats: a LLaMA with grouped-query attention, an untied
// output and LLaMA-3 RoPE scaling (tools/llama_random.py) loads from GGUF
// (F16 embedding, rope_freqs, permuted q/k) and from a Hugging Face folder
// (BF16 embedding, rotate-half layout) with identical logits, which match
// the float64 PyTorch reference.
func TestRandomLlamaFormats(t *testing.T) {
	var ref struct {
		Tokens []int
		Logits [][]float64
	}
	readJSON(t, "../testdata/llama/random_logits.json", &ref)
	seq := refSequence{Name: "random", Tokens: ref.Tokens, Logits: ref.Logits}
	for i := range ref.Tokens {
		seq.Positions = append(seq.Positions, i)
	}
	gg, _, err := LoadGGUF("../testdata/llama/random.gguf")
	if err != nil {
		t.Fatal(err)
	}
	hf, err := LoadSafetensors("../testdata/llama/random_hf")
	if err != nil {
		t.Fatal(err)
	}
	if gg.Output == gg.Embed || hf.Output == hf.Embed || gg.Config.KVHeads == gg.Config.Heads || gg.Config.RopeFreqFactors == nil {
		t.Fatalf("the fixture should have an untied output, GQA and RoPE scaling: %+v", gg.Config)
	}
	for i, f := range gg.Config.RopeFreqFactors {
		if d := math.Abs(float64(f - hf.Config.RopeFreqFactors[i])); d > 1e-6 {
			t.Errorf("RoPE factor %d: GGUF's rope_freqs %v, from config.json %v", i, f, hf.Config.RopeFreqFactors[i])
		}
	}
	a, err := gg.NewSession(len(ref.Tokens)).Scores(ref.Tokens)
	if err != nil {
		t.Fatal(err)
	}
	b, err := hf.NewSession(len(ref.Tokens)).Scores(ref.Tokens)
	if err != nil {
		t.Fatal(err)
	}
	x, y := a.Float32s(), b.Float32s()
	for i := range x {
		if x[i] != y[i] {
			t.Fatalf("logit %d: %v from GGUF, %v from safetensors", i, x[i], y[i])
		}
	}
	checkLogits(t, gg, seq, 1e-4)
}

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, v); err != nil {
		t.Fatal(err)
	}
}
