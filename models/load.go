package models

import (
	"fmt"

	g "github.com/gograd/gograd"
	"github.com/gograd/gograd/nn/llama2c"
)

// source hands a loader's tensors to assemble by GGUF name: matrices as
// Weights, vectors as float tensors; found is false for a missing name.
type source struct {
	matrix func(name string) (w *Weight, found bool, err error)
	vector func(name string) (t *g.Tensor, found bool, err error)
}

// assemble builds a Llama from a source: the output is tied to the
// embedding when the source has no output.weight.
func assemble(cfg LlamaConfig, src source) (*Llama, error) {
	var firstErr error
	mat := func(name string) *Weight {
		w, ok, err := src.matrix(name)
		if err != nil && firstErr == nil {
			firstErr = err
		}
		if !ok && err == nil && firstErr == nil {
			firstErr = fmt.Errorf("models: no tensor %s", name)
		}
		return w
	}
	vec := func(name string) *g.Tensor {
		t, ok, err := src.vector(name)
		if err != nil && firstErr == nil {
			firstErr = err
		}
		if !ok && err == nil && firstErr == nil {
			firstErr = fmt.Errorf("models: no tensor %s", name)
		}
		return t
	}
	m := &Llama{Config: cfg}
	m.Embed = mat("token_embd.weight")
	if w, ok, err := src.matrix("output.weight"); err != nil {
		return nil, err
	} else if ok {
		m.Output = w
	} else {
		m.Output = m.Embed
	}
	m.Norm = vec("output_norm.weight")
	for i := range cfg.Layers {
		p := fmt.Sprintf("blk.%d.", i)
		m.Layers = append(m.Layers, LlamaLayer{
			AttnNorm: vec(p + "attn_norm.weight"), FFNNorm: vec(p + "ffn_norm.weight"),
			Q: mat(p + "attn_q.weight"), K: mat(p + "attn_k.weight"), V: mat(p + "attn_v.weight"), O: mat(p + "attn_output.weight"),
			Gate: mat(p + "ffn_gate.weight"), Up: mat(p + "ffn_up.weight"), Down: mat(p + "ffn_down.weight"),
		})
	}
	if firstErr != nil {
		return nil, firstErr
	}
	if err := m.check(); err != nil {
		return nil, err
	}
	m.stackRows()
	return m, nil
}

// LoadLlama2c loads a llama2.c checkpoint (version 0 or 1). The weights
// stay in the file's memory mapping.
func LoadLlama2c(path string) (*Llama, error) {
	ck, err := llama2c.Open(path)
	if err != nil {
		return nil, err
	}
	return LlamaFromLlama2c(ck)
}

// LlamaFromLlama2c builds the model of a read llama2.c checkpoint, over its
// weights' memory.
func LlamaFromLlama2c(ck *llama2c.Checkpoint) (*Llama, error) {
	c := ck.Config
	cfg := LlamaConfig{
		Dim: c.Dim, HiddenDim: c.HiddenDim, Layers: c.NLayers, Heads: c.NHeads, KVHeads: c.NKVHeads,
		Vocab: c.VocabSize, Context: c.SeqLen, NormEps: llama2c.RMSNormEps, RopeTheta: llama2c.RopeTheta,
	}
	if c.NHeads > 0 {
		cfg.HeadDim = c.Dim / c.NHeads
	}
	if err := cfg.Check(); err != nil {
		return nil, fmt.Errorf("%s: %w", ck.Path, err)
	}
	tensor := func(name string) (*g.Tensor, bool) {
		w, ok := ck.Weights[name]
		if !ok {
			return nil, false
		}
		return g.FromBytesShared(w.Bytes(), w.Keep(), g.Float32, w.Shape...), true
	}
	m, err := assemble(cfg, source{
		matrix: func(name string) (*Weight, bool, error) {
			t, ok := tensor(name)
			if !ok {
				return nil, false, nil
			}
			if t.Ndim() != 2 {
				return nil, true, fmt.Errorf("models: %s has shape %v, not a matrix", name, t.Shape())
			}
			return FloatWeight(t), true, nil
		},
		vector: func(name string) (*g.Tensor, bool, error) {
			t, ok := tensor(name)
			return t, ok, nil
		},
	})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", ck.Path, err)
	}
	return m, nil
}
