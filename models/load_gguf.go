package models

import (
	"errors"
	"fmt"

	g "github.com/gograd/gograd"
	"github.com/gograd/gograd/internal/mmap"
	"github.com/gograd/gograd/nn/gguf"
)

// LoadGGUF loads a LLaMA-architecture GGUF file: float tensors stay in the
// file's memory mapping, quantized ones are repacked into planes (the same
// bits, a flat layout) that the kernels dequantise as they read, and their
// pages of the mapping are released, so the process holds the model once.
func LoadGGUF(path string) (*Llama, *gguf.File, error) {
	f, err := gguf.Open(path)
	if err != nil {
		return nil, nil, err
	}
	m, err := LlamaFromGGUF(f, nil)
	if err != nil {
		return nil, nil, err
	}
	return m, f, nil
}

// LlamaFromGGUF builds the model of an open GGUF file, calling progress
// (when not nil) with the tensor bytes read so far and in all.
func LlamaFromGGUF(f *gguf.File, progress func(done, total int64)) (*Llama, error) {
	cfg, err := llamaConfigGGUF(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", f.Path, err)
	}
	var done, total int64
	for _, t := range f.Tensors {
		total += int64(len(t.Data))
	}
	tensor := func(name string) (*gguf.Tensor, bool) {
		t, ok := f.Tensor(name)
		if ok && progress != nil {
			done += int64(len(t.Data))
			progress(done, total)
		}
		return t, ok
	}
	m, err := assemble(cfg, source{
		matrix: func(name string) (*Weight, bool, error) {
			t, ok := tensor(name)
			if !ok {
				return nil, false, nil
			}
			w, err := ggufWeight(t)
			if err != nil {
				return nil, true, fmt.Errorf("%s: %w", f.Path, err)
			}
			return w, true, nil
		},
		vector: func(name string) (*g.Tensor, bool, error) {
			t, ok := tensor(name)
			if !ok {
				return nil, false, nil
			}
			v, err := ggufFloat(t)
			if err != nil {
				return nil, true, fmt.Errorf("%s: %w", f.Path, err)
			}
			return v, true, nil
		},
	})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", f.Path, err)
	}
	return m, nil
}

// llamaConfigGGUF reads the model's shape from the metadata, under the
// keys of its general.architecture.
func llamaConfigGGUF(f *gguf.File) (LlamaConfig, error) {
	var c LlamaConfig
	arch, err := f.String("general.architecture")
	if err != nil {
		return c, err
	}
	if arch != "llama" && arch != "mistral" {
		return c, fmt.Errorf("models: architecture %q is not LLaMA's", arch)
	}
	var errs []error
	integer := func(key string, dst *int, def int) {
		v, err := f.Int(arch + "." + key)
		switch {
		case errors.Is(err, gguf.ErrNoKey) && def >= 0:
			*dst = def
		case err != nil:
			errs = append(errs, err)
		case v <= 0 || v > 1<<31:
			errs = append(errs, fmt.Errorf("%s.%s = %d", arch, key, v))
		default:
			*dst = int(v)
		}
	}
	float := func(key string, dst *float64, def float64) {
		v, err := f.Float(arch + "." + key)
		switch {
		case errors.Is(err, gguf.ErrNoKey):
			*dst = def
		case err != nil:
			errs = append(errs, err)
		default:
			*dst = v
		}
	}
	integer("embedding_length", &c.Dim, -1)
	integer("feed_forward_length", &c.HiddenDim, -1)
	integer("block_count", &c.Layers, -1)
	integer("attention.head_count", &c.Heads, -1)
	integer("attention.head_count_kv", &c.KVHeads, c.Heads)
	integer("context_length", &c.Context, 0)
	float("rope.freq_base", &c.RopeTheta, 10000)
	float("attention.layer_norm_rms_epsilon", &c.NormEps, 1e-5)
	if c.Heads > 0 {
		integer("attention.key_length", &c.HeadDim, c.Dim/c.Heads)
	}
	if t, ok := f.Tensor("token_embd.weight"); ok && len(t.Dims) == 2 {
		c.Vocab = int(t.Dims[1])
	}
	integer("vocab_size", &c.Vocab, c.Vocab)
	if err := errors.Join(errs...); err != nil {
		return c, err
	}
	if t, ok := f.Tensor("rope_freqs.weight"); ok {
		v, err := t.Float32s()
		if err != nil {
			return c, err
		}
		c.RopeFreqFactors = v
	}
	return c, c.Check()
}

// ggufFloat is a float tensor over the file's bytes (F32, F16, BF16), or
// a float32 decoding of a quantized one.
func ggufFloat(t *gguf.Tensor) (*g.Tensor, error) {
	shape := t.Shape()
	switch t.Type {
	case gguf.F32:
		return g.FromBytesShared(t.Data, t.Owner(), g.Float32, shape...), nil
	case gguf.F16:
		return g.FromBytesShared(t.Data, t.Owner(), g.Float16, shape...), nil
	case gguf.BF16:
		return g.FromBytesShared(t.Data, t.Owner(), g.BFloat16, shape...), nil
	}
	v, err := t.Float32s()
	if err != nil {
		return nil, err
	}
	return g.FromSlice(v, shape...), nil
}

// ggufWeight is a matrix tensor as a Weight: float, or quantized planes.
func ggufWeight(t *gguf.Tensor) (*Weight, error) {
	if len(t.Dims) != 2 {
		return nil, fmt.Errorf("models: tensor %s has %d dimensions, not a matrix", t.Name, len(t.Dims))
	}
	if _, q := t.Type.Quantized(); !q {
		v, err := ggufFloat(t)
		if err != nil {
			return nil, err
		}
		return FloatWeight(v), nil
	}
	p, err := t.Planes()
	if err != nil {
		return nil, err
	}
	mmap.Release(t.Data) // the planes are a copy: the file's pages can go
	return QuantWeight(p)
}
