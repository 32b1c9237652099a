// Package nn holds the building blocks of neural networks over gograd's
// tensors: layers, losses, a model's parameters and state, and the
// safetensors file format.
//
// # Layers are structs
//
// A layer is a plain Go struct with exported *gograd.Tensor fields for its
// parameters and a Forward method; a model is a struct of layers. Every
// computation is a lazy composition of Tensor methods, so a forward pass
// builds a graph that the scheduler fuses into kernels when it is realized.
// Constructors (NewLinear, NewConv2d, ...) initialise parameters as PyTorch
// does, from gograd's seeded generator (gograd.Seed repeats them), and mark
// them with RequiresGrad(true).
//
//	model := nn.Sequential{
//		nn.NewLinear(784, 128, true),
//		nn.Func(func(x *gograd.Tensor) *gograd.Tensor { return x.Relu() }),
//		nn.NewLinear(128, 10, true),
//	}
//	loss := nn.CrossEntropy(model.Forward(x), y)
//	loss.Backward()
//
// Layers whose behaviour differs in training (Dropout, BatchNorm,
// MultiHeadAttention's dropout) have a Training field, true after their
// constructor as in PyTorch; Train sets it throughout a model.
//
// # State
//
// Parameters, StateDict and LoadStateDict find a model's tensors by walking
// its struct with reflection: exported *gograd.Tensor fields, through nested
// structs, pointers, interfaces, slices, arrays and string-keyed maps. Names
// are dotted lower-case paths (layers.0.attn.wq.weight), PyTorch's where the
// layers mirror PyTorch's modules, so PyTorch state dicts load by name. A
// struct tag overrides a name and marks state that is not a parameter:
//
//	RunningMean *gograd.Tensor `gograd:"running_mean,buffer"`
//
// # Files
//
// SaveSafetensors and LoadSafetensors write and read the safetensors format;
// reading memory-maps the file and builds tensors over the mapped bytes
// without copying them. SaveModel and LoadModel save and load a model's
// state dict.
//
// # Errors
//
// Misuse (a shape that does not fit a layer) panics with a message that
// starts "nn: <Layer>:" and names the shapes. I/O and malformed files return
// errors, never a panic, and never an allocation sized by a number in the
// file that has not been checked against the file's size.
//
// Package nn may import the gograd root package, dtype, device and the
// standard library, plus golang.org/x/sys for memory mapping.
package nn

import (
	"fmt"
	"reflect"
	"strings"

	"github.com/gograd/gograd"
)

// Layer is anything with a Forward pass from one tensor to another: every
// layer of this package, a Sequential, a Func.
type Layer interface {
	Forward(x *gograd.Tensor) *gograd.Tensor
}

// Sequential runs its layers one after another. As a slice its state-dict
// names are the layers' indices (0.weight, 2.bias), as PyTorch's Sequential.
type Sequential []Layer

// Forward feeds x through every layer in order.
func (s Sequential) Forward(x *gograd.Tensor) *gograd.Tensor {
	for _, l := range s {
		x = l.Forward(x)
	}
	return x
}

// Func is a layer without parameters made from a function, such as
// nn.Func(func(x *gograd.Tensor) *gograd.Tensor { return x.Relu() }).
type Func func(x *gograd.Tensor) *gograd.Tensor

// Forward applies the function.
func (f Func) Forward(x *gograd.Tensor) *gograd.Tensor { return f(x) }

// trainer is a layer with a training mode.
type trainer interface {
	SetTraining(on bool)
}

// Train puts every layer of model that has a training mode (Dropout,
// BatchNorm, MultiHeadAttention) into training mode (on) or evaluation mode
// (off), as PyTorch's model.train(on); it walks the model as Parameters
// does. model must be a pointer (or hold its layers through pointers) so
// the layers can be changed.
func Train(model any, on bool) {
	w := walker{op: "Train", visit: func(t trainer) { t.SetTraining(on) }}
	w.walk(reflect.ValueOf(model), "", false)
}

// panicf panics with a message prefixed by "nn: <op>: ".
func panicf(op, format string, args ...any) {
	panic("nn: " + op + ": " + fmt.Sprintf(format, args...))
}

// shapeStr formats a shape as PyTorch prints it: (2, 3).
func shapeStr(s []int) string {
	parts := make([]string, len(s))
	for i, v := range s {
		parts[i] = fmt.Sprint(v)
	}
	if len(s) == 1 {
		return "(" + parts[0] + ",)"
	}
	return "(" + strings.Join(parts, ", ") + ")"
}
