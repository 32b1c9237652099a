package models

import (
	"testing"

	g "github.com/gograd/gograd"
)

// TestKernelsPerStep bounds the kernels of one decoding step and of a
// prefill: each block runs its own kernels once (about fifteen: norms,
// projections, the cache writes, attention, the MLP), and no block's
// schedule recomputes the blocks before it, which an unrealized residual
// stream did (a step of a 12-layer model ran 945 kernels instead of 207).
func TestKernelsPerStep(t *testing.T) {
	m, _, err := Open("", OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	layers := len(m.Layers)
	const perLayer, extra = 18, 8
	limit := int64(perLayer*layers + extra)

	s := m.NewSession(32)
	for _, tok := range []int{1, 400, 32} { // compile and capture
		if _, err := s.Step(tok); err != nil {
			t.Fatal(err)
		}
	}
	g.ResetStats()
	l, err := s.Step(7)
	if err != nil {
		t.Fatal(err)
	}
	l.Float32s()
	if n := g.Stats("").Kernels; n > limit || n < int64(layers) {
		t.Errorf("one step of %d layers ran %d kernels, want at most %d", layers, n, limit)
	}

	g.ResetStats()
	if _, err := s.Prefill([]int{5, 6, 7, 8}); err != nil {
		t.Fatal(err)
	}
	if n := g.Stats("").Kernels; n > limit+4 { // + the embedding rows gathered
		t.Errorf("a prefill of 4 tokens through %d layers ran %d kernels, want at most %d", layers, n, limit+4)
	}
}
