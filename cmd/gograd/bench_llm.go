package main

import (
	"cmp"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"time"

	"github.com/gograd/gograd"
)

// llmResult is one "gograd bench llm" measurement.
type llmResult struct {
	Test     string  `json:"test"` // pp64, tg64
	Tokens   int     `json:"tokens"`
	Median   float64 `json:"median_s"`
	TokPerS  float64 `json:"tok_per_s"`
	MsPerTok float64 `json:"ms_per_token"`
	// Kernels is the kernels launched per token, and InKernels the share
	// of the time spent inside them (the rest is the host: graph building,
	// scheduling, or replay and launch overhead), both of the median round.
	Kernels   float64 `json:"kernels_per_token"`
	InKernels float64 `json:"in_kernels"`
}

// runBenchLLM times a model as llama-bench does: a prompt of --prompt
// random tokens in one pass (pp), and --gen tokens generated one step at a
// time from an empty cache (tg), each the median of --runs rounds after a
// warm-up round (which compiles and captures).
func runBenchLLM(c *cli, args []string) error {
	fs := c.newFlags("bench llm", "[flags]")
	mf := addModelFlags(fs)
	prompt := fs.Int("prompt", 64, "prompt tokens for the pp test (0: skip it)")
	gen := fs.Int("gen", 64, "tokens for the tg test (0: skip it)")
	runs := fs.Int("runs", 3, "timed rounds per test; the median is reported")
	threads := fs.Int("threads", 0, "GOMAXPROCS (default: all cores)")
	asJSON := fs.Bool("json", false, "print the results as JSON")
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 || *runs < 1 || *prompt < 0 || *gen < 0 {
		fmt.Fprintln(c.stderr, "gograd bench llm: takes no arguments; --runs must be positive, --prompt and --gen not negative")
		return errUsage
	}
	if *threads > 0 {
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(*threads))
	}
	m, _, dev, err := mf.load(c)
	if err != nil {
		return err
	}
	fmt.Fprintf(c.stderr, "gograd bench llm: %s, %s, %s, %d threads\n", modelName(*mf.model), m.Describe(), dev, runtime.GOMAXPROCS(0))
	rng := rand.New(rand.NewPCG(1, 2))
	tokens := func(n int) []int {
		t := make([]int, n)
		for i := range t {
			t[i] = rng.IntN(m.Config.Vocab)
		}
		return t
	}
	var results []llmResult
	timeIt := func(test string, n int, round func() error) error {
		type timing struct {
			wall    float64
			kernels int64
			inside  time.Duration
		}
		var ts []timing
		for r := range *runs + 1 {
			before := gograd.Stats("")
			start := time.Now()
			if err := round(); err != nil {
				return err
			}
			if r > 0 { // round 0 compiles and captures
				after := gograd.Stats("")
				ts = append(ts, timing{time.Since(start).Seconds(), after.Kernels - before.Kernels, after.Time - before.Time})
			}
		}
		slices.SortFunc(ts, func(a, b timing) int { return cmp.Compare(a.wall, b.wall) })
		med := ts[len(ts)/2]
		results = append(results, llmResult{test, n, med.wall, float64(n) / med.wall, med.wall * 1000 / float64(n),
			float64(med.kernels) / float64(n), med.inside.Seconds() / med.wall})
		return nil
	}
	if *prompt > 0 {
		toks := tokens(*prompt)
		s := m.NewSession(*prompt)
		if err := timeIt(fmt.Sprintf("pp%d", *prompt), *prompt, func() error {
			s.Reset()
			_, err := s.Prefill(toks)
			return err
		}); err != nil {
			return err
		}
	}
	if *gen > 0 {
		toks := tokens(*gen)
		s := m.NewSession(*gen)
		logits := make([]float32, m.Config.Vocab)
		if err := timeIt(fmt.Sprintf("tg%d", *gen), *gen, func() error {
			s.Reset()
			for _, t := range toks {
				l, err := s.Step(t)
				if err != nil {
					return err
				}
				gograd.CopyTo(logits, l) // the logits reach the host, as sampling needs
			}
			return nil
		}); err != nil {
			return err
		}
	}
	if *asJSON {
		enc := json.NewEncoder(c.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(results)
	}
	fmt.Fprintf(c.stdout, "%-8s %8s %12s %12s %14s %10s\n", "test", "tokens", "tok/s", "ms/token", "kernels/token", "in kernels")
	for _, r := range results {
		fmt.Fprintf(c.stdout, "%-8s %8d %12.2f %12.3f %14.1f %9.1f%%\n", r.Test, r.Tokens, r.TokPerS, r.MsPerTok, r.Kernels, 100*r.InKernels)
	}
	return nil
}
