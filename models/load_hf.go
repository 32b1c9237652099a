package models

import (
	"fmt"
	"math"

	g "github.com/gograd/gograd"
	"github.com/gograd/gograd/nn"
)

// LoadSafetensors loads a Hugging Face LLaMA folder (config.json and
// model.safetensors, or shards with model.safetensors.index.json). The
// tensors stay in the files' memory mappings, except the query and key
// projections: their rows are reordered from Hugging Face's rotate-half
// RoPE layout into GGUF's adjacent pairs, as llama.cpp's converter does,
// into a copy (in their own dtype), so that the model computes exactly
// what its GGUF conversion does.
func LoadSafetensors(dir string) (*Llama, error) {
	hc, err := nn.ReadConfig(dir)
	if err != nil {
		return nil, err
	}
	switch hc.ModelType {
	case "llama", "mistral", "":
	default:
		return nil, fmt.Errorf("models: %s: model_type %q is not LLaMA's", dir, hc.ModelType)
	}
	if hc.HiddenAct != "" && hc.HiddenAct != "silu" {
		return nil, fmt.Errorf("models: %s: hidden_act %q (LLaMA uses silu)", dir, hc.HiddenAct)
	}
	cfg := LlamaConfig{
		Dim: hc.HiddenSize, HiddenDim: hc.IntermediateSize, Layers: hc.NumHiddenLayers,
		Heads: hc.NumAttentionHeads, KVHeads: hc.NumKeyValueHeads, HeadDim: hc.HeadDim, Vocab: hc.VocabSize,
		Context: hc.MaxPositionEmbeddings, NormEps: hc.RMSNormEps, RopeTheta: hc.RopeTheta,
	}
	if rs := hc.RopeScaling; rs != nil {
		switch rs.Type {
		case "llama3":
			cfg.RopeFreqFactors = Llama3RopeFactors(cfg.HeadDim, cfg.RopeTheta, rs.Factor, rs.LowFreqFactor, rs.HighFreqFactor, rs.OriginalMaxPositionEmbeddings)
		default:
			return nil, fmt.Errorf("models: %s: rope_scaling type %q is not supported (llama3 is)", dir, rs.Type)
		}
	}
	if err := cfg.Check(); err != nil {
		return nil, fmt.Errorf("%s: %w", dir, err)
	}
	st, err := nn.LoadSafetensorsDir(dir)
	if err != nil {
		return nil, err
	}
	names := map[string]string{
		"token_embd.weight":  "model.embed_tokens.weight",
		"output_norm.weight": "model.norm.weight",
		"output.weight":      "lm_head.weight",
	}
	perLayer := map[string]string{
		"attn_norm.weight": "input_layernorm.weight", "ffn_norm.weight": "post_attention_layernorm.weight",
		"attn_q.weight": "self_attn.q_proj.weight", "attn_k.weight": "self_attn.k_proj.weight",
		"attn_v.weight": "self_attn.v_proj.weight", "attn_output.weight": "self_attn.o_proj.weight",
		"ffn_gate.weight": "mlp.gate_proj.weight", "ffn_up.weight": "mlp.up_proj.weight", "ffn_down.weight": "mlp.down_proj.weight",
	}
	for i := range cfg.Layers {
		for k, v := range perLayer {
			names[fmt.Sprintf("blk.%d.%s", i, k)] = fmt.Sprintf("model.layers.%d.%s", i, v)
		}
	}
	tensor := func(name string) (*g.Tensor, bool, error) {
		hf, ok := names[name]
		if !ok {
			return nil, false, nil
		}
		if _, ok := st.Info(hf); !ok {
			return nil, false, nil
		}
		t, err := st.Tensor(hf)
		if err != nil {
			return nil, true, err
		}
		if !t.DType().IsFloat() {
			return nil, true, fmt.Errorf("models: %s: %s is %v, not float", dir, hf, t.DType())
		}
		return t, true, nil
	}
	m, err := assemble(cfg, source{
		matrix: func(name string) (*Weight, bool, error) {
			if name == "output.weight" && hc.TieWordEmbeddings {
				return nil, false, nil
			}
			t, ok, err := tensor(name)
			if !ok || err != nil {
				return nil, ok, err
			}
			if t.Ndim() != 2 {
				return nil, true, fmt.Errorf("models: %s: %s has shape %v, not a matrix", dir, names[name], t.Shape())
			}
			switch {
			case hasSuffix(name, "attn_q.weight"):
				t = unrotateHalf(t, cfg.Heads, cfg.HeadDim)
			case hasSuffix(name, "attn_k.weight"):
				t = unrotateHalf(t, cfg.KVHeads, cfg.HeadDim)
			}
			return FloatWeight(t), true, nil
		},
		vector: tensor,
	})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", dir, err)
	}
	return m, nil
}

func hasSuffix(s, suffix string) bool {
	return len(s) >= len(suffix) && s[len(s)-len(suffix):] == suffix
}

// unrotateHalf reorders the rows of a query or key projection [heads*hd,
// dim] from rotate-half RoPE (pair i of a head is rows i and hd/2+i) to
// adjacent pairs (rows 2i and 2i+1), copied.
func unrotateHalf(w *g.Tensor, heads, hd int) *g.Tensor {
	if w.Dim(0) != heads*hd {
		return w // the shape check reports it
	}
	dim := w.Dim(1)
	return w.Reshape(heads, 2, hd/2, dim).Permute(0, 2, 1, 3).Reshape(heads*hd, dim).Contiguous().Realize()
}

// Llama3RopeFactors are LLaMA 3's "llama3" RoPE scaling as a divisor of
// each of the hd/2 frequencies theta^(-2i/hd): wavelengths shorter than
// original/high stay, longer than original/low are slowed by factor, and
// those between blend linearly in original/wavelength.
func Llama3RopeFactors(hd int, theta, factor, low, high float64, original int) []float32 {
	out := make([]float32, hd/2)
	lowWave, highWave := float64(original)/low, float64(original)/high
	for i := range out {
		f := math.Pow(theta, -float64(2*i)/float64(hd))
		wave := 2 * math.Pi / f
		switch {
		case wave < highWave:
			out[i] = 1
		case wave > lowWave:
			out[i] = float32(factor)
		default:
			smooth := (float64(original)/wave - low) / (high - low)
			out[i] = float32(1 / ((1-smooth)/factor + smooth))
		}
	}
	return out
}
