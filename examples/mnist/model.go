package main

import (
	"github.com/gograd/gograd"
	"github.com/gograd/gograd/nn"
)

// newModel is tinygrad's beautiful_mnist CNN, layer for layer the PyTorch
// nn.Sequential of tools/mnist_compare.py, so the state-dict names (0.weight,
// 4.running_mean, 13.bias) are PyTorch's too.
func newModel() nn.Sequential {
	relu := nn.Func(func(x *gograd.Tensor) *gograd.Tensor { return x.Relu() })
	pool := nn.Func(func(x *gograd.Tensor) *gograd.Tensor {
		return x.MaxPool2d(gograd.PoolOpts{Kernel: []int{2}})
	})
	flatten := nn.Func(func(x *gograd.Tensor) *gograd.Tensor { return x.Flatten(1) })
	conv := func(in, out, k int) *nn.Conv2d { return nn.NewConv2d(in, out, []int{k}, gograd.ConvOpts{}, true) }
	return nn.Sequential{
		conv(1, 32, 5), relu, // (N, 32, 24, 24)
		conv(32, 32, 5), relu, // (N, 32, 20, 20)
		nn.NewBatchNorm(32), pool, // (N, 32, 10, 10)
		conv(32, 64, 3), relu, // (N, 64, 8, 8)
		conv(64, 64, 3), relu, // (N, 64, 6, 6)
		nn.NewBatchNorm(64), pool, // (N, 64, 3, 3)
		flatten, nn.NewLinear(576, 10, true), // (N, 10)
	}
}
