package nn_test

import (
	"math"
	"slices"
	"testing"

	"github.com/gograd/gograd"
	"github.com/gograd/gograd/nn"
)

// TestInit checks PyTorch's default initialisation: the bound of each
// uniform parameter (values within it, and reaching near it), the constant
// ones, and that parameters ask for gradients.
func TestInit(t *testing.T) {
	gograd.Seed(1)
	cases := []struct {
		name  string
		p     *gograd.Tensor
		shape []int
		bound float64 // uniform in ±bound; 0 for a constant
		fill  float64
	}{
		{"linear weight", nn.NewLinear(64, 32, true).Weight, []int{32, 64}, 1.0 / 8, 0},
		{"linear bias", nn.NewLinear(64, 32, true).Bias, []int{32}, 1.0 / 8, 0},
		{"conv1d weight", nn.NewConv1d(4, 8, 4, gograd.ConvOpts{}, true).Weight, []int{8, 4, 4}, 1.0 / 4, 0},
		{"conv2d weight", nn.NewConv2d(8, 6, []int{3, 2}, gograd.ConvOpts{Groups: 2}, true).Weight, []int{6, 4, 3, 2}, 1 / math.Sqrt(24), 0},
		{"conv2d bias", nn.NewConv2d(8, 6, []int{3, 2}, gograd.ConvOpts{Groups: 2}, true).Bias, []int{6}, 1 / math.Sqrt(24), 0},
		{"convT weight", nn.NewConvTranspose2d(4, 8, []int{2}, gograd.ConvTransposeOpts{}, true).Weight, []int{4, 8, 2, 2}, 1 / math.Sqrt(32), 0},
		{"convT bias", nn.NewConvTranspose2d(4, 8, []int{2}, gograd.ConvTransposeOpts{}, true).Bias, []int{8}, 1 / math.Sqrt(32), 0},
		{"mha in_proj", nn.NewMultiHeadAttention(16, 4, true).InProjWeight, []int{48, 16}, math.Sqrt(6.0 / 64), 0},
		{"mha out_proj", nn.NewMultiHeadAttention(16, 4, true).OutProj.Weight, []int{16, 16}, 0.25, 0},
		{"mha in_proj bias", nn.NewMultiHeadAttention(16, 4, true).InProjBias, []int{48}, 0, 0},
		{"layernorm weight", nn.NewLayerNorm(3, 4).Weight, []int{3, 4}, 0, 1},
		{"layernorm bias", nn.NewLayerNorm(3, 4).Bias, []int{3, 4}, 0, 0},
		{"batchnorm weight", nn.NewBatchNorm(5).Weight, []int{5}, 0, 1},
		{"groupnorm bias", nn.NewGroupNorm(2, 6).Bias, []int{6}, 0, 0},
		{"rmsnorm weight", nn.NewRMSNorm(7).Weight, []int{7}, 0, 1},
	}
	for _, c := range cases {
		if !slices.Equal(c.p.Shape(), c.shape) {
			t.Errorf("%s: shape %v, want %v", c.name, c.p.Shape(), c.shape)
			continue
		}
		if !c.p.GradRequired() {
			t.Errorf("%s: does not require grad", c.name)
		}
		v := c.p.Float64s()
		lo, hi := slices.Min(v), slices.Max(v)
		if c.bound == 0 {
			if lo != c.fill || hi != c.fill {
				t.Errorf("%s: values in [%v, %v], want all %v", c.name, lo, hi, c.fill)
			}
			continue
		}
		if lo < -c.bound || hi >= c.bound || hi < 0.7*c.bound || lo > -0.7*c.bound {
			t.Errorf("%s: values in [%v, %v], want them to fill [%v, %v)", c.name, lo, hi, -c.bound, c.bound)
		}
	}
	e := nn.NewEmbedding(100, 50).Weight
	if m, s := e.Mean().Item(), e.Std().Item(); math.Abs(m) > 0.05 || math.Abs(s-1) > 0.05 {
		t.Errorf("embedding: mean %v std %v, want N(0, 1)", m, s)
	}
	bn := nn.NewBatchNorm(3)
	if !slices.Equal(bn.RunningVar.Float32s(), []float32{1, 1, 1}) || bn.RunningMean.GradRequired() || bn.NumBatchesTracked.Item() != 0 {
		t.Errorf("batchnorm running statistics are not zeros, ones and 0")
	}
	gograd.Seed(7)
	a := nn.NewLinear(3, 3, true).Weight.Float32s()
	gograd.Seed(7)
	if b := nn.NewLinear(3, 3, true).Weight.Float32s(); !slices.Equal(a, b) {
		t.Errorf("Seed does not repeat the initialisation")
	}
}

func TestLayerMisuse(t *testing.T) {
	x := gograd.Ones(2, 3)
	cases := []struct {
		want string
		f    func()
	}{
		{"nn: Linear: input (2, 3) does not end in the 4 features of weight (5, 4)", func() { nn.NewLinear(4, 5, true).Forward(x) }},
		{"nn: Conv2d: input (1, 3, 5, 5) has 3 channels, weight (4, 2, 3, 3) expects 2", func() {
			nn.NewConv2d(2, 4, []int{3}, gograd.ConvOpts{}, true).Forward(gograd.Ones(1, 3, 5, 5))
		}},
		{"nn: Conv2d: input (2, 3) must have 4 axes (or 3 unbatched)", func() { nn.NewConv2d(2, 4, []int{3}, gograd.ConvOpts{}, true).Forward(x) }},
		{"nn: Conv1d: input (1, 2, 5) has 2 channels, weight (4, 3, 3) expects 3", func() {
			nn.NewConv1d(3, 4, 3, gograd.ConvOpts{}, true).Forward(gograd.Ones(1, 2, 5))
		}},
		{"nn: ConvTranspose2d: input (1, 2, 3, 3) has 2 channels, weight (3, 4, 2, 2) expects 3", func() {
			nn.NewConvTranspose2d(3, 4, []int{2}, gograd.ConvTransposeOpts{}, true).Forward(gograd.Ones(1, 2, 3, 3))
		}},
		{"nn: NewConv2d: 2 groups do not divide 3 input and 4 output channels", func() { nn.NewConv2d(3, 4, []int{3}, gograd.ConvOpts{Groups: 2}, true) }},
		{"nn: NewConv2d: kernel size [1 2 3]: want 1 or 2 values", func() { nn.NewConv2d(3, 4, []int{1, 2, 3}, gograd.ConvOpts{}, true) }},
		{"nn: BatchNorm: input (2, 3) has 3 channels, the layer 4", func() { nn.NewBatchNorm(4).Forward(x) }},
		{"nn: BatchNorm: expected more than 1 value per channel when training, got input (1, 3)", func() { nn.NewBatchNorm(3).Forward(gograd.Ones(1, 3)) }},
		{"nn: BatchNorm: input (3,) has no channel axis", func() { nn.NewBatchNorm(3).Forward(gograd.Ones(3)) }},
		{"nn: LayerNorm: input (2, 3) does not end in the normalized shape (2,)", func() { nn.NewLayerNorm(2).Forward(x) }},
		{"nn: RMSNorm: weight (4,) does not match the last axis of input (2, 3)", func() { nn.NewRMSNorm(4).Forward(x) }},
		{"nn: GroupNorm: 3 channels of input (2, 3) do not split into 2 groups", func() { nn.NewGroupNorm(2, 4).Forward(x) }},
		{"nn: NewGroupNorm: 5 channels do not split into 2 groups", func() { nn.NewGroupNorm(2, 5) }},
		{"nn: Embedding: indices (2, 3) must be integers, not float32", func() { nn.NewEmbedding(4, 2).Forward(x) }},
		{"nn: NewDropout: probability 1.5 is not in [0, 1]", func() { nn.NewDropout(1.5) }},
		{"nn: NewMultiHeadAttention: embedding size 6 does not split into 4 heads", func() { nn.NewMultiHeadAttention(6, 4, true) }},
		{"nn: MultiHeadAttention: query (2, 3), key (2, 3) and value (2, 3) must be (L, N, 8)", func() { nn.NewMultiHeadAttention(8, 2, true).Forward(x) }},
		{"nn: MultiHeadAttention: attention mask (3, 3) is not (5, 5) or (8, 5, 5)", func() {
			m := nn.NewMultiHeadAttention(8, 2, true)
			q := gograd.Ones(5, 4, 8)
			m.Attend(q, q, q, gograd.Ones(3, 3), nil)
		}},
		{"nn: MultiHeadAttention: key padding mask (5, 4) is not (4, 5)", func() {
			m := nn.NewMultiHeadAttention(8, 2, true)
			q := gograd.Ones(5, 4, 8)
			m.Attend(q, q, q, nil, gograd.Ones(5, 4).Cast(gograd.Bool))
		}},
		{"nn: NewLinear: negative size in (-1, 2)", func() { nn.NewLinear(2, -1, true) }},
	}
	for _, c := range cases {
		expectPanic(t, c.want, c.f)
	}
}

func TestDropout(t *testing.T) {
	x := gograd.Ones(100, 100)
	d := nn.NewDropout(0.25)
	gograd.Seed(3)
	y := d.Forward(x).Float32s()
	zeros := 0
	for _, v := range y {
		switch v {
		case 0:
			zeros++
		case 1 / 0.75:
		default:
			t.Fatalf("dropout gave %v, want 0 or 1/0.75", v)
		}
	}
	if frac := float64(zeros) / float64(len(y)); math.Abs(frac-0.25) > 0.03 {
		t.Errorf("dropout zeroed %v of the elements, want 0.25", frac)
	}
	nn.Train(d, false)
	if d.Forward(x) != x {
		t.Errorf("dropout in evaluation is not the identity")
	}
}

// TestMultiHeadAttentionModes checks that the attention with dropout (the
// explicit path) equals the fused one when the dropout drops nothing, that
// evaluation ignores the dropout, that unbatched input works, and that the
// Causal flag equals an explicit causal mask.
func TestMultiHeadAttentionModes(t *testing.T) {
	gograd.Seed(5)
	m := nn.NewMultiHeadAttention(8, 2, true)
	m.BatchFirst = true
	x := gograd.Randn(3, 4, 8)
	fused := m.Forward(x)
	m.Dropout = 1e-30 // takes the explicit path, drops (almost surely) nothing
	if msg := closeTo(m.Forward(x), fused, 1e-5, 1e-6); msg != "" {
		t.Errorf("explicit path: %s", msg)
	}
	m.Dropout = 0.5
	nn.Train(m, false)
	if msg := closeTo(m.Forward(x), fused, 0, 0); msg != "" {
		t.Errorf("evaluation with dropout: %s", msg)
	}
	m.Dropout = 0
	one := x.Slice(gograd.At(1))
	if msg := closeTo(m.Forward(one), fused.Slice(gograd.At(1)), 1e-5, 1e-6); msg != "" {
		t.Errorf("unbatched: %s", msg)
	}
	m.Causal = true
	causal := m.Forward(x)
	m.Causal = false
	mask := gograd.Ones(4, 4).Triu(1).Cast(gograd.Bool)
	if msg := closeTo(m.Attend(x, x, x, mask, nil), causal, 1e-5, 1e-6); msg != "" {
		t.Errorf("causal flag vs mask: %s", msg)
	}
	m.Causal, m.Dropout = true, 1e-30
	nn.Train(m, true)
	if msg := closeTo(m.Forward(x), causal, 1e-5, 1e-6); msg != "" {
		t.Errorf("causal explicit path: %s", msg)
	}
}

// TestBatchNormModes checks the cumulative average, training without
// running statistics, and an unbiased variance by hand.
func TestBatchNormModes(t *testing.T) {
	x1 := gograd.FromSlice([]float32{1, 2, 3, 5, 0, -1, 4, 4}, 4, 2)
	x2 := gograd.FromSlice([]float32{0, 1, 2, 3, 0, 1, 2, 3}, 4, 2)
	bn := nn.NewBatchNorm(2)
	bn.CumulativeAverage = true
	bn.Forward(x1)
	bn.Forward(x2)
	gograd.Realize(nn.Buffers(bn)...)
	// means: x1 (2, 2.5), x2 (1, 2); unbiased variances: x1 (10/3, 7), x2 (4/3, 4/3).
	want := gograd.FromSlice([]float32{1.5, 2.25})
	if msg := closeTo(bn.RunningMean, want, 1e-6, 0); msg != "" {
		t.Errorf("cumulative running mean: %s", msg)
	}
	if msg := closeTo(bn.RunningVar, gograd.FromSlice([]float32{7.0 / 3, 25.0 / 6}), 1e-6, 0); msg != "" {
		t.Errorf("cumulative running var: %s", msg)
	}
	if n := bn.NumBatchesTracked.Item(); n != 2 {
		t.Errorf("num_batches_tracked = %v", n)
	}

	plain := nn.NewBatchNorm(2)
	plain.RunningMean, plain.RunningVar, plain.NumBatchesTracked = nil, nil, nil
	train := plain.Forward(x1)
	nn.Train(plain, false)
	if msg := closeTo(plain.Forward(x1), train, 0, 0); msg != "" {
		t.Errorf("without running statistics evaluation differs from training: %s", msg)
	}
	// (1 - 2) / sqrt(10/4 + eps) for the first element.
	if got, want := float64(train.Float32s()[0]), -1/math.Sqrt(2.5+1e-5); math.Abs(got-want) > 1e-6 {
		t.Errorf("normalized %v, want %v", got, want)
	}
	if len(nn.Buffers(plain)) != 0 || len(nn.StateDict(plain)) != 2 {
		t.Errorf("a BatchNorm without running statistics has state %v", nn.StateDict(plain))
	}
}

// TestBatchNormStatsReadBetweenSteps reads the running statistics through a
// cast (Float64s) after a training step, then evaluates: the update must
// apply once. It fails while an Assign realized through another tensor's
// graph stays pending on its own tensor and runs again (see the report).
func TestBatchNormStatsReadBetweenSteps(t *testing.T) {
	x := gograd.FromSlice([]float32{1, 2, 3, 5, 0, -1, 4, 4}, 4, 2)
	bn := nn.NewBatchNorm(2)
	bn.Forward(x)
	first := bn.RunningMean.Float64s() // 0.1 * (2, 2.5)
	nn.Train(bn, false)
	bn.Forward(x).Realize()
	if got := bn.RunningMean.Float64s(); math.Abs(got[0]-first[0]) > 1e-7 || math.Abs(first[0]-0.2) > 1e-7 {
		t.Errorf("running mean %v after a read and an evaluation, %v after the step; want 0.2 both", got[0], first[0])
	}
}

func TestSequentialAndFunc(t *testing.T) {
	double := nn.Func(func(x *gograd.Tensor) *gograd.Tensor { return x.Mul(2) })
	s := nn.Sequential{double, nn.Func(relu), nn.Sequential{double}}
	got := s.Forward(gograd.FromSlice([]float32{-1, 0.5, 3})).Float32s()
	if !slices.Equal(got, []float32{0, 2, 12}) {
		t.Errorf("Sequential gave %v", got)
	}
	if len(nn.Parameters(s)) != 0 {
		t.Errorf("functions have parameters")
	}
}

// TestMLPTrainingStep runs one training step of a small MLP — forward,
// CrossEntropy, Backward, realize the gradients — checks the gradients by
// central finite differences on a few weights, and logs the kernels run.
func TestMLPTrainingStep(t *testing.T) {
	gograd.Seed(11)
	model := nn.Sequential{nn.NewLinear(16, 32, true), nn.Func(relu), nn.NewLinear(32, 10, true)}
	x := gograd.Randn(8, 16)
	y := gograd.RandInt(0, 10, 8)
	params := nn.Parameters(&model)
	gograd.ResetStats()
	loss := nn.CrossEntropy(model.Forward(x), y)
	loss.Backward()
	grads := make([]*gograd.Tensor, len(params))
	for i, p := range params {
		grads[i] = p.Grad
	}
	gograd.Realize(append(grads, loss)...)
	kernels := gograd.Stats("").Kernels
	t.Logf("one MLP training step (16-32-10, batch 8): %d kernels", kernels)
	if kernels == 0 {
		t.Errorf("no kernels ran")
	}
	// Finite differences on the first layer's weight.
	w := params[0]
	g := w.Grad.Float64s()
	vals := w.Float32s()
	lossAt := func(v []float32) float64 {
		w2 := gograd.FromSlice(v, w.Shape()...)
		m := nn.Sequential{&nn.Linear{Weight: w2, Bias: params[1]}, nn.Func(relu), model[2]}
		return nn.CrossEntropy(m.Forward(x), y).Item()
	}
	for _, i := range []int{0, 17, 200, 511} {
		const h = 1e-2
		p, m := slices.Clone(vals), slices.Clone(vals)
		p[i] += h
		m[i] -= h
		fd := (lossAt(p) - lossAt(m)) / (2 * h)
		if math.Abs(fd-g[i]) > 2e-3+0.02*math.Abs(g[i]) {
			t.Errorf("d loss / d w[%d] = %v, finite difference %v", i, g[i], fd)
		}
	}
}

func TestUnbatchedInputs(t *testing.T) {
	gograd.Seed(4)
	cases := []struct {
		name string
		l    nn.Layer
		x    *gograd.Tensor
	}{
		{"conv1d", nn.NewConv1d(2, 3, 3, gograd.ConvOpts{Padding: []int{1}}, true), gograd.Randn(1, 2, 7)},
		{"conv2d", nn.NewConv2d(2, 3, []int{3}, gograd.ConvOpts{Stride: []int{2}}, true), gograd.Randn(1, 2, 7, 6)},
		{"convT2d", nn.NewConvTranspose2d(2, 4, []int{2}, gograd.ConvTransposeOpts{Stride: []int{2}}, false), gograd.Randn(1, 2, 3, 3)},
	}
	for _, c := range cases {
		want := c.l.Forward(c.x).Squeeze(0)
		if msg := closeTo(c.l.Forward(c.x.Squeeze(0)), want, 1e-6, 1e-6); msg != "" {
			t.Errorf("%s: %s", c.name, msg)
		}
	}
}

// TestBatchNormGradientKernels counts the kernels of a training batch
// norm's forward pass and gradients: its own backward takes two sums per
// channel (of the gradient, and of the gradient times the normalized
// input), where differentiating the mean and the variance took four (9
// kernels here).
func TestBatchNormGradientKernels(t *testing.T) {
	x := gograd.Randn(4, 3, 5, 5).Realize().RequiresGrad(true)
	r := gograd.Randn(4, 3, 5, 5).Realize()
	bn := nn.NewBatchNorm(3)
	loss := bn.Forward(x).Exp().Mul(r).Sum()
	gograd.ResetStats()
	grads := gograd.Gradient(loss, x, bn.Weight, bn.Bias)
	gograd.Realize(append(grads, nn.Buffers(bn)...)...)
	// The mean, the variance, g stored, its two sums, the input's
	// gradient, the running statistics and the count.
	if n := gograd.Stats("").Kernels; n > 8 {
		t.Errorf("batch norm forward and backward: %d kernels, want at most 8", n)
	}
}
