package main

import (
	"math"
	"runtime"
	"sync"
)

// The baselines of gograd bench: the loops a Go programmer would write for
// each workload, over []float32, single pass, with the outer loop split over
// GOMAXPROCS goroutines. They are the yardstick, not a tuned BLAS: no
// blocking, no assembly, no unsafe. Each allocates its output, as the
// gograd side does.

// parallelFor calls fn on contiguous parts [lo, hi) of [0, n), one per
// goroutine, GOMAXPROCS of them at most, and waits.
func parallelFor(n int, fn func(lo, hi int)) {
	workers := min(runtime.GOMAXPROCS(0), n)
	if workers <= 1 {
		fn(0, n)
		return
	}
	var wg sync.WaitGroup
	for w := range workers {
		lo, hi := n*w/workers, n*(w+1)/workers
		wg.Go(func() { fn(lo, hi) })
	}
	wg.Wait()
}

// baseFMA returns a*b+c elementwise.
func baseFMA(a, b, c []float32) []float32 {
	out := make([]float32, len(a))
	parallelFor(len(a), func(lo, hi int) {
		a, b, c, out := a[lo:hi], b[lo:hi], c[lo:hi], out[lo:hi]
		for i := range out {
			out[i] = a[i]*b[i] + c[i]
		}
	})
	return out
}

// baseMatmul returns the (n, m) product of a (n, k) and b (k, m), row-major,
// with the i-k-j loop order so the inner loop walks rows of b and out.
func baseMatmul(a, b []float32, n, k, m int) []float32 {
	out := make([]float32, n*m)
	parallelFor(n, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			row := out[i*m : (i+1)*m]
			for p := range k {
				aip := a[i*k+p]
				brow := b[p*m : (p+1)*m]
				for j := range row {
					row[j] += aip * brow[j]
				}
			}
		}
	})
	return out
}

// baseMatvec returns W @ x for W of (n, k), row-major: a dot product per
// row of W.
func baseMatvec(w, x []float32, n, k int) []float32 {
	out := make([]float32, n)
	parallelFor(n, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			var sum float32
			for j, v := range w[i*k : (i+1)*k] {
				sum += v * x[j]
			}
			out[i] = sum
		}
	})
	return out
}

// baseMatvecQ8 returns (W * s) @ x for int8 W of (n, k) and a scale per
// row: each row's dot product with x, times the row's scale.
func baseMatvecQ8(w []int8, s, x []float32, n, k int) []float32 {
	out := make([]float32, n)
	parallelFor(n, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			var sum float32
			for j, v := range w[i*k : (i+1)*k] {
				sum += float32(v) * x[j]
			}
			out[i] = sum * s[i]
		}
	})
	return out
}

// baseSoftmax returns the softmax of each row of x (rows × cols): the row's
// maximum, then exp(x - max) and its sum, then a division by the sum.
func baseSoftmax(x []float32, rows, cols int) []float32 {
	out := make([]float32, rows*cols)
	parallelFor(rows, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			in, o := x[r*cols:(r+1)*cols], out[r*cols:(r+1)*cols]
			mx := float32(math.Inf(-1))
			for _, v := range in {
				mx = max(mx, v)
			}
			var sum float32
			for i, v := range in {
				e := float32(math.Exp(float64(v - mx)))
				o[i] = e
				sum += e
			}
			for i := range o {
				o[i] /= sum
			}
		}
	})
	return out
}

// baseConv2d returns the cross-correlation of x (n, c, h, w) with weights
// (cout, c, k, k), zero padding pad, stride 1, no bias: (n, cout, oh, ow).
// It is the direct seven-deep loop, parallel over (image, output channel).
func baseConv2d(x, wt []float32, n, c, h, w, cout, k, pad int) []float32 {
	oh, ow := h+2*pad-k+1, w+2*pad-k+1
	out := make([]float32, n*cout*oh*ow)
	parallelFor(n*cout, func(lo, hi int) {
		for nc := lo; nc < hi; nc++ {
			b, co := nc/cout, nc%cout
			o := out[nc*oh*ow : (nc+1)*oh*ow]
			for y := range oh {
				for xo := range ow {
					var sum float32
					for ci := range c {
						img := x[(b*c+ci)*h*w : (b*c+ci+1)*h*w]
						ker := wt[(co*c+ci)*k*k : (co*c+ci+1)*k*k]
						for ky := range k {
							iy := y + ky - pad
							if iy < 0 || iy >= h {
								continue
							}
							for kx := range k {
								ix := xo + kx - pad
								if ix < 0 || ix >= w {
									continue
								}
								sum += img[iy*w+ix] * ker[ky*k+kx]
							}
						}
					}
					o[y*ow+xo] = sum
				}
			}
		}
	})
	return out
}

// baseLayerNorm returns each row of x (rows × cols) centred, divided by the
// square root of its biased variance plus eps, times w plus b. The row's
// sums are in float64.
func baseLayerNorm(x, w, b []float32, rows, cols int, eps float64) []float32 {
	out := make([]float32, rows*cols)
	parallelFor(rows, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			in, o := x[r*cols:(r+1)*cols], out[r*cols:(r+1)*cols]
			var sum float64
			for _, v := range in {
				sum += float64(v)
			}
			mean := sum / float64(cols)
			var sq float64
			for _, v := range in {
				d := float64(v) - mean
				sq += d * d
			}
			rstd := 1 / math.Sqrt(sq/float64(cols)+eps)
			for i, v := range in {
				o[i] = float32((float64(v)-mean)*rstd)*w[i] + b[i]
			}
		}
	})
	return out
}
