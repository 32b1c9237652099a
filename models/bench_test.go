package models

import (
	"math/rand/v2"
	"slices"
	"testing"

	g "github.com/gograd/gograd"
	"github.com/gograd/gograd/jit"
	"github.com/gograd/gograd/nn/quant"
)

// BenchmarkDecodeStories260K times one decoding step of the embedded
// stories260K (a JIT replay of about 90 small kernels).
func BenchmarkDecodeStories260K(b *testing.B) {
	m, _, err := Open("", OpenOptions{})
	if err != nil {
		b.Fatal(err)
	}
	s := m.NewSession(512)
	if _, err := s.Prefill([]int{1}); err != nil {
		b.Fatal(err)
	}
	tok := 403
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if s.Len() == s.Cap() {
			s.Reset()
		}
		if _, err := s.Step(tok); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkQuantApply times x @ W.T for one token against 5632 x 2048
// weights (TinyLlama's feed-forward shape) in each quantized format: the
// activation quantizer's kernels and the matrix-vector kernels, replayed by
// the JIT as a decoding step runs them. Each step reads 8 different
// weights, more than the last-level cache holds, so the bytes per second
// are from memory. Run with DEBUG=2 to see each kernel's time.
func BenchmarkQuantApply(b *testing.B) {
	const rows, cols, weights = 5632, 2048, 8
	rng := rand.New(rand.NewPCG(3, 4))
	w := make([]float32, rows*cols)
	for i := range w {
		w[i] = float32(rng.NormFloat64()) * 0.05
	}
	x := make([]float32, cols)
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	for _, f := range []struct {
		name  string
		quant func(int, int, []float32) (*quant.Planes, error)
	}{
		{"q8_0", quant.QuantizeQ8_0},
		{"q4_0", quant.QuantizeQ4_0},
	} {
		b.Run(f.name, func(b *testing.B) {
			p, err := f.quant(rows, cols, w)
			if err != nil {
				b.Fatal(err)
			}
			ws := make([]*Weight, weights)
			for i := range ws {
				// Copies, so that each weight has memory of its own.
				c := *p
				c.Q, c.Scale = slices.Clone(p.Q), slices.Clone(p.Scale)
				if ws[i], err = QuantWeight(&c); err != nil {
					b.Fatal(err)
				}
			}
			step := jit.New(func(in ...*g.Tensor) []*g.Tensor {
				out := make([]*g.Tensor, len(ws))
				for i, w := range ws {
					out[i] = w.Apply(in[0])
				}
				return out
			})
			xt := g.FromSlice(x).Reshape(1, cols).Realize()
			step.Call(xt)
			step.Call(xt)
			b.SetBytes(int64(weights * (len(p.Q) + len(p.Scale))))
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				step.Call(xt)
			}
		})
	}
}
