package models

import (
	"fmt"
	"math/rand/v2"
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

// BenchmarkQuantApply times x @ W.T for one token, float32 and in each
// quantized format, against weights of stories110M's attention shape
// (768 x 768: small kernels, where a launch counts), TinyLlama's
// feed-forward shape (5632 x 2048) and stories15M's classifier
// (32000 x 288: short rows):
// the activation quantizer's kernels and the matrix-vector kernels,
// replayed by the JIT as a decoding step runs them. Each step reads
// several different weights, more than the last-level cache holds, so the
// bytes per second are from memory. Run with DEBUG=2 to see each kernel's
// time.
func BenchmarkQuantApply(b *testing.B) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, shape := range [][3]int{{768, 768, 96}, {5632, 2048, 8}, {32000, 288, 4}} {
		rows, cols, weights := shape[0], shape[1], shape[2] // weights: copies, together past the caches
		w, x := normals(rng, rows*cols, 0.05), normals(rng, cols, 1)
		for _, f := range []struct {
			name  string
			quant func(int, int, []float32) (*quant.Planes, error) // nil: float32
		}{
			{"f32", nil},
			{"q8_0", quant.QuantizeQ8_0},
			{"q4_0", quant.QuantizeQ4_0},
		} {
			b.Run(fmt.Sprintf("%s/%dx%d", f.name, rows, cols), func(b *testing.B) {
				// Each weight a copy with memory of its own.
				ws := make([]*Weight, weights)
				bytes := 0
				for i := range ws {
					if f.quant == nil {
						ws[i] = FloatWeight(g.FromSlice(w, rows, cols).Realize())
						bytes += 4 * len(w)
						continue
					}
					p, err := f.quant(rows, cols, w)
					if err != nil {
						b.Fatal(err)
					}
					if ws[i], err = QuantWeight(p); err != nil {
						b.Fatal(err)
					}
					bytes += len(p.Q) + len(p.Scale)
				}
				step := jit.New(func(in ...*g.Tensor) []*g.Tensor {
					return ApplyAll(in[0], ws...)
				})
				xt := g.FromSlice(x).Reshape(1, cols).Realize()
				step.Call(xt)
				step.Call(xt)
				b.SetBytes(int64(bytes))
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					step.Call(xt)
				}
			})
		}
	}
}
