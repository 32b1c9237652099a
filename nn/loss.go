package nn

import (
	"fmt"
	"slices"

	"github.com/gograd/gograd"
)

// This file holds the loss functions. Each is a lazy composition of Tensor
// methods with PyTorch's formula and reduction, so its gradient is the
// autograd of that composition.

// LossOption is an option of a loss function: a Reduction, LabelSmoothing,
// IgnoreIndex, Weight or PosWeight. A loss panics on an option it does not
// take.
type LossOption interface{ lossOption() }

// Reduction says how a loss reduces its per-element values.
type Reduction int

// The reductions, as PyTorch's reduction argument: ReduceMean (the
// default), ReduceSum and ReduceNone (per-element losses).
const (
	ReduceMean Reduction = iota
	ReduceSum
	ReduceNone
)

// LabelSmoothing mixes CrossEntropy's target with the uniform distribution
// by this amount in [0, 1], as PyTorch's label_smoothing.
type LabelSmoothing float64

// IgnoreIndex is the class target that CrossEntropy and NLL skip: it adds
// nothing to the loss nor to the mean's divisor. The default is -100, as in
// PyTorch.
type IgnoreIndex int

type weightOpt struct{ w *gograd.Tensor }
type posWeightOpt struct{ w *gograd.Tensor }

// Weight rescales a loss: per class (C) for CrossEntropy and NLL, whose mean
// then divides by the targets' total weight; per element (broadcast to the
// input) for BCE and BCEWithLogits.
func Weight(w *gograd.Tensor) LossOption { return weightOpt{w} }

// PosWeight weighs the positive term of BCEWithLogits, per class (broadcast
// along the last axis), as PyTorch's pos_weight.
func PosWeight(w *gograd.Tensor) LossOption { return posWeightOpt{w} }

func (Reduction) lossOption()      {}
func (LabelSmoothing) lossOption() {}
func (IgnoreIndex) lossOption()    {}
func (weightOpt) lossOption()      {}
func (posWeightOpt) lossOption()   {}

// lossOpts are a loss's options with their defaults.
type lossOpts struct {
	red       Reduction
	smoothing float64
	ignore    int
	ignoreSet bool
	weight    *gograd.Tensor
	posWeight *gograd.Tensor
}

// parseLoss reads opts, panicking on one the loss op does not take (allowed
// lists the option kinds it takes, by type name).
func parseLoss(op string, opts []LossOption, allowed ...string) lossOpts {
	o := lossOpts{ignore: -100}
	for _, opt := range opts {
		kind := ""
		switch v := opt.(type) {
		case Reduction:
			if v < ReduceMean || v > ReduceNone {
				panicf(op, "unknown reduction %d", int(v))
			}
			o.red, kind = v, "Reduction"
		case LabelSmoothing:
			if !(v >= 0 && v <= 1) {
				panicf(op, "label smoothing %v is not in [0, 1]", float64(v))
			}
			o.smoothing, kind = float64(v), "LabelSmoothing"
		case IgnoreIndex:
			o.ignore, o.ignoreSet, kind = int(v), true, "IgnoreIndex"
		case weightOpt:
			o.weight, kind = v.w, "Weight"
		case posWeightOpt:
			o.posWeight, kind = v.w, "PosWeight"
		case nil:
			panicf(op, "nil option")
		}
		if kind != "Reduction" && !slices.Contains(allowed, kind) {
			panicf(op, "does not take option %s", optName(opt))
		}
	}
	return o
}

func optName(o LossOption) string {
	switch v := o.(type) {
	case weightOpt:
		return "Weight"
	case posWeightOpt:
		return "PosWeight"
	default:
		return fmt.Sprintf("%T(%v)", v, v)
	}
}

// reduce applies the reduction to per-element losses.
func (o lossOpts) reduce(loss *gograd.Tensor) *gograd.Tensor {
	switch o.red {
	case ReduceSum:
		return loss.Sum()
	case ReduceNone:
		return loss
	}
	return loss.Mean()
}

// sameShape panics unless input and target have one shape.
func sameShape(op string, input, target *gograd.Tensor) {
	if !slices.Equal(input.Shape(), target.Shape()) {
		panicf(op, "input %s and target %s differ in shape", shapeStr(input.Shape()), shapeStr(target.Shape()))
	}
}

// classView reshapes a per-class tensor (C) to broadcast along axis 1 of an
// input of ndim axes.
func classView(op string, w *gograd.Tensor, c, ndim int) *gograd.Tensor {
	if w.Ndim() != 1 || w.Dim(0) != c {
		panicf(op, "class weight %s does not match the %d classes", shapeStr(w.Shape()), c)
	}
	s := make([]int, ndim)
	for i := range s {
		s[i] = 1
	}
	s[1] = c
	return w.Reshape(s...)
}

// CrossEntropy is PyTorch's cross_entropy of logits (N, C) or (N, C, d1,
// ...), or (C) unbatched, against integer class targets (N) or (N, d1, ...)
// — or, with float targets of the logits' shape, against class
// probabilities. It takes the options Reduction, LabelSmoothing,
// IgnoreIndex (integer targets only) and Weight. The mean of integer
// targets divides by the number (or total weight) of the targets not
// ignored; that of probabilities by the number of rows. A target outside
// [0, C) that is not ignored adds nothing (PyTorch raises an error).
func CrossEntropy(logits, target *gograd.Tensor, opts ...LossOption) *gograd.Tensor {
	const op = "CrossEntropy"
	o := parseLoss(op, opts, "LabelSmoothing", "IgnoreIndex", "Weight")
	x, t, unbatch := unbatchedClasses(op, logits, target)
	c := x.Dim(1)
	logp := logSoftmax(x, 1)
	if t.DType().IsFloat() {
		if o.ignoreSet {
			panicf(op, "IgnoreIndex does not apply to probability targets %s", shapeStr(target.Shape()))
		}
		sameShape(op, logits, target)
		if o.smoothing > 0 {
			t = t.Mul(1 - o.smoothing).Add(o.smoothing / float64(c))
		}
		lp := logp
		if o.weight != nil {
			lp = lp.Mul(classView(op, o.weight, c, x.Ndim()))
		}
		return unbatch(o.reduce(lp.Mul(t).Sum(1).Neg()))
	}
	checkClassTargets(op, x, t)
	nll, wsum := pickNLL(op, logp, t, o)
	if o.smoothing == 0 {
		return unbatch(nll)
	}
	// Smoothing adds eps/C times the sum over classes of -logp (weighted),
	// with the same reduction and divisor as the NLL term.
	lp := logp
	if o.weight != nil {
		lp = lp.Mul(classView(op, o.weight, c, x.Ndim()))
	}
	kept := t.Ne(o.ignore).Unsqueeze(1).Where(lp, float32(0))
	var smooth *gograd.Tensor
	switch o.red {
	case ReduceSum:
		smooth = kept.Sum().Neg()
	case ReduceMean:
		smooth = kept.Sum().Neg().Div(wsum)
	default:
		smooth = kept.Sum(1).Neg()
	}
	return unbatch(nll.Mul(1 - o.smoothing).Add(smooth.Mul(o.smoothing / float64(c))))
}

// logSoftmax is x's log-softmax along axis, shifted by the detached
// maximum: the value and gradient are those of log_softmax (which is
// invariant to the shift), but the backward pass does not differentiate the
// maximum, which costs two reduce kernels for a gradient that sums to zero.
func logSoftmax(x *gograd.Tensor, axis int) *gograd.Tensor {
	if !x.DType().IsFloat() {
		x = x.Cast(gograd.Float32)
	}
	d := x.Sub(x.Max(axis, gograd.KeepDim).Detach())
	return d.Sub(d.Exp().Sum(axis, gograd.KeepDim).Log())
}

// NLL is PyTorch's nll_loss: the negative of log-probabilities logp (N, C)
// or (N, C, d1, ...), or (C) unbatched, picked at integer class targets,
// with the options Reduction, IgnoreIndex and Weight (per class); the mean
// divides by the total weight of the targets not ignored.
func NLL(logp, target *gograd.Tensor, opts ...LossOption) *gograd.Tensor {
	const op = "NLL"
	o := parseLoss(op, opts, "IgnoreIndex", "Weight")
	x, t, unbatch := unbatchedClasses(op, logp, target)
	checkClassTargets(op, x, t)
	loss, _ := pickNLL(op, x, t, o)
	return unbatch(loss)
}

// unbatchedClasses adds a batch axis to unbatched logits (C) and target (),
// returning the function that removes it from an unreduced loss.
func unbatchedClasses(op string, x, t *gograd.Tensor) (*gograd.Tensor, *gograd.Tensor, func(*gograd.Tensor) *gograd.Tensor) {
	if x.Ndim() == 1 {
		return x.Unsqueeze(0), t.Unsqueeze(0), func(l *gograd.Tensor) *gograd.Tensor {
			if l.Ndim() == 1 {
				return l.Squeeze(0)
			}
			return l
		}
	}
	if x.Ndim() < 2 {
		panicf(op, "input %s must be (N, C, ...) or (C,)", shapeStr(x.Shape()))
	}
	return x, t, func(l *gograd.Tensor) *gograd.Tensor { return l }
}

// checkClassTargets panics unless t is integer targets of x's shape without
// the class axis.
func checkClassTargets(op string, x, t *gograd.Tensor) {
	if t.DType().IsFloat() || t.DType() == gograd.Bool {
		panicf(op, "target %s of %s must be integer classes", shapeStr(t.Shape()), t.DType())
	}
	want := append([]int{x.Dim(0)}, x.Shape()[2:]...)
	if !slices.Equal(t.Shape(), want) {
		panicf(op, "target %s does not match input %s: want %s", shapeStr(t.Shape()), shapeStr(x.Shape()), shapeStr(want))
	}
}

// pickNLL returns the reduced -w[t] logp[t] over targets t that are not
// ignored, and the divisor of its mean (the targets' total weight).
func pickNLL(op string, logp, t *gograd.Tensor, o lossOpts) (loss, wsum *gograd.Tensor) {
	c := logp.Dim(1)
	s := make([]int, logp.Ndim())
	for i := range s {
		s[i] = 1
	}
	s[1] = c
	classes := gograd.Arange(c).To(logp.Device()).Reshape(s...)
	valid := t.Ne(o.ignore)
	hit := t.Unsqueeze(1).Eq(classes).And(valid.Unsqueeze(1)) // (N, C, ...) one-hot of kept targets
	var wt *gograd.Tensor                                     // weight of each target
	if o.weight != nil {
		wv := classView(op, o.weight, c, logp.Ndim())
		logp = logp.Mul(wv)
		wt = hit.Where(wv, float32(0)).Sum(1).Cast(logp.DType())
	} else {
		wt = valid.Cast(logp.DType())
	}
	// -w[t] logp[t], 0 where ignored: summed over the classes per element,
	// or over everything at once (one reduce) for a mean or a sum.
	picked := hit.Where(logp, float32(0))
	wsum = wt.Sum()
	switch o.red {
	case ReduceSum:
		loss = picked.Sum().Neg()
	case ReduceMean:
		loss = picked.Sum().Neg().Div(wsum)
	default:
		loss = picked.Sum(1).Neg()
	}
	return loss, wsum
}

// MSE is the mean squared error (x - y)² of input and target of one shape,
// reduced by the Reduction option.
func MSE(input, target *gograd.Tensor, opts ...LossOption) *gograd.Tensor {
	o := parseLoss("MSE", opts)
	sameShape("MSE", input, target)
	d := input.Sub(target)
	return o.reduce(d.Mul(d))
}

// L1 is the mean absolute error |x - y| of input and target of one shape,
// reduced by the Reduction option.
func L1(input, target *gograd.Tensor, opts ...LossOption) *gograd.Tensor {
	o := parseLoss("L1", opts)
	sameShape("L1", input, target)
	return o.reduce(input.Sub(target).Abs())
}

// BCE is PyTorch's binary_cross_entropy of probabilities p against targets y
// of one shape: -w (y log p + (1-y) log(1-p)), each log clamped at -100 as
// PyTorch does, with the options Reduction and Weight (broadcast to p).
func BCE(p, y *gograd.Tensor, opts ...LossOption) *gograd.Tensor {
	const op = "BCE"
	o := parseLoss(op, opts, "Weight")
	sameShape(op, p, y)
	logp := p.Log().Maximum(-100.0)
	log1p := p.Neg().Add(1).Log().Maximum(-100.0)
	loss := y.Mul(logp).Add(y.Neg().Add(1).Mul(log1p)).Neg()
	if o.weight != nil {
		loss = loss.Mul(broadcastTo(op, o.weight, p))
	}
	return o.reduce(loss)
}

// BCEWithLogits is PyTorch's binary_cross_entropy_with_logits: BCE of
// sigmoid(x) against y, computed stably as (1-y) x + (1 + (pw-1) y)
// (log(1 + exp(-|x|)) + max(-x, 0)), with the options Reduction, Weight
// (broadcast to x) and PosWeight (pw, broadcast along the last axis).
func BCEWithLogits(x, y *gograd.Tensor, opts ...LossOption) *gograd.Tensor {
	const op = "BCEWithLogits"
	o := parseLoss(op, opts, "Weight", "PosWeight")
	sameShape(op, x, y)
	softplusNeg := x.Abs().Neg().Exp().Add(1).Log().Add(x.Neg().Relu()) // log(1 + exp(-x))
	if o.posWeight != nil {
		softplusNeg = softplusNeg.Mul(broadcastTo(op, o.posWeight, x).Sub(1).Mul(y).Add(1))
	}
	loss := y.Neg().Add(1).Mul(x).Add(softplusNeg)
	if o.weight != nil {
		loss = loss.Mul(broadcastTo(op, o.weight, x))
	}
	return o.reduce(loss)
}

// broadcastTo panics unless w broadcasts to x's shape.
func broadcastTo(op string, w, x *gograd.Tensor) *gograd.Tensor {
	ws, xs := w.Shape(), x.Shape()
	ok := len(ws) <= len(xs)
	for i := 1; ok && i <= len(ws); i++ {
		a, b := ws[len(ws)-i], xs[len(xs)-i]
		ok = a == b || a == 1
	}
	if !ok {
		panicf(op, "weight %s does not broadcast to input %s", shapeStr(ws), shapeStr(xs))
	}
	return w
}
