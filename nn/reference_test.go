package nn_test

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/gograd/gograd"
	"github.com/gograd/gograd/nn"
)

// The layers and losses against PyTorch: testdata/reference.safetensors,
// written by tools/gen_safetensors.py, holds for each case "<case>/" the
// PyTorch module's state_dict ("model.<name>"), its inputs ("x0", "x1"), its
// output "y", the weight "g" of the scalar sum(y * g) it ran backward on, and
// the gradients of the parameters ("grad.<name>") and float inputs ("dx0").
// The state dict loads into the gograd layer by PyTorch's names, so the
// cases also check that the layers name their tensors as PyTorch does.

var (
	refOnce sync.Once
	refF    *nn.SafetensorsFile
	refErr  error
)

func refFile(t *testing.T) *nn.SafetensorsFile {
	t.Helper()
	refOnce.Do(func() { refF, refErr = nn.LoadSafetensors("testdata/reference.safetensors") })
	if refErr != nil {
		t.Fatal(refErr)
	}
	return refF
}

// ref returns tensor name of the reference file, or nil if absent.
func ref(t *testing.T, name string) *gograd.Tensor {
	t.Helper()
	f := refFile(t)
	if _, ok := f.Info(name); !ok {
		return nil
	}
	x, err := f.Tensor(name)
	if err != nil {
		t.Fatal(err)
	}
	return x
}

// refState returns the tensors "<prefix>.<name>" of the reference file by
// name.
func refState(t *testing.T, prefix string) map[string]*gograd.Tensor {
	t.Helper()
	out := map[string]*gograd.Tensor{}
	for _, name := range refFile(t).Names() {
		if rest, ok := strings.CutPrefix(name, prefix+"."); ok {
			out[rest] = ref(t, name)
		}
	}
	return out
}

// closeTo reports the first element where got and want differ by more than
// atol + rtol*|want| (NaNs must match), or "".
func closeTo(got, want *gograd.Tensor, rtol, atol float64) string {
	if !slices.Equal(got.Shape(), want.Shape()) {
		return fmt.Sprintf("shape %v, want %v", got.Shape(), want.Shape())
	}
	g, w := got.Float64s(), want.Float64s()
	for i := range g {
		if math.IsNaN(w[i]) != math.IsNaN(g[i]) || math.Abs(g[i]-w[i]) > atol+rtol*math.Abs(w[i]) {
			return fmt.Sprintf("element %d is %v, want %v", i, g[i], w[i])
		}
	}
	return ""
}

func checkClose(t *testing.T, what string, got, want *gograd.Tensor) {
	t.Helper()
	if want == nil {
		t.Fatalf("%s: no reference", what)
	}
	if msg := closeTo(got, want, 1e-4, 2e-5); msg != "" {
		t.Errorf("%s: %s", what, msg)
	}
}

// refCase runs the reference case name on model: loads its state, runs fwd
// on its inputs, and compares the output and the gradients of sum(y*g).
func refCase(t *testing.T, name string, model any, fwd func(xs []*gograd.Tensor) *gograd.Tensor) {
	t.Helper()
	if err := nn.LoadStateDict(model, refState(t, name+"/model")); err != nil {
		t.Fatal(err)
	}
	var xs []*gograd.Tensor
	for i := 0; ; i++ {
		x := ref(t, fmt.Sprintf("%s/x%d", name, i))
		if x == nil {
			break
		}
		xs = append(xs, x)
	}
	y := fwd(xs)
	checkClose(t, name+" forward", y, ref(t, name+"/y"))
	params := nn.Tensors(model)
	var wrt []*gograd.Tensor
	var wants []string
	for _, p := range params {
		if !p.Buffer && p.Tensor.DType().IsFloat() {
			wrt = append(wrt, p.Tensor)
			wants = append(wants, name+"/grad."+p.Name)
		}
	}
	for i, x := range xs {
		if x.DType().IsFloat() {
			wrt = append(wrt, x)
			wants = append(wants, fmt.Sprintf("%s/dx%d", name, i))
		}
	}
	grads := gograd.Gradient(y.Mul(ref(t, name+"/g")).Sum(), wrt...)
	gograd.Realize(grads...)
	for i, g := range grads {
		checkClose(t, wants[i], g, ref(t, wants[i]))
	}
}

func relu(x *gograd.Tensor) *gograd.Tensor { return x.Relu() }

func TestLayersMatchPyTorch(t *testing.T) {
	one := func(l nn.Layer) func([]*gograd.Tensor) *gograd.Tensor {
		return func(xs []*gograd.Tensor) *gograd.Tensor { return l.Forward(xs[0]) }
	}
	rms := nn.NewRMSNorm(6)
	rms.Eps = 1e-6
	mha := func(bias, batchFirst bool, heads int) *nn.MultiHeadAttention {
		m := nn.NewMultiHeadAttention(8, heads, bias)
		m.BatchFirst = batchFirst
		return m
	}
	causal := mha(true, true, 4)
	causal.Causal = true
	causalMask := mha(true, true, 4)
	cross := mha(true, true, 2)
	mlp := nn.Sequential{nn.NewLinear(6, 8, true), nn.Func(relu), nn.NewLinear(8, 3, true)}
	cases := []struct {
		name  string
		model any
		fwd   func([]*gograd.Tensor) *gograd.Tensor
	}{
		{"linear", nn.NewLinear(5, 4, true), nil},
		{"linear_nobias", nn.NewLinear(5, 3, false), nil},
		{"conv1d", nn.NewConv1d(3, 4, 3, gograd.ConvOpts{Stride: []int{2}, Padding: []int{1}}, true), nil},
		{"conv2d", nn.NewConv2d(4, 6, []int{3, 2}, gograd.ConvOpts{Stride: []int{2, 1}, Padding: []int{1, 0}, Groups: 2}, true), nil},
		{"conv2d_dil", nn.NewConv2d(2, 3, []int{3}, gograd.ConvOpts{Padding: []int{2}, Dilation: []int{2}}, false), nil},
		{"convt2d", nn.NewConvTranspose2d(4, 6, []int{3}, gograd.ConvTransposeOpts{Stride: []int{2}, Padding: []int{1}, OutputPadding: []int{1}, Groups: 2}, true), nil},
		{"layernorm", nn.NewLayerNorm(4, 5), nil},
		{"groupnorm", nn.NewGroupNorm(2, 6), nil},
		{"rmsnorm", rms, nil},
		{"embedding", nn.NewEmbedding(10, 4), nil},
		{"mha", mha(true, true, 2), nil},
		{"mha_seq", mha(true, false, 2), nil},
		{"mha_nobias", mha(false, true, 2), nil},
		{"mha_causal", causal, nil},
		{"mha_causal", causalMask, func(xs []*gograd.Tensor) *gograd.Tensor {
			mask := gograd.Ones(5, 5).Triu(1).Cast(gograd.Bool) // true: not allowed, as PyTorch
			return causalMask.Attend(xs[0], xs[0], xs[0], mask, nil)
		}},
		{"mha_cross", cross, func(xs []*gograd.Tensor) *gograd.Tensor {
			return cross.Attend(xs[0], xs[1], xs[1], ref(t, "mha_cross/attn_mask"), ref(t, "mha_cross/key_padding_mask"))
		}},
		{"mlp", &mlp, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			fwd := c.fwd
			if fwd == nil {
				switch m := c.model.(type) {
				case nn.Layer:
					fwd = one(m)
				default:
					t.Fatalf("%T is not a layer", c.model)
				}
			}
			refCase(t, c.name, c.model, fwd)
		})
	}
}

func TestBatchNormMatchesPyTorch(t *testing.T) {
	for _, name := range []string{"bn1d", "bn2d"} {
		t.Run(name, func(t *testing.T) {
			state := refState(t, name+"/model") // after step 1
			c := state["weight"].Dim(0)
			// Step 1 from the default running statistics.
			bn := nn.NewBatchNorm(c)
			if name == "bn2d" {
				bn.Momentum = 0.3
			}
			bn.Weight.Assign(state["weight"])
			bn.Bias.Assign(state["bias"])
			y1 := bn.Forward(ref(t, name+"/x_step1"))
			gograd.Realize(append([]*gograd.Tensor{y1}, nn.Buffers(bn)...)...)
			checkClose(t, "step 1 output", y1, ref(t, name+"/y_step1"))
			checkClose(t, "step 1 running mean", bn.RunningMean, state["running_mean"])
			checkClose(t, "step 1 running var", bn.RunningVar, state["running_var"])
			if got := bn.NumBatchesTracked.Item(); got != 1 {
				t.Errorf("num_batches_tracked after step 1 = %v, want 1", got)
			}
			// Step 2, recorded with gradients, from the state after step 1;
			// then the running statistics and evaluation.
			bn2 := nn.NewBatchNorm(c)
			bn2.Momentum = bn.Momentum
			refCase(t, name, bn2, func(xs []*gograd.Tensor) *gograd.Tensor { return bn2.Forward(xs[0]) })
			gograd.Realize(nn.Buffers(bn2)...)
			after := refState(t, name+"/after")
			checkClose(t, "step 2 running mean", bn2.RunningMean, after["running_mean"])
			checkClose(t, "step 2 running var", bn2.RunningVar, after["running_var"])
			if got := bn2.NumBatchesTracked.Item(); got != 2 {
				t.Errorf("num_batches_tracked after step 2 = %v, want 2", got)
			}
			nn.Train(bn2, false)
			checkClose(t, "eval output", bn2.Forward(ref(t, name+"/x_eval")), ref(t, name+"/y_eval"))
		})
	}
}

func TestLossesMatchPyTorch(t *testing.T) {
	w := func(name string) *gograd.Tensor { return ref(t, name) }
	cases := []struct {
		name string
		loss func(x, target *gograd.Tensor) *gograd.Tensor
	}{
		{"ce", func(x, y *gograd.Tensor) *gograd.Tensor { return nn.CrossEntropy(x, y) }},
		{"ce_sum", func(x, y *gograd.Tensor) *gograd.Tensor { return nn.CrossEntropy(x, y, nn.ReduceSum) }},
		{"ce_none", func(x, y *gograd.Tensor) *gograd.Tensor { return nn.CrossEntropy(x, y, nn.ReduceNone) }},
		{"ce_smooth", func(x, y *gograd.Tensor) *gograd.Tensor { return nn.CrossEntropy(x, y, nn.LabelSmoothing(0.1)) }},
		{"ce_weight", func(x, y *gograd.Tensor) *gograd.Tensor {
			return nn.CrossEntropy(x, y, nn.Weight(w("ce_weight/weight")))
		}},
		{"ce_weight_smooth", func(x, y *gograd.Tensor) *gograd.Tensor {
			return nn.CrossEntropy(x, y, nn.Weight(w("ce_weight_smooth/weight")), nn.LabelSmoothing(0.2))
		}},
		{"ce_weight_smooth_none", func(x, y *gograd.Tensor) *gograd.Tensor {
			return nn.CrossEntropy(x, y, nn.Weight(w("ce_weight_smooth_none/weight")), nn.LabelSmoothing(0.2), nn.ReduceNone)
		}},
		{"ce_ignore", func(x, y *gograd.Tensor) *gograd.Tensor { return nn.CrossEntropy(x, y, nn.IgnoreIndex(2)) }},
		{"ce_nd", func(x, y *gograd.Tensor) *gograd.Tensor { return nn.CrossEntropy(x, y) }},
		{"ce_probs", func(x, y *gograd.Tensor) *gograd.Tensor { return nn.CrossEntropy(x, y, nn.LabelSmoothing(0.1)) }},
		{"nll", func(x, y *gograd.Tensor) *gograd.Tensor { return nn.NLL(x, y) }},
		{"nll_weight", func(x, y *gograd.Tensor) *gograd.Tensor { return nn.NLL(x, y, nn.Weight(w("nll_weight/weight"))) }},
		{"mse", func(x, y *gograd.Tensor) *gograd.Tensor { return nn.MSE(x, y) }},
		{"mse_sum", func(x, y *gograd.Tensor) *gograd.Tensor { return nn.MSE(x, y, nn.ReduceSum) }},
		{"l1", func(x, y *gograd.Tensor) *gograd.Tensor { return nn.L1(x, y) }},
		{"l1_none", func(x, y *gograd.Tensor) *gograd.Tensor { return nn.L1(x, y, nn.ReduceNone) }},
		{"bce", func(x, y *gograd.Tensor) *gograd.Tensor { return nn.BCE(x, y) }},
		{"bce_weight", func(x, y *gograd.Tensor) *gograd.Tensor { return nn.BCE(x, y, nn.Weight(w("bce_weight/weight"))) }},
		{"bcel", func(x, y *gograd.Tensor) *gograd.Tensor { return nn.BCEWithLogits(x, y) }},
		{"bcel_pos", func(x, y *gograd.Tensor) *gograd.Tensor {
			return nn.BCEWithLogits(x, y, nn.PosWeight(w("bcel_pos/pos_weight")))
		}},
		{"bcel_none", func(x, y *gograd.Tensor) *gograd.Tensor { return nn.BCEWithLogits(x, y, nn.ReduceNone) }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			target := ref(t, c.name+"/target")
			refCase(t, c.name, struct{}{}, func(xs []*gograd.Tensor) *gograd.Tensor { return c.loss(xs[0], target) })
		})
	}
}
