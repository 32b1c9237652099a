package render_test

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	g "github.com/gograd/gograd"
	"github.com/gograd/gograd/codegen"
	"github.com/gograd/gograd/dtype"
	"github.com/gograd/gograd/render"
	"github.com/gograd/gograd/schedule"
	"github.com/gograd/gograd/uop"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata")

// cudaOpts are the optimiser options of the CUDA backend: 16-byte vectors
// (float4 loads and stores) and the hand-tuned register tiles.
var cudaOpts = codegen.Options{SIMD: 16}

// cudaKernel is one kernel of a golden case, rendered.
type cudaKernel struct {
	prog *codegen.Program
	k    *render.CUDAKernel
}

// cudaCases are the representative kernels whose CUDA source is golden:
// each builds lazy tensors over GO buffers; every kernel of their schedule
// is compiled with opts and rendered.
var cudaCases = []struct {
	name  string
	opts  codegen.Options
	build func() []*g.Tensor
}{
	{"elementwise_broadcast", cudaOpts, func() []*g.Tensor {
		x, b, s := f32(32, 64), f32(64), f32(32, 1)
		return []*g.Tensor{x.Add(b).Mul(s)}
	}},
	{"fma", cudaOpts, func() []*g.Tensor {
		a, b, c := f32(4096), f32(4096), f32(4096)
		return []*g.Tensor{a.Mul(b).Add(c)}
	}},
	{"fma_odd", cudaOpts, func() []*g.Tensor { // no vector width divides 1000: scalar, partial last block
		a, b, c := f32(1000), f32(1000), f32(1000)
		return []*g.Tensor{a.Mul(b).Add(c)}
	}},
	{"sum_rows", cudaOpts, func() []*g.Tensor { return []*g.Tensor{f32(64, 256).Sum(1)} }},
	{"sum_all", cudaOpts, func() []*g.Tensor { return []*g.Tensor{f32(4096).Sum()} }},
	{"max_cols", cudaOpts, func() []*g.Tensor { return []*g.Tensor{f32(256, 64).Max(0)} }},
	{"softmax", cudaOpts, func() []*g.Tensor { return []*g.Tensor{f32(64, 256).Softmax(1)} }},
	{"matmul", cudaOpts, func() []*g.Tensor { return []*g.Tensor{f32(64, 128).Matmul(f32(128, 32))} }},
	{"matmul_scalar", codegen.Options{}, func() []*g.Tensor { return []*g.Tensor{f32(64, 128).Matmul(f32(128, 32))} }},
	{"conv2d", cudaOpts, func() []*g.Tensor {
		x, w, b := f32(2, 3, 16, 16), f32(8, 3, 3, 3), f32(8)
		return []*g.Tensor{x.Conv2d(w, b, g.ConvOpts{Padding: []int{1, 1}}).Relu()}
	}},
	{"half", cudaOpts, func() []*g.Tensor {
		a, b, c := f32(64, 64).Cast(g.Float16), f32(64, 64).Cast(g.Float16), f32(64).Cast(g.Float16)
		return []*g.Tensor{a.Mul(b).Add(c).Exp()}
	}},
	{"half_matmul_f32acc", cudaOpts, func() []*g.Tensor {
		a, b := f32(32, 64).Cast(g.Float16), f32(64, 16).Cast(g.Float16)
		return []*g.Tensor{a.Cast(g.Float32).Matmul(b.Cast(g.Float32)).Cast(g.Float16)}
	}},
	{"bfloat16", cudaOpts, func() []*g.Tensor {
		a, b := f32(16, 64).Cast(g.BFloat16), f32(64).Cast(g.BFloat16)
		return []*g.Tensor{a.Mul(b).Sum(1), a.Add(b).Maximum(a).Relu()}
	}},
	{"int_ops", cudaOpts, func() []*g.Tensor {
		a, b := i32(256), i32(256)
		return []*g.Tensor{a.FloorDiv(b), a.Mod(b), a.Shl(b), a.Shr(b), a.BitXor(b).Maximum(a.Mul(b)), a.Lt(b).Where(a.Neg(), a)}
	}},
	{"int8_uint64", codegen.Options{}, func() []*g.Tensor {
		x := f32(64)
		return []*g.Tensor{x.Cast(g.Int8).Add(x.Cast(g.Int8)), x.Cast(g.Uint64).Mul(3), x.Cast(g.Int64).Bitcast(g.Float64), x.Bitcast(g.Int32).BitAnd(0x7fffffff)}
	}},
	{"float64", cudaOpts, func() []*g.Tensor {
		x := f32(128).Cast(g.Float64)
		return []*g.Tensor{x.Exp().Add(x.Log()).Sqrt().Maximum(x.Sin()).Div(x)}
	}},
	{"padded", cudaOpts, func() []*g.Tensor {
		return []*g.Tensor{f32(30, 60).Pad([][2]int{{1, 1}, {2, 2}}).Add(1)}
	}},
	{"shrink_unaligned", cudaOpts, func() []*g.Tensor { // consecutive but not 16-byte aligned: element loads
		x := f32(1025)
		return []*g.Tensor{x.Shrink([][2]int{{1, 1025}}).Mul(2)}
	}},
	{"symbolic", cudaOpts, func() []*g.Tensor {
		x := f32(64, 8)
		p := g.NewVar("pos", 0, 100).BindOn("GO", 5).Cast(g.Float32)
		return []*g.Tensor{x.Lt(p).Where(x.Mul(p), -1)}
	}},
	{"big_3d", cudaOpts, func() []*g.Tensor { // three global loops: x, y and z
		return []*g.Tensor{f32(6, 5, 7, 2).Permute(3, 2, 1, 0).Mul(2)}
	}},
}

func f32(shape ...int) *g.Tensor {
	return g.FromSliceOn("GO", make([]float32, uop.Prod(shape)), shape...)
}

func i32(shape ...int) *g.Tensor {
	return g.FromSliceOn("GO", make([]int32, uop.Prod(shape)), shape...)
}

// cudaKernels schedules the targets and renders every kernel.
func cudaKernels(t *testing.T, opts codegen.Options, targets []*g.Tensor) []cudaKernel {
	t.Helper()
	us := make([]*uop.UOp, len(targets))
	for i, x := range targets {
		us[i] = x.UOp()
	}
	var out []cudaKernel
	for _, it := range schedule.Create(us).Items {
		if it.Kind != schedule.Kernel || it.AST == nil {
			continue
		}
		p := codegen.Compile(it.AST, opts)
		k, err := render.CUDA(p.Name, p.UOps)
		if err != nil {
			t.Fatalf("%v\n%s", err, p)
		}
		out = append(out, cudaKernel{p, k})
	}
	if len(out) == 0 {
		t.Fatal("no kernels")
	}
	return out
}

func (c cudaKernel) golden() string {
	return fmt.Sprintf("// %s: grid %v, block %v, %d buffers, %d vars\n%s", c.k.Name, c.k.Global, c.k.Local, c.k.NBufs, c.k.NVars, c.k.Src)
}

func TestCUDAGolden(t *testing.T) {
	for _, tc := range cudaCases {
		t.Run(tc.name, func(t *testing.T) {
			ks := cudaKernels(t, tc.opts, tc.build())
			var b strings.Builder
			for i, k := range ks {
				if i > 0 {
					b.WriteString("\n")
				}
				b.WriteString(k.golden())
				checkCUDAKernel(t, k)
			}
			path := filepath.Join("testdata", "cuda", tc.name+".golden")
			if *update {
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test ./render -run TestCUDAGolden -update to create it)", err)
			}
			if got := b.String(); got != string(want) {
				t.Errorf("CUDA source of %s differs from %s (-update rewrites it):\n%s", tc.name, path, lineDiff(string(want), got))
			}
		})
	}
}

// checkCUDAKernel checks what holds for every kernel: the launch covers the
// global loops within CUDA's limits, and the source has the entry point,
// one parameter per buffer and variable, and balanced braces.
func checkCUDAKernel(t *testing.T, c cudaKernel) {
	t.Helper()
	k, p := c.k, c.prog
	threads := k.Local[0] * k.Local[1] * k.Local[2]
	if threads < 1 || threads > 256 || k.Local[2] > 64 {
		t.Errorf("%s: block %v: want 1..256 threads, z at most 64", k.Name, k.Local)
	}
	if k.Global[1] > 65535 || k.Global[2] > 65535 {
		t.Errorf("%s: grid %v exceeds CUDA's y/z limits", k.Name, k.Global)
	}
	work := int64(1)
	for _, s := range p.Full[:p.NGlobal] {
		work *= int64(s)
	}
	if got := k.Threads(); got < work || got >= work+int64(threads)*int64(max(k.Global[0], 1)) {
		t.Errorf("%s: %d threads for %d global iterations %v (grid %v, block %v)", k.Name, got, work, p.Full[:p.NGlobal], k.Global, k.Local)
	}
	if k.NBufs != p.NBufs || k.NVars != len(p.Vars) {
		t.Errorf("%s: %d buffers and %d vars, program has %d and %d", k.Name, k.NBufs, k.NVars, p.NBufs, len(p.Vars))
	}
	if !strings.Contains(k.Src, `extern "C" __global__ void __launch_bounds__(`+fmt.Sprint(threads)+") "+k.Name+"(") {
		t.Errorf("%s: no entry point with the launch bounds:\n%s", k.Name, k.Src)
	}
	sig := k.Src[strings.Index(k.Src, k.Name+"("):]
	sig = sig[:strings.Index(sig, ")")]
	if n := strings.Count(sig, "data") + strings.Count(sig, "long long var"); n != k.NBufs+k.NVars {
		t.Errorf("%s: %d parameters in %q, want %d", k.Name, n, sig, k.NBufs+k.NVars)
	}
	if strings.Count(k.Src, "{") != strings.Count(k.Src, "}") {
		t.Errorf("%s: unbalanced braces:\n%s", k.Name, k.Src)
	}
}

// lineDiff shows the first lines where want and got differ.
func lineDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	var b strings.Builder
	shown := 0
	for i := 0; i < max(len(w), len(g)) && shown < 10; i++ {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			fmt.Fprintf(&b, "line %d:\n  - %s\n  + %s\n", i+1, wl, gl)
			shown++
		}
	}
	return b.String()
}

// The launch dims: innermost loop on x, partial blocks only when no divisor
// fits, and loops flattened onto x when y or z would overflow the grid.
func TestCUDALaunchDims(t *testing.T) {
	for _, tc := range []struct {
		sizes       []int
		grid, local [3]int
	}{
		{nil, [3]int{1, 1, 1}, [3]int{1, 1, 1}},
		{[]int{4096}, [3]int{16, 1, 1}, [3]int{256, 1, 1}},
		{[]int{1000}, [3]int{4, 1, 1}, [3]int{250, 1, 1}},
		{[]int{1009}, [3]int{4, 1, 1}, [3]int{256, 1, 1}}, // a prime: the last block is partly idle
		{[]int{16, 4}, [3]int{1, 1, 1}, [3]int{4, 16, 1}},
		{[]int{3, 100, 7}, [3]int{1, 3, 3}, [3]int{7, 34, 1}},
		{[]int{100000, 2}, [3]int{782, 1, 1}, [3]int{256, 1, 1}}, // y would be 100000 blocks: flattened
	} {
		k := renderRanges(t, tc.sizes)
		if k.Global != tc.grid || k.Local != tc.local {
			t.Errorf("sizes %v: grid %v block %v, want grid %v block %v\n%s", tc.sizes, k.Global, k.Local, tc.grid, tc.local, k.Src)
		}
	}
}

// renderRanges renders a hand-made program storing 1 at the flat index of
// global loops of the given sizes.
func renderRanges(t *testing.T, sizes []int) *render.CUDAKernel {
	t.Helper()
	buf := uop.New(uop.DEFINE_GLOBAL, dtype.Float32, nil, 0)
	prog := []*uop.UOp{buf}
	idx := uop.Index(0)
	var ranges []*uop.UOp
	for i, s := range sizes {
		r := uop.New(uop.RANGE, dtype.Index, nil, uop.RangeArg{Axis: i, Size: s})
		ranges = append(ranges, r)
		prog = append(prog, r)
		idx = idx.Alu(uop.MUL, uop.Index(int64(s))).Alu(uop.ADD, r)
	}
	prog = append(prog, idx, uop.New(uop.STORE, dtype.Invalid, []*uop.UOp{buf, idx, uop.KConst(dtype.Float32, 1.0)}, nil))
	for i := len(ranges) - 1; i >= 0; i-- {
		prog = append(prog, uop.New(uop.ENDRANGE, dtype.Invalid, []*uop.UOp{ranges[i]}, nil))
	}
	k, err := render.CUDA("ranges", prog)
	if err != nil {
		t.Fatal(err)
	}
	return k
}
