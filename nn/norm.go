package nn

import (
	"slices"

	"github.com/gograd/gograd"
)

// This file holds the normalization layers: BatchNorm, LayerNorm, RMSNorm
// and GroupNorm.

// onesParam and zerosParam are trainable tensors of ones and zeros, held in
// buffers (not lazy constants) so that they can be assigned to.
func onesParam(shape ...int) *gograd.Tensor  { return fillBuffer(1, shape).RequiresGrad(true) }
func zerosParam(shape ...int) *gograd.Tensor { return fillBuffer(0, shape).RequiresGrad(true) }

// fillBuffer is a realized float32 tensor filled with v.
func fillBuffer(v float32, shape []int) *gograd.Tensor {
	n := 1
	for _, s := range shape {
		if s < 0 {
			panicf("nn", "negative size in %s", shapeStr(shape))
		}
		n *= s
	}
	data := make([]float32, n)
	for i := range data {
		data[i] = v
	}
	return gograd.FromSlice(data, shape...)
}

// BatchNorm normalizes each channel (axis 1) of an input (N, C, ...) as
// PyTorch's nn.BatchNorm1d, 2d and 3d: one type serves them all. In
// training it uses the batch's mean and biased variance, and moves the
// running statistics towards the batch's mean and unbiased variance by
// Momentum (running = (1-m) running + m batch); in evaluation it uses the
// running statistics. Without running statistics (RunningMean nil, PyTorch's
// track_running_stats=False) it always uses the batch's.
//
// The running statistics are updated by Assign, lazily: they change when
// realized, which a training step does best together with the loss (see
// Buffers), so that the batch statistics are computed once. Otherwise the
// next Forward realizes them.
type BatchNorm struct {
	Weight            *gograd.Tensor // (C), or nil without affine
	Bias              *gograd.Tensor // (C), or nil without affine
	RunningMean       *gograd.Tensor `gograd:"running_mean,buffer"`        // (C), or nil
	RunningVar        *gograd.Tensor `gograd:"running_var,buffer"`         // (C), or nil
	NumBatchesTracked *gograd.Tensor `gograd:"num_batches_tracked,buffer"` // int64 scalar, or nil

	Eps      float64 // added to the variance; 1e-5
	Momentum float64 // weight of the batch in the running statistics; 0.1
	// CumulativeAverage makes the running statistics the plain average of
	// every batch seen (PyTorch's momentum=None), ignoring Momentum; each
	// training Forward then reads NumBatchesTracked (a small sync).
	CumulativeAverage bool
	Training          bool
}

// NewBatchNorm makes a BatchNorm of c channels as PyTorch does: weight
// ones, bias zeros, running mean zeros, running variance ones, eps 1e-5,
// momentum 0.1, in training mode.
func NewBatchNorm(c int) *BatchNorm {
	return &BatchNorm{
		Weight:            onesParam(c),
		Bias:              zerosParam(c),
		RunningMean:       fillBuffer(0, []int{c}),
		RunningVar:        fillBuffer(1, []int{c}),
		NumBatchesTracked: gograd.Scalar(int64(0)),
		Eps:               1e-5,
		Momentum:          0.1,
		Training:          true,
	}
}

// SetTraining switches between training (on) and evaluation.
func (b *BatchNorm) SetTraining(on bool) { b.Training = on }

// channels returns the number of channels of b's tensors.
func (b *BatchNorm) channels() int {
	for _, t := range []*gograd.Tensor{b.Weight, b.RunningMean, b.Bias, b.RunningVar} {
		if t != nil {
			if t.Ndim() != 1 {
				panicf("BatchNorm", "parameter %s is not (C,)", shapeStr(t.Shape()))
			}
			return t.Dim(0)
		}
	}
	return -1 // no affine, no running stats: any channel count
}

// Forward normalizes x (N, C, ...).
func (b *BatchNorm) Forward(x *gograd.Tensor) *gograd.Tensor {
	const op = "BatchNorm"
	if x.Ndim() < 2 {
		panicf(op, "input %s has no channel axis (want (N, C, ...))", shapeStr(x.Shape()))
	}
	c := b.channels()
	if c >= 0 && x.Dim(1) != c {
		panicf(op, "input %s has %d channels, the layer %d", shapeStr(x.Shape()), x.Dim(1), c)
	}
	if (b.RunningMean == nil) != (b.RunningVar == nil) {
		panicf(op, "running mean and variance must both be set or both be nil")
	}
	if !b.Training && b.RunningMean != nil {
		// Apply a pending update of the running statistics (a no-op when
		// there is none), so that it is not part of this graph.
		gograd.Realize(b.RunningMean, b.RunningVar)
		return x.BatchNorm(b.RunningMean, b.RunningVar, b.Weight, b.Bias, b.Eps)
	}
	c = x.Dim(1)
	n := x.Numel() / max(c, 1) // values per channel
	if n <= 1 && b.Training {
		panicf(op, "expected more than 1 value per channel when training, got input %s", shapeStr(x.Shape()))
	}
	axes := []int{0}
	for i := 2; i < x.Ndim(); i++ {
		axes = append(axes, i)
	}
	variance, mean := x.VarMean(axes, gograd.KeepDim, gograd.Correction(0))
	invStd := variance.Add(b.Eps).Rsqrt()
	xhat := x.Sub(mean).Mul(invStd)
	view := make([]int, x.Ndim())
	for i := range view {
		view[i] = 1
	}
	view[1] = c
	out, inputs := xhat, []*gograd.Tensor{x}
	if b.Weight != nil {
		out = out.Mul(b.Weight.Reshape(view...))
		inputs = append(inputs, b.Weight)
	}
	if b.Bias != nil {
		out = out.Add(b.Bias.Reshape(view...))
		inputs = append(inputs, b.Bias)
	}
	// The gradient as PyTorch computes it, from two sums per channel: the
	// differentiated graph (through the mean and the variance) takes four
	// or five.
	out = gograd.WithGradient(out, "BatchNorm", inputs, func(g *gograd.Tensor, need []bool) []*gograd.Tensor {
		grads := make([]*gograd.Tensor, len(inputs))
		// g (through a pool's gradient, say) is read three times: once.
		g = g.Contiguous()
		sumG := g.Sum(axes, gograd.KeepDim)
		sumGX := g.Mul(xhat).Sum(axes, gograd.KeepDim)
		if need[0] {
			scale := invStd
			if b.Weight != nil {
				scale = scale.Mul(b.Weight.Reshape(view...))
			}
			inv := 1 / float64(n)
			grads[0] = g.Sub(sumG.Mul(inv)).Sub(xhat.Mul(sumGX.Mul(inv))).Mul(scale)
		}
		k := 1
		if b.Weight != nil {
			if need[k] {
				grads[k] = sumGX.Reshape(c)
			}
			k++
		}
		if b.Bias != nil && need[k] {
			grads[k] = sumG.Reshape(c)
		}
		return grads
	})
	if b.Training && b.RunningMean != nil {
		b.update(mean.Detach().Reshape(c), variance.Detach().Reshape(c).Mul(float64(n)/float64(n-1)))
	}
	return out
}

// update moves the running statistics towards a batch's mean and unbiased
// variance, and counts the batch.
func (b *BatchNorm) update(mean, unbiased *gograd.Tensor) {
	m := b.Momentum
	if b.CumulativeAverage {
		seen := int64(0)
		if b.NumBatchesTracked != nil {
			seen = gograd.Data[int64](b.NumBatchesTracked.Realize())[0]
		}
		m = 1 / float64(seen+1)
	}
	b.RunningMean.Assign(b.RunningMean.Mul(1 - m).Add(mean.Mul(m)))
	b.RunningVar.Assign(b.RunningVar.Mul(1 - m).Add(unbiased.Mul(m)))
	if b.NumBatchesTracked != nil {
		b.NumBatchesTracked.Assign(b.NumBatchesTracked.Add(1))
	}
}

// LayerNorm normalizes the trailing axes of its input (NormalizedShape) to
// mean 0 and variance 1, then scales and shifts them elementwise, as
// PyTorch's nn.LayerNorm.
type LayerNorm struct {
	Weight          *gograd.Tensor // NormalizedShape, or nil without affine
	Bias            *gograd.Tensor // NormalizedShape, or nil
	NormalizedShape []int
	Eps             float64 // 1e-5
}

// NewLayerNorm makes a LayerNorm over trailing axes of the given shape as
// PyTorch does: weight ones, bias zeros, eps 1e-5.
func NewLayerNorm(shape ...int) *LayerNorm {
	if len(shape) == 0 {
		panicf("NewLayerNorm", "no normalized shape")
	}
	return &LayerNorm{Weight: onesParam(shape...), Bias: zerosParam(shape...), NormalizedShape: slices.Clone(shape), Eps: 1e-5}
}

// Forward normalizes x (..., *NormalizedShape).
func (l *LayerNorm) Forward(x *gograd.Tensor) *gograd.Tensor {
	n := len(l.NormalizedShape)
	if n == 0 || x.Ndim() < n || !slices.Equal(x.Shape()[x.Ndim()-n:], l.NormalizedShape) {
		panicf("LayerNorm", "input %s does not end in the normalized shape %s", shapeStr(x.Shape()), shapeStr(l.NormalizedShape))
	}
	for _, p := range []*gograd.Tensor{l.Weight, l.Bias} {
		if p != nil && !slices.Equal(p.Shape(), l.NormalizedShape) {
			panicf("LayerNorm", "weight or bias %s is not the normalized shape %s", shapeStr(p.Shape()), shapeStr(l.NormalizedShape))
		}
	}
	return x.LayerNorm(l.NormalizedShape, l.Weight, l.Bias, l.Eps)
}

// float32Eps is the machine epsilon of float32, PyTorch's default eps of
// RMSNorm for float32 inputs.
const float32Eps = 1.1920928955078125e-07

// RMSNorm scales the last axis of its input by the reciprocal of its root
// mean square, then by Weight: x / sqrt(mean(x²) + Eps) * weight, as
// PyTorch's nn.RMSNorm (and LLaMA's norm).
type RMSNorm struct {
	Weight *gograd.Tensor // (dim), or nil without affine
	Eps    float64
}

// NewRMSNorm makes an RMSNorm over a last axis of dim with weight ones and
// eps the float32 machine epsilon, PyTorch's default; models such as LLaMA
// set Eps (1e-5, 1e-6).
func NewRMSNorm(dim int) *RMSNorm {
	return &RMSNorm{Weight: onesParam(dim), Eps: float32Eps}
}

// Forward normalizes the last axis of x.
func (r *RMSNorm) Forward(x *gograd.Tensor) *gograd.Tensor {
	if x.Ndim() == 0 {
		panicf("RMSNorm", "0-d input")
	}
	if r.Weight != nil && (r.Weight.Ndim() != 1 || r.Weight.Dim(0) != x.Dim(-1)) {
		panicf("RMSNorm", "weight %s does not match the last axis of input %s", shapeStr(r.Weight.Shape()), shapeStr(x.Shape()))
	}
	return x.RMSNorm(r.Weight, r.Eps)
}

// GroupNorm normalizes groups of channels of its input (N, C, ...) over the
// group's channels and the other axes, then scales and shifts per channel,
// as PyTorch's nn.GroupNorm.
type GroupNorm struct {
	Weight *gograd.Tensor // (C), or nil without affine
	Bias   *gograd.Tensor // (C), or nil
	Groups int
	Eps    float64 // 1e-5
}

// NewGroupNorm makes a GroupNorm of c channels in groups as PyTorch does:
// weight ones, bias zeros, eps 1e-5.
func NewGroupNorm(groups, c int) *GroupNorm {
	if groups <= 0 || c%groups != 0 {
		panicf("NewGroupNorm", "%d channels do not split into %d groups", c, groups)
	}
	return &GroupNorm{Weight: onesParam(c), Bias: zerosParam(c), Groups: groups, Eps: 1e-5}
}

// Forward normalizes x (N, C, ...).
func (g *GroupNorm) Forward(x *gograd.Tensor) *gograd.Tensor {
	if x.Ndim() < 2 {
		panicf("GroupNorm", "input %s has no channel axis (want (N, C, ...))", shapeStr(x.Shape()))
	}
	if g.Groups <= 0 || x.Dim(1)%g.Groups != 0 {
		panicf("GroupNorm", "%d channels of input %s do not split into %d groups", x.Dim(1), shapeStr(x.Shape()), g.Groups)
	}
	for _, p := range []*gograd.Tensor{g.Weight, g.Bias} {
		if p != nil && (p.Ndim() != 1 || p.Dim(0) != x.Dim(1)) {
			panicf("GroupNorm", "weight or bias %s does not match the %d channels of input %s", shapeStr(p.Shape()), x.Dim(1), shapeStr(x.Shape()))
		}
	}
	return x.GroupNorm(g.Groups, g.Weight, g.Bias, g.Eps)
}
