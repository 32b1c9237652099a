package main

import (
	"math/rand/v2"

	"github.com/gograd/gograd"
)

// conv2dWork is the convolution of x (n, c, h, w) with weights (cout, c, k,
// k), padding k/2, stride 1, no bias: the output keeps h×w. Its FLOPs are a
// multiply and an add per weight tap of every output element,
// 2·n·cout·h·w·c·k·k.
func conv2dWork(n, c, h, w, cout, k int) workload {
	out := int64(n) * int64(cout) * int64(h) * int64(w)
	in := int64(n) * int64(c) * int64(h) * int64(w)
	wts := int64(cout) * int64(c) * int64(k) * int64(k)
	pad := k / 2
	return workload{
		name: "conv2d", id: "conv2d", shape: shapeString(n, c, h, w) + " * " + shapeString(cout, c, k, k) + ", pad " + shapeString(pad),
		flops: 2 * out * int64(c) * int64(k) * int64(k), bytes: 4 * (in + wts + out), rate: "GFLOP/s", tol: 1e-5,
		// The weight packed with its output channels contiguous (rows of
		// 56 do not split into vectors of 16), then the convolution.
		wantKernels: 2,
		peer:        peerSpec{"conv2d", []int{n, c, h, w, cout, k}},
		prepare: func(dev string, r *rand.Rand) *instance {
			x, wt := randSlice(r, n*c*h*w), randSlice(r, cout*c*k*k)
			return &instance{
				inputs: []*gograd.Tensor{gograd.FromSliceOn(dev, x, n, c, h, w), gograd.FromSliceOn(dev, wt, cout, c, k, k)},
				fn: func(in ...*gograd.Tensor) *gograd.Tensor {
					return in[0].Conv2d(in[1], nil, gograd.ConvOpts{Padding: []int{pad}})
				},
				baseline: func() []float32 { return baseConv2d(x, wt, n, c, h, w, cout, k, pad) },
			}
		},
	}
}
