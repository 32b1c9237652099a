//go:build linux

package cuda_test

// These tests need an NVIDIA GPU with its driver and NVRTC; elsewhere they
// skip. They are the list of what a GPU machine has to run: the golden
// kernels' results against the GO device, copies, the disk cache, event
// timing, graph replay and the JIT.

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	g "github.com/gograd/gograd"
	"github.com/gograd/gograd/device"
	"github.com/gograd/gograd/device/cuda"
	"github.com/gograd/gograd/dtype"
	"github.com/gograd/gograd/jit"
	"github.com/gograd/gograd/render"
)

// gpu returns the CUDA runtime, skipping the test where there is none.
func gpu(t *testing.T) *cuda.Runtime {
	t.Helper()
	d, err := device.Get("CUDA")
	if err != nil {
		t.Skipf("no CUDA device: %v", err)
	}
	return d.Runtime().(*cuda.Runtime)
}

func vals(n int) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(2 * math.Sin(float64(i)*0.7+1))
	}
	return v
}

var intEdges = []int32{-7, 3, 0, -1, 40, math.MaxInt32, math.MinInt32, 5, 1, -3, 33, 64, 6, 2, -2, 31}

func ints(n, shift int) []int32 {
	v := make([]int32, n)
	for i := range v {
		v[i] = intEdges[(i*7+i/len(intEdges)+shift)%len(intEdges)]
	}
	return v
}

// gpuCases are the golden kernels of render/testdata/cuda, as expressions
// on a device.
var gpuCases = []struct {
	name string
	f    func(dev string) []*g.Tensor
}{
	{"elementwise_broadcast", func(d string) []*g.Tensor {
		x, b, s := g.FromSliceOn(d, vals(32*64), 32, 64), g.FromSliceOn(d, vals(64), 64), g.FromSliceOn(d, vals(32), 32, 1)
		return []*g.Tensor{x.Add(b).Mul(s)}
	}},
	{"fma", func(d string) []*g.Tensor {
		a, b, c := g.FromSliceOn(d, vals(1<<20)), g.FromSliceOn(d, vals(1 << 20)[1:]).Pad([][2]int{{0, 1}}), g.FromSliceOn(d, vals(1<<20))
		return []*g.Tensor{a.Mul(b).Add(c)}
	}},
	{"fma_odd", func(d string) []*g.Tensor {
		a := g.FromSliceOn(d, vals(1009))
		return []*g.Tensor{a.Mul(a).Add(a)}
	}},
	{"reductions", func(d string) []*g.Tensor {
		x := g.FromSliceOn(d, vals(64*256), 64, 256)
		return []*g.Tensor{x.Sum(1), x.Max(0), x.Sum(), x.Softmax(1)}
	}},
	{"matmul", func(d string) []*g.Tensor {
		a, b := g.FromSliceOn(d, vals(256*128), 256, 128), g.FromSliceOn(d, vals(128*96), 128, 96)
		return []*g.Tensor{a.Matmul(b), a.Matmul(b).Relu().Sum(0)}
	}},
	{"conv2d", func(d string) []*g.Tensor {
		x, w, b := g.FromSliceOn(d, vals(2*3*16*16), 2, 3, 16, 16), g.FromSliceOn(d, vals(8*27), 8, 3, 3, 3), g.FromSliceOn(d, vals(8), 8)
		return []*g.Tensor{x.Conv2d(w, b, g.ConvOpts{Padding: []int{1, 1}}).Relu()}
	}},
	{"half", func(d string) []*g.Tensor {
		a, b := g.FromSliceOn(d, vals(64*64), 64, 64).Cast(g.Float16), g.FromSliceOn(d, vals(64*32), 64, 32).Cast(g.Float16)
		return []*g.Tensor{a.Mul(a).Add(a).Exp(), a.Cast(g.Float32).Matmul(b.Cast(g.Float32)).Cast(g.Float16)}
	}},
	{"bfloat16", func(d string) []*g.Tensor {
		a, b := g.FromSliceOn(d, vals(16*64), 16, 64).Cast(g.BFloat16), g.FromSliceOn(d, vals(64), 64).Cast(g.BFloat16)
		return []*g.Tensor{a.Mul(b).Sum(1), a.Add(b).Maximum(a).Relu()}
	}},
	{"int_ops", func(d string) []*g.Tensor {
		a, b := g.FromSliceOn(d, ints(256, 0)), g.FromSliceOn(d, ints(256, 5))
		return []*g.Tensor{a.FloorDiv(b), a.Mod(b), a.Shl(b), a.Shr(b), a.BitXor(b).Maximum(a.Mul(b)), a.Lt(b).Where(a.Neg(), a)}
	}},
	{"casts", func(d string) []*g.Tensor {
		x := g.FromSliceOn(d, append(vals(60), float32(math.NaN()), float32(math.Inf(1)), 3e9, -3e9))
		return []*g.Tensor{x.Cast(g.Int8), x.Cast(g.Uint64).Mul(3), x.Cast(g.Int64).Bitcast(g.Float64), x.Bitcast(g.Int32).BitAnd(0x7fffffff)}
	}},
	{"float64", func(d string) []*g.Tensor {
		x := g.FromSliceOn(d, vals(128)).Cast(g.Float64)
		return []*g.Tensor{x.Exp().Add(x.Log()).Sqrt().Maximum(x.Sin()).Div(x)}
	}},
	{"views", func(d string) []*g.Tensor {
		x := g.FromSliceOn(d, vals(30*60), 30, 60)
		y := g.FromSliceOn(d, vals(1025))
		return []*g.Tensor{x.Pad([][2]int{{1, 1}, {2, 2}}).Add(1), y.Shrink([][2]int{{1, 1025}}).Mul(2), g.FromSliceOn(d, vals(420), 6, 5, 7, 2).Permute(3, 2, 1, 0).Mul(2)}
	}},
	{"symbolic", func(d string) []*g.Tensor {
		x := g.FromSliceOn(d, vals(512), 64, 8)
		p := g.NewVar("pos", 0, 100).BindOn(d, 5).Cast(g.Float32)
		return []*g.Tensor{x.Lt(p).Where(x.Mul(p), -1)}
	}},
}

// TestGPUKernelsMatchGO runs every golden kernel on the GPU and compares
// with the GO device: integers exactly, floats to the math library's ulps.
func TestGPUKernelsMatchGO(t *testing.T) {
	gpu(t)
	for _, tc := range gpuCases {
		t.Run(tc.name, func(t *testing.T) {
			got, want := tc.f("CUDA"), tc.f("GO")
			for i := range got {
				if err := sameBytes(got[i].DType(), got[i].Bytes(), want[i].Bytes()); err != nil {
					t.Errorf("output %d (%s %v): %v", i, got[i].DType(), got[i].Shape(), err)
				}
			}
		})
	}
}

func sameBytes(dt g.DType, got, want []byte) error {
	if len(got) != len(want) {
		return fmt.Errorf("%d bytes, want %d", len(got), len(want))
	}
	if !dt.IsFloat() {
		for i := range got {
			if got[i] != want[i] {
				return fmt.Errorf("element %d differs (byte %d: %#x, want %#x)", i/dt.Size(), i, got[i], want[i])
			}
		}
		return nil
	}
	tol := map[g.DType]float64{g.Float64: 1e-12, g.Float32: 2e-5, g.Float16: 2e-3, g.BFloat16: 1.6e-2}[dt]
	for i := 0; i < len(got); i += dt.Size() {
		a, b := decode(dt, got[i:]), decode(dt, want[i:])
		if a == b || math.IsNaN(a) && math.IsNaN(b) {
			continue
		}
		if math.Abs(a-b) > tol*math.Max(1, math.Abs(b)) {
			return fmt.Errorf("element %d is %v, want %v", i/dt.Size(), a, b)
		}
	}
	return nil
}

func decode(dt g.DType, b []byte) float64 {
	switch dt {
	case g.Float64:
		return math.Float64frombits(binary.LittleEndian.Uint64(b))
	case g.Float32:
		return float64(math.Float32frombits(binary.LittleEndian.Uint32(b)))
	case g.Float16:
		return float64(dtype.Float16Float(binary.LittleEndian.Uint16(b)))
	}
	return float64(dtype.BFloat16Float(binary.LittleEndian.Uint16(b)))
}

// Copies of every size round-trip, the pinned buffer's size and more.
func TestGPUCopies(t *testing.T) {
	gpu(t)
	for _, n := range []int{0, 1, 4097, 16<<20 + 3} {
		src := make([]uint8, n)
		for i := range src {
			src[i] = uint8(i*31 + i>>8)
		}
		x := g.FromSliceOn("CUDA", src)
		got := x.Bytes()
		if len(got) != n || string(got) != string(src) {
			t.Fatalf("%d bytes did not round-trip", n)
		}
		if y := x.To("GO").Bytes(); string(y) != string(src) {
			t.Fatalf("%d bytes did not copy to GO", n)
		}
	}
}

// A second process finds every kernel in the disk cache.
func TestGPUSecondProcessCompilesNothing(t *testing.T) {
	gpu(t)
	cache := t.TempDir()
	first, stderr, ok := child(t, "DEV=CUDA", "GOGRAD_CACHE="+cache)
	if !ok || !strings.Contains(first, "device=CUDA:0") || strings.Contains(first, "nvrtc=0") {
		t.Fatalf("the first process should compile on CUDA: %s%s", first, stderr)
	}
	second, stderr, ok := child(t, "DEV=CUDA", "GOGRAD_CACHE="+cache)
	if !ok || !strings.Contains(second, "nvrtc=0") || !strings.Contains(second, "values=[3 5 7]") {
		t.Fatalf("the second process ran NVRTC although the kernels are cached: %s%s", second, stderr)
	}
}

// On a GPU machine CUDA is the default device.
func TestGPUIsDefault(t *testing.T) {
	gpu(t)
	out, stderr, ok := child(t, "DEV=")
	if !ok || !strings.Contains(out, "device=CUDA:0") || stderr != "" {
		t.Fatalf("CUDA should be the default, silently: %s%s", out, stderr)
	}
}

// addVar is a hand-written kernel: out = in + var over 1000 elements.
var addVar = &render.CUDAKernel{Name: "add_var", Global: [3]int{4, 1, 1}, Local: [3]int{256, 1, 1}, NBufs: 2, NVars: 1,
	Src: `extern "C" __global__ void add_var(float *data0, const float *data1, long long var0) {
  int i = blockIdx.x * 256 + threadIdx.x;
  if (i < 1000) data0[i] = data1[i] + (float)var0;
}
`}

func floatsOf(r *cuda.Runtime, m device.Mem, n int) []float32 {
	b := make([]byte, 4*n)
	r.CopyOut(b, m)
	out := make([]float32, n)
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return out
}

func memOf(t *testing.T, r *cuda.Runtime, v []float32) device.Mem {
	t.Helper()
	m, err := r.Alloc(4 * len(v))
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
	}
	r.CopyIn(m, b)
	return m
}

// Kernel times come from events on the GPU; sequences run back to back
// and as graphs whose arguments change between replays.
func TestGPUTimingAndGraphs(t *testing.T) {
	r := gpu(t)
	p, err := r.Compile("add_var", addVar)
	if err != nil {
		t.Fatal(err)
	}
	in := memOf(t, r, vals(1000))
	a, b := memOf(t, r, make([]float32, 1000)), memOf(t, r, make([]float32, 1000))
	el, err := p.(interface {
		RunTimed([]device.Mem, []int64) (time.Duration, error)
	}).RunTimed([]device.Mem{a, in}, []int64{3})
	if err != nil || el <= 0 || el > time.Second {
		t.Fatalf("RunTimed: %v, %v", el, err)
	}
	check := func(what string, m device.Mem, adds ...float32) {
		t.Helper()
		if err := expect(r, what, m, adds...); err != nil {
			t.Fatal(err)
		}
	}
	check("RunTimed", a, 3)
	seq := []cuda.Launch{{Prog: p, Mems: []device.Mem{a, in}, Vars: []int64{1}}, {Prog: p, Mems: []device.Mem{b, a}, Vars: []int64{10}}}
	if _, err := r.RunAll(seq); err != nil {
		t.Fatal(err)
	}
	check("RunAll", b, 1, 10)
	gr, err := r.NewGraph(seq)
	if errors.Is(err, cuda.ErrNoGraphs) {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer gr.Close()
	if _, err := gr.Run(); err != nil {
		t.Fatal(err)
	}
	check("graph", b, 1, 10)
	if err := gr.Update(1, []device.Mem{b, a}, []int64{100}); err != nil {
		t.Fatal(err)
	}
	if _, err := gr.Run(); err != nil {
		t.Fatal(err)
	}
	check("updated graph", b, 1, 100)
}

// NVRTC's complaints come back with the source.
func TestGPUCompileError(t *testing.T) {
	r := gpu(t)
	_, err := r.Compile("broken", &render.CUDAKernel{Name: "broken", Src: `extern "C" __global__ void broken() { this is not CUDA; }`})
	var ce *cuda.CompileError
	if !errors.As(err, &ce) || !strings.Contains(ce.Log, "error") || !strings.Contains(err.Error(), "this is not CUDA") {
		t.Fatalf("want a *cuda.CompileError with NVRTC's log and the source, got %v", err)
	}
}

// The JIT replays a captured step on the GPU with new inputs.
func TestGPUJIT(t *testing.T) {
	gpu(t)
	w := g.FromSliceOn("CUDA", vals(64*32), 64, 32)
	f := func(in ...*g.Tensor) []*g.Tensor { return []*g.Tensor{in[0].Matmul(w).Relu().Softmax(1)} }
	j := jit.New(f)
	for step := range 4 {
		x := g.FromSliceOn("CUDA", vals(8*64 + step)[step:], 8, 64)
		got := j.Call(x)[0].Bytes()
		ref := x.To("GO").Matmul(w.To("GO")).Relu().Softmax(1).Bytes()
		if err := sameBytes(g.Float32, got, ref); err != nil {
			t.Fatalf("step %d: %v", step, err)
		}
	}
}
