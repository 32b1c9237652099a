package gograd_test

import (
	"runtime"
	"testing"

	"github.com/gograd/gograd"
)

// The workloads of "gograd bench" at smaller sizes, for go test -bench and
// benchstat. Each benchmark realizes its inputs, compiles the kernels once,
// then times building the lazy expression and realizing it. The plain-Go
// baselines and the full sizes are in cmd/gograd (go run ./cmd/gograd bench).
//
//	go test -run '^$' -bench . -count 6 > new.txt && benchstat old.txt new.txt

// benchRealize times build().Realize() and reports the rate of flops and
// bytes (computed from the shapes) per second and the kernels per run.
func benchRealize(b *testing.B, flops, bytes int64, build func() *gograd.Tensor) {
	b.Helper()
	build().Realize() // compile the kernels
	gograd.ResetStats()
	n := 0
	for b.Loop() {
		// Collect the last result outside the timing, so runs do not pay
		// for each other's garbage.
		b.StopTimer()
		runtime.GC()
		b.StartTimer()
		build().Realize()
		n++
	}
	st := gograd.Stats("")
	if st.Kernels < int64(n) {
		b.Fatalf("%d runs ran %d kernels: results were not recomputed", n, st.Kernels)
	}
	sec := b.Elapsed().Seconds() / float64(n)
	if flops > 0 {
		b.ReportMetric(float64(flops)/sec/1e9, "GFLOP/s")
	}
	if bytes > 0 {
		b.ReportMetric(float64(bytes)/sec/1e9, "GB/s")
	}
	b.ReportMetric(float64(st.Kernels)/float64(n), "kernels/op")
}

// BenchmarkFMA is a*b+c on 1M floats: one kernel, memory-bound (16 bytes
// per element).
func BenchmarkFMA(b *testing.B) {
	const n = 1 << 20
	gograd.Seed(1)
	x, y, z := gograd.Rand(n).Realize(), gograd.Rand(n).Realize(), gograd.Rand(n).Realize()
	benchRealize(b, 0, 16*n, func() *gograd.Tensor { return x.Mul(y).Add(z) })
}

// BenchmarkMatmul is a 256×256 by 256×256 product (2·256³ FLOPs).
func BenchmarkMatmul(b *testing.B) {
	const n = 256
	gograd.Seed(1)
	x, y := gograd.Rand(n, n).Realize(), gograd.Rand(n, n).Realize()
	benchRealize(b, 2*n*n*n, 0, func() *gograd.Tensor { return x.Matmul(y) })
}

// BenchmarkSoftmax is the softmax of the rows of a 1024×1024 matrix (8 bytes
// per element: read once, written once).
func BenchmarkSoftmax(b *testing.B) {
	const n = 1024
	gograd.Seed(1)
	x := gograd.Randn(n, n).Realize()
	benchRealize(b, 0, 8*n*n, func() *gograd.Tensor { return x.Softmax(-1) })
}

// BenchmarkConv2d is a 3×3 convolution of (4, 32, 28, 28) with 32 output
// channels, padding 1 (2·4·32·28·28·32·9 FLOPs).
func BenchmarkConv2d(b *testing.B) {
	const n, c, hw, cout, k = 4, 32, 28, 32, 3
	gograd.Seed(1)
	x, w := gograd.Randn(n, c, hw, hw).Realize(), gograd.Randn(cout, c, k, k).Realize()
	benchRealize(b, 2*n*cout*hw*hw*c*k*k, 0, func() *gograd.Tensor {
		return x.Conv2d(w, nil, gograd.ConvOpts{Padding: []int{1}})
	})
}
