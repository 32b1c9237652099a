package models

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"

	g "github.com/gograd/gograd"
)

// sharedData returns the path of a file under ../shared/data (beside the
// module root), skipping the test when it is absent.
func sharedData(t testing.TB, rel string) string {
	t.Helper()
	p := filepath.Join("..", "..", "shared", "data", rel)
	if _, err := os.Stat(p); err != nil {
		t.Skipf("%s not found (../shared/data is beside the module root in CI): %v", p, err)
	}
	return p
}

// TestGreedyMatchesRunC: greedy decoding of stories260K reproduces
// llama2.c's run.c (testdata/llama/run_c_greedy.json, made by
// tools/llama2c_reference.sh) token for token.
func TestGreedyMatchesRunC(t *testing.T) {
	raw, err := os.ReadFile("../testdata/llama/run_c_greedy.json")
	if err != nil {
		t.Fatal(err)
	}
	var ref struct {
		Steps int
		Runs  []struct {
			Prompt       string
			PromptTokens []int `json:"prompt_tokens"`
			Generated    []int
		}
	}
	if err := json.Unmarshal(raw, &ref); err != nil {
		t.Fatal(err)
	}
	m, err := LoadLlama2c(sharedData(t, "llama2c/stories260K.bin"))
	if err != nil {
		t.Fatal(err)
	}
	for _, run := range ref.Runs {
		s := m.NewSession(ref.Steps)
		// run.c feeds the prompt token by token, then samples; it stops at
		// BOS (1) or after Steps positions.
		want := run.Generated
		if n := len(want); n > 0 && want[n-1] == 1 {
			want = want[:n-1]
		}
		got, _, err := s.Generate(run.PromptTokens, GenerateOptions{
			MaxTokens: ref.Steps - len(run.PromptTokens) + 1,
			Stop:      func(tok int) bool { return tok == 1 },
		})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, want) {
			n := 0
			for n < min(len(got), len(want)) && got[n] == want[n] {
				n++
			}
			t.Errorf("%q: greedy tokens differ from run.c's after %d of %d:\n got %v\nwant %v", run.Prompt, n, len(want), got, want)
		}
	}
}

// TestStories260KFormatsAgree: the llama2.c checkpoint and the GGUF file of
// stories260K give identical logits, in a prompt pass and in decode steps.
func TestStories260KFormatsAgree(t *testing.T) {
	bin, err := LoadLlama2c(sharedData(t, "llama2c/stories260K.bin"))
	if err != nil {
		t.Fatal(err)
	}
	gg, _, err := LoadGGUF(sharedData(t, "gguf/stories260K.gguf"))
	if err != nil {
		t.Fatal(err)
	}
	if bin.Config.Dim != gg.Config.Dim || bin.Config.Layers != gg.Config.Layers || bin.Config.Vocab != gg.Config.Vocab {
		t.Fatalf("configs differ: %+v and %+v", bin.Config, gg.Config)
	}
	prompt := []int{1, 403, 407, 261, 378}
	next := []int{432, 383, 286}
	a, b := bin.NewSession(16), gg.NewSession(16)
	la, err := a.Prefill(prompt)
	if err != nil {
		t.Fatal(err)
	}
	lb, err := b.Prefill(prompt)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; ; i++ {
		x, y := la.Float32s(), lb.Float32s()
		if !slices.Equal(x, y) {
			t.Fatalf("after %d tokens the logits differ: %v... and %v...", len(prompt)+i, x[:4], y[:4])
		}
		if i == len(next) {
			break
		}
		if la, err = a.Step(next[i]); err != nil {
			t.Fatal(err)
		}
		if lb, err = b.Step(next[i]); err != nil {
			t.Fatal(err)
		}
	}
}

// TestStepKeys checks that decoding steps attend to a power of two of the
// cache's keys (at least minStepKeys, at most the whole cache) past their
// position, and that steps on either side of each change of length give
// the logits a prompt pass gives at the same positions.
func TestStepKeys(t *testing.T) {
	m, _, err := Open("", OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	const n = 200
	s := m.NewSession(n)
	for _, c := range [][2]int{{0, 64}, {63, 64}, {64, 128}, {127, 128}, {128, 200}, {199, 200}} {
		if got := s.stepKeys(c[0]); got != c[1] {
			t.Errorf("stepKeys(%d) = %d, want %d", c[0], got, c[1])
		}
	}
	toks := make([]int, 140)
	for i := range toks {
		toks[i] = (i*37 + 5) % m.Config.Vocab
	}
	scores, err := m.NewSession(n).Scores(toks)
	if err != nil {
		t.Fatal(err)
	}
	want := scores.Float32s()
	vocab := m.Config.Vocab
	for i, tok := range toks {
		l, err := s.Step(tok)
		if err != nil {
			t.Fatal(err)
		}
		if i != 0 && i != 63 && i != 64 && i != 127 && i != 128 && i != 139 {
			continue
		}
		got := l.Float32s()
		for j, v := range got {
			if d := math.Abs(float64(v - want[i*vocab+j])); d > 1e-4*(1+math.Abs(float64(v))) {
				t.Fatalf("step at position %d: logit %d is %g, the prompt pass's %g", i, j, v, want[i*vocab+j])
			}
		}
	}
	if len(s.steps) != 3 {
		t.Errorf("140 steps in a session of %d made %d step variants, want 3 (64, 128 and 200 keys)", n, len(s.steps))
	}
}

// TestHalfKVCache checks a session whose KV cache is float16: its buffers
// are half the bytes, and its logits stay within half precision's
// rounding of a float32 cache's, in a prompt pass and in steps.
func TestHalfKVCache(t *testing.T) {
	m, _, err := Open("", OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	run := func(kv g.DType) [][]float32 {
		m.KVCache = kv
		s := m.NewSession(80)
		if got := s.k[0].DType(); got != kv {
			t.Fatalf("a session of a %v cache keeps %v keys", kv, got)
		}
		l, err := s.Prefill([]int{1, 403, 407, 261, 378})
		if err != nil {
			t.Fatal(err)
		}
		out := [][]float32{l.Float32s()}
		for _, tok := range []int{432, 383, 286, 300, 7} {
			if l, err = s.Step(tok); err != nil {
				t.Fatal(err)
			}
			out = append(out, l.Float32s())
		}
		return out
	}
	full, half := run(g.Float32), run(g.Float16)
	m.KVCache = 0
	for i := range full {
		var top, diff float64
		for j := range full[i] {
			top = max(top, math.Abs(float64(full[i][j])))
			diff = max(diff, math.Abs(float64(full[i][j]-half[i][j])))
		}
		if diff > 1e-2*top || diff == 0 {
			t.Errorf("logits %d: a float16 cache differs from a float32 one by %g (largest logit %g): want a rounding's worth, not 0", i, diff, top)
		}
	}
}

// TestGenerateWarmups checks Generate's count of warm-up steps: two (one
// run, one captured) for each length of keys the steps attend to.
func TestGenerateWarmups(t *testing.T) {
	m, _, err := Open("", OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	s := m.NewSession(200)
	// One prompt token, then 139 steps at positions 1 to 139: 64, 128 and
	// all 200 keys.
	out, st, err := s.Generate([]int{1}, GenerateOptions{MaxTokens: 140})
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != 140 || st.WarmupSteps != 6 || st.Steps != 133 {
		t.Errorf("140 tokens: got %d, %d warm-up steps and %d others; want 140, 6 and 133", len(out), st.WarmupSteps, st.Steps)
	}
	if st.WarmupTime <= 0 || st.DecodeTime <= 0 {
		t.Errorf("warm-up time %v, decode time %v: want both", st.WarmupTime, st.DecodeTime)
	}
}
