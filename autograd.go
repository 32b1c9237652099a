package gograd

import (
	"fmt"
	"slices"
	"sync"
	"weak"

	"github.com/gograd/gograd/uop"
)

// Autograd needs no tape: the lazy graph of a result is its history.
// Backward differentiates that graph with the rules of gradient.go and leaves
// the gradients lazy, so the backward pass fuses into kernels like the
// forward one and runs when the gradients (or an optimizer step that reads
// them) are realized.

var (
	gradMu      sync.Mutex
	gradTensors []weak.Pointer[Tensor] // tensors that asked for gradients
)

// RequiresGrad marks t as a tensor whose gradient Backward fills in (in
// t.Grad), and returns t.
func (t *Tensor) RequiresGrad(on bool) *Tensor {
	if on && !t.DType().IsFloat() {
		panic(fmt.Sprintf("gograd: RequiresGrad: only float tensors have gradients, not %s", t.DType()))
	}
	if on && !t.requiresGrad {
		gradMu.Lock()
		gradTensors = append(gradTensors, weak.Make(t))
		gradMu.Unlock()
	}
	t.requiresGrad = on
	return t
}

// GradRequired reports whether RequiresGrad(true) was called on t.
func (t *Tensor) GradRequired() bool { return t.requiresGrad }

// wantGrads returns the live tensors that asked for gradients, forgetting dead ones.
func wantGrads() []*Tensor {
	gradMu.Lock()
	defer gradMu.Unlock()
	var out []*Tensor
	live := gradTensors[:0]
	for _, w := range gradTensors {
		if t := w.Value(); t != nil {
			live = append(live, w)
			if t.requiresGrad {
				out = append(out, t)
			}
		}
	}
	gradTensors = live
	return out
}

// Backward computes the gradient of t, a one-element loss, with respect to
// every tensor created with RequiresGrad(true) that t depends on, and adds
// it to that tensor's Grad (set it to nil to start afresh). The gradients
// are lazy: realize them, or let an optimizer step do it.
func (t *Tensor) Backward() {
	if t.Numel() != 1 {
		panic(fmt.Sprintf("gograd: Backward: loss of shape %v is not one element; use BackwardWith", t.uop.Shape()))
	}
	t.BackwardWith(OnesLike(t))
}

// BackwardWith is Backward with an explicit gradient of t (t's shape).
func (t *Tensor) BackwardWith(grad *Tensor) {
	grad = t.checkGrad("BackwardWith", grad)
	inGraph := map[*uop.UOp]bool{}
	for _, u := range uop.Toposort(t.uop) {
		inGraph[u] = true
	}
	var targets []*Tensor
	var nodes []*uop.UOp
	for _, x := range wantGrads() {
		if inGraph[x.uop] {
			targets = append(targets, x)
			nodes = append(nodes, x.uop)
		}
	}
	for i, g := range computeGradient(t.uop, grad.uop, nodes) {
		if g == nil {
			continue
		}
		x := targets[i]
		if x.Grad != nil {
			x.Grad = x.Grad.Add(fromUOp(g))
		} else {
			x.Grad = fromUOp(g)
		}
	}
}

func (t *Tensor) checkGrad(op string, grad *Tensor) *Tensor {
	if grad.Device() != t.Device() {
		panic(fmt.Sprintf("gograd: %s: gradient on %s for a tensor on %s", op, grad.Device(), t.Device()))
	}
	shape := BroadcastShapes(op, t.uop.Shape(), grad.uop.Shape())
	if !slices.Equal(shape, t.uop.Shape()) {
		panic(fmt.Sprintf("gograd: %s: gradient of shape %v for a tensor of shape %v", op, grad.uop.Shape(), t.uop.Shape()))
	}
	return grad.Cast(t.DType()).expandTo(t.uop.Shape())
}

// Gradient returns the gradients of y (one element) with respect to xs,
// lazily, without touching any Grad field. A tensor y does not depend on
// gets zeros.
func Gradient(y *Tensor, xs ...*Tensor) []*Tensor {
	if y.Numel() != 1 {
		panic(fmt.Sprintf("gograd: Gradient: y of shape %v is not one element; use GradientWith", y.uop.Shape()))
	}
	return GradientWith(y, OnesLike(y), xs...)
}

// GradientWith is Gradient with an explicit gradient dy of y.
func GradientWith(y, dy *Tensor, xs ...*Tensor) []*Tensor {
	dy = y.checkGrad("GradientWith", dy)
	nodes := make([]*uop.UOp, len(xs))
	for i, x := range xs {
		nodes[i] = x.uop
	}
	grads := computeGradient(y.uop, dy.uop, nodes)
	out := make([]*Tensor, len(xs))
	for i, g := range grads {
		if g == nil {
			out[i] = ZerosLike(xs[i])
		} else {
			out[i] = fromUOp(g)
		}
	}
	return out
}

// Detach returns t cut from its history: the same values, through which no
// gradient flows.
func (t *Tensor) Detach() *Tensor {
	return fromUOp(uop.New(uop.DETACH, t.DType(), []*uop.UOp{t.uop}, nil))
}

// NoGrad runs f and detaches the tensor (or tensors) it returns, so no
// gradient flows back through them: the inference scope of PyTorch's
// no_grad. gograd records no tape, so work inside costs what it costs
// outside; and NoGrad keeps no global state, so it is safe to call from many
// goroutines at once.
func NoGrad[T *Tensor | []*Tensor](f func() T) T {
	r := f()
	switch v := any(r).(type) {
	case *Tensor:
		return any(v.Detach()).(T)
	case []*Tensor:
		out := make([]*Tensor, len(v))
		for i, x := range v {
			out[i] = x.Detach()
		}
		return any(out).(T)
	}
	return r
}
