package quant

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/gograd/gograd/dtype"
)

// randomBlocks returns rows × cols elements of format f in random blocks.
// With finite, every half scale (d, dmin, m) is a finite value of moderate
// size; otherwise every byte is random, Inf and NaN scales included.
func randomBlocks(r *rand.Rand, f Format, rows, cols int, finite bool) []byte {
	b := make([]byte, rows*cols/f.BlockElems()*f.BlockBytes())
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	if !finite {
		return b
	}
	half := func(off int) {
		v := float32(r.NormFloat64() * 0.02)
		binary.LittleEndian.PutUint16(b[off:], dtype.Float16Bits(v))
	}
	bb := f.BlockBytes()
	for i := 0; i < len(b); i += bb {
		switch f {
		case Q8_0, Q4_0, Q5_0:
			half(i)
		case Q4_1, Q5_1, Q4_K, Q5_K:
			half(i)
			half(i + 2)
		case Q6_K:
			half(i + 208)
		}
	}
	return b
}

// sameBits reports whether a and b hold the same float32 bits, every NaN
// counting as equal to every other.
func sameBits(a, b []float32) (int, bool) {
	if len(a) != len(b) {
		return -1, false
	}
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) && !(a[i] != a[i] && b[i] != b[i]) {
			return i, false
		}
	}
	return 0, true
}

func TestFromBlocksMatchesReference(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, f := range Formats {
		for _, finite := range []bool{true, false} {
			rows, cols := 3, 512
			data := randomBlocks(r, f, rows, cols, finite)
			want := make([]float32, rows*cols)
			if err := DequantizeBlocks(f, data, want); err != nil {
				t.Fatal(err)
			}
			p, err := FromBlocks(f, rows, cols, data)
			if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			if err := p.Check(); err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			got := p.Dequantize()
			if i, ok := sameBits(got, want); !ok {
				t.Errorf("%s (finite scales %v): element %d: Planes %v (%#x), blocks %v (%#x)", f, finite, i,
					got[i], math.Float32bits(got[i]), want[i], math.Float32bits(want[i]))
			}
		}
	}
}

// TestFromBlocksLayout pins each format's layout to the table in Planes'
// doc comment.
func TestFromBlocksLayout(t *testing.T) {
	tests := []struct {
		f             Format
		bits, offset  int
		group, sub    int
		f16, min, hig bool
	}{
		{Q8_0, 8, 0, 32, 0, true, false, false},
		{Q4_0, 4, 8, 32, 0, true, false, false},
		{Q4_1, 4, 0, 32, 0, true, true, false},
		{Q5_0, 5, 16, 32, 0, true, false, true},
		{Q5_1, 5, 0, 32, 0, true, true, true},
		{Q4_K, 4, 0, 32, 0, false, true, false},
		{Q5_K, 5, 0, 32, 0, false, true, true},
		{Q6_K, 8, 0, 256, 16, false, false, false},
	}
	for _, tt := range tests {
		p, err := FromBlocks(tt.f, 2, 256, make([]byte, 2*256/tt.f.BlockElems()*tt.f.BlockBytes()))
		if err != nil {
			t.Fatal(err)
		}
		if p.Bits != tt.bits || p.Offset != tt.offset || p.Group != tt.group || p.SubGroup != tt.sub || (p.Sub != nil) != (tt.sub > 0) ||
			p.ScaleF16 != tt.f16 || (p.Min != nil) != tt.min || (p.High != nil) != tt.hig {
			t.Errorf("%s: Bits %d Offset %d Group %d SubGroup %d ScaleF16 %v Min %v High %v, want %+v",
				tt.f, p.Bits, p.Offset, p.Group, p.SubGroup, p.ScaleF16, p.Min != nil, p.High != nil, tt)
		}
	}
}

// TestKSubScales checks that K planes keep the integers of their scales
// and minimums: Scale = d * KScale and Min = -dmin * KMin, bit for bit,
// with the 6-bit values in range.
func TestKSubScales(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	for _, f := range []Format{Q4_K, Q5_K} {
		p, err := FromBlocks(f, 3, 512, randomBlocks(r, f, 3, 512, true))
		if err != nil {
			t.Fatal(err)
		}
		for g := range len(p.KScale) {
			d, negMin := p.scale(p.KSuper, 2*(g/8)), p.scale(p.KSuper, 2*(g/8)+1)
			if p.KScale[g] > 63 || p.KMin[g] > 63 {
				t.Fatalf("%v group %d: sub-scale %d, sub-min %d: more than 6 bits", f, g, p.KScale[g], p.KMin[g])
			}
			if s, want := d*float32(p.KScale[g]), p.scale(p.Scale, g); math.Float32bits(s) != math.Float32bits(want) {
				t.Fatalf("%v group %d: d * KScale = %g, Scale %g", f, g, s, want)
			}
			if m, want := negMin*float32(p.KMin[g]), p.scale(p.Min, g); math.Float32bits(m) != math.Float32bits(want) {
				t.Fatalf("%v group %d: -dmin * KMin = %g, Min %g", f, g, m, want)
			}
		}
	}
}

// TestKNibbleOrder checks the repacking of Q4_K and Q5_K by element: a
// superblock whose element e has q = e mod 32 (fifth bit set on odd
// sub-blocks), scale 1, min 0, must put e's q at its canonical place.
func TestKNibbleOrder(t *testing.T) {
	for _, f := range []Format{Q4_K, Q5_K} {
		b := make([]byte, f.BlockBytes())
		binary.LittleEndian.PutUint16(b, dtype.Float16Bits(1))
		for s := range 4 { // sub-scales 1, mins 0 for sub-blocks 0-3 ...
			b[4+s] = 1
		}
		for s := range 4 { // ... and 4-7 (low nibbles of bytes 8-11)
			b[12+s] = 1
		}
		qs := b[16:]
		if f == Q5_K {
			qs = b[48:]
		}
		want := make([]float32, 256)
		for e := range 256 {
			j, sub, l := e/64, e/32, e%32
			q := l % 16
			if sub%2 == 0 {
				qs[32*j+l] |= byte(q)
			} else {
				qs[32*j+l] |= byte(q) << 4
			}
			want[e] = float32(q)
			if f == Q5_K && sub%2 == 1 {
				b[16+l] |= 1 << sub
				want[e] += 16
			}
		}
		p, err := FromBlocks(f, 1, 256, b)
		if err != nil {
			t.Fatal(err)
		}
		got := p.Dequantize()
		if i, ok := sameBits(got, want); !ok {
			t.Errorf("%s: element %d = %v, want %v", f, i, got[i], want[i])
		}
	}
}

func TestBlocksRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, f := range []Format{Q8_0, Q4_0, Q4_1, Q5_0, Q5_1} {
		data := randomBlocks(r, f, 4, 96, false)
		p, err := FromBlocks(f, 4, 96, data)
		if err != nil {
			t.Fatal(err)
		}
		got, err := p.Blocks(f)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if string(got) != string(data) {
			t.Errorf("%s: Blocks(FromBlocks(data)) != data", f)
		}
		other := Q8_0
		if f == Q8_0 {
			other = Q4_0
		}
		if _, err := p.Blocks(other); err == nil {
			t.Errorf("%s planes encoded as %s: no error", f, other)
		}
	}
	p, _ := FromBlocks(Q4_K, 1, 256, make([]byte, 144))
	if _, err := p.Blocks(Q4_K); err == nil || !strings.Contains(err.Error(), "cannot be encoded as Q4_K") {
		t.Errorf("Blocks(Q4_K) = %v, want an error", err)
	}
}

func TestConversionErrors(t *testing.T) {
	tests := []struct {
		name       string
		f          Format
		rows, cols int
		n          int
		want       string
	}{
		{"unknown format", Format(0), 1, 32, 34, "unknown format 0"},
		{"partial block", Q8_0, 1, 48, 34, "not a whole number of 32-element blocks"},
		{"K partial block", Q4_K, 2, 32, 288, "not a whole number of 256-element blocks"},
		{"short data", Q4_0, 2, 64, 71, "needs 72 bytes, got 71"},
		{"long data", Q4_0, 2, 64, 73, "needs 72 bytes, got 73"},
		{"negative", Q4_0, -1, 64, 0, "matrix of -1 x 64"},
		{"huge rows", Q6_K, math.MaxInt / 2, 256, 210, "is too large"},
	}
	for _, tt := range tests {
		_, err := FromBlocks(tt.f, tt.rows, tt.cols, make([]byte, tt.n))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: FromBlocks error %v, want %q", tt.name, err, tt.want)
		}
	}
	if err := DequantizeBlocks(Q4_0, make([]byte, 19), make([]float32, 32)); err == nil {
		t.Error("DequantizeBlocks of a partial block: no error")
	}
	if err := DequantizeBlocks(Q4_0, make([]byte, 18), make([]float32, 31)); err == nil {
		t.Error("DequantizeBlocks into a short dst: no error")
	}
	if _, err := QuantizeQ8_0(2, 48, make([]float32, 96)); err == nil {
		t.Error("QuantizeQ8_0 of 48 columns: no error")
	}
	if _, err := QuantizeQ4_0(2, 32, make([]float32, 63)); err == nil {
		t.Error("QuantizeQ4_0 of 63 values for 2 x 32: no error")
	}
}

func TestCheck(t *testing.T) {
	good := func() *Planes {
		p, _ := FromBlocks(Q5_1, 2, 64, make([]byte, 4*24))
		return p
	}
	q6k := func() *Planes {
		p, _ := FromBlocks(Q6_K, 2, 256, make([]byte, 2*210))
		return p
	}
	q4k := func() *Planes {
		p, _ := FromBlocks(Q4_K, 2, 256, make([]byte, 2*144))
		return p
	}
	for _, tt := range []struct {
		name string
		base func() *Planes // planes that pass Check
		edit func(p *Planes)
		want string
	}{
		{"bits", good, func(p *Planes) { p.Bits = 3 }, "want 8, 5 or 4"},
		{"group", good, func(p *Planes) { p.Group = 16 }, "want groups of 32"},
		{"q", good, func(p *Planes) { p.Q = p.Q[1:] }, "Q has 63 bytes, want 64"},
		{"high", good, func(p *Planes) { p.High = nil }, "High has 0 bytes, want 16"},
		{"scale", good, func(p *Planes) { p.ScaleF16 = false }, "Scale has 8 bytes, want 16"},
		{"min", good, func(p *Planes) { p.Min = p.Min[2:] }, "Min has 6 bytes, want 8"},
		{"high on 4 bits", good, func(p *Planes) { p.Bits = 4 }, "has a High plane"},
		{"sub size", q6k, func(p *Planes) { p.Sub = p.Sub[1:] }, "Sub has 31 bytes, want 32"},
		{"sub group", q6k, func(p *Planes) { p.SubGroup = 24 }, "sub-scales per 24 elements in groups of 256"},
		{"sub with min", q6k, func(p *Planes) { p.Min = make([]byte, len(p.Scale)) }, "without Min"},
		{"k scale size", q4k, func(p *Planes) { p.KScale = p.KScale[1:] }, "KScale, KMin and KSuper have 15, 16 and 16 bytes"},
		{"k super size", q4k, func(p *Planes) { p.KSuper = p.KSuper[4:] }, "have 16, 16 and 12 bytes, want 16, 16 and 16"},
		{"k without min", q4k, func(p *Planes) { p.Min = nil }, "need float32 scales, a Min plane"},
	} {
		p := tt.base()
		if err := p.Check(); err != nil {
			t.Fatalf("%s: the planes before the edit: %v", tt.name, err)
		}
		tt.edit(p)
		if err := p.Check(); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: Check = %v, want %q", tt.name, err, tt.want)
		}
	}
	defer func() {
		if recover() == nil {
			t.Error("Dequantize of a bad Planes did not panic")
		}
	}()
	p := good()
	p.Q = nil
	p.Dequantize()
}

// TestQuantizeQ8_0 checks one block by hand: amax 127 gives d = 1, and the
// values round half away from zero.
func TestQuantizeQ8_0(t *testing.T) {
	w := make([]float32, 64)
	w[0], w[1], w[2], w[3], w[4] = 127, -2.5, 2.5, 0.49, -127
	// second block all zero: d = 0, q = 0
	p, err := QuantizeQ8_0(1, 64, w)
	if err != nil {
		t.Fatal(err)
	}
	want := []int8{127, -3, 3, 0, -127}
	for i, q := range want {
		if int8(p.Q[i]) != q {
			t.Errorf("q[%d] = %d, want %d", i, int8(p.Q[i]), q)
		}
	}
	if got := binary.LittleEndian.Uint16(p.Scale); got != 0x3c00 {
		t.Errorf("d = %#x, want 1.0 (0x3c00)", got)
	}
	if got := binary.LittleEndian.Uint16(p.Scale[2:]); got != 0 {
		t.Errorf("zero block: d = %#x, want 0", got)
	}
	for _, q := range p.Q[32:] {
		if q != 0 {
			t.Fatal("zero block has nonzero q")
		}
	}
}

// TestQuantizeQ4_0 checks one block by hand: max -8 gives d = 1, id = 1,
// q = min(15, trunc(w + 8.5)).
func TestQuantizeQ4_0(t *testing.T) {
	w := make([]float32, 32)
	w[0], w[1], w[2], w[3], w[16], w[17] = -8, 7.6, 7.4, -0.6, 3, 5 // 7.4+8.5 = 15.9 -> 15
	p, err := QuantizeQ4_0(1, 32, w)
	if err != nil {
		t.Fatal(err)
	}
	if got := binary.LittleEndian.Uint16(p.Scale); got != 0x3c00 {
		t.Errorf("d = %#x, want 1.0", got)
	}
	nib := func(e int) byte {
		if e < 16 {
			return p.Q[e] & 0xf
		}
		return p.Q[e-16] >> 4
	}
	for e, want := range map[int]byte{0: 0, 1: 15, 2: 15, 3: 7, 4: 8, 16: 11, 17: 13} {
		if got := nib(e); got != want {
			t.Errorf("q[%d] = %d, want %d", e, got, want)
		}
	}
	// Inf and NaN do not panic.
	w[5] = float32(math.Inf(1))
	w[6] = float32(math.NaN())
	if _, err := QuantizeQ4_0(1, 32, w); err != nil {
		t.Fatal(err)
	}
	if _, err := QuantizeQ8_0(1, 32, w); err != nil {
		t.Fatal(err)
	}
}

// TestQuantizeRoundTrip checks that the quantizers' error is what their
// formats allow: |w - dequantized| <= d/2 (Q8_0) and <= d (Q4_0, whose
// largest value may clamp), with d the stored scale, plus what rounding d
// to half costs at the largest q.
func TestQuantizeRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	w := make([]float32, 8*128)
	for i := range w {
		w[i] = float32(r.NormFloat64())
	}
	for _, tt := range []struct {
		f     Format
		q     func(int, int, []float32) (*Planes, error)
		slack float64
	}{{Q8_0, QuantizeQ8_0, 0.5 + 127.0/2048}, {Q4_0, QuantizeQ4_0, 1 + 8.0/2048}} {
		p, err := tt.q(8, 128, w)
		if err != nil {
			t.Fatal(err)
		}
		got := p.Dequantize()
		for i := range w {
			d := math.Abs(float64(p.scale(p.Scale, i/32)))
			if e := math.Abs(float64(got[i] - w[i])); e > tt.slack*d+1e-6 {
				t.Fatalf("%s: element %d: %v -> %v, error %v > %v * d (d = %v)", tt.f, i, w[i], got[i], e, tt.slack, d)
			}
		}
	}
}

// TestParallel converts and quantizes matrices large enough to be split
// over goroutines, and compares with one pass over all blocks.
func TestParallel(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	rows, cols := 64, 2*grain/64+256 // over two grains
	for _, f := range []Format{Q4_0, Q5_K} {
		data := randomBlocks(r, f, rows, cols, true)
		p, err := FromBlocks(f, rows, cols, data)
		if err != nil {
			t.Fatal(err)
		}
		serial, _ := FromBlocks(f, 0, cols, nil)
		*serial = *p
		serial.Q, serial.Scale, serial.Min, serial.High = make([]byte, len(p.Q)), make([]byte, len(p.Scale)), nil, nil
		if p.Min != nil {
			serial.Min = make([]byte, len(p.Min))
		}
		if p.High != nil {
			serial.High = make([]byte, len(p.High))
		}
		repack(f, serial, data, 0, len(data)/f.BlockBytes())
		if string(serial.Q) != string(p.Q) || string(serial.Scale) != string(p.Scale) ||
			string(serial.Min) != string(p.Min) || string(serial.High) != string(p.High) {
			t.Errorf("%s: split conversion differs from one pass", f)
		}
	}
	w := make([]float32, rows*cols)
	for i := range w {
		w[i] = float32(r.NormFloat64())
	}
	p, err := QuantizeQ4_0(rows, cols, w)
	if err != nil {
		t.Fatal(err)
	}
	one := &Planes{Q: make([]byte, len(p.Q)), Scale: make([]byte, len(p.Scale))}
	quantizeQ4_0(one, w, 0, len(w)/32)
	if string(one.Q) != string(p.Q) || string(one.Scale) != string(p.Scale) {
		t.Error("QuantizeQ4_0: split differs from one pass")
	}
	p, _ = QuantizeQ8_0(rows, cols, w)
	one = &Planes{Q: make([]byte, len(p.Q)), Scale: make([]byte, len(p.Scale))}
	quantizeQ8_0(one, w, 0, len(w)/32)
	if string(one.Q) != string(p.Q) || string(one.Scale) != string(p.Scale) {
		t.Error("QuantizeQ8_0: split differs from one pass")
	}
}

// TestBlockRows checks BlockRows against the index arithmetic it stands
// for, for units of 1, 2, 3 and 4 bytes, and on a plane large enough to
// be split over goroutines.
func TestBlockRows(t *testing.T) {
	r := rand.New(rand.NewPCG(13, 14))
	for _, tc := range []struct{ rows, n, size, block int }{
		{32, 9, 1, 16}, {48, 5, 2, 16}, {16, 7, 3, 8}, {64, 24, 4, 16}, {1024, 512, 4, 16},
	} {
		src := make([]byte, tc.rows*tc.n*tc.size)
		for i := range src {
			src[i] = byte(r.Uint32())
		}
		got := BlockRows(src, tc.rows, tc.n, tc.size, tc.block)
		for row := range tc.rows {
			for u := range tc.n {
				for i := range tc.size {
					b, rr := row/tc.block, row%tc.block
					want := src[(row*tc.n+u)*tc.size+i]
					if g := got[((b*tc.n+u)*tc.block+rr)*tc.size+i]; g != want {
						t.Fatalf("%+v: row %d unit %d byte %d is %d, want %d", tc, row, u, i, g, want)
					}
				}
			}
		}
	}
}
