// Quickstart shows gograd's Tensor API in a few lines: tensors are lazy,
// Go numbers mix with tensors, shapes broadcast, and realizing a result runs
// a handful of fused kernels, which the counters report.
//
//	go run ./examples/quickstart
//	DEBUG=2 go run ./examples/quickstart   # one line per kernel
package main

import (
	"fmt"

	"github.com/gograd/gograd"
)

func main() {
	x := gograd.FromSlice([]float32{1, 2, 3, 4, 5, 6}, 2, 3) // (2, 3)
	b := gograd.FromSlice([]float32{10, 20, 30})             // (3,), broadcast over rows

	// Elementwise work with Go numbers and broadcasting: no kernel runs yet.
	y := x.Mul(2).Add(b).Relu()
	fmt.Println(y) // the shape, dtype and device; still lazy

	gograd.ResetStats()
	fmt.Println("y =", y.Float32s()) // realizes: one fused kernel
	fmt.Println("kernels:", gograd.Stats("").Kernels)

	// Reductions take axes as ints and options such as KeepDim.
	fmt.Println("row sums:", x.Sum(1).Float32s())
	fmt.Println("column max:", x.Max(0, gograd.KeepDim).Shape(), x.Max(0, gograd.KeepDim).Float32s())
	fmt.Println("softmax of row 0:", x.Slice(gograd.At(0)).Softmax(-1).Float32s())

	// A matrix product: a broadcast multiply and a sum, fused into one kernel.
	w := gograd.Eye(3).Mul(0.5) // (3, 3)
	z := x.Matmul(w).Sub(x.Mean(1, gograd.KeepDim))
	gograd.ResetStats()
	fmt.Println("x@w - mean =", z.Float32s())
	fmt.Println("kernels:", gograd.Stats("").Kernels)

	// Tensors live on devices; To copies between them, lazily.
	g := z.To("GO:1").Mul(10)
	fmt.Println(g.Device(), g.Float32s())
}
