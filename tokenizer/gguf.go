package tokenizer

import (
	"fmt"

	"github.com/gograd/gograd/nn/gguf"
)

// FromGGUF builds the tokenizer described by a GGUF file's tokenizer.ggml.*
// metadata (see VocabFromGGUF).
func FromGGUF(f *gguf.File) (*Tokenizer, error) {
	v, err := VocabFromGGUF(f)
	if err != nil {
		return nil, err
	}
	t, err := New(v)
	if err != nil {
		return nil, fmt.Errorf("%w (in %s)", err, f.Path)
	}
	return t, nil
}

// VocabFromGGUF reads a GGUF file's tokenizer.ggml.* metadata into a Vocab,
// with llama.cpp's defaults for what the file leaves out: for "llama"
// BOS 1, EOS 2, UNK 0, BOS added, a space prefix; for "gpt2" BOS and EOS 11,
// no UNK, no space prefix, BOS added for the LLaMA 3 pre-tokenizers only.
// A special id out of range keeps the default, as in llama.cpp; end-of-turn
// and end-of-message ids (eot_token_id, eom_token_id) go to EOG.
func VocabFromGGUF(f *gguf.File) (Vocab, error) {
	fail := func(err error) (Vocab, error) { return Vocab{}, fmt.Errorf("tokenizer: %w", err) }
	var v Vocab
	var err error
	if v.Model, err = f.String("tokenizer.ggml.model"); err != nil {
		return fail(err)
	}
	if _, ok := f.Get("tokenizer.ggml.pre"); ok {
		if v.Pre, err = f.String("tokenizer.ggml.pre"); err != nil {
			return fail(err)
		}
	}
	if v.Tokens, err = f.Strings("tokenizer.ggml.tokens"); err != nil {
		return fail(err)
	}
	if _, ok := f.Get("tokenizer.ggml.scores"); ok {
		if v.Scores, err = f.Float32s("tokenizer.ggml.scores"); err != nil {
			return fail(err)
		}
	}
	if _, ok := f.Get("tokenizer.ggml.token_type"); ok {
		if v.Types, err = f.Int32s("tokenizer.ggml.token_type"); err != nil {
			return fail(err)
		}
	}
	n := len(v.Tokens)
	switch v.Model {
	case "llama":
		v.BOS, v.EOS, v.UNK, v.PAD = 1, 2, 0, -1
		v.AddBOS, v.AddSpacePrefix = true, true
	case "gpt2":
		if v.Merges, err = f.Strings("tokenizer.ggml.merges"); err != nil {
			return fail(err)
		}
		v.BOS, v.EOS, v.UNK, v.PAD = 11, 11, -1, -1
		switch v.Pre {
		case "llama3", "llama-v3", "llama-bpe", "falcon3", "tekken", "chameleon":
			v.AddBOS = true
		}
	default:
		return fail(fmt.Errorf("%s: unsupported tokenizer model %q (want \"llama\" or \"gpt2\")", f.Path, v.Model))
	}
	for _, p := range []*int{&v.BOS, &v.EOS, &v.UNK, &v.PAD} {
		if *p >= n {
			*p = -1
		}
	}
	for _, s := range []struct {
		key string
		id  *int
	}{
		{"tokenizer.ggml.bos_token_id", &v.BOS},
		{"tokenizer.ggml.eos_token_id", &v.EOS},
		{"tokenizer.ggml.unknown_token_id", &v.UNK},
		{"tokenizer.ggml.padding_token_id", &v.PAD},
	} {
		id, ok, err := optionalID(f, s.key, n)
		if err != nil {
			return fail(err)
		}
		if ok {
			*s.id = id
		}
	}
	for _, key := range []string{"tokenizer.ggml.eot_token_id", "tokenizer.ggml.eom_token_id"} {
		id, ok, err := optionalID(f, key, n)
		if err != nil {
			return fail(err)
		}
		if ok {
			v.EOG = append(v.EOG, id)
		}
	}
	for _, s := range []struct {
		key  string
		flag *bool
	}{
		{"tokenizer.ggml.add_bos_token", &v.AddBOS},
		{"tokenizer.ggml.add_eos_token", &v.AddEOS},
		{"tokenizer.ggml.add_space_prefix", &v.AddSpacePrefix},
	} {
		if _, ok := f.Get(s.key); ok {
			if *s.flag, err = f.Bool(s.key); err != nil {
				return fail(err)
			}
		}
	}
	return v, nil
}

// optionalID reads a token id; ok is false when the key is absent or the
// id is out of range (llama.cpp then keeps its default).
func optionalID(f *gguf.File, key string, n int) (int, bool, error) {
	if _, ok := f.Get(key); !ok {
		return 0, false, nil
	}
	u, err := f.Uint(key)
	if err != nil {
		return 0, false, err
	}
	if u >= uint64(n) {
		return 0, false, nil
	}
	return int(u), true, nil
}
