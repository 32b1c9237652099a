//go:build unix

package cpu_test

import (
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	g "github.com/gograd/gograd"
	"github.com/gograd/gograd/device"
	"github.com/gograd/gograd/device/cpu"
	"github.com/gograd/gograd/render"
)

// The child process of the cache and fallback tests: realize one kernel on
// the default device and report what happened.
func TestMain(m *testing.M) {
	if mode := os.Getenv("GOGRAD_CPU_CHILD"); mode != "" {
		x := g.FromSlice([]float32{1, 2, 3})
		// A constant unique to this test run, so the kernel is new to the cache.
		y := x.Mul(3).Add(float32(len(mode))).Float32s()
		fmt.Printf("device=%s compiler_runs=%d values=%v\n", g.DefaultDevice(), cpu.CompilerRuns(), y)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func needCompiler(t *testing.T) {
	t.Helper()
	if _, err := device.Get("CPU"); err != nil {
		t.Skipf("no CPU device on this machine: %v", err)
	}
}

func child(t *testing.T, env ...string) (string, string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run", "^$")
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("child: %v\n%s%s", err, stdout.String(), stderr.String())
	}
	return stdout.String(), stderr.String()
}

func TestSecondProcessCompilesNothing(t *testing.T) {
	needCompiler(t)
	cache := t.TempDir()
	mode := "cache-" + strconv.Itoa(os.Getpid())
	env := []string{"GOGRAD_CPU_CHILD=" + mode, "GOGRAD_CACHE=" + cache, "DEV=CPU"}
	first, _ := child(t, env...)
	second, _ := child(t, env...)
	if !strings.Contains(first, "device=CPU:0") || strings.Contains(first, "compiler_runs=0 ") {
		t.Fatalf("first process should compile on CPU: %s", first)
	}
	if !strings.Contains(second, "compiler_runs=0 ") {
		t.Fatalf("second process ran the compiler although the kernel is cached: %s", second)
	}
	if !strings.Contains(second, "values=[") || first[strings.Index(first, "values="):] != second[strings.Index(second, "values="):] {
		t.Fatalf("processes disagree: %q vs %q", first, second)
	}
}

func TestMissingCompilerFallsBackToGO(t *testing.T) {
	out, stderr := child(t, "GOGRAD_CPU_CHILD=nocc", "CC=/nonexistent/cc", "PATH=/nonexistent", "DEV=")
	if !strings.Contains(out, "device=GO:0") {
		t.Fatalf("without a compiler the default device should be GO: %s", out)
	}
	if n := strings.Count(strings.TrimSpace(stderr), "\n"); !strings.Contains(stderr, "gograd: using GO") || n != 0 {
		t.Fatalf("want a one-line notice naming the fallback, got %q", stderr)
	}
	if !strings.Contains(out, "values=[7 10 13]") {
		t.Fatalf("fallback computed wrong values: %s", out)
	}
}

// TestCompilerWithoutHalfSkipped: a $CC that cannot compile _Float16 (as
// clang 14 on x86-64) is passed over for the next compiler, not chosen to
// fail every kernel.
func TestCompilerWithoutHalfSkipped(t *testing.T) {
	needCompiler(t)
	gcc, err := exec.LookPath("gcc")
	if err != nil {
		t.Skip("the fallback this test wants is gcc, and there is none")
	}
	script := filepath.Join(t.TempDir(), "cc-nohalf")
	body := "#!/bin/sh\n" +
		"if [ \"$1\" = --version ]; then echo 'nohalf 1.0'; exit 0; fi\n" +
		"src=$(cat)\n" +
		"case \"$src\" in *_Float16*) echo 'error: _Float16 is not supported on this target' >&2; exit 1;; esac\n" +
		"printf '%s' \"$src\" | exec " + gcc + " \"$@\"\n"
	if err := os.WriteFile(script, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	out, _ := child(t, "GOGRAD_CPU_CHILD=nohalf", "CC="+script, "GOGRAD_CACHE="+t.TempDir(), "DEV=CPU")
	if !strings.Contains(out, "device=CPU:0") || !strings.Contains(out, "values=[9 12 15]") {
		t.Fatalf("with a $CC lacking _Float16 the CPU device should use the next compiler: %s", out)
	}
}

func TestCompileErrorShowsMessageAndSource(t *testing.T) {
	needCompiler(t)
	dev := device.MustGet("CPU")
	_, err := dev.Compile("broken", &render.CKernel{Name: "broken", Src: "void broken(void) { this is not C; }\n"})
	var ce *cpu.CompileError
	if !errors.As(err, &ce) {
		t.Fatalf("want a *cpu.CompileError, got %v", err)
	}
	if !strings.Contains(err.Error(), "this is not C") || !strings.Contains(ce.Output, "error") {
		t.Fatalf("the error should show the compiler's message and the source:\n%v", err)
	}
}

func TestKernelsRunOnCPU(t *testing.T) {
	needCompiler(t)
	a := g.FromSliceOn("CPU", []float32{1, 2, 3, 4, 5, 6}, 2, 3)
	if got := fmt.Sprint(a.Matmul(a.T()).Float32s()); got != "[14 32 32 77]" {
		t.Fatalf("matmul on CPU: %v", got)
	}
	// Large enough that the outer loop is split across threads.
	x := g.Rand(512, 512).To("CPU").Realize()
	want := x.To("GO").Sum(1).Float32s()
	got := x.Sum(1).Float32s()
	for i := range want {
		if d := got[i] - want[i]; d > 1e-3 || d < -1e-3 {
			t.Fatalf("row %d: CPU %v, GO %v", i, got[i], want[i])
		}
	}
}

// TestSelectUnderSqrtRegression: GCC 12's SLP vectorizer (AVX-512)
// miscompiled a select of lanes next to a sqrt of lanes; the CPU device must
// agree with GO.
func TestSelectUnderSqrtRegression(t *testing.T) {
	needCompiler(t)
	n := 32
	p := g.FromSliceOn("CPU", make([]float32, n)).Add(g.Arange(n).To("CPU").Cast(g.Float32)).Contiguous().Realize()
	q := p.Mul(0.5).Contiguous().Realize()
	rows := func(x *g.Tensor) *g.Tensor { return x.Mul(x).Reshape(1, n).Expand(2, n) }
	first := g.OnesLike(p).Reshape(n).Shrink([][2]int{{0, 1}}).Reshape(1, 1).Pad([][2]int{{0, 1}, {0, 0}})
	got := first.Where(rows(p), rows(q.Sqrt())).Sum(1).Float32s()
	if got[0] != 10416 || got[1] < 247.99 || got[1] > 248.01 {
		t.Fatalf("got %v, want [10416 248]", got)
	}
}

// TestLargeOutputsStream: a float output larger than the last-level cache
// is written with stores that bypass it (stream_N), on every thread of the
// split loop, with the same values; an output that is read again soon is
// not.
func TestLargeOutputsStream(t *testing.T) {
	needCompiler(t)
	const n = 1<<24 + 48 // 64 MiB and three vectors
	x := g.Arange(n).To("CPU").Cast(g.Float32).Contiguous().Realize()
	for _, tc := range []struct {
		n      int
		stream bool
	}{{n, true}, {1 << 16, false}} {
		v := x.Shrink([][2]int{{0, tc.n}})
		var got []float32
		kernels := g.Capture(func() { got = v.Mul(2).Add(1).Contiguous().Float32s() })
		streamed := false
		for _, k := range kernels {
			if s, ok := k.Prog.(interface{ Source() string }); ok && strings.Contains(s.Source(), "stream_") {
				streamed = true
			}
		}
		if streamed != tc.stream {
			t.Errorf("%d floats: streamed stores %v, want %v", tc.n, streamed, tc.stream)
		}
		for i := 0; i < tc.n; i += 997 {
			if want := float32(i)*2 + 1; got[i] != want {
				t.Fatalf("%d floats: element %d is %v, want %v", tc.n, i, got[i], want)
			}
		}
		if want := float32(tc.n-1)*2 + 1; got[tc.n-1] != want {
			t.Fatalf("%d floats: last element %v, want %v", tc.n, got[tc.n-1], want)
		}
	}
}

// TestStreamingBytesPrefetch: a product of int8 rows with a vector
// prefetches the rows ahead when they are more than an L2 of bytes read
// once, never the vector that every row reads again, and gives the
// product's values either way.
func TestStreamingBytesPrefetch(t *testing.T) {
	needCompiler(t)
	const cols = 512
	for _, tc := range []struct {
		rows     int
		prefetch bool
	}{{1024, true}, {64, false}} {
		w := make([]int8, tc.rows*cols)
		for i := range w {
			w[i] = int8(i*7%251 - 125)
		}
		x := make([]int8, cols)
		for i := range x {
			x[i] = int8(i%19 - 9)
		}
		wt := g.FromSliceOn("CPU", w).Reshape(tc.rows, cols).Realize()
		xt := g.FromSliceOn("CPU", x).Reshape(1, cols).Realize()
		var got []int32
		kernels := g.Capture(func() { got = wt.Cast(g.Int32).Mul(xt.Cast(g.Int32)).Sum(1).Int32s() })
		var src string
		for _, k := range kernels {
			if s, ok := k.Prog.(interface{ Source() string }); ok {
				src += s.Source()
			}
		}
		if n := strings.Count(src, "__builtin_prefetch("); n != map[bool]int{true: 1, false: 0}[tc.prefetch] {
			t.Errorf("%d rows: %d prefetches, want prefetch=%v; source:\n%s", tc.rows, n, tc.prefetch, src)
		}
		for r := range tc.rows {
			var want int32
			for c := range cols {
				want += int32(w[r*cols+c]) * int32(x[c])
			}
			if got[r] != want {
				t.Fatalf("%d rows: row %d is %d, want %d", tc.rows, r, got[r], want)
			}
		}
	}
}

// TestByteWeightsUnrolled: a matrix-vector product of int8 weights summed
// as floats loads several vectors of weights a turn (one vector of 16 bytes
// a turn left the sum's chain of dependent adds setting the pace, at about
// half the memory's bandwidth), with the same sums.
func TestByteWeightsUnrolled(t *testing.T) {
	needCompiler(t)
	const rows, cols = 64, 2048
	w := make([]int8, rows*cols)
	for i := range w {
		w[i] = int8(i*7%251 - 125)
	}
	x := make([]float32, cols)
	for i := range x {
		x[i] = float32(i%19-9) / 8
	}
	wt := g.FromSliceOn("CPU", w).Reshape(rows, cols).Realize()
	xt := g.FromSliceOn("CPU", x).Realize()
	var got []float32
	names := reduceKernels(func() { got = xt.Matmul(wt.Cast(g.Float32).T()).Float32s() })
	if len(names) != 1 || !regexp.MustCompile(`_v\d+_u\d+$`).MatchString(names[0]) {
		t.Errorf("kernels %v, want one with its vector reduce unrolled (..._vN_uM)", names)
	}
	for r := range rows {
		var want float64
		for c := range cols {
			want += float64(w[r*cols+c]) * float64(x[c])
		}
		if math.Abs(float64(got[r])-want) > 1e-3*(1+math.Abs(want)) {
			t.Fatalf("row %d is %g, want %g", r, got[r], want)
		}
	}
}

// TestLongFloatRowsFourAtATime: a float matrix-vector product whose rows
// are 16 KiB or longer reads four rows a turn (a ..._u4 tile of the rows:
// one row's chain of adds held it to 69-96% of a plain read), one with
// shorter rows reads one at a time; both give the float64 sums.
func TestLongFloatRowsFourAtATime(t *testing.T) {
	needCompiler(t)
	for _, tc := range []struct {
		rows, cols int
		name       string
	}{
		{64, 4096, `^r_16_\d+_v\d+_u4$`},
		{64, 2048, `^r_64_\d+_v\d+$`},
	} {
		w := make([]float32, tc.rows*tc.cols)
		for i := range w {
			w[i] = float32(i*7%251-125) / 64
		}
		x := make([]float32, tc.cols)
		for i := range x {
			x[i] = float32(i%19-9) / 8
		}
		wt := g.FromSliceOn("CPU", w).Reshape(tc.rows, tc.cols).Realize()
		xt := g.FromSliceOn("CPU", x).Realize()
		var got []float32
		names := reduceKernels(func() { got = xt.Matmul(wt.T()).Float32s() })
		if len(names) != 1 || !regexp.MustCompile(tc.name).MatchString(names[0]) {
			t.Errorf("%dx%d: kernels %v, want one named like %s", tc.rows, tc.cols, names, tc.name)
		}
		for r := range tc.rows {
			var want float64
			for c := range tc.cols {
				want += float64(w[r*tc.cols+c]) * float64(x[c])
			}
			if math.Abs(float64(got[r])-want) > 1e-4*(1+math.Abs(want)) {
				t.Fatalf("%dx%d: row %d is %g, want %g", tc.rows, tc.cols, r, got[r], want)
			}
		}
	}
}

// TestSoftmaxExponentialsOnce: a softmax's row kernel computes each
// exponential once, in the pass that sums them, keeping the row's values in
// a local array that the pass storing the quotients reads; a row too long
// for that array (over 32 KiB) computes them twice. The quotients are the
// float64 softmax's either way.
func TestSoftmaxExponentialsOnce(t *testing.T) {
	needCompiler(t)
	for _, tc := range []struct {
		rows, cols int
		exps       int // exp2 calls in the kernel's body
	}{
		{8, 4096, 1},
		{5, 37, 1},
		{2, 16384, 2},
	} {
		x := make([]float32, tc.rows*tc.cols)
		for i := range x {
			x[i] = float32(i*37%101)/10 - 5
		}
		xt := g.FromSliceOn("CPU", x).Reshape(tc.rows, tc.cols).Realize()
		var got []float32
		ks := g.Capture(func() { got = xt.Softmax(-1).Float32s() })
		var bodies []string
		for _, k := range ks {
			if p, ok := k.Prog.(interface{ Source() string }); ok && strings.HasPrefix(k.Info.Name, "r_") {
				_, body, _ := strings.Cut(p.Source(), "void "+k.Info.Name+"(")
				bodies = append(bodies, body)
			}
		}
		if len(bodies) != 1 || strings.Count(bodies[0], "exp2") != tc.exps {
			t.Errorf("%dx%d: %d reduction kernels; want one calling exp2 %d times:\n%s", tc.rows, tc.cols, len(bodies), tc.exps, strings.Join(bodies, "\n"))
		}
		for r := range tc.rows {
			row := x[r*tc.cols : (r+1)*tc.cols]
			m := math.Inf(-1)
			for _, v := range row {
				m = max(m, float64(v))
			}
			var sum float64
			for _, v := range row {
				sum += math.Exp(float64(v) - m)
			}
			for c, v := range row {
				want := math.Exp(float64(v)-m) / sum
				if d := math.Abs(float64(got[r*tc.cols+c]) - want); d > 1e-6+1e-4*want {
					t.Fatalf("%dx%d: element %d,%d is %g, want %g", tc.rows, tc.cols, r, c, got[r*tc.cols+c], want)
				}
			}
		}
	}
}

// reduceKernels returns the names of the reduction kernels f launches.
func reduceKernels(f func()) []string {
	var names []string
	for _, k := range g.Capture(f) {
		if k.Prog != nil && strings.HasPrefix(k.Info.Name, "r_") {
			names = append(names, k.Info.Name)
		}
	}
	return names
}

// A convolution whose output rows (6 wide) take no vector of 4 or more
// lanes is vectorized along its output channels instead (its weight packed
// channels-last, each lane stored by itself), forward and for its weight's
// gradient; a reduction whose only contiguous load sits beside a gathered
// one (a gradient upsampled through a 2x2 pool) is still vectorized. Both
// give the plain loops' values.
func TestVectorsAlongOtherAxes(t *testing.T) {
	needCompiler(t)
	const n, c, o, h = 2, 16, 32, 8 // 3x3 kernel: rows of 6
	xs, ws := make([]float32, n*c*h*h), make([]float32, o*c*9)
	for i := range xs {
		xs[i] = float32(i*37%101)/50 - 1
	}
	for i := range ws {
		ws[i] = float32(i*53%97)/48 - 1
	}
	x := g.FromSliceOn("CPU", xs).Reshape(n, c, h, h).Realize()
	w := g.FromSliceOn("CPU", ws).Reshape(o, c, 3, 3).Realize()
	var got []float32
	names := reduceKernels(func() { got = x.Conv2d(w, nil, g.ConvOpts{}).Float32s() })
	if len(names) != 1 || !strings.Contains(names[0], "_v") {
		t.Errorf("convolution with rows of 6: reduction kernels %v, want one vectorized (a _v in its name)", names)
	}
	want := make([]float32, n*o*6*6)
	for b := range n {
		for oc := range o {
			for y := range 6 {
				for xx := range 6 {
					var s float32
					for ic := range c {
						for ky := range 3 {
							for kx := range 3 {
								s += xs[((b*c+ic)*h+y+ky)*h+xx+kx] * ws[((oc*c+ic)*3+ky)*3+kx]
							}
						}
					}
					want[((b*o+oc)*6+y)*6+xx] = s
				}
			}
		}
	}
	for i := range want {
		if d := got[i] - want[i]; d > 1e-4 || d < -1e-4 {
			t.Fatalf("convolution element %d: %g, want %g", i, got[i], want[i])
		}
	}

	// Pooled gradient p (n, c, 4, 4) upsampled 2x times z (n, c, 8, 8),
	// summed per channel.
	ps, zs := make([]float32, n*c*16), make([]float32, n*c*64)
	for i := range ps {
		ps[i] = float32(i%7) - 3
	}
	for i := range zs {
		zs[i] = float32(i%5) - 2
	}
	p := g.FromSliceOn("CPU", ps).Reshape(n, c, 4, 1, 4, 1).Expand(n, c, 4, 2, 4, 2).Reshape(n, c, 8, 8)
	z := g.FromSliceOn("CPU", zs).Reshape(n, c, 8, 8).Realize()
	var sums []float32
	names = reduceKernels(func() { sums = p.Mul(z).Sum([]int{0, 2, 3}).Float32s() })
	if len(names) != 1 || !strings.Contains(names[0], "_v") {
		t.Errorf("sum of an upsampled gradient: reduction kernels %v, want one vectorized", names)
	}
	for ch := range c {
		var s float32
		for b := range n {
			for y := range 8 {
				for xx := range 8 {
					s += ps[((b*c+ch)*4+y/2)*4+xx/2] * zs[((b*c+ch)*8+y)*8+xx]
				}
			}
		}
		if sums[ch] != s {
			t.Errorf("channel %d: sum %g, want %g", ch, sums[ch], s)
		}
	}
}

// Floats cast to bytes and compared, 32 to a vector (as activations are
// quantized to int8), give the GO device's values at the edges: NaN,
// infinities, values past int32's and int64's range, halves and
// negatives. Both go through the C renderer's whole-register helpers
// (f2i8_N, and a comparison split into 64-byte parts), which GCC would
// otherwise compile lane by lane.
func TestCastToBytesAndWideCompares(t *testing.T) {
	needCompiler(t)
	edges := []float32{float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1)), 0, float32(math.Copysign(0, -1)),
		0.5, -0.5, 0.9999, -0.9999, 127.5, 127.9, 128, 255.5, 256, 300.7, -128.5, -129.5, -300.7,
		1 << 24, 1<<24 + 2, 1 << 31, -(1 << 31), 3e9, -3e9, 1 << 40, 1<<40 + 1<<17, 1 << 62, 1 << 63, -(1 << 63), 1e20, -1e20, 3.4e38}
	xs := make([]float32, 32*16)
	for i := range xs {
		if i < len(edges) {
			xs[i] = edges[i]
		} else {
			xs[i] = float32(i*7919%2001)/4 - 250
		}
	}
	run := func(dev string) (i8 []int8, u8 []uint8, lt []int8, kernels string) {
		x := g.FromSliceOn(dev, xs).Reshape(16, 32).Realize()
		y := x.Flip(0).Realize()
		for _, k := range g.Capture(func() {
			i8 = g.Data[int8](x.Cast(g.Int8))
			u8 = g.Data[uint8](x.Cast(g.Uint8))
			lt = g.Data[int8](x.Lt(y).Where(x, y).Cast(g.Int8))
		}) {
			if p, ok := k.Prog.(interface{ Source() string }); ok {
				kernels += p.Source()
			}
		}
		return i8, u8, lt, kernels
	}
	i8, u8, lt, src := run("CPU")
	wi8, wu8, wlt, _ := run("GO")
	for _, helper := range []string{"f2i8_32(", "lt_float_32("} {
		if !strings.Contains(src, helper) {
			t.Errorf("the CPU kernels do not call %s", helper)
		}
	}
	for i := range xs {
		if i8[i] != wi8[i] || u8[i] != wu8[i] || lt[i] != wlt[i] {
			t.Errorf("x[%d] = %g: CPU int8 %d, uint8 %d, select %d; GO %d, %d, %d", i, xs[i], i8[i], u8[i], lt[i], wi8[i], wu8[i], wlt[i])
		}
	}
}
