package nn_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/gograd/gograd"
	"github.com/gograd/gograd/nn"
)

// A small transformer-like model exercising every path of the walk.
type attention struct {
	Wq, Wk, Wv, Wo *nn.Linear
}

type block struct {
	Attn    attention // a struct value
	AttnOut *nn.MultiHeadAttention
	Norm    *nn.RMSNorm `gograd:"attention_norm"`
	FFN     nn.Sequential
	Scale   *gograd.Tensor `gograd:",buffer"`
	Skipped *gograd.Tensor `gograd:"-"`
	cache   *gograd.Tensor // unexported: not state
}

type embedded struct {
	Pos *gograd.Tensor
}

type transformer struct {
	Embed   *nn.Embedding `gograd:"tok_embeddings"`
	Layers  []block
	Experts map[string]*nn.Linear
	Heads   [2]*nn.Linear
	BN      nn.BatchNorm
	Drop    nn.Layer
	embedded
	Root  *transformer // a cycle back to the model
	Empty *nn.Linear   // nil
}

func newTransformer() *transformer {
	m := &transformer{
		Embed:   nn.NewEmbedding(10, 4),
		Experts: map[string]*nn.Linear{"b": nn.NewLinear(4, 4, false), "a": nn.NewLinear(4, 4, false)},
		BN:      *nn.NewBatchNorm(4),
		Drop:    nn.NewDropout(0.5),
	}
	for range 2 {
		m.Layers = append(m.Layers, block{
			Attn:    attention{nn.NewLinear(4, 4, false), nn.NewLinear(4, 4, false), nn.NewLinear(4, 4, false), nn.NewLinear(4, 4, false)},
			AttnOut: nn.NewMultiHeadAttention(4, 2, true),
			Norm:    nn.NewRMSNorm(4),
			FFN:     nn.Sequential{nn.NewLinear(4, 8, true), nn.Func(relu), nn.NewDropout(0.1), nn.NewLinear(8, 4, true)},
			Scale:   gograd.Ones(1).Contiguous().Realize(),
			Skipped: gograd.Ones(1),
			cache:   gograd.Ones(1),
		})
	}
	m.Heads[0] = nn.NewLinear(4, 10, false)
	m.Heads[1] = m.Heads[0] // tied
	m.Pos = gograd.Zeros(3, 4).Contiguous().Realize()
	m.Root = m
	return m
}

func TestTensorNames(t *testing.T) {
	m := newTransformer()
	var got []string
	for _, n := range nn.Tensors(m) {
		s := n.Name
		if n.Buffer {
			s += " (buffer)"
		}
		got = append(got, s)
	}
	var want []string
	want = append(want, "tok_embeddings.weight")
	for _, i := range []string{"0", "1"} {
		p := "layers." + i + "."
		want = append(want,
			p+"attn.wq.weight", p+"attn.wk.weight", p+"attn.wv.weight", p+"attn.wo.weight",
			p+"attnout.in_proj_weight", p+"attnout.in_proj_bias", p+"attnout.out_proj.weight", p+"attnout.out_proj.bias",
			p+"attention_norm.weight",
			p+"ffn.0.weight", p+"ffn.0.bias", p+"ffn.3.weight", p+"ffn.3.bias",
			p+"scale (buffer)")
	}
	want = append(want, "experts.a.weight", "experts.b.weight", "heads.0.weight", "heads.1.weight",
		"bn.weight", "bn.bias", "bn.running_mean (buffer)", "bn.running_var (buffer)", "bn.num_batches_tracked (buffer)",
		"pos")
	if !slices.Equal(got, want) {
		t.Errorf("names:\n got %q\nwant %q", got, want)
	}

	params := nn.Parameters(m)
	if n := len(params); n != len(want)-6 { // less 5 buffers and a tied head
		t.Errorf("%d parameters, want %d", n, len(want)-6)
	}
	if params[0] != m.Embed.Weight || slices.Contains(params, m.Layers[0].Scale) || slices.Contains(params, m.BN.RunningMean) {
		t.Errorf("parameters are not the model's trainable tensors in order")
	}
	bufs := nn.Buffers(m)
	if len(bufs) != 5 || bufs[0] != m.Layers[0].Scale || bufs[4] != m.BN.NumBatchesTracked {
		t.Errorf("buffers = %v", bufs)
	}
	sd := nn.StateDict(m)
	if len(sd) != len(want) || sd["heads.1.weight"] != m.Heads[0].Weight || sd["layers.1.ffn.3.bias"] != m.Layers[1].FFN[3].(*nn.Linear).Bias {
		t.Errorf("state dict does not hold the model's tensors by name")
	}
	if len(nn.Tensors(nn.Func(relu))) != 0 || len(nn.Tensors(nil)) != 0 || len(nn.Tensors(42)) != 0 {
		t.Errorf("something without tensors has tensors")
	}
}

func TestTensorNameClash(t *testing.T) {
	type clash struct {
		A *gograd.Tensor `gograd:"w"`
		B *gograd.Tensor `gograd:"w"`
	}
	expectPanic(t, `nn: Tensors: two different tensors are named "w"`, func() {
		nn.Tensors(&clash{gograd.Ones(1), gograd.Ones(1)})
	})
	x := gograd.Ones(1) // one tensor under one name twice is no clash
	if got := len(nn.StateDict(&clash{x, x})); got != 1 {
		t.Errorf("state dict of a tensor named twice has %d entries", got)
	}
}

func TestTrain(t *testing.T) {
	m := newTransformer()
	nn.Train(m, false)
	if m.BN.Training || m.Drop.(*nn.Dropout).Training || m.Layers[1].FFN[2].(*nn.Dropout).Training || m.Layers[0].AttnOut.Training {
		t.Errorf("Train(false) left a layer training")
	}
	nn.Train(m, true)
	if !m.BN.Training || !m.Layers[1].FFN[2].(*nn.Dropout).Training {
		t.Errorf("Train(true) left a layer in evaluation")
	}
	seq := nn.Sequential{nn.NewDropout(0.5)}
	nn.Train(seq, false) // a slice's elements can be changed through it
	if seq[0].(*nn.Dropout).Training {
		t.Errorf("Train(false) on a Sequential left its Dropout training")
	}
	type byValue struct{ D nn.Dropout }
	expectPanic(t, "nn: Train: nn.Dropout at \"d\" cannot be changed: pass the model by pointer", func() {
		nn.Train(byValue{}, false)
	})
}

func TestLoadStateDict(t *testing.T) {
	src := newTransformer()
	dst := newTransformer()
	sd := nn.StateDict(src)
	// A float64 source loads into the float32 tensor, converted.
	sd["pos"] = gograd.FromSlice([]float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}, 3, 4)
	heads := dst.Heads[0].Weight
	opt := nn.Parameters(dst) // an optimizer's view: must stay valid
	if err := nn.LoadStateDict(dst, sd); err != nil {
		t.Fatal(err)
	}
	for name, want := range nn.StateDict(src) {
		got := nn.StateDict(dst)[name]
		if name == "pos" {
			want = sd["pos"]
		}
		if msg := closeTo(got, want, 0, 0); msg != "" {
			t.Errorf("%s: %s", name, msg)
		}
		if got.DType() != want.DType() && name != "pos" {
			t.Errorf("%s: dtype %s, want %s", name, got.DType(), want.DType())
		}
	}
	if dst.Heads[0].Weight != heads || dst.Heads[1].Weight != heads || !slices.Equal(opt, nn.Parameters(dst)) {
		t.Errorf("loading replaced the model's tensors")
	}
	if dst.Pos.DType() != gograd.Float32 {
		t.Errorf("pos became %s", dst.Pos.DType())
	}
	if !dst.Embed.Weight.GradRequired() {
		t.Errorf("a loaded parameter lost RequiresGrad")
	}

	// Errors name every problem and change nothing.
	bad := nn.StateDict(src)
	delete(bad, "layers.1.scale")
	bad["layers.0.attn.wq.weight"] = gograd.Ones(4, 5)
	bad["extra.weight"] = gograd.Ones(1)
	bad["bn.bias"] = nil
	before := dst.Layers[0].Attn.Wk.Weight.Float32s()
	err := nn.LoadStateDict(dst, bad)
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{`missing "layers.1.scale" (shape (1,))`, `"layers.0.attn.wq.weight" has shape (4, 5), the model's has (4, 4)`,
		`unexpected "extra.weight"`, `"bn.bias" is nil`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if !slices.Equal(before, dst.Layers[0].Attn.Wk.Weight.Float32s()) {
		t.Errorf("a failed load changed the model")
	}
}

// expectPanic runs f and checks that it panics with a message containing want.
func expectPanic(t *testing.T, want string, f func()) {
	t.Helper()
	defer func() {
		t.Helper()
		r := recover()
		if r == nil {
			t.Errorf("no panic, want %q", want)
			return
		}
		msg, _ := r.(string)
		if err, ok := r.(error); ok {
			msg = err.Error()
		}
		if !strings.Contains(msg, want) {
			t.Errorf("panic %q, want %q", msg, want)
		}
	}()
	f()
}
