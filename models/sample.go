package models

import (
	"math"
	"math/rand/v2"
	"slices"
)

// Sampler picks the next token from logits, as llama.cpp's default chain
// does: repetition penalty over the recent tokens, then top-k, top-p and
// temperature, then a draw from the softmax. Temp 0 is greedy (argmax).
type Sampler struct {
	Temp          float64 // 0: greedy
	TopK          int     // keep the k most likely (0: all)
	TopP          float64 // keep the smallest set whose probability reaches p (0 or 1: all)
	RepeatPenalty float64 // divide positive logits (multiply negative ones) of recent tokens by this (0 or 1: none)
	RepeatLastN   int     // how many recent tokens the penalty looks at (0: 64)

	rng *rand.Rand
	buf []candidate
}

type candidate struct {
	id int
	p  float64 // the logit, then the probability
}

// NewSampler returns a sampler drawing from a generator seeded with seed.
func NewSampler(temp float64, topK int, topP float64, seed uint64) *Sampler {
	return &Sampler{Temp: temp, TopK: topK, TopP: topP, rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
}

// Sample returns the next token given the logits and the tokens so far
// (for the repetition penalty). It does not modify logits.
func (s *Sampler) Sample(logits []float32, history []int) int {
	c := s.buf[:0]
	for i, l := range logits {
		c = append(c, candidate{i, float64(l)})
	}
	s.buf = c
	if s.RepeatPenalty > 0 && s.RepeatPenalty != 1 {
		n := s.RepeatLastN
		if n <= 0 {
			n = 64
		}
		seen := map[int]bool{}
		for _, t := range history[max(0, len(history)-n):] {
			if t < 0 || t >= len(c) || seen[t] {
				continue
			}
			seen[t] = true
			if c[t].p > 0 {
				c[t].p /= s.RepeatPenalty
			} else {
				c[t].p *= s.RepeatPenalty
			}
		}
	}
	if s.Temp <= 0 {
		best := 0
		for i := range c {
			if c[i].p > c[best].p || math.IsNaN(c[best].p) {
				best = i
			}
		}
		return c[best].id
	}
	// Most likely first (ties by id, so a seed repeats exactly).
	slices.SortFunc(c, func(a, b candidate) int {
		switch {
		case a.p > b.p:
			return -1
		case a.p < b.p:
			return 1
		}
		return a.id - b.id
	})
	if s.TopK > 0 && s.TopK < len(c) {
		c = c[:s.TopK]
	}
	// Softmax at the temperature.
	maxL := c[0].p
	sum := 0.0
	for i := range c {
		c[i].p = math.Exp((c[i].p - maxL) / s.Temp)
		sum += c[i].p
	}
	for i := range c {
		c[i].p /= sum
	}
	if s.TopP > 0 && s.TopP < 1 {
		acc := 0.0
		for i := range c {
			acc += c[i].p
			if acc >= s.TopP {
				c = c[:i+1]
				break
			}
		}
		sum = acc
	} else {
		sum = 1
	}
	if s.rng == nil {
		s.rng = rand.New(rand.NewPCG(0, 0x9e3779b97f4a7c15))
	}
	r := s.rng.Float64() * sum
	for _, x := range c {
		r -= x.p
		if r <= 0 {
			return x.id
		}
	}
	return c[len(c)-1].id
}
