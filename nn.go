package gograd

import (
	"fmt"
	"math"
	"slices"

	"github.com/gograd/gograd/uop"
)

// This file holds the neural-network ops: convolution, pooling,
// normalization, embedding, attention, dropout and interpolation. Each is a
// composition of other Tensor methods, so the scheduler fuses it: a
// convolution is a view of the input's sliding windows (pool), a broadcast
// multiply with the weight and a sum, one kernel with its bias and
// activation.

// ConvOpts are the options of Conv1d and Conv2d. A nil list takes PyTorch's
// default (stride 1, padding 0, dilation 1); a list of one value applies to
// every spatial axis. Groups 0 means 1.
type ConvOpts struct {
	Stride, Padding, Dilation []int
	Groups                    int
}

// ConvTransposeOpts are the options of ConvTranspose2d, with the defaults of
// ConvOpts (output padding 0).
type ConvTransposeOpts struct {
	Stride, Padding, OutputPadding, Dilation []int
	Groups                                   int
}

// PoolOpts are the options of MaxPool2d and AvgPool2d. Kernel is required;
// Stride nil means Kernel; Padding defaults to 0 and Dilation to 1. CeilMode
// rounds the output size up as PyTorch's ceil_mode; ExcludePad leaves the
// padding out of AvgPool2d's divisor (PyTorch's count_include_pad=False).
type PoolOpts struct {
	Kernel, Stride, Padding, Dilation []int
	CeilMode, ExcludePad              bool
}

// spatialOpt expands a per-axis option to n values: nil gives def, one value
// is repeated, n values are taken as they are.
func spatialOpt(op, name string, v []int, n, def, lo int) []int {
	out := make([]int, n)
	switch len(v) {
	case 0:
		for i := range out {
			out[i] = def
		}
	case 1:
		for i := range out {
			out[i] = v[0]
		}
	case n:
		copy(out, v)
	default:
		panic(fmt.Sprintf("gograd: %s: %s %v: want 1 or %d values", op, name, v, n))
	}
	for _, x := range out {
		if x < lo {
			panic(fmt.Sprintf("gograd: %s: %s %v: values must be at least %d", op, name, v, lo))
		}
	}
	return out
}

func ceilDivInt(a, b int) int { return (a + b - 1) / b }

// pool returns the sliding windows over the last len(k) axes of x as extra
// axes, with views only: x of shape (..., i1, ..., in) becomes (..., o1, ...,
// on, k1, ..., kn) with out[..., o, w] = x[..., o*s + w*d] per axis, and
// oj = (ij - dj*(kj-1) - 1)/sj + 1 windows that fit.
//
// Windows that do not overlap (k <= s, d = 1) are a reshape of the axis into
// (o, s) rows cut to k. Overlapping windows use a tiling trick: the axis is
// tiled R times (an expand), and the tiled axis read as rows of W = f*i + d
// elements; row r starts at element r*W = r*d (mod i), so row r column c holds
// x[r*d + c], and the columns c = o*s are every s-th of the row. The index
// arithmetic (a second view) folds back to o*s + w*d in the kernel. An axis
// whose o rows of s would run past its end is tiled too, so that pool never
// pads (a pad over an op like exp would force its input into a buffer).
func (x *Tensor) pool(op string, k, s, d []int) *Tensor {
	n := len(k)
	shp := x.Shape()
	nb := len(shp) - n
	in := shp[nb:]
	o := make([]int, n)
	tiled := make([]bool, n)
	w := make([]int, n) // row length of a tiled axis
	for j := range n {
		span := d[j]*(k[j]-1) + 1
		if in[j] < span {
			panic(fmt.Sprintf("gograd: %s: window of %d (kernel %d, dilation %d) larger than input size %d of shape %v", op, span, k[j], d[j], in[j], shp))
		}
		o[j] = (in[j]-span)/s[j] + 1
		tiled[j] = k[j] > s[j] || d[j] != 1 || o[j]*s[j] > in[j]
		if tiled[j] {
			f := max(1, ceilDivInt(o[j]*s[j]-d[j], in[j]))
			w[j] = f*in[j] + d[j]
		}
	}
	// dims lists the leading axes, then per spatial axis the sizes tdims
	// gives for a tiled axis or pdims for a plain one.
	dims := func(tdims, pdims func(j int) []int) []int {
		out := slices.Clone(shp[:nb])
		for j := range n {
			if tiled[j] {
				out = append(out, tdims(j)...)
			} else {
				out = append(out, pdims(j)...)
			}
		}
		return out
	}
	size := func(j int) []int { return []int{in[j]} }
	if slices.Contains(tiled, true) {
		reps := func(j int) int { return ceilDivInt(k[j]*w[j], in[j]) }
		x = x.Reshape(dims(func(j int) []int { return []int{1, in[j]} }, size)...).
			Expand(dims(func(j int) []int { return []int{reps(j), in[j]} }, size)...).
			Reshape(dims(func(j int) []int { return []int{reps(j) * in[j]} }, size)...)
	}
	// Cut each axis to its rows and split it: (k, W) tiled, (o, s) plain; then
	// keep o*s columns of a tiled row, k of a plain one.
	x = x.Shrink(wholeBounds(dims(func(j int) []int { return []int{k[j] * w[j]} }, func(j int) []int { return []int{o[j] * s[j]} })))
	x = x.Reshape(dims(func(j int) []int { return []int{k[j], w[j]} }, func(j int) []int { return []int{o[j], s[j]} })...)
	plain := func(j int) []int { return []int{o[j], k[j]} }
	x = x.Shrink(wholeBounds(dims(func(j int) []int { return []int{k[j], o[j] * s[j]} }, plain)))
	if slices.Contains(tiled, true) {
		// Every s-th column of a tiled row: (k, o*s) -> (k, o, s) -> (k, o).
		x = x.Reshape(dims(func(j int) []int { return []int{k[j], o[j], s[j]} }, plain)...).
			Shrink(wholeBounds(dims(func(j int) []int { return []int{k[j], o[j], 1} }, plain))).
			Reshape(dims(func(j int) []int { return []int{k[j], o[j]} }, plain)...)
	}
	// Window axes last: pairs (o, k) plain or (k, o) tiled -> (o1, ..., k1, ...).
	order := make([]int, 0, nb+2*n)
	for i := range nb {
		order = append(order, i)
	}
	for _, window := range []bool{false, true} {
		for j := range n {
			if window == tiled[j] { // the first of the pair
				order = append(order, nb+2*j)
			} else {
				order = append(order, nb+2*j+1)
			}
		}
	}
	return x.Permute(order...)
}

// wholeBounds returns the shrink bounds [0, s) of each size.
func wholeBounds(shape []int) [][2]int {
	b := make([][2]int, len(shape))
	for i, s := range shape {
		b[i] = [2]int{0, s}
	}
	return b
}

// onesOf returns n ones.
func onesOf(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = 1
	}
	return out
}

// conv is the N-d convolution of x (N, C, *spatial) with w (O, C/g, *kernel).
func (x *Tensor) conv(op string, w, bias *Tensor, stride, padding, dilation []int, groups int) *Tensor {
	nsp := len(stride)
	if x.Ndim() != nsp+2 || w.Ndim() != nsp+2 {
		panic(fmt.Sprintf("gograd: %s: input %s and weight %s must both have %d axes", op, shapeStr(x.Shape()), shapeStr(w.Shape()), nsp+2))
	}
	if groups <= 0 {
		groups = 1
	}
	n, c, oc, cg := x.Dim(0), x.Dim(1), w.Dim(0), w.Dim(1)
	if c%groups != 0 || oc%groups != 0 || cg*groups != c {
		panic(fmt.Sprintf("gograd: %s: input %s has %d channels but weight %s expects %d (groups %d)", op, shapeStr(x.Shape()), c, shapeStr(w.Shape()), cg*groups, groups))
	}
	if bias != nil && (bias.Ndim() != 1 || bias.Dim(0) != oc) {
		panic(fmt.Sprintf("gograd: %s: bias %s does not match the %d output channels of weight %s", op, shapeStr(bias.Shape()), oc, shapeStr(w.Shape())))
	}
	k := w.Shape()[2:]
	odt := x.DType()
	if odt.IsHalf() {
		// Multiply and sum in float32, round once. Cast before the windows,
		// so that the gradient sums over overlapping windows in float32 too.
		x, w = x.Cast(Float32), w.Cast(Float32)
	}
	pads := make([][2]int, nsp+2)
	for j, p := range padding {
		pads[2+j] = [2]int{p, p}
	}
	if !x.loadsOnly() && cg*uop.Prod(k) >= 64 {
		// An input computed by elementwise ops (a ReLU of a batch norm)
		// would be computed again for every output channel and kernel tap
		// that reads it: stored once, a convolution's inner loop only loads.
		x = x.Contiguous()
	}
	xp := x.Pad(pads)
	for j := range nsp {
		if span := dilation[j]*(k[j]-1) + 1; xp.Dim(2+j) < span {
			panic(fmt.Sprintf("gograd: %s: kernel %s (dilation %v) larger than input %s padded by %v", op, shapeStr(k), dilation, shapeStr(x.Shape()), padding))
		}
	}
	win := xp.pool(op, k, stride, dilation) // (N, C, *out, *k)
	out := win.Shape()[2 : 2+nsp]
	// Output rows that do not split into vectors of 16 (a small
	// convolution's 6 or 10, or 20): the weight is packed with its output
	// channels contiguous (one small kernel), so that the kernel optimiser
	// can take its vectors along them instead, where each output sums
	// enough products to pay for storing its lanes one by one. The weight's
	// gradient then reads the output's gradient packed likewise (a
	// transposing copy), for vectors along the channels too.
	packed := out[nsp-1]%16 != 0 && (oc/groups)%16 == 0 && cg*uop.Prod(k) >= 64
	toLast := func(t *Tensor, axis int) *Tensor { // axis moved last in memory, same shape
		var order []int
		for j := range t.Ndim() {
			if j != axis {
				order = append(order, j)
			}
		}
		order = append(order, axis)
		return t.Permute(order...).Contiguous().Permute(uop.InversePermutation(order)...)
	}
	wt := w
	if packed {
		wt = toLast(w, 0)
	}
	// (N, g, C/g, *out, *k) -> (N, g, 1, *out, C/g, *k)
	win = win.Reshape(append([]int{n, groups, cg}, win.Shape()[2:]...)...)
	order := []int{0, 1}
	for j := range nsp {
		order = append(order, 3+j)
	}
	order = append(order, 2)
	for j := range nsp {
		order = append(order, 3+nsp+j)
	}
	win = win.Permute(order...).Unsqueeze(2)
	// weight (O, C/g, *k) -> (1, g, O/g, 1..., C/g, *k)
	ws := append([]int{1, groups, oc / groups}, onesOf(nsp)...)
	ws = append(append(ws, cg), k...)
	wr := wt.Reshape(ws...)
	prod := win.Mul(wr)
	axes := make([]int, 0, nsp+1)
	for j := range nsp + 1 {
		axes = append(axes, 3+nsp+j)
	}
	res := prod.Sum(axes).Reshape(append([]int{n, oc}, out...)...)
	// The input gradient is the transposed convolution of the output's
	// gradient: one kernel like this one. Differentiating the window view
	// instead would scatter every window's gradient back, a kernel as large
	// as all the windows and another that sums their overlaps.
	outPad := make([]int, nsp)
	for j := range nsp {
		outPad[j] = x.Dim(2+j) + 2*padding[j] - dilation[j]*(k[j]-1) - 1 - (out[j]-1)*stride[j]
	}
	inputs := []*Tensor{x, w}
	if bias != nil {
		b := bias.Cast(res.DType())
		res = res.Add(b.Reshape(append([]int{1, oc}, onesOf(nsp)...)...))
		inputs = append(inputs, b)
	}
	key := fmt.Sprintf("conv stride %v padding %v dilation %v groups %d", stride, padding, dilation, groups)
	res = WithGradient(res, key, inputs, func(g *Tensor, need []bool) []*Tensor {
		grads := make([]*Tensor, len(inputs))
		uses := 0
		for _, n := range need {
			if n {
				uses++
			}
		}
		tpads := transposePads(k, padding, outPad, dilation)
		if uses > 1 && !g.loadsOnly() {
			// The output's gradient (through a ReLU, a batch norm and a
			// pool) feeds the input, weight and bias gradients: computed
			// once, and where the input gradient reads it padded
			// (storePadded), stored so; the other gradients read its
			// interior.
			if need[0] && storePadded(k, stride, tpads) {
				gp := g.Pad(tpads).Contiguous()
				inner := make([][2]int, len(tpads))
				for j, p := range tpads {
					inner[j] = [2]int{p[0], p[0] + g.Dim(j)}
				}
				grads[0] = gp.convFlipped(op+" gradient", w, nil, dilation, groups)
				g = gp.Shrink(inner)
			} else {
				g = g.Contiguous()
			}
		}
		if need[0] && grads[0] == nil {
			grads[0] = g.convTranspose(op+" gradient", w, nil, stride, padding, outPad, dilation, groups)
		}
		if need[1] {
			gp := g
			if packed {
				gp = toLast(g, 1)
			}
			grads[1] = convWeightGrad(gp, win, x.Shape(), w.Shape(), groups)
		}
		if bias != nil && need[2] {
			axes := []int{0}
			for j := range nsp {
				axes = append(axes, 2+j)
			}
			grads[2] = g.Sum(axes)
		}
		return grads
	})
	return res.Cast(odt)
}

// afterReduce reports whether t is computed by elementwise arithmetic from
// the result of a reduction (through views, casts and detached or custom-
// gradient nodes), not only from loads.
func (t *Tensor) afterReduce() bool {
	seen := map[*uop.UOp]bool{}
	var walk func(u *uop.UOp) bool
	walk = func(u *uop.UOp) bool {
		if seen[u] {
			return false
		}
		seen[u] = true
		switch {
		case u.Op == uop.REDUCE_AXIS:
			return true
		case u.Op.IsALU() || u.Op.IsMovement() || u.Op == uop.CAST || u.Op == uop.DETACH:
			return slices.ContainsFunc(u.Src, walk)
		}
		return false
	}
	return !t.loadsOnly() && walk(t.uop)
}

// loadsOnly reports whether t is a buffer, a constant or a view or cast of
// one: reading an element of it costs a load and no arithmetic.
func (t *Tensor) loadsOnly() bool {
	u := t.uop
	for {
		switch {
		case u.Op == uop.BUFFER || u.Op == uop.CONST || u.Op == uop.CONTIGUOUS:
			return true
		case u.Op.IsMovement() || u.Op == uop.CAST:
			u = u.Src[0]
		default:
			return false
		}
	}
}

// convChunkBytes bounds the input and output gradient of the chunk of
// images that convWeightGrad sums in one pass, so that it stays in cache
// while every channel and kernel tap of the weight reads it (on a Zen 5
// core, 1 MiB of L2 and its share of L3; 512 KiB chunks ran slower).
const convChunkBytes = 2 << 20

// convWeightGrad is the gradient of a convolution's weight (shape ws) for
// the output's gradient g (N, O, *out), given the windows win (N, groups, 1,
// *out, C/groups, *k) of its input (shape xs): the products summed over the
// images and the output positions. The images are summed in chunks small
// enough to stay in cache, each chunk's sums an output of one kernel, and
// those chunks in a second: summing all images at once would read g and the
// input from memory again for every channel and kernel tap of the weight.
func convWeightGrad(g, win *Tensor, xs, ws []int, groups int) *Tensor {
	n, oc, nsp := xs[0], ws[0], len(ws)-2
	out := g.Shape()[2:]
	shape := append([]int{n, groups, oc / groups}, out...)
	shape = append(shape, onesOf(1+nsp)...)
	prod := g.Reshape(shape...).Mul(win) // (N, groups, O/groups, *out, C/groups, *k)
	perImage := 4 * (oc*uop.Prod(out) + uop.Prod(xs[1:]))
	chunk := 1
	for b := n; b >= 1; b-- {
		if n%b == 0 && b*perImage <= convChunkBytes {
			chunk = b
			break
		}
	}
	var dw *Tensor
	if chunk == n {
		axes := []int{0}
		for j := range nsp {
			axes = append(axes, 3+j)
		}
		dw = prod.Sum(axes)
	} else {
		prod = prod.Reshape(append([]int{n / chunk, chunk}, prod.Shape()[1:]...)...)
		axes := []int{1}
		for j := range nsp {
			axes = append(axes, 4+j)
		}
		dw = prod.Sum(axes).Sum(0)
	}
	return dw.Reshape(ws...)
}

// Conv1d is the 1-D convolution (cross-correlation) of x (N, C, L) with
// weight w (O, C/groups, K), plus bias (O) unless nil, as in PyTorch. It is
// one fused kernel with anything elementwise that follows.
func (x *Tensor) Conv1d(w, bias *Tensor, o ConvOpts) *Tensor {
	return x.conv("Conv1d", w, bias, spatialOpt("Conv1d", "stride", o.Stride, 1, 1, 1),
		spatialOpt("Conv1d", "padding", o.Padding, 1, 0, 0), spatialOpt("Conv1d", "dilation", o.Dilation, 1, 1, 1), o.Groups)
}

// Conv2d is the 2-D convolution (cross-correlation) of x (N, C, H, W) with
// weight w (O, C/groups, KH, KW), plus bias (O) unless nil, as in PyTorch.
// It is a view of x's windows times the weight, summed over (C/groups, KH,
// KW): one kernel, with the bias and anything elementwise after it.
func (x *Tensor) Conv2d(w, bias *Tensor, o ConvOpts) *Tensor {
	return x.conv("Conv2d", w, bias, spatialOpt("Conv2d", "stride", o.Stride, 2, 1, 1),
		spatialOpt("Conv2d", "padding", o.Padding, 2, 0, 0), spatialOpt("Conv2d", "dilation", o.Dilation, 2, 1, 1), o.Groups)
}

// ConvTranspose2d is the transposed 2-D convolution of x (N, C, H, W) with
// weight w (C, O/groups, KH, KW), plus bias (O) unless nil, as in PyTorch:
// the output is (H-1)*stride - 2*padding + dilation*(KH-1) + output_padding
// + 1 high (likewise wide). It is a convolution of x with stride-1 zeros
// inserted between elements (views) by the flipped, transposed weight.
func (x *Tensor) ConvTranspose2d(w, bias *Tensor, o ConvTransposeOpts) *Tensor {
	const op = "ConvTranspose2d"
	stride := spatialOpt(op, "stride", o.Stride, 2, 1, 1)
	padding := spatialOpt(op, "padding", o.Padding, 2, 0, 0)
	outPad := spatialOpt(op, "output padding", o.OutputPadding, 2, 0, 0)
	dilation := spatialOpt(op, "dilation", o.Dilation, 2, 1, 1)
	for j := range 2 {
		if outPad[j] >= max(stride[j], dilation[j]) {
			panic(fmt.Sprintf("gograd: %s: output padding %v must be smaller than stride %v or dilation %v", op, outPad, stride, dilation))
		}
	}
	return x.convTranspose(op, w, bias, stride, padding, outPad, dilation, max(o.Groups, 1))
}

// convTranspose is the N-d transposed convolution of x (N, C, *spatial) with
// w (C, O/groups, *kernel): a convolution of x with stride-1 zeros inserted
// between elements (views) by the flipped, transposed weight.
func (x *Tensor) convTranspose(op string, w, bias *Tensor, stride, padding, outPad, dilation []int, groups int) *Tensor {
	nsp := len(stride)
	if x.Ndim() != nsp+2 || w.Ndim() != nsp+2 {
		panic(fmt.Sprintf("gograd: %s: input %s and weight %s must both have %d axes", op, shapeStr(x.Shape()), shapeStr(w.Shape()), nsp+2))
	}
	n, c := x.Dim(0), x.Dim(1)
	if w.Dim(0) != c || c%groups != 0 {
		panic(fmt.Sprintf("gograd: %s: input %s has %d channels but weight %s expects %d (groups %d)", op, shapeStr(x.Shape()), c, shapeStr(w.Shape()), w.Dim(0), groups))
	}
	og, ks := w.Dim(1), w.Shape()[2:]
	if bias != nil && (bias.Ndim() != 1 || bias.Dim(0) != groups*og) {
		panic(fmt.Sprintf("gograd: %s: bias %s does not match the %d output channels of weight %s (groups %d)", op, shapeStr(bias.Shape()), groups*og, shapeStr(w.Shape()), groups))
	}
	unit := !slices.ContainsFunc(stride, func(s int) bool { return s > 1 })
	pads := transposePads(ks, padding, outPad, dilation)
	store := !x.loadsOnly() && c/groups*uop.Prod(ks) >= 64
	padded := storePadded(ks, stride, pads)
	if store && !padded {
		x = x.Contiguous() // stored before its zeros and padding (see conv)
	}
	// Insert stride-1 zeros after each element: (N, C, D1, 1, D2, 1, ...)
	// padded to (N, C, D1, s1, D2, s2, ...), flattened and cut after the
	// last element.
	xs := x
	if !unit {
		split, zeros := []int{n, c}, [][2]int{{0, 0}, {0, 0}}
		flat, cut := []int{n, c}, [][2]int{{0, n}, {0, c}}
		for j, s := range stride {
			d := x.Dim(2 + j)
			split, zeros = append(split, d, 1), append(zeros, [2]int{0, 0}, [2]int{0, s - 1})
			flat, cut = append(flat, d*s), append(cut, [2]int{0, (d-1)*s + 1})
		}
		xs = x.Reshape(split...).Pad(zeros).Reshape(flat...).Shrink(cut)
	}
	xs = xs.Pad(pads)
	if store && padded {
		xs = xs.Contiguous()
	}
	return xs.convFlipped(op, w, bias, dilation, groups)
}

// storePadded reports whether a transposed convolution's input, where it
// is stored, is stored with its padding, so that the convolution loads real
// zeros instead of checking every load's bounds: for stride 1, a padding
// that crops nothing, and a kernel of 5x5 or more. In the MNIST example's
// 5x5 convolution the input gradient went from 82.0 to 70.9 ms a step; for its
// 3x3 ones the padded store cost more than the checks.
func storePadded(ks, stride []int, pads [][2]int) bool {
	return !slices.ContainsFunc(stride, func(s int) bool { return s > 1 }) && nonNegative(pads) && uop.Prod(ks) >= 25
}

// transposePads is the padding of a transposed convolution's input (its
// zeros inserted) that makes it a convolution: the full padding d*(k-1)
// less the requested padding (negative crops), and the output padding on
// the far side; (0, 0) for the batch and channel axes.
func transposePads(ks, padding, outPad, dilation []int) [][2]int {
	pads := make([][2]int, len(ks)+2)
	for j := range ks {
		p := dilation[j]*(ks[j]-1) - padding[j]
		pads[2+j] = [2]int{p, p + outPad[j]}
	}
	return pads
}

// nonNegative reports whether no pad crops.
func nonNegative(pads [][2]int) bool {
	return !slices.ContainsFunc(pads, func(p [2]int) bool { return p[0] < 0 || p[1] < 0 })
}

// convFlipped is the convolution of a transposed convolution's spread and
// padded input xs with its weight w (C, O/g, *k), transposed to (O, C/g,
// *k) and flipped.
func (xs *Tensor) convFlipped(op string, w, bias *Tensor, dilation []int, groups int) *Tensor {
	nsp := len(dilation)
	c, og, ks := w.Dim(0), w.Dim(1), w.Shape()[2:]
	split := append([]int{groups, c / groups, og}, ks...)
	order := []int{0, 2, 1}
	flip := make([]int, nsp)
	for j := range nsp {
		order = append(order, 3+j)
		flip[j] = 2 + j
	}
	wt := w.Reshape(split...).Permute(order...).Reshape(append([]int{groups * og, c / groups}, ks...)...).Flip(flip...)
	return xs.conv(op, wt, bias, onesOf(nsp), make([]int, nsp), dilation, groups)
}

// poolSetup reads PoolOpts for a 2-D pool of x (N, C, H, W) or (C, H, W):
// it returns kernel, stride, dilation and the (before, after) padding of each
// spatial axis that makes every output window whole, as PyTorch sizes them
// (ceil mode drops a last window that would start in the right padding).
func (x *Tensor) poolSetup(op string, o PoolOpts) (k, s, d []int, pads [][2]int) {
	if x.Ndim() != 3 && x.Ndim() != 4 {
		panic(fmt.Sprintf("gograd: %s: input %s must have 3 or 4 axes", op, shapeStr(x.Shape())))
	}
	if len(o.Kernel) == 0 {
		panic(fmt.Sprintf("gograd: %s: no kernel size", op))
	}
	k = spatialOpt(op, "kernel", o.Kernel, 2, 1, 1)
	s = k
	if o.Stride != nil {
		s = spatialOpt(op, "stride", o.Stride, 2, 1, 1)
	}
	p := spatialOpt(op, "padding", o.Padding, 2, 0, 0)
	d = spatialOpt(op, "dilation", o.Dilation, 2, 1, 1)
	nb := x.Ndim() - 2
	pads = make([][2]int, x.Ndim())
	for j := range 2 {
		if 2*p[j] > k[j] {
			panic(fmt.Sprintf("gograd: %s: padding %v should be at most half of kernel %v", op, p, k))
		}
		in := x.Dim(nb + j)
		span := d[j]*(k[j]-1) + 1
		num := in + 2*p[j] - span
		if o.CeilMode {
			num += s[j] - 1
		}
		if num < 0 {
			panic(fmt.Sprintf("gograd: %s: kernel %v (dilation %v) larger than input %s padded by %v", op, k, d, shapeStr(x.Shape()), p))
		}
		out := num/s[j] + 1
		if o.CeilMode && (out-1)*s[j] >= in+p[j] {
			out--
		}
		need := (out-1)*s[j] + span // padded length the windows read
		pads[nb+j] = [2]int{p[j], need - in - p[j]}
	}
	return k, s, d, pads
}

// MaxPool2d takes the maximum over windows of the last two axes of x (N, C,
// H, W) or (C, H, W), padding with -inf, as PyTorch's max_pool2d. It is one
// kernel: the windows are a view of x. An x computed by arithmetic on the
// result of a reduction (a batch norm's output, a ReLU of a convolution) is
// stored first where the windows cover it: stored, it is computed in
// vectors (in the reduction's kernel, where that is x's only reader), where
// the pool's strided windows would compute it in scalars, and the gradient,
// which reads x twice more (to count each window's maxima, then to find
// them), only loads it.
func (x *Tensor) MaxPool2d(o PoolOpts) *Tensor {
	k, s, d, pads := x.poolSetup("MaxPool2d", o)
	covered := s[0] <= k[0] && s[1] <= k[1] && d[0] == 1 && d[1] == 1 // every element in some window
	if covered && x.afterReduce() {
		x = x.Contiguous()
	}
	var fill any = math.Inf(-1)
	if !x.DType().IsFloat() {
		fill = x.DType().Min()
	}
	return x.PadValue(pads, fill).pool("MaxPool2d", k, s, d).Max(-2, -1)
}

// AvgPool2d averages windows of the last two axes of x (N, C, H, W) or (C,
// H, W), as PyTorch's avg_pool2d: the divisor counts the padding unless
// ExcludePad, and never the part of a ceil-mode window past the padding. The
// divisor is the same pool summed over ones, so it is one kernel.
func (x *Tensor) AvgPool2d(o PoolOpts) *Tensor {
	const op = "AvgPool2d"
	k, s, d, pads := x.poolSetup(op, o)
	xf := x.floaty()
	sum := xf.Pad(pads).pool(op, k, s, d).Sum(-2, -1)
	nb := x.Ndim() - 2
	whole := true // every window lies inside the input
	for j := range 2 {
		if pads[nb+j][0] != 0 || pads[nb+j][1] > 0 {
			whole = false
		}
	}
	if whole {
		return sum.Div(float64(k[0] * k[1]))
	}
	// Ones over the region that counts, zeros beyond it, pooled alike.
	var cnt *Tensor
	if o.ExcludePad {
		cnt = OnesLike(xf).Pad(pads)
	} else {
		// The padding counts, but not what ceil mode adds past it: ones over
		// the input padded by p on both sides, zeros after.
		inner := xf.Shape()
		outer := make([][2]int, len(pads))
		for i, p := range pads {
			inner[i] += p[0] + min(p[0], p[1])
			outer[i] = [2]int{0, p[1] - min(p[0], p[1])}
		}
		cnt = constOn(xf.Device(), xf.DType(), 1, inner).Pad(outer)
	}
	return sum.Div(cnt.pool(op, k, s, d).Sum(-2, -1))
}

// AdaptiveAvgPool2d averages x (N, C, H, W) or (C, H, W) into outH × outW
// cells as PyTorch does: cell i spans [floor(i*in/out), ceil((i+1)*in/out)).
// Sizes that divide evenly are an AvgPool2d; others sum each axis through a
// mask made from Arange comparisons (two kernels) and divide by the counts.
func (x *Tensor) AdaptiveAvgPool2d(outH, outW int) *Tensor {
	const op = "AdaptiveAvgPool2d"
	if x.Ndim() != 3 && x.Ndim() != 4 {
		panic(fmt.Sprintf("gograd: %s: input %s must have 3 or 4 axes", op, shapeStr(x.Shape())))
	}
	h, w := x.Dim(-2), x.Dim(-1)
	if outH <= 0 || outW <= 0 || h == 0 || w == 0 {
		panic(fmt.Sprintf("gograd: %s: output size (%d, %d) for input %s", op, outH, outW, shapeStr(x.Shape())))
	}
	if h%outH == 0 && w%outW == 0 {
		return x.AvgPool2d(PoolOpts{Kernel: []int{h / outH, w / outW}})
	}
	xf := x.floaty()
	// Sum over W into outW cells, then over H: mask (out, in) per axis.
	cells := func(in, out int) (mask, count *Tensor) {
		i := Arange(out).To(x.Device()).Reshape(out, 1)
		j := Arange(in).To(x.Device()).Reshape(1, in)
		lo := i.Mul(in).FloorDiv(out)
		hi := i.Add(1).Mul(in).Add(out - 1).FloorDiv(out)
		return j.Ge(lo).And(j.Lt(hi)), hi.Sub(lo).Reshape(out).Cast(xf.DType())
	}
	mw, cw := cells(w, outW)
	mh, ch := cells(h, outH)
	// (..., H, 1, W) with mask (outW, W) -> (..., H, outW)
	sw := mw.Where(xf.Unsqueeze(-2), 0.0).Sum(-1)
	// (..., outW) over H: (..., 1, H, outW) with mask (outH, H, 1) -> (..., outH, outW)
	sh := mh.Unsqueeze(-1).Where(sw.Unsqueeze(-3), 0.0).Sum(-2)
	return sh.Div(ch.Reshape(outH, 1).Mul(cw.Reshape(1, outW)))
}

// normalize returns (x - mean) / sqrt(var + eps) over axes, the biased
// variance as in PyTorch's norms.
func (x *Tensor) normalize(axes []int, eps float64) *Tensor {
	xf := x.floaty()
	v, m := xf.VarMean(axes, KeepDim, Correction(0))
	return xf.Sub(m).Mul(v.Add(eps).Rsqrt())
}

// LayerNorm normalizes x over its trailing axes of the given shape (mean 0,
// biased variance 1, eps added to the variance) and scales by weight and
// shifts by bias (both of that shape; either may be nil), as PyTorch's
// layer_norm. It runs in three kernels (mean, variance, output), or one on
// a device with row kernels (see schedule.AllowRowKernels and VarMean).
func (x *Tensor) LayerNorm(shape []int, weight, bias *Tensor, eps float64) *Tensor {
	n := len(shape)
	if n == 0 || n > x.Ndim() || !slices.Equal(x.Shape()[x.Ndim()-n:], shape) {
		panic(fmt.Sprintf("gograd: LayerNorm: normalized shape %s is not the trailing shape of input %s", shapeStr(shape), shapeStr(x.Shape())))
	}
	for _, p := range []*Tensor{weight, bias} {
		if p != nil && !slices.Equal(p.Shape(), shape) {
			panic(fmt.Sprintf("gograd: LayerNorm: weight or bias %s does not match normalized shape %s", shapeStr(p.Shape()), shapeStr(shape)))
		}
	}
	axes := make([]int, n)
	for i := range axes {
		axes[i] = x.Ndim() - n + i
	}
	out := x.normalize(axes, eps)
	if weight != nil {
		out = out.Mul(weight)
	}
	if bias != nil {
		out = out.Add(bias)
	}
	return out
}

// RMSNorm is x * rsqrt(mean(x², last axis) + eps) * weight (weight of the last
// axis's size, or nil): two kernels, or one on a device with row kernels.
func (x *Tensor) RMSNorm(weight *Tensor, eps float64) *Tensor {
	if x.Ndim() == 0 {
		panic("gograd: RMSNorm: 0-d input")
	}
	if weight != nil && (weight.Ndim() != 1 || weight.Dim(0) != x.Dim(-1)) {
		panic(fmt.Sprintf("gograd: RMSNorm: weight %s does not match the last axis of input %s", shapeStr(weight.Shape()), shapeStr(x.Shape())))
	}
	xf := x.floaty()
	out := xf.Mul(xf.Mul(xf).Mean(-1, KeepDim).Add(eps).Rsqrt())
	if weight != nil {
		out = out.Mul(weight)
	}
	return out
}

// channelView reshapes a per-channel tensor (C) to broadcast over axis 1 of
// an input of ndim axes.
func channelView(op, name string, p *Tensor, c, ndim int, x *Tensor) *Tensor {
	if p.Ndim() != 1 || p.Dim(0) != c {
		panic(fmt.Sprintf("gograd: %s: %s %s does not match the %d channels of input %s", op, name, shapeStr(p.Shape()), c, shapeStr(x.Shape())))
	}
	s := onesOf(ndim)
	s[1] = c
	return p.Reshape(s...)
}

// BatchNorm normalizes x (N, C, ...) per channel (axis 1) with running
// statistics mean and variance (C), then scales by weight and shifts by bias
// (C, or nil), as PyTorch's batch_norm in inference: one kernel.
func (x *Tensor) BatchNorm(mean, variance, weight, bias *Tensor, eps float64) *Tensor {
	const op = "BatchNorm"
	if x.Ndim() < 2 {
		panic(fmt.Sprintf("gograd: %s: input %s has no channel axis", op, shapeStr(x.Shape())))
	}
	c, nd := x.Dim(1), x.Ndim()
	m := channelView(op, "mean", mean, c, nd, x)
	v := channelView(op, "variance", variance, c, nd, x)
	out := x.floaty().Sub(m).Mul(v.Add(eps).Rsqrt())
	if weight != nil {
		out = out.Mul(channelView(op, "weight", weight, c, nd, x))
	}
	if bias != nil {
		out = out.Add(channelView(op, "bias", bias, c, nd, x))
	}
	return out
}

// GroupNorm normalizes x (N, C, ...) over groups of C/groups channels and the
// remaining axes, then scales and shifts per channel by weight and bias (C,
// or nil), as PyTorch's group_norm: three kernels.
func (x *Tensor) GroupNorm(groups int, weight, bias *Tensor, eps float64) *Tensor {
	const op = "GroupNorm"
	if x.Ndim() < 2 {
		panic(fmt.Sprintf("gograd: %s: input %s has no channel axis", op, shapeStr(x.Shape())))
	}
	c, nd := x.Dim(1), x.Ndim()
	if groups <= 0 || c%groups != 0 {
		panic(fmt.Sprintf("gograd: %s: %d channels of input %s do not split into %d groups", op, c, shapeStr(x.Shape()), groups))
	}
	out := x.Reshape(x.Dim(0), groups, -1).normalize([]int{2}, eps).Reshape(x.Shape()...)
	if weight != nil {
		out = out.Mul(channelView(op, "weight", weight, c, nd, x))
	}
	if bias != nil {
		out = out.Add(channelView(op, "bias", bias, c, nd, x))
	}
	return out
}

// Embedding looks up the rows of weight (V, D) at the integer indices idx,
// giving idx's shape + (D): a comparison of idx with an Arange and a masked
// sum over V (an index out of [0, V) gives a row of zeros).
func (idx *Tensor) Embedding(weight *Tensor) *Tensor {
	if idx.DType().IsFloat() || idx.DType() == Bool {
		panic(fmt.Sprintf("gograd: Embedding: indices %s must be integers, not %s", shapeStr(idx.Shape()), idx.DType()))
	}
	if weight.Ndim() != 2 {
		panic(fmt.Sprintf("gograd: Embedding: weight %s must be (V, D)", shapeStr(weight.Shape())))
	}
	return weight.IndexSelect(0, idx.Flatten()).Reshape(append(idx.Shape(), weight.Dim(1))...)
}

// ScaledDotProductAttention is softmax(q kᵀ / sqrt(D) + mask) v for q (..., L,
// D), k (..., S, D) and v (..., S, Dv), leading axes broadcast. A bool mask
// (broadcast to (..., L, S)) keeps the scores where it is true; a float mask
// is added to them; causal keeps key j for query i when j <= i (both may be
// given). Rows with nothing to attend give NaN, as in PyTorch.
func (q *Tensor) ScaledDotProductAttention(k, v, mask *Tensor, causal bool) *Tensor {
	const op = "ScaledDotProductAttention"
	if q.Ndim() < 2 || k.Ndim() < 2 || v.Ndim() < 2 || q.Dim(-1) != k.Dim(-1) || k.Dim(-2) != v.Dim(-2) {
		panic(fmt.Sprintf("gograd: %s: query %s, key %s and value %s do not fit (..., L, D), (..., S, D), (..., S, Dv)", op, shapeStr(q.Shape()), shapeStr(k.Shape()), shapeStr(v.Shape())))
	}
	l, s := q.Dim(-2), k.Dim(-2)
	scores := q.floaty().Matmul(k.floaty().T()).Mul(1 / math.Sqrt(float64(q.Dim(-1))))
	if mask != nil {
		BroadcastShapes(op, mask.Shape(), scores.Shape())
		if mask.DType() == Bool {
			scores = mask.Where(scores, math.Inf(-1))
		} else {
			scores = scores.Add(mask)
		}
	}
	if causal {
		i := Arange(l).To(q.Device()).Reshape(l, 1)
		j := Arange(s).To(q.Device()).Reshape(1, s)
		scores = j.Le(i).Where(scores, math.Inf(-1))
	}
	return scores.Softmax(-1).Matmul(v.floaty())
}

// Dropout zeroes each element with probability p and scales the others by
// 1/(1-p), as PyTorch's dropout in training. The mask comes from Rand, so
// Seed repeats it.
func (x *Tensor) Dropout(p float64) *Tensor {
	if !(p >= 0 && p <= 1) {
		panic(fmt.Sprintf("gograd: Dropout: probability %v of input %s is not in [0, 1]", p, shapeStr(x.Shape())))
	}
	xf := x.floaty()
	if p == 0 {
		return xf
	}
	if p == 1 {
		return FullLike(xf, 0)
	}
	keep := Rand(x.Shape()...).To(x.Device()).Ge(p)
	return keep.Where(xf.Mul(1/(1-p)), 0.0)
}

// Interpolate resizes the spatial axes of x (N, C, ...) to size, as PyTorch's
// interpolate: mode "nearest" (PyTorch's legacy nearest, src = floor(dst *
// in/out) in float32), "linear" (3-D input) or "bilinear" (4-D input), with
// alignCorners as PyTorch's align_corners for the last two. Nearest resizes
// by an integer factor are views; other resizes are masked sums over the
// input axis built from Arange, one axis at a time.
func (x *Tensor) Interpolate(size []int, mode string, alignCorners bool) *Tensor {
	const op = "Interpolate"
	nsp := x.Ndim() - 2
	if nsp < 1 || len(size) != nsp {
		panic(fmt.Sprintf("gograd: %s: size %v for input %s: want one size per axis after (N, C)", op, size, shapeStr(x.Shape())))
	}
	for _, s := range size {
		if s <= 0 {
			panic(fmt.Sprintf("gograd: %s: size %v for input %s", op, size, shapeStr(x.Shape())))
		}
	}
	switch mode {
	case "nearest":
		if alignCorners {
			panic(fmt.Sprintf("gograd: %s: align_corners with mode nearest (input %s)", op, shapeStr(x.Shape())))
		}
		out := x
		for j, s := range size {
			out = out.nearestAxis(2+j, s)
		}
		return out
	case "linear", "bilinear":
		if (mode == "linear") != (nsp == 1) || nsp > 2 {
			panic(fmt.Sprintf("gograd: %s: mode %s for input %s (linear takes 3 axes, bilinear 4)", op, mode, shapeStr(x.Shape())))
		}
		out := x.floaty()
		for j := nsp - 1; j >= 0; j-- { // the last axis first, as PyTorch sums
			out = out.linearAxis(2+j, size[j], alignCorners)
		}
		return out
	}
	panic(fmt.Sprintf("gograd: %s: unknown mode %q", op, mode))
}

// nearestAxis resizes axis to out elements by PyTorch's legacy nearest rule.
func (x *Tensor) nearestAxis(axis, out int) *Tensor {
	in := x.Dim(axis)
	if in == out {
		return x
	}
	scale := float32(in) / float32(out)
	src := func(d int) int { return min(int(math.Floor(float64(float32(d)*scale))), in-1) }
	if out == 2*in {
		src = func(d int) int { return d >> 1 }
	}
	up, down := out%in == 0, in%out == 0
	for d := range out {
		up = up && src(d) == d/(out/in)
		down = down && src(d) == d*(in/out)
	}
	s := x.Shape()
	switch {
	case up: // each element repeated r times: (in, 1) expanded to (in, r)
		r := out / in
		split := slices.Insert(slices.Clone(s), axis+1, 1)
		wide := slices.Clone(split)
		wide[axis+1] = r
		s[axis] = out
		return x.Reshape(split...).Expand(wide...).Reshape(s...)
	case down: // every r-th element
		return x.stepAxis(axis, in/out)
	}
	idx := Arange(out).To(x.Device()).Cast(Float32).Mul(scale).Floor().Cast(Int64).Minimum(in - 1)
	return x.IndexSelect(axis, idx)
}

// linearAxis resizes axis to out elements by linear interpolation between
// the two nearest inputs, with PyTorch's source index rule.
func (x *Tensor) linearAxis(axis, out int, alignCorners bool) *Tensor {
	in := x.Dim(axis)
	if in == out { // PyTorch copies (and both rules give src = dst)
		return x
	}
	dev := x.Device()
	dst := Arange(out).To(dev).Cast(Float32)
	var src *Tensor
	switch {
	case alignCorners && out > 1:
		src = dst.Mul(float32(in-1) / float32(out-1))
	case alignCorners:
		src = dst.Mul(0.0)
	default:
		src = dst.Add(0.5).Mul(float32(in) / float32(out)).Sub(0.5).Maximum(0.0)
	}
	i0 := src.Floor().Cast(Int64).Minimum(in - 1)
	i1 := i0.Lt(in-1).Where(i0.Add(1), i0)
	l1 := src.Sub(i0.Cast(Float32)).Clip(0.0, 1.0)
	l0 := l1.Mul(-1).Add(1)
	// Weights (out, in): l0 at i0, l1 at i1 (summing to 1 where they meet),
	// placed at (axis, axis+1) against x with a 1 inserted at axis, and
	// summed over the input axis in place (no permute after the reduce).
	ws := onesOf(x.Ndim() + 1)
	ws[axis], ws[axis+1] = out, in
	j := Arange(in).To(dev).Reshape(1, in)
	at0, at1 := j.Eq(i0.Reshape(out, 1)), j.Eq(i1.Reshape(out, 1))
	wt := at0.Where(l0.Reshape(out, 1), 0.0).Add(at1.Where(l1.Reshape(out, 1), 0.0)).Cast(x.DType()).Reshape(ws...)
	near := at0.Or(at1).Reshape(ws...)
	xu := x.Unsqueeze(axis)
	return near.Where(xu.Mul(wt), 0.0).Sum(axis + 1)
}

// zeroOf is a 0-d zero of t's dtype on t's device.
func zeroOf(t *Tensor) *Tensor { return fromUOp(uop.Const(t.Device(), t.DType(), 0)) }

// sumIdentityOf is the additive identity of t's dtype: -0.0 for floats (x +
// -0.0 is x for every x, +0.0 and -0.0 included), 0 otherwise.
func sumIdentityOf(t *Tensor) *Tensor {
	return fromUOp(uop.Const(t.Device(), t.DType(), math.Copysign(0, -1)))
}
