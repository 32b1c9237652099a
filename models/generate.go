package models

import (
	"errors"
	"time"

	g "github.com/gograd/gograd"
)

// GenerateStats are the counts and times of one Generate call.
type GenerateStats struct {
	PromptTokens int
	PromptTime   time.Duration // the batched prompt pass, including its first compile
	Tokens       int           // tokens generated
	// WarmupSteps are the decoding steps that compile the step's kernels
	// (unless cached) and capture them for the JIT: the first two, and
	// two more each time the steps begin to attend to more of the cache
	// (see Session.Step). WarmupTime is their time and their sampling's.
	WarmupSteps int
	WarmupTime  time.Duration
	Steps       int           // the other decoding steps, JIT replays (the first token comes from the prompt pass)
	DecodeTime  time.Duration // those steps and their sampling
}

// PromptRate and DecodeRate are tokens per second (0 when nothing ran).
func (st GenerateStats) PromptRate() float64 { return rate(st.PromptTokens, st.PromptTime) }
func (st GenerateStats) DecodeRate() float64 { return rate(st.Steps, st.DecodeTime) }

func rate(n int, d time.Duration) float64 {
	if n == 0 || d <= 0 {
		return 0
	}
	return float64(n) / d.Seconds()
}

// GenerateOptions configure Generate.
type GenerateOptions struct {
	MaxTokens int            // most tokens to generate (0: until the session is full)
	Sampler   *Sampler       // nil: greedy
	Stop      func(int) bool // reports an end-of-generation token (not emitted); nil: none
	// Emit receives each generated token as soon as it is sampled; false
	// stops generation.
	Emit func(token int) bool
}

// Generate runs prompt through the session in one pass, then samples up to
// o.MaxTokens tokens one step at a time, and returns them.
func (s *Session) Generate(prompt []int, o GenerateOptions) ([]int, GenerateStats, error) {
	var st GenerateStats
	if len(prompt) == 0 {
		return nil, st, errors.New("models: Generate: empty prompt (begin it with the BOS token)")
	}
	sm := o.Sampler
	if sm == nil {
		sm = &Sampler{}
	}
	max := s.cap - s.pos - len(prompt) + 1
	if o.MaxTokens > 0 && o.MaxTokens < max {
		max = o.MaxTokens
	}
	history := append([]int(nil), prompt...)
	start := time.Now()
	logits, err := s.Prefill(prompt)
	if err != nil {
		return nil, st, err
	}
	var out []int
	st.PromptTokens = len(prompt)
	scores := make([]float32, s.m.Config.Vocab) // each step's logits, read into one slice
	warmup := false                             // whether the step that made logits was a warm-up
	for {
		g.CopyTo(scores, logits)
		tok := sm.Sample(scores, history)
		now := time.Now()
		switch d := now.Sub(start); {
		case len(out) == 0:
			st.PromptTime = d
		case warmup:
			st.WarmupTime += d
		default:
			st.DecodeTime += d
		}
		start = now
		if o.Stop != nil && o.Stop(tok) {
			break
		}
		out = append(out, tok)
		history = append(history, tok)
		if o.Emit != nil && !o.Emit(tok) {
			break
		}
		if len(out) >= max {
			break
		}
		if logits, warmup, err = s.step(tok); err != nil {
			return out, st, err
		}
		if warmup {
			st.WarmupSteps++
		} else {
			st.Steps++
		}
	}
	st.Tokens = len(out)
	return out, st, nil
}
