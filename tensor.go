// Package gograd is a deep-learning framework built on tinygrad's ideas: lazy
// tensors over about thirty primitive ops, views that cost nothing, automatic
// kernel fusion, and code generated for each backend.
//
// # Tensors are lazy
//
// Every Tensor method builds a graph of primitive ops (package uop) and
// returns at once. Nothing runs until a value is needed: Realize, Float32s,
// Item and the other data accessors schedule the graph into kernels (package
// schedule), generate code for each (packages codegen and render) and run it
// on the tensor's device (package device).
//
//	a := gograd.Rand(3, 4)
//	b := a.Mul(2).Add(1).Relu()  // no work yet
//	fmt.Println(b.Float32s())    // one fused kernel runs
//
// A Go number is accepted wherever a tensor is (x.Mul(2), x.Lt(0).Where(x, 1)),
// shapes broadcast as in NumPy, and dtypes promote as in PyTorch.
//
// # Misuse panics
//
// Shape and dtype mismatches are programming errors: they panic with a message
// naming the op and the shapes, like an index out of range. I/O returns errors.
//
// # Seeing what runs
//
// DEBUG=1 prints a summary per realize, DEBUG=2 a line per kernel (starting
// with ***), DEBUG=3 the kernel AST, DEBUG=4 the generated code, DEBUG=5 the
// linear program; GRAPH=1 writes the executed kernel graph as DOT. Stats
// returns the counters (kernels, FLOPs, bytes, time) for tests and benchmarks.
//
// Package gograd imports every layer below it: schedule, codegen, render,
// device, shape, uop, dtype.
package gograd

import (
	"fmt"
	"slices"
	"strings"
	"sync/atomic"

	"github.com/gograd/gograd/device"
	_ "github.com/gograd/gograd/device/cpu"   // the CPU device, where a C compiler works
	_ "github.com/gograd/gograd/device/godev" // the GO device is always available
	"github.com/gograd/gograd/dtype"
	"github.com/gograd/gograd/schedule"
	"github.com/gograd/gograd/uop"
)

// DType re-exports the element types so users need one import.
type DType = dtype.DType

// The element types.
const (
	Bool     = dtype.Bool
	Int8     = dtype.Int8
	Uint8    = dtype.Uint8
	Int16    = dtype.Int16
	Uint16   = dtype.Uint16
	Int32    = dtype.Int32
	Uint32   = dtype.Uint32
	Int64    = dtype.Int64
	Uint64   = dtype.Uint64
	Float16  = dtype.Float16
	BFloat16 = dtype.BFloat16
	Float32  = dtype.Float32
	Float64  = dtype.Float64
)

// Tensor is a lazy n-dimensional array on a device.
type Tensor struct {
	uop *uop.UOp

	// Grad is the gradient Backward computed for a tensor marked with
	// RequiresGrad(true); lazy until realized.
	Grad         *Tensor
	requiresGrad bool
}

func fromUOp(u *uop.UOp) *Tensor { return &Tensor{uop: u} }

// UOp returns the node of the tensor's graph (for tools and tests).
func (t *Tensor) UOp() *uop.UOp { return t.uop }

// Shape returns the tensor's shape. Do not modify it.
func (t *Tensor) Shape() []int { return slices.Clone(t.uop.Shape()) }

// Dim returns the size of axis i (negative counts from the end).
func (t *Tensor) Dim(i int) int { return t.uop.Shape()[t.axis(i, "Dim")] }

// Ndim returns the number of axes.
func (t *Tensor) Ndim() int { return len(t.uop.Shape()) }

// Numel returns the number of elements.
func (t *Tensor) Numel() int { return t.uop.Numel() }

// DType returns the element type.
func (t *Tensor) DType() DType { return t.uop.DType }

// Device returns the name of the tensor's device, like "GO:0".
func (t *Tensor) Device() string { return t.uop.Device }

func (t *Tensor) String() string {
	return fmt.Sprintf("<Tensor %v %s on %s>", t.uop.Shape(), t.uop.DType, t.uop.Device)
}

// axis normalises a possibly negative axis, panicking when out of range.
func (t *Tensor) axis(a int, op string) int {
	n := t.Ndim()
	if a < -max(n, 1) || a >= max(n, 1) {
		panic(fmt.Sprintf("gograd: %s: axis %d out of range for shape %v", op, a, t.uop.Shape()))
	}
	if a < 0 {
		a += n
	}
	return a
}

// axes normalises a list of axes; none means all axes.
func (t *Tensor) axes(op string, axes []int) []int {
	if len(axes) == 0 {
		out := make([]int, t.Ndim())
		for i := range out {
			out[i] = i
		}
		return out
	}
	out := make([]int, 0, len(axes))
	for _, a := range axes {
		a = t.axis(a, op)
		if slices.Contains(out, a) {
			panic(fmt.Sprintf("gograd: %s: axis %d repeated in %v", op, a, axes))
		}
		out = append(out, a)
	}
	slices.Sort(out)
	return out
}

// resolveDevice returns the canonical device for a creation call.
func resolveDevice(dev []string) string {
	if len(dev) > 0 && dev[0] != "" {
		d, err := device.Get(dev[0])
		if err != nil {
			panic(fmt.Sprintf("gograd: %v", err))
		}
		return d.Name
	}
	name := device.Default()
	if _, err := device.Get(name); err != nil {
		panic(fmt.Sprintf("gograd: default device: %v", err))
	}
	return name
}

// DefaultDevice returns the device new tensors are created on.
func DefaultDevice() string { return resolveDevice(nil) }

// SetDefaultDevice changes the device new tensors are created on ("GO",
// "CPU:1", ...) and returns the previous one.
func SetDefaultDevice(name string) string {
	if _, err := device.Get(name); err != nil {
		panic(fmt.Sprintf("gograd: %v", err))
	}
	return device.SetDefault(name)
}

func shapeStr(s []int) string {
	parts := make([]string, len(s))
	for i, v := range s {
		parts[i] = fmt.Sprint(v)
	}
	return "(" + strings.Join(parts, ", ") + ")"
}

// Assign writes v (a tensor or a Go number, broadcast to t's shape and cast
// to its dtype) into t's buffer when t is next realized, and returns t. t
// must be realized (a buffer or a view of one); it is realized first if not.
// Kernels in the same realize that read t's old contents run before the
// write. Like an in-place op in PyTorch, graphs built earlier on t that are
// realized later read the new contents.
func (t *Tensor) Assign(v any) *Tensor {
	if !schedule.IsBufferView(t.uop) {
		t.Realize()
	}
	x := t.toTensor("Assign", v).Cast(t.DType())
	shape := BroadcastShapes("Assign", t.uop.Shape(), x.uop.Shape())
	if !slices.Equal(shape, t.uop.Shape()) {
		panic(fmt.Sprintf("gograd: Assign: value of shape %v does not fit target %v", x.uop.Shape(), t.uop.Shape()))
	}
	// Each assign is its own node (a write happens once), so two equal
	// assigns in different steps of a loop are not one.
	t.uop = uop.New(uop.ASSIGN, t.DType(), []*uop.UOp{t.uop, x.expandTo(shape).uop}, assignIDs.Add(1))
	return t
}

var assignIDs atomic.Int64
