package main

import (
	"fmt"
	"math/rand/v2"
	"strings"

	"github.com/gograd/gograd"
)

// The rows of gograd bench. Each workload says what it computes, how much
// arithmetic and memory traffic its shapes imply, how to build it in gograd
// and in plain Go (baseline.go), and what the numpy/PyTorch worker
// (bench_peers.py) builds for it.

// workload is one row of gograd bench.
type workload struct {
	name  string // family, what --only selects: fma, matmul, ...
	id    string // unique row name: matmul_2048, matvec_q8_11008x4096, ...
	alias string // another name --only takes for the row (matmul_1024 for matmul)
	shape string
	flops int64   // from the shapes: the arithmetic of the math itself
	bytes int64   // from the shapes: every input read once, the output written once
	rate  string  // "GFLOP/s" or "GB/s": the figure that matters for the row
	tol   float64 // largest accepted |gograd - baseline| / max |baseline|
	// memBound rows are limited by memory bandwidth: they get the copy
	// yardstick and a "% of copy" figure.
	memBound bool
	// wantKernels, when positive, is the number of kernels the row should
	// run (fusion); the bench warns when it runs more.
	wantKernels int64
	// maxCountedBytes, when positive, bounds the bytes gograd.Stats may
	// count per run: more means an intermediate was materialized (the
	// dequantized weights of an int8 matvec).
	maxCountedBytes int64
	peer            peerSpec
	prepare         func(dev string, r *rand.Rand) *instance
}

// peerSpec is what the peer worker is asked to build: an op kind it knows
// and the dimensions, in the order the kind's builder reads them.
type peerSpec struct {
	Kind string `json:"kind"`
	Dims []int  `json:"dims"`
}

// instance is a workload with its inputs made: fn builds the lazy gograd
// expression over the realized inputs (so jit.New can capture it), baseline
// computes the same values with plain Go.
type instance struct {
	inputs   []*gograd.Tensor
	fn       func(in ...*gograd.Tensor) *gograd.Tensor
	baseline func() []float32
}

// expr builds the instance's gograd expression (not yet realized).
func (in *instance) expr() *gograd.Tensor { return in.fn(in.inputs...) }

// randSlice returns n uniform values in [-1, 1).
func randSlice(r *rand.Rand, n int) []float32 {
	out := make([]float32, n)
	for i := range out {
		out[i] = 2*r.Float32() - 1
	}
	return out
}

func shapeString(dims ...int) string {
	parts := make([]string, len(dims))
	for i, d := range dims {
		parts[i] = fmt.Sprint(d)
	}
	return strings.Join(parts, "x")
}

// fmaWork is a*b+c on n floats: one fused kernel.
func fmaWork(n int) workload {
	return workload{
		name: "fma", id: "fma", shape: fmt.Sprintf("a*b+c, %d", n),
		flops: 2 * int64(n), bytes: 16 * int64(n), rate: "GB/s", tol: 1e-6,
		memBound: true, wantKernels: 1,
		peer: peerSpec{"fma", []int{n}},
		prepare: func(dev string, r *rand.Rand) *instance {
			a, b, c := randSlice(r, n), randSlice(r, n), randSlice(r, n)
			return &instance{
				inputs:   []*gograd.Tensor{gograd.FromSliceOn(dev, a), gograd.FromSliceOn(dev, b), gograd.FromSliceOn(dev, c)},
				fn:       func(in ...*gograd.Tensor) *gograd.Tensor { return in[0].Mul(in[1]).Add(in[2]) },
				baseline: func() []float32 { return baseFMA(a, b, c) },
			}
		},
	}
}

// matmulWork is the product of two n×n matrices. The row of size 1024 keeps
// the id "matmul" of the first version of the bench.
func matmulWork(n int, id string) workload {
	tol := 1e-5
	if n >= 2048 {
		tol = 2e-5 // longer float32 sums, in a different order than the baseline's
	}
	kernels := int64(1)
	if n*n >= 1<<20 {
		kernels = 2 // Matmul copies a b of a million floats or more into column panels first
	}
	return workload{
		name: "matmul", id: id, shape: shapeString(n, n, n),
		flops: 2 * int64(n) * int64(n) * int64(n), bytes: 12 * int64(n) * int64(n), rate: "GFLOP/s", tol: tol,
		wantKernels: kernels,
		peer:        peerSpec{"matmul", []int{n}},
		prepare: func(dev string, r *rand.Rand) *instance {
			a, b := randSlice(r, n*n), randSlice(r, n*n)
			return &instance{
				inputs:   []*gograd.Tensor{gograd.FromSliceOn(dev, a, n, n), gograd.FromSliceOn(dev, b, n, n)},
				fn:       func(in ...*gograd.Tensor) *gograd.Tensor { return in[0].Matmul(in[1]) },
				baseline: func() []float32 { return baseMatmul(a, b, n, n, n) },
			}
		},
	}
}

// matvecWork is y = x @ W.T for float32 weights W of shape (n, k) and a
// vector x of k: the decode step of a Linear layer, bound by reading W.
func matvecWork(n, k int, id string) workload {
	nk := int64(n) * int64(k)
	return workload{
		name: "matvec", id: id, shape: fmt.Sprintf("x[%d] @ W[%s].T f32", k, shapeString(n, k)),
		flops: 2 * nk, bytes: 4*nk + 4*int64(k) + 4*int64(n), rate: "GB/s", tol: 1e-5,
		memBound: true, wantKernels: 1,
		peer: peerSpec{"matvec", []int{n, k}},
		prepare: func(dev string, r *rand.Rand) *instance {
			w, x := randSlice(r, n*k), randSlice(r, k)
			return &instance{
				inputs:   []*gograd.Tensor{gograd.FromSliceOn(dev, x, k), gograd.FromSliceOn(dev, w, n, k)},
				fn:       func(in ...*gograd.Tensor) *gograd.Tensor { return in[0].Matmul(in[1].T()) },
				baseline: func() []float32 { return baseMatvec(w, x, n, k) },
			}
		},
	}
}

// matvecQ8Work is y = x @ (W.Cast(Float32) * scale).T for int8 weights W of
// shape (n, k) and a float32 scale per row, shape (n, 1). The cast and the
// scale must fuse into the matvec's kernel: the weights are read as int8
// and never materialized in float32, so it should run one kernel that
// reads about n·k bytes.
func matvecQ8Work(n, k int, id string) workload {
	nk := int64(n) * int64(k)
	bytes := nk + 4*int64(n) + 4*int64(k) + 4*int64(n)
	return workload{
		name: "matvec_q8", id: id, shape: fmt.Sprintf("x[%d] @ (W[%s] i8 * s[%d,1]).T", k, shapeString(n, k), n),
		flops: 2 * nk, bytes: bytes, rate: "GB/s", tol: 1e-5,
		memBound: true, wantKernels: 1, maxCountedBytes: 2 * bytes,
		peer: peerSpec{"matvec_q8", []int{n, k}},
		prepare: func(dev string, r *rand.Rand) *instance {
			w := make([]int8, n*k)
			for i := range w {
				w[i] = int8(r.IntN(255) - 127)
			}
			s := make([]float32, n)
			for i := range s {
				s[i] = (0.5 + r.Float32()) / 127 // about the scale of weights in [-1, 1]
			}
			x := randSlice(r, k)
			return &instance{
				inputs: []*gograd.Tensor{gograd.FromSliceOn(dev, x, k), gograd.FromSliceOn(dev, w, n, k), gograd.FromSliceOn(dev, s, n, 1)},
				fn: func(in ...*gograd.Tensor) *gograd.Tensor {
					return in[0].Matmul(in[1].Cast(gograd.Float32).Mul(in[2]).T())
				},
				baseline: func() []float32 { return baseMatvecQ8(w, s, x, n, k) },
			}
		},
	}
}

// softmaxWork is the softmax of each row of a rows×cols matrix. Its FLOPs
// count five per element: max, subtract, exp, add, divide.
func softmaxWork(rows, cols int) workload {
	n := int64(rows) * int64(cols)
	return workload{
		name: "softmax", id: "softmax", shape: shapeString(rows, cols) + ", axis -1",
		flops: 5 * n, bytes: 8 * n, rate: "GB/s", tol: 1e-5,
		memBound: true,
		peer:     peerSpec{"softmax", []int{rows, cols}},
		prepare: func(dev string, r *rand.Rand) *instance {
			x := randSlice(r, rows*cols)
			for i := range x {
				x[i] *= 4 // a wider spread than [-1, 1) so exp varies
			}
			return &instance{
				inputs:   []*gograd.Tensor{gograd.FromSliceOn(dev, x, rows, cols)},
				fn:       func(in ...*gograd.Tensor) *gograd.Tensor { return in[0].Softmax(-1) },
				baseline: func() []float32 { return baseSoftmax(x, rows, cols) },
			}
		},
	}
}

// layerNormEps is the eps of the layernorm row, PyTorch's default.
const layerNormEps = 1e-5

// layerNormWork is x.LayerNorm over the last axis of a rows×cols matrix,
// with a weight and a bias of cols. Its FLOPs count seven per element: the
// mean's add, the centring subtract, the variance's multiply and add, the
// normalizing multiply, the weight's multiply and the bias's add.
func layerNormWork(rows, cols int) workload {
	n := int64(rows) * int64(cols)
	return workload{
		name: "layernorm", id: "layernorm", shape: shapeString(rows, cols) + ", axis -1, weight+bias",
		flops: 7 * n, bytes: 8*n + 8*int64(cols), rate: "GB/s", tol: 1e-5,
		memBound: true,
		peer:     peerSpec{"layernorm", []int{rows, cols}},
		prepare: func(dev string, r *rand.Rand) *instance {
			x, w, b := randSlice(r, rows*cols), randSlice(r, cols), randSlice(r, cols)
			for i := range x {
				x[i] = 3*x[i] + 1 // not already centred and scaled
			}
			return &instance{
				inputs: []*gograd.Tensor{gograd.FromSliceOn(dev, x, rows, cols), gograd.FromSliceOn(dev, w, cols), gograd.FromSliceOn(dev, b, cols)},
				fn: func(in ...*gograd.Tensor) *gograd.Tensor {
					return in[0].LayerNorm([]int{cols}, in[1], in[2], layerNormEps)
				},
				baseline: func() []float32 { return baseLayerNorm(x, w, b, rows, cols, layerNormEps) },
			}
		},
	}
}

// Suites: "core" is the four rows of the first version of the bench; "cpu"
// the rows of the issue "Fast on the CPU"; "all" both (today the cpu suite
// holds the core rows, so all is cpu).
var suites = []string{"core", "cpu", "all"}

// suiteWorkloads returns the rows of a suite; small makes each about 1/64
// of its work (a matmul's side divided by 4, a matrix-vector's sides by 8),
// for a quick check.
func suiteWorkloads(suite string, small bool) ([]workload, error) {
	var (
		mm             = []int{256, 512, 1024, 2048}
		mvRows, mvCols = []int{4096, 11008}, 4096
		fmaN           = 16 << 20
		rows, cols     = 4096, 4096
		conv           = conv2dWork(32, 64, 56, 56, 64, 3)
	)
	if small {
		mm = []int{64, 128, 256, 512}
		mvRows, mvCols = []int{512, 1376}, 512
		fmaN = 1 << 18
		rows, cols = 512, 512
		conv = conv2dWork(2, 32, 28, 28, 32, 3)
	}
	fma, sm := fmaWork(fmaN), softmaxWork(rows, cols)
	matmul := matmulWork(mm[2], "matmul") // the first bench's row keeps its name
	matmul.alias = fmt.Sprint("matmul_", mm[2])
	core := []workload{fma, matmul, sm, conv}
	cpu := []workload{matmulWork(mm[0], fmt.Sprint("matmul_", mm[0])), matmulWork(mm[1], fmt.Sprint("matmul_", mm[1])), matmul, matmulWork(mm[3], fmt.Sprint("matmul_", mm[3]))}
	for _, n := range mvRows {
		cpu = append(cpu, matvecWork(n, mvCols, fmt.Sprintf("matvec_%dx%d", n, mvCols)))
	}
	for _, n := range mvRows {
		cpu = append(cpu, matvecQ8Work(n, mvCols, fmt.Sprintf("matvec_q8_%dx%d", n, mvCols)))
	}
	cpu = append(cpu, fma, sm, layerNormWork(rows, cols), conv)
	switch suite {
	case "core":
		return core, nil
	case "cpu", "all":
		return cpu, nil
	}
	return nil, fmt.Errorf("unknown suite %q (known: %s)", suite, strings.Join(suites, ", "))
}
