package models

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	g "github.com/gograd/gograd"
	"github.com/gograd/gograd/nn/quant"
)

// TestQuantApplyInIntegers checks x @ W.T of quantized weights, which
// quantizes x to int8 per group and multiplies integers (DOT2 pairs on the
// CPU), against the same integer arithmetic done here in float64, and
// against the float product with the dequantized weight within the
// activations' rounding error.
func TestQuantApplyInIntegers(t *testing.T) {
	const rows, cols = 48, 256
	rng := rand.New(rand.NewPCG(1, 2))
	w := make([]float32, rows*cols)
	for i := range w {
		w[i] = float32(rng.NormFloat64()) * 0.05
	}
	// blocks fills n blocks of format f with random bytes and a modest
	// half scale d at byte offset dOff of each block.
	blocks := func(f quant.Format, dOff int) *quant.Planes {
		bb := f.BlockBytes()
		data := make([]byte, rows*cols/f.BlockElems()*bb)
		for i := range data {
			data[i] = byte(rng.Uint32())
		}
		for b := 0; b < len(data); b += bb {
			binary.LittleEndian.PutUint16(data[b+dOff:], 0x2000+uint16(rng.IntN(0x400))) // about 0.008
			if f == quant.Q6_K {
				for s := range 16 { // sub-scales in -32..31
					data[b+192+s] = byte(int8(rng.IntN(64) - 32))
				}
			}
		}
		p, err := quant.FromBlocks(f, rows, cols, data)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	q8, err := quant.QuantizeQ8_0(rows, cols, w)
	if err != nil {
		t.Fatal(err)
	}
	q4, err := quant.QuantizeQ4_0(rows, cols, w)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		p    *quant.Planes
	}{
		{"q8_0", q8},
		{"q4_0", q4},
		{"q5_0", blocks(quant.Q5_0, 0)},
		{"q6_k", blocks(quant.Q6_K, 208)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, tokens := range []int{1, 5} {
				x := make([]float32, tokens*cols)
				for i := range x {
					x[i] = float32(rng.NormFloat64())
				}
				x[3] = 0 // a group with a zero, and one all zero
				for i := 64; i < 64+tc.p.Group; i++ {
					x[i] = 0
				}
				wt, err := QuantWeight(tc.p)
				if err != nil {
					t.Fatal(err)
				}
				xt := g.FromSlice(x).Reshape(tokens, cols)
				var got []float32
				kernels := g.Capture(func() { got = wt.Apply(xt).Float32s() })
				dense := wt.Dense().Float32s()
				for tok := range tokens {
					want, scale := intReference(tc.p, dense, x[tok*cols:(tok+1)*cols])
					for o := range rows {
						gv := float64(got[tok*rows+o])
						if d := math.Abs(gv - want[o]); d > 1e-5*scale[o] {
							t.Fatalf("%d tokens, token %d, row %d: %g, want %g (integer reference)", tokens, tok, o, gv, want[o])
						}
						var f float64 // the float product with the dequantized weight
						for i := range cols {
							f += float64(dense[o*cols+i]) * float64(x[tok*cols+i])
						}
						if d := math.Abs(gv - f); d > 0.01*scale[o] {
							t.Fatalf("%d tokens, token %d, row %d: %g, float product %g: more than the activations' rounding", tokens, tok, o, gv, f)
						}
					}
				}
				// (With several tokens, the scheduler realizes the unpacked
				// 5-bit values, an expensive broadcast, as int32: no pairs.)
				if dev := g.DefaultDevice(); strings.HasPrefix(dev, "CPU") && (tokens == 1 || tc.name != "q5_0") {
					found := false
					for _, k := range kernels {
						if s, ok := k.Prog.(interface{ Source() string }); ok && strings.Contains(s.Source(), "dot2_") {
							found = true
						}
					}
					if !found {
						t.Errorf("%d tokens: no kernel on %s multiplies in int16 pairs (dot2_)", tokens, dev)
					}
				}
			}
		})
	}
}

// intReference is ggml's integer dot product of each row of the planes p
// (dequantized: dense) with x: x quantized to int8 per group (largest
// magnitude to 127, rounded half away from zero), integer products summed
// per group, scaled by both scales. It also returns, per row, the sum of
// the products' magnitudes, the scale of rounding errors.
func intReference(p *quant.Planes, dense, x []float32) (out, mag []float64) {
	gs := p.Group
	groups := p.Cols / gs
	xq := make([]int, p.Cols)
	xs := make([]float64, groups)
	for gi := range groups {
		var amax float32
		for _, v := range x[gi*gs : (gi+1)*gs] {
			amax = max(amax, float32(math.Abs(float64(v))))
		}
		var inv float32
		if amax > 0 {
			inv = (1 / amax) * 127
		}
		for i := gi * gs; i < (gi+1)*gs; i++ {
			v := x[i] * inv
			if v > 0 {
				v += 0.5
			} else {
				v -= 0.5
			}
			xq[i] = int(int8(v))
		}
		xs[gi] = float64(amax * (1.0 / 127))
	}
	out, mag = make([]float64, p.Rows), make([]float64, p.Rows)
	for o := range p.Rows {
		for gi := range groups {
			// The weight's integers, recovered from the dense values:
			// w = scale * (q - offset), exact for formats without minimums.
			sw := groupScale(p, o*groups+gi)
			var dot, abs int
			for i := gi * gs; i < (gi+1)*gs; i++ {
				q := int(math.Round(float64(dense[o*p.Cols+i]) / sw))
				dot += q * xq[i]
				abs += max(q*xq[i], -q*xq[i])
			}
			out[o] += sw * xs[gi] * float64(dot)
			mag[o] += math.Abs(sw*xs[gi]) * float64(abs)
		}
	}
	return out, mag
}

// groupScale is the scale of group i (in row-major order) of p.
func groupScale(p *quant.Planes, i int) float64 {
	if !p.ScaleF16 {
		return float64(math.Float32frombits(binary.LittleEndian.Uint32(p.Scale[4*i:])))
	}
	h := binary.LittleEndian.Uint16(p.Scale[2*i:])
	sign := 1.0
	if h&0x8000 != 0 {
		sign = -1
	}
	exp, frac := int(h>>10&0x1f), float64(h&0x3ff)
	switch exp {
	case 0:
		return sign * frac * math.Pow(2, -24)
	case 31:
		return math.NaN()
	}
	return sign * (1 + frac/1024) * math.Pow(2, float64(exp-15))
}
