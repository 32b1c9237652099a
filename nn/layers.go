package nn

import (
	"math"

	"github.com/gograd/gograd"
)

// This file holds the layers with weights that a matmul or convolution
// applies (Linear, Conv1d, Conv2d, ConvTranspose2d), Embedding and Dropout.

// uniformParam is a trainable tensor of uniform values in [-bound, bound),
// PyTorch's default initialisation of weights and biases.
func uniformParam(op string, bound float64, shape ...int) *gograd.Tensor {
	for _, s := range shape {
		if s < 0 {
			panicf(op, "negative size in %s", shapeStr(shape))
		}
	}
	return gograd.Uniform(-bound, bound, shape...).RequiresGrad(true)
}

// fanInBound is PyTorch's bound for a layer with fan-in n: kaiming_uniform_
// with a = sqrt(5) gives sqrt(6/((1+a²) n)) = 1/sqrt(n) for the weight, and
// the bias uses 1/sqrt(n) too (0 when n is 0).
func fanInBound(n int) float64 {
	if n <= 0 {
		return 0
	}
	return 1 / math.Sqrt(float64(n))
}

// Linear is y = x Wᵀ + b over the last axis of x, as PyTorch's nn.Linear.
type Linear struct {
	Weight *gograd.Tensor // (out, in)
	Bias   *gograd.Tensor // (out), or nil
}

// NewLinear makes a Linear from in to out features, with a bias if bias,
// initialised as PyTorch does: weight and bias uniform in ±1/sqrt(in).
func NewLinear(in, out int, bias bool) *Linear {
	b := fanInBound(in)
	l := &Linear{Weight: uniformParam("NewLinear", b, out, in)}
	if bias {
		l.Bias = uniformParam("NewLinear", b, out)
	}
	return l
}

// Forward maps x (..., in) to (..., out).
func (l *Linear) Forward(x *gograd.Tensor) *gograd.Tensor {
	if l.Weight.Ndim() != 2 {
		panicf("Linear", "weight %s is not (out, in)", shapeStr(l.Weight.Shape()))
	}
	if x.Ndim() == 0 || x.Dim(-1) != l.Weight.Dim(1) {
		panicf("Linear", "input %s does not end in the %d features of weight %s", shapeStr(x.Shape()), l.Weight.Dim(1), shapeStr(l.Weight.Shape()))
	}
	if l.Bias != nil && (l.Bias.Ndim() != 1 || l.Bias.Dim(0) != l.Weight.Dim(0)) {
		panicf("Linear", "bias %s does not match weight %s", shapeStr(l.Bias.Shape()), shapeStr(l.Weight.Shape()))
	}
	return x.Linear(l.Weight, l.Bias)
}

// convParams makes a convolution's weight and bias with PyTorch's
// initialisation for fan-in fanIn.
func convParams(op string, fanIn int, bias bool, wshape ...int) (w, b *gograd.Tensor) {
	bound := fanInBound(fanIn)
	w = uniformParam(op, bound, wshape...)
	if bias {
		b = uniformParam(op, bound, wshape[0])
	}
	return w, b
}

// kernelSizes expands a kernel size list of 1 or n values.
func kernelSizes(op string, k []int, n int) []int {
	switch len(k) {
	case 1:
		out := make([]int, n)
		for i := range out {
			out[i] = k[0]
		}
		k = out
	case n:
	default:
		panicf(op, "kernel size %v: want 1 or %d values", k, n)
	}
	for _, v := range k {
		if v <= 0 {
			panicf(op, "kernel size %v must be positive", k)
		}
	}
	return k
}

// groupsOf returns a layer's group count (0 means 1), checking that it
// divides in and out.
func groupsOf(op string, g, in, out int) int {
	g = max(g, 1)
	if in%g != 0 || out%g != 0 {
		panicf(op, "%d groups do not divide %d input and %d output channels", g, in, out)
	}
	return g
}

// batched adds a batch axis to an unbatched input of ndim-1 axes, and
// returns the function that removes it from the output.
func batched(op string, x *gograd.Tensor, ndim int) (*gograd.Tensor, func(*gograd.Tensor) *gograd.Tensor) {
	switch x.Ndim() {
	case ndim:
		return x, func(y *gograd.Tensor) *gograd.Tensor { return y }
	case ndim - 1:
		return x.Unsqueeze(0), func(y *gograd.Tensor) *gograd.Tensor { return y.Squeeze(0) }
	}
	panicf(op, "input %s must have %d axes (or %d unbatched)", shapeStr(x.Shape()), ndim, ndim-1)
	return nil, nil
}

// checkConvInput panics unless x (N, C, ...) has the channels weight w
// expects.
func checkConvInput(op string, x, w *gograd.Tensor, c int) {
	if x.Dim(1) != c {
		panicf(op, "input %s has %d channels, weight %s expects %d", shapeStr(x.Shape()), x.Dim(1), shapeStr(w.Shape()), c)
	}
}

// Conv1d is the 1-D convolution of PyTorch's nn.Conv1d (zero padding).
type Conv1d struct {
	Weight *gograd.Tensor // (out, in/groups, k)
	Bias   *gograd.Tensor // (out), or nil
	gograd.ConvOpts
}

// NewConv1d makes a Conv1d from in to out channels with a kernel of k, the
// options o and a bias if bias, initialised as PyTorch does: uniform in
// ±1/sqrt(in/groups * k).
func NewConv1d(in, out, k int, o gograd.ConvOpts, bias bool) *Conv1d {
	const op = "NewConv1d"
	o.Groups = groupsOf(op, o.Groups, in, out)
	k = kernelSizes(op, []int{k}, 1)[0]
	w, b := convParams(op, in/o.Groups*k, bias, out, in/o.Groups, k)
	return &Conv1d{Weight: w, Bias: b, ConvOpts: o}
}

// Forward convolves x (N, C, L) or (C, L).
func (c *Conv1d) Forward(x *gograd.Tensor) *gograd.Tensor {
	x, unbatch := batched("Conv1d", x, 3)
	checkConvInput("Conv1d", x, c.Weight, c.Weight.Dim(1)*max(c.Groups, 1))
	return unbatch(x.Conv1d(c.Weight, c.Bias, c.ConvOpts))
}

// Conv2d is the 2-D convolution of PyTorch's nn.Conv2d (zero padding).
type Conv2d struct {
	Weight *gograd.Tensor // (out, in/groups, kh, kw)
	Bias   *gograd.Tensor // (out), or nil
	gograd.ConvOpts
}

// NewConv2d makes a Conv2d from in to out channels with a kernel of size
// kernel (one value for a square kernel, or (kh, kw)), the options o and a
// bias if bias, initialised as PyTorch does: uniform in ±1/sqrt(in/groups *
// kh * kw).
func NewConv2d(in, out int, kernel []int, o gograd.ConvOpts, bias bool) *Conv2d {
	const op = "NewConv2d"
	o.Groups = groupsOf(op, o.Groups, in, out)
	k := kernelSizes(op, kernel, 2)
	w, b := convParams(op, in/o.Groups*k[0]*k[1], bias, out, in/o.Groups, k[0], k[1])
	return &Conv2d{Weight: w, Bias: b, ConvOpts: o}
}

// Forward convolves x (N, C, H, W) or (C, H, W).
func (c *Conv2d) Forward(x *gograd.Tensor) *gograd.Tensor {
	x, unbatch := batched("Conv2d", x, 4)
	checkConvInput("Conv2d", x, c.Weight, c.Weight.Dim(1)*max(c.Groups, 1))
	return unbatch(x.Conv2d(c.Weight, c.Bias, c.ConvOpts))
}

// ConvTranspose2d is the transposed 2-D convolution of PyTorch's
// nn.ConvTranspose2d.
type ConvTranspose2d struct {
	Weight *gograd.Tensor // (in, out/groups, kh, kw)
	Bias   *gograd.Tensor // (out), or nil
	gograd.ConvTransposeOpts
}

// NewConvTranspose2d makes a ConvTranspose2d from in to out channels with a
// kernel of size kernel (one value or (kh, kw)), the options o and a bias if
// bias, initialised as PyTorch does: uniform in ±1/sqrt(out/groups * kh *
// kw) (PyTorch's fan-in of the transposed weight).
func NewConvTranspose2d(in, out int, kernel []int, o gograd.ConvTransposeOpts, bias bool) *ConvTranspose2d {
	const op = "NewConvTranspose2d"
	o.Groups = groupsOf(op, o.Groups, in, out)
	k := kernelSizes(op, kernel, 2)
	w, _ := convParams(op, out/o.Groups*k[0]*k[1], false, in, out/o.Groups, k[0], k[1])
	c := &ConvTranspose2d{Weight: w, ConvTransposeOpts: o}
	if bias {
		c.Bias = uniformParam(op, fanInBound(out/o.Groups*k[0]*k[1]), out)
	}
	return c
}

// Forward applies the transposed convolution to x (N, C, H, W) or (C, H, W).
func (c *ConvTranspose2d) Forward(x *gograd.Tensor) *gograd.Tensor {
	x, unbatch := batched("ConvTranspose2d", x, 4)
	checkConvInput("ConvTranspose2d", x, c.Weight, c.Weight.Dim(0))
	return unbatch(x.ConvTranspose2d(c.Weight, c.Bias, c.ConvTransposeOpts))
}

// Embedding is a table of vectors looked up by integer index, as PyTorch's
// nn.Embedding.
type Embedding struct {
	Weight *gograd.Tensor // (num, dim)
}

// NewEmbedding makes a table of num vectors of dim values, initialised
// from the standard normal distribution as PyTorch does.
func NewEmbedding(num, dim int) *Embedding {
	if num < 0 || dim < 0 {
		panicf("NewEmbedding", "negative size (%d, %d)", num, dim)
	}
	return &Embedding{Weight: gograd.Randn(num, dim).RequiresGrad(true)}
}

// Forward maps integer indices idx of any shape to idx's shape + (dim). An
// index outside [0, num) gives a row of zeros (PyTorch raises an error).
func (e *Embedding) Forward(idx *gograd.Tensor) *gograd.Tensor {
	if idx.DType().IsFloat() || idx.DType() == gograd.Bool {
		panicf("Embedding", "indices %s must be integers, not %s", shapeStr(idx.Shape()), idx.DType())
	}
	if e.Weight.Ndim() != 2 {
		panicf("Embedding", "weight %s is not (num, dim)", shapeStr(e.Weight.Shape()))
	}
	return idx.Embedding(e.Weight)
}

// Dropout zeroes each element with probability P in training and scales the
// rest by 1/(1-P), as PyTorch's nn.Dropout; in evaluation it is the
// identity.
type Dropout struct {
	P        float64
	Training bool
}

// NewDropout makes a Dropout of probability p, in training mode.
func NewDropout(p float64) *Dropout {
	if !(p >= 0 && p <= 1) {
		panicf("NewDropout", "probability %v is not in [0, 1]", p)
	}
	return &Dropout{P: p, Training: true}
}

// SetTraining switches between training (on) and evaluation.
func (d *Dropout) SetTraining(on bool) { d.Training = on }

// Forward drops elements of x in training and returns x unchanged in
// evaluation.
func (d *Dropout) Forward(x *gograd.Tensor) *gograd.Tensor {
	if !d.Training || d.P == 0 {
		return x
	}
	return x.Dropout(d.P)
}
