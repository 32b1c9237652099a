package render_test

import (
	"encoding/binary"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"

	g "github.com/gograd/gograd"
	"github.com/gograd/gograd/codegen"
	"github.com/gograd/gograd/device"
	"github.com/gograd/gograd/dtype"
	"github.com/gograd/gograd/render"
	"github.com/gograd/gograd/schedule"
	"github.com/gograd/gograd/uop"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata")

// cudaOpts are the optimiser options of the CUDA backend: 16-byte vectors
// (float4 loads and stores) where enough threads remain.
var cudaOpts = codegen.Options{SIMD: 16, GPU: true}

// with are fixed optimisations, so the renderer's vector paths (float4
// loads and stores, register tiles) have golden cases whatever the hand
// heuristics choose.
func with(opts ...codegen.Opt) codegen.Options { return codegen.Options{Opts: opts} }

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
	{"fma", with(codegen.Opt{Op: codegen.Upcast, Axis: 0, Amt: 4, Vector: true}), func() []*g.Tensor {
		a, b, c := f32(4096), f32(4096), f32(4096)
		return []*g.Tensor{a.Mul(b).Add(c)}
	}},
	{"fma_odd", cudaOpts, func() []*g.Tensor { // a prime size: no vectors, the last block partly idle
		a, b, c := f32(1009), f32(1009), f32(1009)
		return []*g.Tensor{a.Mul(b).Add(c)}
	}},
	{"sum_rows", cudaOpts, func() []*g.Tensor { return []*g.Tensor{f32(64, 256).Sum(1)} }},
	{"sum_all", cudaOpts, func() []*g.Tensor { return []*g.Tensor{f32(4096).Sum()} }},
	{"max_cols", cudaOpts, func() []*g.Tensor { return []*g.Tensor{f32(256, 64).Max(0)} }},
	{"softmax", cudaOpts, func() []*g.Tensor { return []*g.Tensor{f32(64, 256).Softmax(1)} }},
	{"matmul", with(codegen.Opt{Op: codegen.Upcast, Axis: 1, Amt: 4, Vector: true}, codegen.Opt{Op: codegen.Upcast, Axis: 0, Amt: 4}), func() []*g.Tensor { return []*g.Tensor{f32(64, 128).Matmul(f32(128, 32))} }},
	{"matmul_scalar", codegen.Options{}, func() []*g.Tensor { // 4096 outputs: a thread each, no group
		return []*g.Tensor{f32(64, 128).Matmul(f32(128, 64))}
	}},
	{"conv2d", cudaOpts, func() []*g.Tensor {
		x, w, b := f32(2, 3, 16, 16), f32(8, 3, 3, 3), f32(8)
		return []*g.Tensor{x.Conv2d(w, b, g.ConvOpts{Padding: []int{1, 1}}).Relu()}
	}},
	{"half", with(codegen.Opt{Op: codegen.Upcast, Axis: 1, Amt: 4, Vector: true}), func() []*g.Tensor {
		a, b, c := typed(g.Float16, 64, 64), typed(g.Float16, 64, 64), typed(g.Float16, 64)
		return []*g.Tensor{a.Mul(b).Add(c).Exp()}
	}},
	{"half_matmul_f32acc", cudaOpts, func() []*g.Tensor {
		a, b := typed(g.Float16, 32, 64), typed(g.Float16, 64, 16)
		return []*g.Tensor{a.Cast(g.Float32).Matmul(b.Cast(g.Float32)).Cast(g.Float16)}
	}},
	{"bfloat16", cudaOpts, func() []*g.Tensor {
		a, b := typed(g.BFloat16, 16, 64), typed(g.BFloat16, 64)
		return []*g.Tensor{a.Mul(b).Sum(1), a.Add(b).Maximum(a).Relu()}
	}},
	{"int_ops", cudaOpts, func() []*g.Tensor {
		a, b := i32(256), i32(16, 16).Reshape(256)
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
	{"shrink_unaligned", with(codegen.Opt{Op: codegen.Upcast, Axis: 0, Amt: 4, Vector: true}), func() []*g.Tensor { // consecutive but not 16-byte aligned: element loads
		x := f32(1025)
		return []*g.Tensor{x.Shrink([][2]int{{1, 1025}}).Mul(2)}
	}},
	{"symbolic", cudaOpts, func() []*g.Tensor {
		x := f32(64, 8)
		p := g.NewVar("pos", 0, 100).BindOn("GO", 5).Cast(g.Float32)
		return []*g.Tensor{x.Lt(p).Where(x.Mul(p), -1)}
	}},
	{"dot4_broadcast", with(codegen.Opt{Op: codegen.Upcast, Axis: 0, Amt: 16, Vector: true}), func() []*g.Tensor {
		// 16 rows' four bytes times the same four of x (blocked 4-bit
		// weights): x's bytes reach DOT4 as one int32 reinterpreted.
		w, x := typed(g.Uint8, 2, 16, 4), typed(g.Int8, 4)
		p := func(k int) *g.Tensor {
			wk := w.Shrink([][2]int{{0, 2}, {0, 16}, {k, k + 1}}).Reshape(2, 16).Cast(g.Int32)
			return wk.Mul(x.Shrink([][2]int{{k, k + 1}}).Reshape(1, 1).Cast(g.Int32))
		}
		return []*g.Tensor{p(0).Add(p(1)).Add(p(2).Add(p(3)))}
	}},
	{"big_3d", cudaOpts, func() []*g.Tensor { // three global loops: x, y and z
		return []*g.Tensor{f32(6, 5, 7, 2).Permute(3, 2, 1, 0).Mul(2)}
	}},
}

// f32 is a GO buffer of float32 values in [-2, 2], the same every run.
func f32(shape ...int) *g.Tensor {
	v := make([]float32, uop.Prod(shape))
	for i := range v {
		v[i] = float32(2 * math.Sin(float64(i)*0.7+1))
	}
	return g.FromSliceOn("GO", v, shape...)
}

// intEdges are the int32 values the integer kernels meet: zero divisors,
// MinInt32 / -1, shifts by negative and oversized amounts.
var intEdges = []int32{-7, 3, 0, -1, 40, math.MaxInt32, math.MinInt32, 5, 1, -3, 33, 64, 6, 2, -2, 31}

// typed is a realized GO buffer of dtype dt.
func typed(dt g.DType, shape ...int) *g.Tensor { return f32(shape...).Cast(dt).Realize() }

// i32 is a GO buffer of int32 values from intEdges, a different order for
// each shape so that every pair meets.
func i32(shape ...int) *g.Tensor {
	v := make([]int32, uop.Prod(shape))
	for i := range v {
		v[i] = intEdges[(i*7+i/len(intEdges)+len(v))%len(intEdges)]
	}
	return g.FromSliceOn("GO", v, shape...)
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

// TestCUDAGolden compares the source of every case with its golden file.
// The sources come from a fresh process (TestCUDAGoldenChild): uop.Simplify
// orders the terms of index sums by node id, and which equal nodes an
// earlier test left alive (in the compile cache, say) changes the ids.
func TestCUDAGolden(t *testing.T) {
	out := filepath.Join(t.TempDir(), "sources.json")
	cmd := exec.Command(os.Args[0], "-test.run", "^TestCUDAGoldenChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), "GOGRAD_CUDA_GOLDEN_OUT="+out)
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("rendering the cases: %v\n%s", err, msg)
	}
	raw, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var sources map[string]string
	if err := json.Unmarshal(raw, &sources); err != nil {
		t.Fatal(err)
	}
	for _, tc := range cudaCases {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := sources[tc.name]
			if !ok {
				t.Fatal("not rendered")
			}
			path := filepath.Join("testdata", "cuda", tc.name+".golden")
			if *update {
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test ./render -run TestCUDAGolden -update to create it)", err)
			}
			if got != string(want) {
				t.Errorf("CUDA source of %s differs from %s (-update rewrites it):\n%s", tc.name, path, lineDiff(string(want), got))
			}
		})
	}
}

// TestCUDAGoldenChild renders every case, in order, in the process
// TestCUDAGolden starts for it, checks each kernel and writes the sources
// to $GOGRAD_CUDA_GOLDEN_OUT as JSON.
func TestCUDAGoldenChild(t *testing.T) {
	path := os.Getenv("GOGRAD_CUDA_GOLDEN_OUT")
	if path == "" {
		t.Skip("run by TestCUDAGolden")
	}
	sources := map[string]string{}
	for _, tc := range cudaCases {
		// No collection inside a case: a node collected and made again
		// would get a new id.
		runtime.GC()
		old := debug.SetGCPercent(-1)
		ks := cudaKernels(t, tc.opts, tc.build())
		debug.SetGCPercent(old)
		var b strings.Builder
		for i, k := range ks {
			if i > 0 {
				b.WriteString("\n")
			}
			b.WriteString(k.golden())
			checkCUDAKernel(t, k)
		}
		sources[tc.name] = b.String()
	}
	raw, err := json.Marshal(sources)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, raw, 0o644); err != nil {
		t.Fatal(err)
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
		{[]int{3, 100, 7}, [3]int{1, 4, 3}, [3]int{7, 25, 1}},
		{[]int{100000, 2}, [3]int{1, 800, 1}, [3]int{2, 125, 1}},
		{[]int{10000000, 2}, [3]int{78125, 1, 1}, [3]int{256, 1, 1}}, // y would be 80000 blocks: flattened onto x
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
	for _, u := range uop.Toposort(idx) {
		if u.Op.IsALU() {
			prog = append(prog, u)
		}
	}
	prog = append(prog, uop.New(uop.STORE, dtype.Invalid, []*uop.UOp{buf, idx, uop.KConst(dtype.Float32, 1.0)}, nil))
	for i := len(ranges) - 1; i >= 0; i-- {
		prog = append(prog, uop.New(uop.ENDRANGE, dtype.Invalid, []*uop.UOp{ranges[i]}, nil))
	}
	k, err := render.CUDA("ranges", prog)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// cudaHostShim makes rendered CUDA C a host C++ program: thread and block
// indices are globals the launcher sets, CUDA's vector types and bit casts
// are plain structs and memcpy, and the PTX half conversions are replaced
// by software ones (round to nearest even, as cvt.rn).
const cudaHostShim = `#include <functional>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ucontext.h>
struct dim3_ { unsigned int x, y, z; };
static dim3_ threadIdx, blockIdx;
#define __device__
#define __global__
#define __forceinline__ inline
#define __launch_bounds__(n)
#define __shared__ static /* blocks run one at a time */
/* A block's threads are coroutines: each runs to its next barrier, then the
   next one does; a barrier is passed when all have reached it. */
static ucontext_t sched_, threads_[1024];
static int cur_, done_[1024];
static std::function<void()> body_;
static char stacks_[1024][1 << 16];
#define __syncthreads() swapcontext(&threads_[cur_], &sched_)
static void tramp_() { body_(); done_[cur_] = 1; }
static void run_block(int n, unsigned bx, unsigned by, unsigned bz, int lx, int ly, std::function<void()> body) {
  body_ = body;
  for (int i = 0; i < n; i++) {
    getcontext(&threads_[i]);
    threads_[i].uc_stack.ss_sp = stacks_[i];
    threads_[i].uc_stack.ss_size = sizeof stacks_[i];
    threads_[i].uc_link = &sched_;
    makecontext(&threads_[i], tramp_, 0);
    done_[i] = 0;
  }
  for (int left = n; left > 0;) {
    left = 0;
    for (int i = 0; i < n; i++) {
      if (done_[i]) continue;
      cur_ = i;
      blockIdx = {bx, by, bz};
      threadIdx = {(unsigned)(i % lx), (unsigned)(i / lx % ly), (unsigned)(i / (lx * ly))};
      swapcontext(&sched_, &threads_[i]);
      left += !done_[i];
    }
  }
}
#define VEC2(T, N, A) struct alignas(A) N##2 { T x, y; };
#define VEC4(T, N, A) struct alignas(A) N##4 { T x, y, z, w; };
VEC2(float, float, 8) VEC4(float, float, 16) VEC2(double, double, 16)
VEC2(int, int, 8) VEC4(int, int, 16) VEC2(unsigned int, uint, 8) VEC4(unsigned int, uint, 16)
VEC2(short, short, 4) VEC4(short, short, 8) VEC2(unsigned short, ushort, 4) VEC4(unsigned short, ushort, 8)
VEC2(signed char, char, 2) VEC4(signed char, char, 4) VEC2(unsigned char, uchar, 2) VEC4(unsigned char, uchar, 4)
VEC2(long long, longlong, 16) VEC2(unsigned long long, ulonglong, 16)
template <typename T, typename F> static inline T bits_(F f) { T t; memcpy(&t, &f, sizeof t); return t; }
static inline float __uint_as_float(unsigned int x) { return bits_<float>(x); }
static inline unsigned int __float_as_uint(float x) { return bits_<unsigned int>(x); }
static inline float __int_as_float(int x) { return bits_<float>(x); }
static inline int __float_as_int(float x) { return bits_<int>(x); }
static inline double __longlong_as_double(long long x) { return bits_<double>(x); }
static inline long long __double_as_longlong(double x) { return bits_<long long>(x); }
static inline float host_h2f(unsigned short h) {
  unsigned int sign = (unsigned int)(h & 0x8000u) << 16, e = (h >> 10) & 0x1f, m = h & 0x3ff, x;
  if (e == 0x1f) x = sign | 0x7f800000u | (m << 13);
  else if (e == 0) x = sign | __float_as_uint((float)m * 5.9604644775390625e-8f);
  else x = sign | ((e + 112) << 23) | (m << 13);
  return __uint_as_float(x);
}
static inline unsigned short host_f2h(float f) {
  unsigned int x = __float_as_uint(f), sign = (x >> 16) & 0x8000u, m = x & 0x7fffffu;
  int e = (int)((x >> 23) & 0xff);
  if (e == 0xff) return (unsigned short)(sign | 0x7c00u | (m ? 0x200u : 0u));
  e = e - 127 + 15;
  if (e >= 0x1f) return (unsigned short)(sign | 0x7c00u);
  if (e <= 0) {
    if (e < -10) return (unsigned short)sign;
    m |= 0x800000u;
    int shift = 14 - e;
    unsigned int h = m >> shift, rem = m & ((1u << shift) - 1), half = 1u << (shift - 1);
    if (rem > half || (rem == half && (h & 1))) h++;
    return (unsigned short)(sign | h);
  }
  unsigned int h = ((unsigned int)e << 10) | (m >> 13), rem = m & 0x1fffu;
  if (rem > 0x1000u || (rem == 0x1000u && (h & 1))) h++;
  return (unsigned short)(sign | h);
}
`

// hostKernel is a rendered kernel with the buffers (indices into the
// emulation's buffer table) and variable values it runs with.
type hostKernel struct {
	k    *render.CUDAKernel
	bufs []int
	vals []int64
}

// hostProgram turns kernels into one C++ program that reads every buffer
// from its file in argv[1], runs the kernels in order, thread by thread,
// and writes every buffer back.
func hostProgram(ks []hostKernel, sizes []int) string {
	var b strings.Builder
	b.WriteString(cudaHostShim)
	for i, hk := range ks {
		src := strings.Replace(hk.k.Src, `extern "C" `, "", 1)
		for _, f := range []string{"h2f", "f2h"} { // the PTX conversions
			re := regexp.MustCompile(`(?m)^__device__ __forceinline__ (float|unsigned short) ` + f + `\(.*$`)
			src = re.ReplaceAllString(src, "static inline auto "+f+" = host_"+f+";")
		}
		sig := src[strings.Index(src, hk.k.Name+"(")+len(hk.k.Name)+1:]
		sig = sig[:strings.Index(sig, ")")]
		var args []string
		for j, p := range strings.Split(sig, ", ") {
			if j < hk.k.NBufs {
				args = append(args, fmt.Sprintf("(%s)a[%d]", strings.TrimSpace(p[:strings.LastIndex(p, "data")]), hk.bufs[j]))
			} else {
				args = append(args, fmt.Sprintf("(long long)%dLL", hk.vals[j-hk.k.NBufs]))
			}
		}
		fmt.Fprintf(&b, "namespace k%d {\n%s}\n", i, src)
		fmt.Fprintf(&b, "static void launch%d(void **a) {\n", i)
		gr, lo := hk.k.Global, hk.k.Local
		call := fmt.Sprintf("k%d::%s(%s);", i, hk.k.Name, strings.Join(args, ", "))
		fmt.Fprintf(&b, "  for (unsigned bz = 0; bz < %d; bz++) for (unsigned by = 0; by < %d; by++) for (unsigned bx = 0; bx < %d; bx++) {\n", gr[2], gr[1], gr[0])
		if strings.Contains(src, "__syncthreads") { // a block's threads meet at its barriers
			fmt.Fprintf(&b, "    run_block(%d, bx, by, bz, %d, %d, [&] { %s });\n  }\n}\n", lo[0]*lo[1]*lo[2], lo[0], lo[1], call)
			continue
		}
		fmt.Fprintf(&b, "    for (unsigned tz = 0; tz < %d; tz++) for (unsigned ty = 0; ty < %d; ty++) for (unsigned tx = 0; tx < %d; tx++) {\n", lo[2], lo[1], lo[0])
		fmt.Fprintf(&b, "      blockIdx = {bx, by, bz}; threadIdx = {tx, ty, tz};\n      %s\n    }\n  }\n}\n", call)
	}
	b.WriteString("int main(int argc, char **argv) {\n  static void *a[" + fmt.Sprint(len(sizes)) + "];\n  char path[4096];\n")
	for j, n := range sizes {
		fmt.Fprintf(&b, "  a[%d] = aligned_alloc(64, %d);\n", j, (n+64)/64*64)
		fmt.Fprintf(&b, "  snprintf(path, sizeof path, \"%%s/b%d\", argv[1]); { FILE *f = fopen(path, \"rb\"); if (!f || fread(a[%d], 1, %d, f) != %d) return 1; fclose(f); }\n", j, j, n, n)
	}
	for i := range ks {
		fmt.Fprintf(&b, "  launch%d(a);\n", i)
	}
	for j, n := range sizes {
		fmt.Fprintf(&b, "  snprintf(path, sizeof path, \"%%s/b%d\", argv[1]); { FILE *f = fopen(path, \"wb\"); if (!f || fwrite(a[%d], 1, %d, f) != %d) return 1; fclose(f); }\n", j, j, n, n)
	}
	b.WriteString("  return 0;\n}\n")
	return b.String()
}

// TestCUDAKernelsRunOnHost runs the rendered kernels of every golden case
// as host C++ (one thread after another, with the grid and blocks the
// kernel asks for) and compares what they write with the GO device: launch
// dims, bounds checks, index arithmetic, vector loads and stores, halves
// and gograd's integer semantics, checked without a GPU. Only the math
// library differs (the host's exp2f for CUDA's).
func TestCUDAKernelsRunOnHost(t *testing.T) {
	cxx, err := exec.LookPath("g++")
	if err != nil {
		if cxx, err = exec.LookPath("clang++"); err != nil {
			t.Skip("no host C++ compiler (g++ or clang++)")
		}
	}
	for _, tc := range cudaCases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			targets := tc.build()
			us := make([]*uop.UOp, len(targets))
			for i, x := range targets {
				us[i] = x.UOp()
			}
			s := schedule.Create(us)
			index := map[*device.Buffer]int{}
			var bufs []*device.Buffer
			var ks []hostKernel
			for _, it := range s.Items {
				if it.Kind != schedule.Kernel || it.AST == nil {
					continue
				}
				p := codegen.Compile(it.AST, tc.opts)
				k, err := render.CUDA(p.Name, p.UOps)
				if err != nil {
					t.Fatal(err)
				}
				hk := hostKernel{k: k}
				for _, b := range it.Bufs {
					if _, ok := index[b]; !ok {
						index[b] = len(bufs)
						bufs = append(bufs, b)
					}
					hk.bufs = append(hk.bufs, index[b])
				}
				for _, v := range p.Vars {
					hk.vals = append(hk.vals, s.VarVals[v.Arg.(uop.VarArg).Name])
				}
				ks = append(ks, hk)
			}
			dir := t.TempDir()
			sizes := make([]int, len(bufs))
			for j, b := range bufs {
				sizes[j] = b.Nbytes()
				if err := os.WriteFile(filepath.Join(dir, fmt.Sprint("b", j)), b.HostBytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			src := filepath.Join(dir, "kernels.cpp")
			if err := os.WriteFile(src, []byte(hostProgram(ks, sizes)), 0o644); err != nil {
				t.Fatal(err)
			}
			bin := filepath.Join(dir, "kernels")
			if out, err := exec.Command(cxx, "-std=c++17", "-O1", "-w", "-o", bin, src).CombinedOutput(); err != nil {
				t.Fatalf("%s: %v\n%s", cxx, err, out)
			}
			if out, err := exec.Command(bin, dir).CombinedOutput(); err != nil {
				t.Fatalf("running the kernels: %v\n%s", err, out)
			}
			want := tc.build()
			for i, target := range targets {
				buf, st := schedule.ViewOf(s.Views[target.UOp()])
				if !st.Contiguous() || st.Size() != buf.Size {
					t.Fatalf("output %d is not a whole buffer", i)
				}
				got, err := os.ReadFile(filepath.Join(dir, fmt.Sprint("b", index[buf])))
				if err != nil {
					t.Fatal(err)
				}
				if err := sameValues(target.DType(), got, want[i].Bytes()); err != nil {
					t.Errorf("output %d (%s): %v", i, target.DType(), err)
				}
			}
		})
	}
}

// sameValues compares raw buffers of dtype dt: integers exactly, floats to
// a few ulp of their precision (NaN equals NaN), as the host's math library
// is not GO's.
func sameValues(dt g.DType, got, want []byte) error {
	if len(got) != len(want) {
		return fmt.Errorf("%d bytes, want %d", len(got), len(want))
	}
	if !dt.IsFloat() {
		for i := range got {
			if got[i] != want[i] {
				return fmt.Errorf("byte %d (element %d) is %#x, want %#x", i, i/dt.Size(), got[i], want[i])
			}
		}
		return nil
	}
	gf, wf, tol := floats(dt, got), floats(dt, want), 1e-5
	if dt.IsHalf() {
		tol = 1e-2
	}
	for i := range gf {
		a, b := gf[i], wf[i]
		if math.IsNaN(a) && math.IsNaN(b) || a == b {
			continue
		}
		if math.Abs(a-b) > tol*math.Max(1, math.Abs(b)) {
			return fmt.Errorf("element %d is %v, want %v", i, a, b)
		}
	}
	return nil
}

// floats decodes a raw buffer of a float dtype.
func floats(dt g.DType, raw []byte) []float64 {
	n := len(raw) / dt.Size()
	out := make([]float64, n)
	for i := range out {
		b := raw[i*dt.Size():]
		switch dt {
		case g.Float64:
			out[i] = math.Float64frombits(binary.LittleEndian.Uint64(b))
		case g.Float32:
			out[i] = float64(math.Float32frombits(binary.LittleEndian.Uint32(b)))
		case g.Float16:
			out[i] = float64(dtype.Float16Float(binary.LittleEndian.Uint16(b)))
		case g.BFloat16:
			out[i] = float64(dtype.BFloat16Float(binary.LittleEndian.Uint16(b)))
		}
	}
	return out
}

// clangCUDAShim declares, for clang's CUDA front end without a CUDA
// installation, what NVRTC provides built in: the attribute macros, the
// vector types, the bit casts and the math functions the kernels call.
const clangCUDAShim = `#include <__clang_cuda_builtin_vars.h>
#define __device__ __attribute__((device))
#define __global__ __attribute__((global))
#define __forceinline__ __inline__ __attribute__((always_inline))
#define __launch_bounds__(...) __attribute__((launch_bounds(__VA_ARGS__)))
#define __shared__ __attribute__((shared))
#define VEC2(T, N, A) struct __attribute__((aligned(A))) N##2 { T x, y; };
#define VEC4(T, N, A) struct __attribute__((aligned(A))) N##4 { T x, y, z, w; };
VEC2(float, float, 8) VEC4(float, float, 16) VEC2(double, double, 16)
VEC2(int, int, 8) VEC4(int, int, 16) VEC2(unsigned int, uint, 8) VEC4(unsigned int, uint, 16)
VEC2(short, short, 4) VEC4(short, short, 8) VEC2(unsigned short, ushort, 4) VEC4(unsigned short, ushort, 8)
VEC2(signed char, char, 2) VEC4(signed char, char, 4) VEC2(unsigned char, uchar, 2) VEC4(unsigned char, uchar, 4)
VEC2(long long, longlong, 16) VEC2(unsigned long long, ulonglong, 16)
__device__ inline float __uint_as_float(unsigned int x) { return __builtin_bit_cast(float, x); }
__device__ inline unsigned int __float_as_uint(float x) { return __builtin_bit_cast(unsigned int, x); }
__device__ inline float __int_as_float(int x) { return __builtin_bit_cast(float, x); }
__device__ inline int __float_as_int(float x) { return __builtin_bit_cast(int, x); }
__device__ inline double __longlong_as_double(long long x) { return __builtin_bit_cast(double, x); }
__device__ inline long long __double_as_longlong(double x) { return __builtin_bit_cast(long long, x); }
__device__ inline void *memcpy(void *d, const void *s, unsigned long n) { return __builtin_memcpy(d, s, n); } // NVRTC's is built in
extern "C" {
__device__ float exp2f(float); __device__ float log2f(float); __device__ float sinf(float); __device__ float sqrtf(float); __device__ float truncf(float);
__device__ double exp2(double); __device__ double log2(double); __device__ double sin(double); __device__ double sqrt(double); __device__ double trunc(double);
}
`

// findClangCUDA returns a clang++ that compiles CUDA device code, or "".
func findClangCUDA() string {
	for _, name := range []string{"clang++", "clang++-19", "clang++-18", "clang++-17", "clang++-16", "clang++-15", "clang++-14"} {
		path, err := exec.LookPath(name)
		if err != nil {
			continue
		}
		probe := exec.Command(path, "-x", "cuda", "--cuda-device-only", "--cuda-gpu-arch=sm_80", "-nocudainc", "-nocudalib", "-S", "-o", os.DevNull, "-")
		probe.Stdin = strings.NewReader("__attribute__((global)) void k() {}\n")
		if probe.Run() == nil {
			return path
		}
	}
	return ""
}

// TestCUDASourceCompilesToPTX compiles every golden kernel with clang's
// CUDA front end to PTX for sm_80, with warnings as errors: the nearest to
// NVRTC a machine without the CUDA toolkit has (the inline PTX is checked
// by NVRTC's assembler only on a GPU machine).
func TestCUDASourceCompilesToPTX(t *testing.T) {
	clang := findClangCUDA()
	if clang == "" {
		t.Skip("no clang++ with CUDA support")
	}
	for _, tc := range cudaCases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var b strings.Builder
			b.WriteString(clangCUDAShim)
			for i, k := range cudaKernels(t, tc.opts, tc.build()) {
				fmt.Fprintf(&b, "namespace k%d {\n%s}\n", i, strings.Replace(k.k.Src, `extern "C" `, "", 1))
			}
			cmd := exec.Command(clang, "-x", "cuda", "--cuda-device-only", "--cuda-gpu-arch=sm_80", "-nocudainc", "-nocudalib",
				"-O2", "-Wall", "-Werror", "-S", "-o", "-", "-")
			cmd.Stdin = strings.NewReader(b.String())
			out, err := cmd.Output()
			if err != nil {
				msg := ""
				if ee, ok := err.(*exec.ExitError); ok {
					msg = string(ee.Stderr)
				}
				t.Fatalf("%s: %v\n%s", clang, err, msg)
			}
			if !strings.Contains(string(out), ".entry") {
				t.Fatalf("no kernel entry in the PTX:\n%s", out)
			}
		})
	}
}
