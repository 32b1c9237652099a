package gograd

import (
	"fmt"
	"math"
	"slices"

	"github.com/gograd/gograd/dtype"
	"github.com/gograd/gograd/uop"
)

// The gradient rules, one per primitive op: given a node u and the gradient g
// of the loss with respect to u (same shape and dtype as u), gradOf returns
// the gradient with respect to each source (nil where none flows). Every
// Tensor method differentiates through these alone.
func gradOf(u, g *uop.UOp) []*uop.UOp {
	s := u.Src
	switch u.Op {
	case uop.ADD:
		return []*uop.UOp{g, g}
	case uop.MUL:
		return []*uop.UOp{g.Alu(uop.MUL, s[1]), g.Alu(uop.MUL, s[0])}
	case uop.NEG:
		return []*uop.UOp{g.Alu(uop.NEG)}
	case uop.RECIP: // d(1/x) = -1/x^2
		return []*uop.UOp{g.Alu(uop.MUL, u.Alu(uop.MUL, u)).Alu(uop.NEG)}
	case uop.SQRT: // d sqrt(x) = 1/(2 sqrt(x))
		return []*uop.UOp{g.Alu(uop.MUL, u.Alu(uop.MUL, like(u, 2)).Alu(uop.RECIP))}
	case uop.EXP2: // d 2^x = 2^x ln 2
		return []*uop.UOp{g.Alu(uop.MUL, u.Alu(uop.MUL, like(u, math.Ln2)))}
	case uop.LOG2: // d log2(x) = 1/(x ln 2)
		return []*uop.UOp{g.Alu(uop.MUL, s[0].Alu(uop.MUL, like(u, math.Ln2)).Alu(uop.RECIP))}
	case uop.SIN: // d sin(x) = cos(x) = 1 - 2 sin²(x/2), exact for large x
		h := s[0].Alu(uop.MUL, like(u, 0.5)).Alu(uop.SIN)
		cos := like(u, 1).Alu(uop.ADD, h.Alu(uop.MUL, h).Alu(uop.MUL, like(u, -2)))
		return []*uop.UOp{g.Alu(uop.MUL, cos)}
	case uop.MAX: // to the larger; a tie splits it
		half := func(a, b *uop.UOp) *uop.UOp {
			w := b.Alu(uop.CMPLT, a).Alu(uop.WHERE, like(g, 1), a.Alu(uop.CMPNE, b).Alu(uop.WHERE, like(g, 0), like(g, 0.5)))
			return g.Alu(uop.MUL, w)
		}
		return []*uop.UOp{half(s[0], s[1]), half(s[1], s[0])}
	case uop.WHERE:
		zero := like(g, 0)
		return []*uop.UOp{nil, s[0].Alu(uop.WHERE, g, zero), s[0].Alu(uop.WHERE, zero, g)}
	case uop.CAST:
		if s[0].DType.IsFloat() {
			return []*uop.UOp{g.Cast(s[0].DType)}
		}
		return []*uop.UOp{nil}
	case uop.REDUCE_AXIS:
		arg := u.Arg.(uop.ReduceArg)
		ge := g.Expand(s[0].Shape())
		switch arg.Op {
		case uop.ADD:
			return []*uop.UOp{ge}
		case uop.MAX: // shared equally by the elements that hit the maximum
			hit := s[0].Alu(uop.CMPNE, u.Expand(s[0].Shape())).Alu(uop.WHERE, like(s[0], 0), like(s[0], 1))
			count := hit.Reduce(uop.ADD, arg.Axes...).Expand(s[0].Shape())
			return []*uop.UOp{ge.Alu(uop.MUL, hit).Alu(uop.MUL, count.Alu(uop.RECIP))}
		case uop.MUL: // the product of the others, with their NaNs, infinities and zeros
			return []*uop.UOp{ge.Alu(uop.MUL, productOfOthers(s[0], arg.Axes))}
		}
	case uop.RESHAPE:
		return []*uop.UOp{g.Reshape(s[0].Shape())}
	case uop.PERMUTE:
		return []*uop.UOp{g.Permute(uop.InversePermutation(u.Arg.([]int)))}
	case uop.EXPAND:
		var axes []int
		for i, d := range s[0].Shape() {
			if d != u.Shape()[i] {
				axes = append(axes, i)
			}
		}
		if len(axes) == 0 {
			return []*uop.UOp{g}
		}
		if g.DType.IsHalf() { // sum in float32, round once, as PyTorch
			return []*uop.UOp{g.Cast(dtype.Float32).Reduce(uop.ADD, axes...).Cast(g.DType)}
		}
		return []*uop.UOp{g.Reduce(uop.ADD, axes...)}
	case uop.PAD:
		b := make([][2]int, len(s[0].Shape()))
		for i, p := range u.Arg.([][2]int) {
			b[i] = [2]int{p[0], p[0] + s[0].Shape()[i]}
		}
		return []*uop.UOp{g.Shrink(b)}
	case uop.SHRINK:
		if _, ok := u.Arg.(uop.VarShrink); ok {
			panic("gograd: backward: no gradient through ShrinkAt (a window at a variable offset)")
		}
		p := make([][2]int, len(s[0].Shape()))
		for i, b := range u.Arg.([][2]int) {
			p[i] = [2]int{b[0], s[0].Shape()[i] - b[1]}
		}
		return []*uop.UOp{g.Pad(p)}
	case uop.FLIP:
		return []*uop.UOp{g.Flip(u.Arg.([]bool))}
	case uop.CONTIGUOUS:
		return []*uop.UOp{g}
	case uop.COPY:
		return []*uop.UOp{uop.New(uop.COPY, g.DType, []*uop.UOp{g}, s[0].Device)}
	}
	// No gradient: comparisons, integer and bitwise ops, TRUNC, BITCAST,
	// DETACH, ASSIGN, and the leaves.
	return make([]*uop.UOp, len(s))
}

// gradFunc is the argument of a DETACH node whose gradient a function gives
// instead of the graph under it: the value is Src[0]'s, and the gradients of
// inputs (nodes of Src[0]'s graph) are fn of the node's gradient. Convolutions
// use it: differentiating their window views gives the input gradient as a
// slow scatter of every window, where a transposed convolution is the same
// sums as one fast kernel.
type gradFunc struct {
	key    string // names what fn computes; with the source, identifies the node
	inputs []*uop.UOp
	fn     func(g *uop.UOp, need []bool) []*uop.UOp // the gradient of each needed input (nil for none)
}

func (f *gradFunc) Key() string    { return f.key }
func (f *gradFunc) String() string { return "grad " + f.key }

// WithGradient returns value with a gradient of its own, as a PyTorch
// autograd.Function's backward: the gradients of value with respect to
// inputs are fn of value's gradient g, instead of what differentiating
// value's graph would give. fn gets g and, for each input, whether its
// gradient is needed, and returns one gradient per input (nil where not
// needed), each of its input's shape. The inputs must be tensors value is
// computed from; gradients flow to them only through fn, and to nothing
// else under value. key names fn's computation: two values of the same
// graph and key are one node, so a key must tell apart functions that
// compute different gradients for the same value.
//
// Convolutions use it (the input gradient as one transposed convolution
// instead of a scatter of every window's), and so does nn.BatchNorm (two
// reductions instead of the four or five of its differentiated graph).
func WithGradient(value *Tensor, key string, inputs []*Tensor, fn func(g *Tensor, need []bool) []*Tensor) *Tensor {
	const op = "WithGradient"
	under := map[*uop.UOp]bool{}
	for _, u := range uop.Toposort(value.uop) {
		under[u] = true
	}
	f := &gradFunc{key: key, inputs: make([]*uop.UOp, len(inputs))}
	for i, in := range inputs {
		if in == nil || !under[in.uop] {
			panic(fmt.Sprintf("gograd: %s: input %d is not a tensor the value is computed from", op, i))
		}
		f.inputs[i] = in.uop
	}
	f.fn = func(g *uop.UOp, need []bool) []*uop.UOp {
		grads := fn(fromUOp(g), need)
		if len(grads) != len(inputs) {
			panic(fmt.Sprintf("gograd: %s %q: the gradient function returned %d gradients for %d inputs", op, key, len(grads), len(inputs)))
		}
		out := make([]*uop.UOp, len(grads))
		for i, t := range grads {
			if t != nil {
				out[i] = t.uop
			}
		}
		return out
	}
	return fromUOp(uop.New(uop.DETACH, value.DType(), []*uop.UOp{value.uop}, f))
}

// productOfOthers returns, for each element of x, the product of the other
// elements of its reduction over axes: the reduced axes flattened into one of
// n, broadcast to (n, n) with the diagonal set to 1, multiplied along rows.
func productOfOthers(x *uop.UOp, axes []int) *uop.UOp {
	shp := x.Shape()
	var perm, kept, reduced []int
	for i, d := range shp {
		if !slices.Contains(axes, i) {
			perm, kept = append(perm, i), append(kept, d)
		}
	}
	for _, a := range axes {
		perm, reduced = append(perm, a), append(reduced, shp[a])
	}
	n := uop.Prod(reduced)
	ones := func(k int) []int {
		o := make([]int, k)
		for i := range o {
			o[i] = 1
		}
		return o
	}
	k := len(kept)
	rows := x.Permute(perm).Reshape(append(slices.Clone(kept), 1, n)).Expand(append(slices.Clone(kept), n, n))
	// The (n, n) identity as views of a constant: a column of trues padded
	// to n+1 wide, flattened and cut so that they land on the diagonal.
	eye := uop.Const(x.Device, dtype.Bool, true).Reshape([]int{1, 1}).Expand([]int{n, 1}).
		Pad([][2]int{{0, 0}, {0, n}}).Reshape([]int{n * (n + 1)}).Shrink([][2]int{{0, n * n}}).Reshape([]int{n, n})
	eye = eye.Reshape(append(ones(k), n, n)).Expand(append(slices.Clone(kept), n, n))
	others := eye.Alu(uop.WHERE, like(rows, 1), rows).Reduce(uop.MUL, k+1)
	return others.Reshape(append(slices.Clone(kept), reduced...)).Permute(uop.InversePermutation(perm))
}

// like returns a constant v with u's shape, dtype and device.
func like(u *uop.UOp, v float64) *uop.UOp {
	ones := make([]int, len(u.Shape()))
	for i := range ones {
		ones[i] = 1
	}
	return uop.Const(u.Device, u.DType, v).Reshape(ones).Expand(u.Shape())
}

// computeGradient returns the gradient of root (whose own gradient is
// rootGrad) with respect to each target node; nil where root does not
// depend on a target.
func computeGradient(root, rootGrad *uop.UOp, targets []*uop.UOp) []*uop.UOp {
	order := uop.Toposort(root)
	isTarget := map[*uop.UOp]bool{}
	for _, t := range targets {
		isTarget[t] = true
	}
	// Only nodes between a target and the root carry gradient.
	onPath := map[*uop.UOp]bool{}
	for _, u := range order {
		if isTarget[u] {
			onPath[u] = true
			continue
		}
		if u.Op == uop.DETACH {
			if f, ok := u.Arg.(*gradFunc); ok {
				onPath[u] = slices.ContainsFunc(f.inputs, func(in *uop.UOp) bool { return onPath[in] })
			}
			continue
		}
		for _, s := range u.Src {
			if onPath[s] {
				onPath[u] = true
				break
			}
		}
	}
	grads := map[*uop.UOp]*uop.UOp{root: rootGrad}
	for i := len(order) - 1; i >= 0; i-- {
		u := order[i]
		g := grads[u]
		if g == nil || !onPath[u] || len(u.Src) == 0 {
			continue
		}
		srcs, sgs := u.Src, []*uop.UOp(nil)
		if f, ok := u.Arg.(*gradFunc); ok && u.Op == uop.DETACH {
			need := make([]bool, len(f.inputs))
			for k, in := range f.inputs {
				need[k] = onPath[in]
			}
			srcs, sgs = f.inputs, f.fn(g, need)
		} else {
			sgs = gradOf(u, g)
		}
		for k, sg := range sgs {
			s := srcs[k]
			if sg == nil || !onPath[s] {
				continue
			}
			if !slices.Equal(sg.Shape(), s.Shape()) {
				panic(fmt.Sprintf("gograd: gradient of %v has shape %v for a source of shape %v", u.Op, sg.Shape(), s.Shape()))
			}
			if old := grads[s]; old != nil {
				sg = old.Alu(uop.ADD, sg)
			}
			grads[s] = sg
		}
	}
	out := make([]*uop.UOp, len(targets))
	for i, t := range targets {
		out[i] = grads[t]
	}
	return out
}
