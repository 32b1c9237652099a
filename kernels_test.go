package gograd_test

import (
	"bytes"
	"fmt"
	"math"
	"os"
	"runtime/debug"
	"slices"
	"strings"
	"testing"

	g "github.com/gograd/gograd"
	"github.com/gograd/gograd/device"
	"github.com/gograd/gograd/internal/env"
)

// countKernels runs f and returns how many kernels it launched.
func countKernels(f func()) int64 {
	g.ResetStats()
	f()
	return g.Stats("").Kernels
}

// rows is the kernel count of a graph with reductions broadcast back along
// their rows: onCPU on the CPU device, whose row kernels keep them in the
// kernel that reads them (see TestRowKernels), else other.
func rows(onCPU, other int64) int64 {
	if kind, _, _ := strings.Cut(g.DefaultDevice(), ":"); kind == "CPU" {
		return onCPU
	}
	return other
}

func TestKernelCounts(t *testing.T) {
	a, b, c := g.Rand(8, 16).Realize(), g.Rand(8, 16).Realize(), g.Rand(8, 16).Realize()
	x, w, bias := g.Rand(5, 16).Realize(), g.Rand(16, 7).Realize(), g.Rand(7).Realize()
	gamma, beta := g.Rand(16).Realize(), g.Rand(16).Realize()
	moves := func() *g.Tensor {
		return a.Reshape(16, 8).Permute(1, 0).Pad([][2]int{{1, 1}, {0, 2}}).Shrink([][2]int{{1, 9}, {0, 16}}).Flip(1).Reshape(8, 1, 16).Expand(8, 3, 16)
	}
	tests := []struct {
		name string
		want int64
		f    func()
	}{
		{"mul add on three buffers", 1, func() { a.Mul(b).Add(c).Realize() }},
		{"matmul bias relu", 1, func() { x.Matmul(w).Add(bias).Relu().Realize() }},
		{"softmax last axis", rows(1, 3), func() { a.Softmax(-1).Realize() }},
		{"log softmax", rows(1, 3), func() { a.LogSoftmax(-1).Realize() }},
		{"layernorm composition", rows(1, 3), func() {
			m := a.Mean(-1, g.KeepDim)
			d := a.Sub(m)
			v := d.Mul(d).Mean(-1, g.KeepDim)
			d.Mul(v.Add(1e-5).Rsqrt()).Mul(gamma).Add(beta).Realize()
		}},
		{"six movement ops alone", 0, func() { moves().Realize() }},
		{"six movement ops then add", 1, func() { moves().Add(1).Realize() }},
		{"sum", 1, func() { a.Sum(1).Realize() }},
		{"sum of all", 1, func() { a.Sum().Realize() }},
		{"mean subtract", rows(1, 2), func() { a.Sub(a.Mean(1, g.KeepDim)).Realize() }},
		{"cat of three", 1, func() { g.Cat(0, a, b, c).Realize() }},
		{"reduce read by two outputs (one reduce, one two-output kernel)", 2, func() {
			r := a.Sum(1)
			g.Realize(r.Add(1), r.Mul(2))
		}},
		{"already realized", 0, func() { a.Realize() }},
		{"contiguous of a permute", 1, func() { a.Permute(1, 0).Contiguous().Realize() }},
		{"eye is views and one kernel", 1, func() { g.Eye(5).Realize() }},
	}
	for _, tc := range tests {
		if got := countKernels(tc.f); got != tc.want {
			t.Errorf("%s: %d kernels, want %d", tc.name, got, tc.want)
		}
	}
}

func TestMovementOpsCopyNothing(t *testing.T) {
	a := g.FromSlice([]float32{1, 2, 3, 4, 5, 6}, 2, 3)
	v := a.Permute(1, 0).Flip(0).Reshape(6)
	g.ResetStats()
	v.Realize()
	if s := g.Stats(""); s.Kernels != 0 || s.Copies != 0 {
		t.Fatalf("realizing a view ran %d kernels and %d copies", s.Kernels, s.Copies)
	}
	want := []float32{3, 6, 2, 5, 1, 4}
	if got := v.Float32s(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("view reads %v, want %v", got, want)
	}
}

func TestKernelCacheReusesSameAST(t *testing.T) {
	run := func() {
		a, b, c := g.Rand(4, 5).Realize(), g.Rand(4, 5).Realize(), g.Rand(4, 5).Realize()
		a.Mul(b).Add(c).Realize()
	}
	g.ResetStats()
	run()
	first := g.Stats("").Compiles
	run()
	s := g.Stats("")
	if s.Compiles != first {
		t.Fatalf("a second kernel with the same AST compiled again (%d compiles, then %d)", first, s.Compiles)
	}
	if s.Kernels != 2 {
		t.Fatalf("ran %d kernels, want 2", s.Kernels)
	}
}

// devicePair returns two devices of the default kind ("CPU:0" and "CPU:1", say).
func devicePair() (string, string) {
	kind, _, _ := strings.Cut(g.DefaultDevice(), ":")
	return kind + ":0", kind + ":1"
}

func TestDevicesAndCopies(t *testing.T) {
	d0, d1 := devicePair()
	a := g.FromSlice([]float32{1, 2, 3, 4})
	b := a.To(d1)
	if b.Device() != d1 {
		t.Fatalf("To(%s) gave a tensor on %s", d1, b.Device())
	}
	if a.To(d0) != a {
		t.Fatalf("To the same device should return the tensor itself")
	}
	g.ResetStats()
	c := b.Mul(10).Realize()
	if s := g.Stats(d1); s.Kernels != 1 || s.Copies != 1 {
		t.Fatalf("%s ran %d kernels and %d copies, want 1 and 1", d1, s.Kernels, s.Copies)
	}
	if s := g.Stats(d0); s.Kernels != 0 {
		t.Fatalf("%s ran %d kernels, want 0", d0, s.Kernels)
	}
	if got := c.To(d0).Float32s(); fmt.Sprint(got) != "[10 20 30 40]" {
		t.Fatalf("round trip gave %v", got)
	}
	// Independent work on two devices in one schedule runs on both queues.
	x0 := g.Rand(64, 64).Realize()
	x1 := g.Rand(64, 64).To(d1).Realize()
	g.ResetStats()
	g.Realize(x0.Matmul(x0), x1.Matmul(x1))
	if g.Stats(d0).Kernels != 1 || g.Stats(d1).Kernels != 1 {
		t.Fatalf("kernels per device: %s %d, %s %d", d0, g.Stats(d0).Kernels, d1, g.Stats(d1).Kernels)
	}
	mustPanic(t, []string{d0, d1}, func() { a.Add(b) })
	// Across kinds: GO and the default device exchange data through COPY.
	if d0 != "GO:0" {
		onGo := a.To("GO:0").Add(1)
		if got := fmt.Sprint(onGo.To(d0).Float32s()); got != "[2 3 4 5]" {
			t.Fatalf("%s -> GO -> %s gave %v", d0, d0, got)
		}
	}
}

// mustPanic runs f and checks that it panics with a message holding every
// one of want.
func mustPanic(t *testing.T, want []string, f func()) {
	t.Helper()
	defer func() {
		t.Helper()
		r := recover()
		if r == nil {
			t.Fatalf("no panic; want one mentioning %q", want)
		}
		msg := fmt.Sprint(r)
		for _, w := range want {
			if !strings.Contains(msg, w) {
				t.Fatalf("panic %q does not mention %q", msg, w)
			}
		}
	}()
	f()
}

func TestMisusePanicsNameOpAndShapes(t *testing.T) {
	a := g.Zeros(2, 3)
	tests := []struct {
		want []string
		f    func()
	}{
		{[]string{"Add", "(2, 3)", "(4)"}, func() { a.Add(g.Zeros(4)) }},
		{[]string{"Matmul", "[2 3]", "[4 5]"}, func() { a.Matmul(g.Zeros(4, 5)) }},
		{[]string{"Reshape", "[4 2]", "[2 3]"}, func() { a.Reshape(4, 2) }},
		{[]string{"Permute", "[0 0]"}, func() { a.Permute(0, 0) }},
		{[]string{"Sum", "axis 2", "[2 3]"}, func() { a.Sum(2) }},
		{[]string{"Expand", "[2 3]", "[4 3]"}, func() { a.Expand(4, 3) }},
		{[]string{"Shrink", "[2 3]"}, func() { a.Shrink([][2]int{{0, 3}, {0, 3}}) }},
		{[]string{"Cat", "[2 3]", "[2 4]"}, func() { g.Cat(0, a, g.Zeros(2, 4)) }},
		{[]string{"FromSlice", "shape [2 2]"}, func() { g.FromSlice([]float32{1, 2, 3}, 2, 2) }},
	}
	for _, tc := range tests {
		mustPanic(t, tc.want, tc.f)
	}
}

func TestDebugLines(t *testing.T) {
	var buf bytes.Buffer
	old := device.DebugOutput
	device.DebugOutput = &buf
	oldLevel := env.SetDebug(2)
	defer func() { device.DebugOutput = old; env.SetDebug(oldLevel) }()
	a := g.Rand(32, 16).Realize()
	a.Softmax(-1).Realize()
	var kernelLines []string
	for _, l := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		if strings.HasPrefix(l, "***") {
			kernelLines = append(kernelLines, l)
		}
	}
	if want := rows(1, 3); int64(len(kernelLines)) != want {
		t.Fatalf("DEBUG=2 printed %d kernel lines, want %d:\n%s", len(kernelLines), want, buf.String())
	}
	for _, l := range kernelLines {
		for _, w := range []string{g.DefaultDevice(), "GFLOPS", "GB/s", "us/"} {
			if !strings.Contains(l, w) {
				t.Errorf("DEBUG=2 line %q lacks %q", l, w)
			}
		}
	}
	if !strings.Contains(kernelLines[0], " r_") {
		t.Errorf("first softmax kernel should be a reduce (r_...): %q", kernelLines[0])
	}
}

func TestDebugLevelsShowASTSourceAndProgram(t *testing.T) {
	var buf bytes.Buffer
	old := device.DebugOutput
	device.DebugOutput = &buf
	oldLevel := env.SetDebug(5)
	defer func() { device.DebugOutput = old; env.SetDebug(oldLevel) }()
	// A shape no other test uses, so the kernel compiles here.
	g.Rand(3, 37).Realize().Exp().Sum(1).Realize()
	out := buf.String()
	for _, w := range []string{"schedule:", "--- kernel r_3_37", "REDUCE_AXIS", "--- linear program", "RANGE", "--- source", " r_3_37("} {
		if !strings.Contains(out, w) {
			t.Errorf("DEBUG=5 output lacks %q:\n%s", w, out)
		}
	}
}

func TestGraphWritesExecutedKernels(t *testing.T) {
	old := env.SetGraph(true)
	defer env.SetGraph(old)
	g.ResetGraph()
	a := g.Rand(8, 8).Realize()
	a.Softmax(-1).Realize()
	dot := g.GraphDOT()
	if want := rows(1, 3); int64(strings.Count(dot, "shape=box")) != want {
		t.Fatalf("graph should hold %d kernels:\n%s", want, dot)
	}
	if !strings.Contains(dot, "->") || !strings.Contains(dot, "r_8_8") {
		t.Fatalf("graph lacks edges or kernel names:\n%s", dot)
	}
	if _, err := os.Stat(g.GraphPath() + ".dot"); err != nil {
		t.Fatalf("GRAPH=1 wrote no file: %v", err)
	}
}

func TestAssignWritesInPlace(t *testing.T) {
	p := g.FromSlice([]float32{1, 2, 3, 4})
	p.Realize()
	before := p.UOp()
	n := countKernels(func() { p.Assign(p.Mul(2).Add(1)).Realize() })
	if n != 1 {
		t.Fatalf("assign ran %d kernels, want 1", n)
	}
	if p.UOp() != before {
		t.Fatalf("after an assign the tensor should be its old buffer view again")
	}
	if got := fmt.Sprint(p.Float32s()); got != "[3 5 7 9]" {
		t.Fatalf("after assign: %v", got)
	}
	// A view of the old contents computed in the same realize sees them.
	q := g.FromSlice([]float32{1, 2}).Realize()
	old := q.Mul(10)
	q.Assign(q.Add(100))
	g.Realize(old, q)
	if a, b := fmt.Sprint(old.Float32s()), fmt.Sprint(q.Float32s()); a != "[10 20]" || b != "[101 102]" {
		t.Fatalf("old reader saw %v (want [10 20]), assign gave %v (want [101 102])", a, b)
	}
	// A value that reads its own target through another view is computed
	// apart first: in place it would read what it already overwrote.
	sq := g.FromSlice([]float32{1, 2, 3, 4}, 2, 2).Realize()
	sq.Assign(sq.T()).Realize()
	if got := fmt.Sprint(sq.Float32s()); got != "[1 3 2 4]" {
		t.Fatalf("x.Assign(x.T()) gave %v, want [1 3 2 4]", got)
	}
	// Assigning into a slice of a buffer.
	r := g.Zeros(2, 3).Contiguous().Realize()
	row := r.Slice(g.At(1))
	row.Assign(g.FromSlice([]float32{7, 8, 9}))
	row.Realize()
	if got := fmt.Sprint(r.Float32s()); got != "[0 0 0 7 8 9]" {
		t.Fatalf("assign into a row gave %v", got)
	}
}

// An optimizer-like step: three in-place updates of one shape reading each
// other's old values fuse into one multi-output kernel.
func TestMultiOutputKernel(t *testing.T) {
	p, m, v := g.Rand(64).Realize(), g.Rand(64).Realize(), g.Rand(64).Realize()
	grad := g.Rand(64).Realize()
	p0, m0, v0, g0 := p.Float32s(), m.Float32s(), v.Float32s(), grad.Float32s()
	mNew := m.Mul(0.9).Add(grad.Mul(0.1))
	vNew := v.Mul(0.99).Add(grad.Mul(grad).Mul(0.01))
	pNew := p.Sub(mNew.Div(vNew.Sqrt().Add(1e-8)).Mul(0.01))
	n := countKernels(func() { g.Realize(m.Assign(mNew), v.Assign(vNew), p.Assign(pNew)) })
	if n != 1 {
		t.Fatalf("the three updates ran %d kernels, want 1", n)
	}
	pg, mg, vg := p.Float32s(), m.Float32s(), v.Float32s()
	for i := range p0 {
		wm := m0[i]*0.9 + g0[i]*0.1
		wv := v0[i]*0.99 + g0[i]*g0[i]*0.01
		wp := p0[i] - wm/(float32(math.Sqrt(float64(wv)))+1e-8)*0.01
		if !close32(mg[i], wm) || !close32(vg[i], wv) || !close32(pg[i], wp) {
			t.Fatalf("element %d: m %v v %v p %v, want %v %v %v", i, mg[i], vg[i], pg[i], wm, wv, wp)
		}
	}
}

func close32(a, b float32) bool { return math.Abs(float64(a-b)) <= 1e-5*(1+math.Abs(float64(b))) }

// TestShiftsByWidthOrMore: shifts are defined for every count (a 64-bit
// shift, then truncated), the same on every device; C leaves a 32-bit
// shift by 32 or more undefined, so the C renderer widens first.
func TestShiftsByWidthOrMore(t *testing.T) {
	forEachDevice(t, func(t *testing.T) {
		a := g.FromSlice([]int32{-256, 256, -1, 7, 5})
		n := g.FromSlice([]int32{40, 40, 33, 31, 1})
		if got, want := a.Shr(n).Int32s(), []int32{-1, 0, -1, 0, 2}; !slices.Equal(got, want) {
			t.Errorf("%v >> %v = %v, want %v", a.Int32s(), n.Int32s(), got, want)
		}
		if got, want := a.Shl(n).Int32s(), []int32{0, 0, 0, -2147483648, 10}; !slices.Equal(got, want) {
			t.Errorf("%v << %v = %v, want %v", a.Int32s(), n.Int32s(), got, want)
		}
		u := g.FromSlice([]uint32{0xffffffff, 1 << 31, 8})
		m := g.FromSlice([]uint32{32, 31, 40})
		if got, want := g.Data[uint32](u.Shr(m)), []uint32{0, 1, 0}; !slices.Equal(got, want) {
			t.Errorf("%v >> %v = %v, want %v", g.Data[uint32](u), g.Data[uint32](m), got, want)
		}
	})
}

// TestCatOfLongParts: a part of a concatenation longer than a vector of
// lanes (the GO device's 256) leaves a whole vector of the next part's
// lanes beyond its end, which the mask's interval clamps to none.
func TestCatOfLongParts(t *testing.T) {
	forEachDevice(t, func(t *testing.T) {
		var parts []*g.Tensor
		var want []uint8
		for i, n := range []int{3, 2, 4} {
			v := make([]uint8, n*512)
			for j := range v {
				v[j] = uint8(i*64 + j%61)
			}
			parts = append(parts, g.FromSlice(v, n, 8, 64))
			want = append(want, v...)
		}
		if got := g.Data[uint8](g.Cat(0, parts...)); !slices.Equal(got, want) {
			t.Errorf("Cat of [3 8 64], [2 8 64] and [4 8 64] differs from the parts one after another")
		}
	})
}

// TestBroadcastTranscendentalRealized: the SiLU-gated input of a
// matrix-vector product (a LLaMA feed-forward block) is computed once into
// its own kernel, not once per output row inside the product; a per-row
// statistic broadcast along a row (layernorm's scale) stays fused.
func TestBroadcastTranscendentalRealized(t *testing.T) {
	gate, up := g.Rand(1, 256).Realize(), g.Rand(1, 256).Realize()
	w := g.Rand(64, 256).Realize()
	n := countKernels(func() { gate.Silu().Mul(up).Matmul(w.T()).Realize() })
	if n != 2 {
		t.Errorf("silu(gate)*up @ W.T: %d kernels, want 2 (the gated input, the product)", n)
	}
	x := g.Rand(8, 256).Realize()
	n = countKernels(func() { x.Sub(x.Mean(1, g.KeepDim)).Mul(x.Var(1, g.KeepDim).Add(1e-5).Rsqrt()).Realize() })
	if n > 3 {
		t.Errorf("layernorm: %d kernels, want at most 3", n)
	}
	n = countKernels(func() { x.LayerNorm([]int{256}, nil, nil, 1e-5).Realize() })
	if n > 3 {
		t.Errorf("LayerNorm (VarMean): %d kernels, want at most 3", n)
	}
}

// TestIntermediatesReleased: the memory of a schedule's intermediate
// buffers goes back to the device as soon as the schedule has run, not when
// the garbage collector next finds them dead; the result's stays, and a
// released buffer cannot be used again.
func TestIntermediatesReleased(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	x := g.Rand(256, 256).Realize()
	before, _ := device.MemUsed()
	y := x.Add(1).Contiguous().Mul(x).Contiguous().Sum(1).Realize()
	after, _ := device.MemUsed()
	if got, want := after-before, int64(256*4); got != want {
		t.Errorf("%d bytes held after realizing a graph with two 256 KiB intermediates, want %d (the result's)", got, want)
	}
	if got := y.Float32s(); len(got) != 256 {
		t.Fatalf("result of %d elements", len(got))
	}
	b := device.NewBuffer(device.MustGet(g.DefaultDevice()), g.Float32, 16)
	b.MustMem()
	b.Release()
	if _, err := b.Mem(); err == nil {
		t.Error("a released buffer's Mem returned no error")
	}
}
