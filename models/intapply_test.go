package models

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"testing"

	g "github.com/gograd/gograd"
	"github.com/gograd/gograd/device/cpu"
	"github.com/gograd/gograd/nn/quant"
)

// halfScales are the byte offsets, in each block of a format, of the half
// floats that randomPlanes sets to modest values (scales and minimums).
var halfScales = map[quant.Format][]int{
	quant.Q8_0: {0}, quant.Q4_0: {0}, quant.Q5_0: {0},
	quant.Q4_1: {0, 2}, quant.Q5_1: {0, 2}, quant.Q4_K: {0, 2}, quant.Q5_K: {0, 2},
	quant.Q6_K: {208},
}

// normals are n values drawn from a normal distribution of standard
// deviation sd.
func normals(rng *rand.Rand, n int, sd float64) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(rng.NormFloat64() * sd)
	}
	return v
}

// randomPlanes are rows x cols planes of format f made from blocks of
// random bytes whose half-float scales are about 0.008 (and Q6_K's 8-bit
// sub-scales in -32..31).
func randomPlanes(t testing.TB, rng *rand.Rand, f quant.Format, rows, cols int) *quant.Planes {
	bb := f.BlockBytes()
	data := make([]byte, rows*cols/f.BlockElems()*bb)
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	for b := 0; b < len(data); b += bb {
		for _, off := range halfScales[f] {
			binary.LittleEndian.PutUint16(data[b+off:], 0x2000+uint16(rng.IntN(0x400)))
		}
		if f == quant.Q6_K {
			for s := range 16 {
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

// TestQuantWeight checks a quantized weight on the device in every format
// against quant's own dequantization: Dense, Rows (the embedding), and
// x @ W.T (for formats with minimums in rows not in blocks, the float
// path: to 1e-5). Rows of an odd number of groups test the 4- and 5-bit
// pairing's padding; 32 rows are stored in blocks of 16 rows (blockRows;
// all formats but Q6_K, which has its own six-bit blocks), which Dense and
// Rows read through views.
func TestQuantWeight(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for _, f := range []quant.Format{quant.Q8_0, quant.Q4_0, quant.Q4_1, quant.Q5_0, quant.Q5_1, quant.Q4_K, quant.Q5_K, quant.Q6_K} {
		for _, shape := range [][2]int{{7, 96}, {7, 256}, {7, 512}, {32, 96}, {32, 512}} {
			rows, cols := shape[0], shape[1]
			if cols%f.BlockElems() != 0 {
				continue
			}
			t.Run(fmt.Sprintf("%v/%dx%d", f, rows, cols), func(t *testing.T) {
				p := randomPlanes(t, rng, f, rows, cols)
				want := p.Dequantize()
				wt, err := QuantWeight(p)
				if err != nil {
					t.Fatal(err)
				}
				near := func(what string, got, want []float32, tol float64) {
					t.Helper()
					if len(got) != len(want) {
						t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
					}
					for i := range got {
						if d := math.Abs(float64(got[i] - want[i])); d > tol*(1+math.Abs(float64(want[i]))) {
							t.Fatalf("%s: element %d (row %d, column %d) is %g, want %g", what, i, i/cols, i%cols, got[i], want[i])
						}
					}
				}
				near("Dense", wt.Dense().Float32s(), want, 1e-6)
				v := g.NewVar("row", 0, rows-2)
				near("Rows(3, 2)", wt.Rows(v.Bind(3), 2).Float32s(), want[3*cols:5*cols], 1e-6)
				if wt.q.min == nil || wt.q.qb != nil {
					return // x @ W.T in integers: TestQuantApplyInIntegers
				}
				x := make([]float32, 2*cols)
				for i := range x {
					x[i] = float32(rng.NormFloat64())
				}
				got := wt.Apply(g.FromSlice(x).Reshape(2, cols)).Float32s()
				ref := make([]float32, 2*rows)
				for tok := range 2 {
					for o := range rows {
						var s float64
						for i := range cols {
							s += float64(want[o*cols+i]) * float64(x[tok*cols+i])
						}
						ref[tok*rows+o] = float32(s)
					}
				}
				near("Apply", got, ref, 1e-5)
			})
		}
	}
}

// TestQuantApplyInIntegers checks x @ W.T of quantized weights, which
// quantizes x to int8 per group and multiplies integers (on the CPU: DOT2
// pairs for 8-bit weights of rows not in blocks of 16, DOT4 fours for the
// others), against the same integer arithmetic done here in float64
// (minimums times x's group sums), and against the float product with
// the dequantized weight within the activations' rounding error. 288
// columns are 9 groups: the 4- and 5-bit pairs' padding.
func TestQuantApplyInIntegers(t *testing.T) {
	defer func(w int) { fourSumsWork = w }(fourSumsWork)
	rng := rand.New(rand.NewPCG(1, 2))
	quantized := func(f quantizer, rows, cols int) *quant.Planes {
		p, err := f(rows, cols, normals(rng, rows*cols, 0.05))
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, tc := range []struct {
		name string
		p    *quant.Planes
	}{
		{"q8_0", quantized(quant.QuantizeQ8_0, 48, 288)},
		{"q8_0/40rows", quantized(quant.QuantizeQ8_0, 40, 288)}, // not in blocks of 16 rows
		{"q4_0", quantized(quant.QuantizeQ4_0, 48, 256)},
		{"q4_0/odd", quantized(quant.QuantizeQ4_0, 48, 288)},
		{"q4_1/odd", randomPlanes(t, rng, quant.Q4_1, 48, 288)}, // minimums
		{"q4_k", randomPlanes(t, rng, quant.Q4_K, 48, 512)},
		{"q5_0", randomPlanes(t, rng, quant.Q5_0, 48, 288)},
		{"q5_1/odd", randomPlanes(t, rng, quant.Q5_1, 48, 288)}, // minimums
		{"q5_k", randomPlanes(t, rng, quant.Q5_K, 48, 512)},
		{"q6_k", randomPlanes(t, rng, quant.Q6_K, 48, 768)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rows, cols := tc.p.Rows, tc.p.Cols
			// Blocked planes take several rows of x in two forms: a
			// group's sums of four added in int32 (as for one row), and
			// for small products each sum of four scaled on its own.
			for _, form := range []struct {
				tokens    int
				groupSums bool
			}{{1, true}, {5, false}, {5, true}} {
				tokens := form.tokens
				if form.groupSums {
					fourSumsWork = 0
				} else {
					fourSumsWork = math.MaxInt
				}
				x := make([]float32, tokens*cols)
				for i := range x {
					x[i] = float32(rng.NormFloat64())
				}
				x[3] = 0                                     // a group with a zero, and one all zero
				for i := tc.p.Group; i < 2*tc.p.Group; i++ { // the second group
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
							t.Fatalf("%d tokens (group sums %v), token %d, row %d: %g, want %g (integer reference)", tokens, form.groupSums, tok, o, gv, want[o])
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
				// 8-bit weights are multiplied in int16 pairs, 4-, 5- and
				// 6-bit ones (Q6_K in blocks of 16 rows), and 8-bit ones
				// in blocks of 16 rows, as unsigned bytes in fours.
				sixBits, blocked := wt.q.six != nil, wt.q.qb != nil
				if blocked != (tc.p.Sub == nil && (tc.p.Bits != 8 || tc.p.Min == nil) && rows%16 == 0) {
					t.Fatalf("blocked %v, for %d-bit planes of %d rows", blocked, tc.p.Bits, rows)
				}
				fn := map[bool]string{true: "dot2_", false: "dot4_"}[tc.p.Bits == 8 && !sixBits && !blocked]
				// K planes keep their 6-bit sub-scales and minimums as
				// bytes, a float32 pair per superblock beside them.
				if tc.p.KScale != nil && (wt.q.sd == nil || wt.q.sb.DType() != g.Uint8 || wt.q.mb.DType() != g.Uint8) {
					t.Errorf("K planes: scales of %v and superblock factors %v, want bytes and float32s", wt.q.sb.DType(), wt.q.sd)
				}
				if tc.p.Sub != nil {
					if !sixBits {
						t.Fatalf("Q6_K planes of %d rows are not stored in six bits", rows)
					}
					if n, want := wt.q.six.Numel(), rows*cols*6/8; n != want { // uint8
						t.Errorf("6-bit planes take %d bytes, want %d", n, want)
					}
				}
				if dev := g.DefaultDevice(); strings.HasPrefix(dev, "CPU") {
					found := false
					for _, k := range kernels {
						if s, ok := k.Prog.(interface{ Source() string }); ok && strings.Contains(s.Source(), fn) {
							found = true
						}
					}
					if !found {
						t.Errorf("%d tokens: no kernel on %s uses %s", tokens, dev, fn)
					}
					// 6-bit planes: for one token a group's 64 fours of
					// 16 rows are one loop body.
					if sixBits && tokens == 1 {
						n := 0
						for _, k := range kernels {
							if s, ok := k.Prog.(interface{ Source() string }); ok {
								n = max(n, strings.Count(s.Source(), "= dot4_16("))
							}
						}
						if n != 64 {
							t.Errorf("1 token: the 6-bit kernel has %d DOT4s of 16 rows in its loop body, want a group's 64", n)
						}
					}
					// Blocked planes: the lanes are 16 rows, each DOT4
					// against x's four bytes broadcast as one int32. For
					// one token a group's eight fours (4 bits: a pair's
					// 16) are one loop body, summed in int32, and the 16
					// rows' float16 scales one conversion.
					if blocked {
						dots := map[int]int{4: 16, 5: 16, 8: 8}[tc.p.Bits]
						ran := false
						for _, k := range kernels {
							s, ok := k.Prog.(interface{ Source() string })
							if !ok || !strings.Contains(s.Source(), "dot4_16(") || !strings.Contains(s.Source(), "int32x16 vec") {
								continue
							}
							ran = true
							if n := strings.Count(s.Source(), "= dot4_16("); tokens == 1 && n != dots {
								t.Errorf("1 token: the blocked kernel has %d DOT4s, want %d in one loop body", n, dots)
							}
							if tc.p.ScaleF16 && !strings.Contains(s.Source(), "h2f_16(") {
								t.Errorf("%d tokens: the blocked kernel does not load 16 rows' scales with one conversion", tokens)
							}
						}
						if !ran {
							t.Errorf("%d tokens: no kernel on %s takes 16 rows of %d-bit weights at once", tokens, dev, tc.p.Bits)
						}
					}
				}
			}
		})
	}
}

// quantizer is one of quant's QuantizeQ8_0, QuantizeQ4_0.
type quantizer func(rows, cols int, v []float32) (*quant.Planes, error)

// randWeight is a weight of random normal values quantized by f.
func randWeight(t *testing.T, rng *rand.Rand, f quantizer, rows, cols int) *Weight {
	t.Helper()
	p, err := f(rows, cols, normals(rng, rows*cols, 0.05))
	if err != nil {
		t.Fatal(err)
	}
	w, err := QuantWeight(p)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// randWeights are weights of random normal values quantized by f, of
// cols columns and each of the given rows.
func randWeights(t *testing.T, rng *rand.Rand, f quantizer, cols int, rows ...int) []*Weight {
	ws := make([]*Weight, len(rows))
	for i, r := range rows {
		ws[i] = randWeight(t, rng, f, r, cols)
	}
	return ws
}

// TestApplyAll checks that weights applied together to one x give what
// each gives alone, and that quantized ones share x's quantization: three
// projections are the kernels of one plus a matrix-vector product each.
func TestApplyAll(t *testing.T) {
	const cols = 256
	rng := rand.New(rand.NewPCG(5, 6))
	ws := randWeights(t, rng, quant.QuantizeQ4_0, cols, 48, 32, 64)
	x := g.FromSlice(normals(rng, cols, 1)).Reshape(1, cols).Realize()
	var all []*g.Tensor
	kernels := g.Capture(func() {
		all = ApplyAll(x, ws...)
		g.Realize(all...)
	})
	for i, w := range ws {
		var alone *g.Tensor
		one := g.Capture(func() { alone = w.Apply(x).Realize() })
		if got, want := all[i].Float32s(), alone.Float32s(); !slices.Equal(got, want) {
			t.Fatalf("weight %d: ApplyAll gives %v, Apply %v", i, got[:4], want[:4])
		}
		if i == 0 {
			if want := len(one) + len(ws) - 1; len(kernels) != want {
				t.Errorf("ApplyAll of %d weights ran %d kernels, want %d (one quantization of x, shared)", len(ws), len(kernels), want)
			}
		}
	}
}

// TestBlockedKernelPrefetches checks that the blocked 4-bit kernel of one
// token, whose loop body loads a group's eight 64-byte runs, prefetches
// its weights ahead once they are more than a core's L2 keeps (256 KiB
// here): each load prefetches the line it reads some turns later. The
// blocked 8-bit kernel, whose bytes go whole into DOT4s, does not: the
// hardware prefetcher keeps ahead of it alone.
func TestBlockedKernelPrefetches(t *testing.T) {
	if !strings.HasPrefix(g.DefaultDevice(), "CPU") {
		t.Skipf("prefetching is the C renderer's, not %s's", g.DefaultDevice())
	}
	const rows, cols = 512, 1024 // 256 KiB of nibbles, 512 KiB of bytes
	rng := rand.New(rand.NewPCG(7, 8))
	for _, tc := range []struct {
		name       string
		f          quantizer
		prefetches int
	}{
		{"q4_0", quant.QuantizeQ4_0, 8},
		{"q8_0", quant.QuantizeQ8_0, 0},
	} {
		w := randWeight(t, rng, tc.f, rows, cols)
		x := g.FromSlice(normals(rng, cols, 1)).Reshape(1, cols).Realize()
		found := false
		for _, k := range g.Capture(func() { w.Apply(x).Realize() }) {
			if s, ok := k.Prog.(interface{ Source() string }); ok && strings.Contains(s.Source(), "dot4_16(") {
				found = true
				if n := strings.Count(s.Source(), "__builtin_prefetch("); n != tc.prefetches {
					t.Errorf("%s: the blocked kernel has %d prefetches, want %d", tc.name, n, tc.prefetches)
				}
			}
		}
		if !found {
			t.Errorf("%s: no blocked kernel ran", tc.name)
		}
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
			// w = scale * (q - offset) + min.
			sw, mw := groupScale(p, p.Scale, o*groups+gi), 0.0
			if p.Min != nil {
				mw = groupScale(p, p.Min, o*groups+gi)
			}
			var dot, abs, xsum, xabs int
			for i := gi * gs; i < (gi+1)*gs; i++ {
				q := int(math.Round((float64(dense[o*p.Cols+i]) - mw) / sw))
				dot += q * xq[i]
				abs += max(q*xq[i], -q*xq[i])
				xsum += xq[i]
				xabs += max(xq[i], -xq[i])
			}
			out[o] += xs[gi] * (sw*float64(dot) + mw*float64(xsum))
			mag[o] += math.Abs(xs[gi]) * (math.Abs(sw)*float64(abs) + math.Abs(mw)*float64(xabs))
		}
	}
	return out, mag
}

// groupScale is group i's (in row-major order) scale or minimum, from
// p's plane Scale or Min.
func groupScale(p *quant.Planes, plane []byte, i int) float64 {
	if !p.ScaleF16 {
		return float64(math.Float32frombits(binary.LittleEndian.Uint32(plane[4*i:])))
	}
	h := binary.LittleEndian.Uint16(plane[2*i:])
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

// TestQuantApplyWithoutVNNI runs the integer products of 8- and 4-bit
// weights compiled without the x86 instructions DOT2 and DOT4 use where
// they are present (AVX512-BW's 512-bit pmaddwd, the VNNI vpdpbusd), so
// that their lane-by-lane fallbacks run, and checks them against the
// integer arithmetic done here. (A shape of its own: compiled programs are
// kept per kernel for the process, and the flags are part of the disk
// cache's key.)
func TestQuantApplyWithoutVNNI(t *testing.T) {
	if !strings.HasPrefix(g.DefaultDevice(), "CPU") || runtime.GOARCH != "amd64" {
		t.Skip("the fallbacks are of x86 instructions in the CPU device's C kernels")
	}
	const rows, cols = 24, 352
	rng := rand.New(rand.NewPCG(7, 8))
	w, x := normals(rng, rows*cols, 0.05), normals(rng, cols, 1)
	saved := cpu.Flags
	cpu.Flags = append(append([]string{}, saved...), "-mno-avx512vnni", "-mno-avxvnni", "-mno-avx512bw")
	defer func() { cpu.Flags = saved }()
	for _, f := range []func(int, int, []float32) (*quant.Planes, error){quant.QuantizeQ8_0, quant.QuantizeQ4_0} {
		p, err := f(rows, cols, w)
		if err != nil {
			t.Fatal(err)
		}
		wt, err := QuantWeight(p)
		if err != nil {
			t.Fatal(err)
		}
		var got []float32
		kernels := g.Capture(func() { got = wt.Apply(g.FromSlice(x).Reshape(1, cols)).Float32s() })
		want, scale := intReference(p, wt.Dense().Float32s(), x)
		for o := range rows {
			if d := math.Abs(float64(got[o]) - want[o]); d > 1e-5*scale[o] {
				t.Fatalf("%d bits without VNNI, row %d: %g, want %g (integer reference)", p.Bits, o, got[o], want[o])
			}
		}
		fn := map[bool]string{true: "dot2_", false: "dot4_"}[p.Bits == 8]
		found := false
		for _, k := range kernels {
			if s, ok := k.Prog.(interface{ Source() string }); ok && strings.Contains(s.Source(), fn) {
				found = true
			}
		}
		if !found {
			t.Errorf("%d bits: no kernel compiled without VNNI uses %s", p.Bits, fn)
		}
	}
}

// TestStackRows checks weights stacked by rows: each keeps its values
// (Dense, Rows, Apply alone), ApplyAll of all of them gives what the
// unstacked weights give and runs one matrix-vector product, and weights
// it cannot stack come back as they were.
func TestStackRows(t *testing.T) {
	const cols = 256
	rng := rand.New(rand.NewPCG(9, 10))
	random := func(f quant.Format) quantizer { // planes of random blocks
		return func(rows, cols int, _ []float32) (*quant.Planes, error) {
			return randomPlanes(t, rng, f, rows, cols), nil
		}
	}
	for _, tc := range []struct {
		name string
		f    quantizer
	}{
		{"q4_0", quant.QuantizeQ4_0},
		{"q8_0", quant.QuantizeQ8_0},
		{"q4_k", random(quant.Q4_K)}, // minimums
		{"q5_k", random(quant.Q5_K)}, // fifth bits
	} {
		t.Run(tc.name, func(t *testing.T) {
			ws := randWeights(t, rng, tc.f, cols, 48, 32, 64)
			st, ok := StackRows(ws...)
			if !ok {
				t.Fatalf("StackRows did not stack three %s weights of 256 columns", tc.name)
			}
			v := g.NewVar("row", 0, 30)
			for i, w := range ws {
				if got, want := st[i].Dense().Float32s(), w.Dense().Float32s(); !slices.Equal(got, want) {
					t.Fatalf("weight %d: Dense of the stacked rows differs", i)
				}
				if got, want := st[i].Rows(v.Bind(5), 2).Float32s(), w.Rows(v.Bind(5), 2).Float32s(); !slices.Equal(got, want) {
					t.Fatalf("weight %d: Rows(5, 2) of the stacked rows differs", i)
				}
			}
			for _, tokens := range []int{1, 5} {
				x := g.FromSlice(normals(rng, tokens*cols, 1)).Reshape(tokens, cols).Realize()
				// The three outputs side by side: two products fewer
				// stacked, each one kernel (with minimums, for more than
				// one token, two: the minimums' product is its own).
				fewer := 2
				if ws[0].q.min != nil && tokens > 1 {
					fewer = 4
				}
				var want, got []*g.Tensor
				apart := g.Capture(func() {
					want = ApplyAll(x, ws...)
					g.Cat(-1, want...).Realize()
				})
				together := g.Capture(func() {
					got = ApplyAll(x, st...)
					g.Cat(-1, got...).Realize()
				})
				if len(together) != len(apart)-fewer {
					t.Errorf("%d tokens: 3 stacked weights ran %d kernels, unstacked %d: want %d fewer (one product)", tokens, len(together), len(apart), fewer)
				}
				for i := range ws {
					if a, b := got[i].Float32s(), want[i].Float32s(); !slices.Equal(a, b) {
						t.Fatalf("%d tokens, weight %d: stacked %v, unstacked %v", tokens, i, a[:4], b[:4])
					}
					if a, b := st[i].Apply(x).Float32s(), want[i].Float32s(); !slices.Equal(a, b) {
						t.Fatalf("%d tokens, weight %d: Apply of the stacked rows alone differs", tokens, i)
					}
				}
				// Not all of them, or out of order: each its own product.
				if part := ApplyAll(x, st[1], st[0]); !slices.Equal(part[0].Float32s(), want[1].Float32s()) {
					t.Fatalf("%d tokens: ApplyAll of two stacked weights out of order differs", tokens)
				}
			}
		})
	}

	ws := randWeights(t, rng, quant.QuantizeQ4_0, cols, 48, 32)
	st, _ := StackRows(ws...)
	q8 := func(rows int) *Weight { return randWeight(t, rng, quant.QuantizeQ8_0, rows, cols) }
	q4 := func(rows, cols int) *Weight { return randWeight(t, rng, quant.QuantizeQ4_0, rows, cols) }
	big := 4112 // two of 4112 x 1024 in 4 bits are just over stackMax
	for name, c := range map[string][]*Weight{
		"other columns":   {ws[0], q4(32, 512)},
		"4 and 8 bits":    {ws[0], q8(32)},
		"8 bits, 40 rows": {q8(32), q8(40)}, // not in blocks of 16 rows
		"over stackMax":   {q4(big, 1024), q4(big, 1024)},
		"stacked":         {st[0], ws[1]},
		"one":             {ws[0]},
	} {
		if out, ok := StackRows(c...); ok || !slices.Equal(out, c) {
			t.Errorf("%s: StackRows stacked them (%v)", name, ok)
		}
	}
}
