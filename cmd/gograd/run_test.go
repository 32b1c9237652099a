package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
)

// TestRunGreedyMatchesRunC: "gograd run --temp 0" on the embedded
// stories260K prints what llama2.c's run.c prints for the same prompt
// (testdata/llama/run_c_greedy.json).
func TestRunGreedyMatchesRunC(t *testing.T) {
	raw, err := os.ReadFile("../../testdata/llama/run_c_greedy.json")
	if err != nil {
		t.Fatal(err)
	}
	var ref struct {
		Runs []struct{ Prompt, Stdout string }
	}
	if err := json.Unmarshal(raw, &ref); err != nil {
		t.Fatal(err)
	}
	for _, r := range ref.Runs {
		code, out, errs := runCLI(t, "run", "--temp", "0", "--max-tokens", "60", r.Prompt)
		if code != 0 {
			t.Fatalf("gograd run %q: exit %d: %s", r.Prompt, code, errs)
		}
		got := strings.TrimSuffix(out, "\n")
		if len(got) < 100 || !strings.HasPrefix(r.Stdout, got) {
			t.Errorf("gograd run --temp 0 %q printed\n%q\nwhich is not the start of run.c's\n%q", r.Prompt, got, r.Stdout)
		}
		for _, want := range []string{"prompt: ", "tok/s", "decode: 57 tokens", "ms/token", "peak memory: "} {
			if !strings.Contains(errs, want) {
				t.Errorf("stats on stderr lack %q:\n%s", want, errs)
			}
		}
	}
}

func TestRunBadInput(t *testing.T) {
	dir := t.TempDir()
	short := dir + "/short.gguf"
	if err := os.WriteFile(short, []byte("GGUF\x03\x00"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		code int
		err  string
	}{
		{[]string{"run", "--model", dir + "/missing.gguf", "hi"}, 1, "no such file"},
		{[]string{"run", "--model", short, "hi"}, 1, "short.gguf"},
		{[]string{"run", "--quantize", "int3", "hi"}, 1, "want int8 or int4"},
		{[]string{"run", "--kv", "q8_0", "hi"}, 1, "want f16 or f32"},
		{[]string{"run", "--top-p", "2", "hi"}, 1, "bad sampling flags"},
		{[]string{"run", "--device", "NOSUCH", "hi"}, 1, "unknown device"},
		{[]string{"run", "--ctx", "3", "Once upon a time"}, 1, "no room"},
	} {
		code, _, errs := runCLI(t, tc.args...)
		if code != tc.code || !strings.Contains(errs, tc.err) {
			t.Errorf("gograd %q: exit %d, stderr %q; want exit %d with %q", tc.args, code, errs, tc.code, tc.err)
		}
	}
}

func TestRunSampledIsReproducible(t *testing.T) {
	var outs []string
	for range 2 {
		code, out, errs := runCLI(t, "run", "--seed", "7", "--max-tokens", "30", "--quantize", "int8", "Tom had a")
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errs)
		}
		outs = append(outs, out)
	}
	if outs[0] != outs[1] {
		t.Errorf("two runs with --seed 7 differ:\n%q\n%q", outs[0], outs[1])
	}
}

// TestEvalPerplexity: the perplexity of stories260K on a short story, in
// float32 and quantized to 8 and 4 bits. 8 bits must stay within 1% of the
// float model, 4 bits within 15%.
func TestEvalPerplexity(t *testing.T) {
	ppl := map[string]float64{}
	for _, q := range []string{"", "int8", "int4"} {
		code, out, errs := runCLI(t, "eval", "ppl", "--quantize", q, "--ctx", "128", "--file", "../../testdata/llama/story.txt")
		if code != 0 {
			t.Fatalf("eval ppl --quantize %q: exit %d: %s", q, code, errs)
		}
		var p float64
		var n, w int
		if _, err := fmt.Sscanf(out, "perplexity: %g over %d tokens (windows of %d)", &p, &n, &w); err != nil || n < 1000 || w != 128 {
			t.Fatalf("eval ppl printed %q (%v)", out, err)
		}
		ppl[q] = p
	}
	if f := ppl[""]; !(f > 1 && f < 20) || ppl["int8"] > f*1.01 || ppl["int8"] < f*0.99 || ppl["int4"] > f*1.15 {
		t.Errorf("perplexities f32 %.4f, int8 %.4f, int4 %.4f", ppl[""], ppl["int8"], ppl["int4"])
	}
	t.Logf("perplexity f32 %.4f, int8 %.4f, int4 %.4f", ppl[""], ppl["int8"], ppl["int4"])
	if code, _, errs := runCLI(t, "eval", "ppl", "--file", "/nonexistent"); code != 1 || !strings.Contains(errs, "no such file") {
		t.Errorf("eval ppl of a missing file: exit %d, %q", code, errs)
	}
	if code, _, _ := runCLI(t, "eval", "nosuch"); code != 2 {
		t.Errorf("eval nosuch: exit %d, want 2", code)
	}
}

func TestBenchLLM(t *testing.T) {
	code, out, errs := runCLI(t, "bench", "llm", "--prompt", "8", "--gen", "8", "--runs", "1", "--json")
	if code != 0 {
		t.Fatalf("bench llm: exit %d: %s", code, errs)
	}
	var res []llmResult
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("bench llm --json printed %q: %v", out, err)
	}
	if len(res) != 2 || res[0].Test != "pp8" || res[1].Test != "tg8" || !(res[0].TokPerS > 0) || !(res[1].TokPerS > 0) {
		t.Errorf("bench llm results %+v", res)
	}
	if code, _, _ := runCLI(t, "bench", "llm", "--runs", "0"); code != 2 {
		t.Errorf("bench llm --runs 0: exit %d, want 2", code)
	}
}
