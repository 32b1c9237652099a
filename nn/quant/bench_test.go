package quant

import (
	"math/rand/v2"
	"testing"
)

// benchFromBlocks converts a 4096 x 4096 matrix of format f; MB/s counts
// the bytes of the blocks read.
func benchFromBlocks(b *testing.B, f Format) {
	data := randomBlocks(rand.New(rand.NewPCG(7, 7)), f, 4096, 4096, true)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := FromBlocks(f, 4096, 4096, data); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkFromBlocks(b *testing.B) {
	for _, f := range Formats {
		b.Run(f.String(), func(b *testing.B) { benchFromBlocks(b, f) })
	}
}

// BenchmarkQuantize quantizes a 4096 x 4096 float32 matrix; MB/s counts the
// floats read.
func BenchmarkQuantize(b *testing.B) {
	r := rand.New(rand.NewPCG(8, 8))
	w := make([]float32, 4096*4096)
	for i := range w {
		w[i] = float32(r.NormFloat64())
	}
	for _, q := range []struct {
		name string
		fn   func(int, int, []float32) (*Planes, error)
	}{{"Q8_0", QuantizeQ8_0}, {"Q4_0", QuantizeQ4_0}} {
		b.Run(q.name, func(b *testing.B) {
			b.SetBytes(int64(4 * len(w)))
			for b.Loop() {
				if _, err := q.fn(4096, 4096, w); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
