package models

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/gograd/gograd/models/tinystories"
	"github.com/gograd/gograd/nn/gguf"
	"github.com/gograd/gograd/nn/llama2c"
	"github.com/gograd/gograd/tokenizer"
)

// DefaultModel names the embedded model Open loads for an empty path.
const DefaultModel = "stories260K (embedded)"

// OpenOptions configure Open.
type OpenOptions struct {
	// Tokenizer is the tokenizer file of a llama2.c checkpoint (its
	// tokenizer.bin) or of a Hugging Face folder (a GGUF file or
	// tokenizer.bin with the same vocabulary).
	Tokenizer string
	// Progress, when set, is called as a large model loads with the bytes
	// done and the total.
	Progress func(done, total int64)
}

// Open loads a LLaMA-family model and its tokenizer from path:
//   - "" is the embedded stories260K with its tokenizer (package tinystories);
//   - a GGUF file carries its own tokenizer;
//   - a llama2.c checkpoint takes its tokenizer.bin from o.Tokenizer, or
//     from tokenizer.bin beside it;
//   - a Hugging Face folder (config.json, safetensors) takes its
//     tokenizer from o.Tokenizer, or from inside it: the SentencePiece
//     tokenizer.model (LLaMA 1 and 2, Mistral), else tokenizer.json (a
//     byte-level BPE: LLaMA 3, GPT-2's relatives) with its
//     tokenizer_config.json.
func Open(path string, o OpenOptions) (*Llama, *tokenizer.Tokenizer, error) {
	tokPath := o.Tokenizer
	if path == "" {
		ck, err := llama2c.Parse(DefaultModel, tinystories.Model)
		if err != nil {
			return nil, nil, err
		}
		m, err := LlamaFromLlama2c(ck)
		if err != nil {
			return nil, nil, err
		}
		tok, err := tokenizer.ParseLlama2c(tinystories.Tokenizer, tinystories.VocabSize)
		if err != nil {
			return nil, nil, err
		}
		return m, tok, nil
	}
	st, err := os.Stat(path)
	if err != nil {
		return nil, nil, err
	}
	if st.IsDir() {
		for _, name := range []string{"tokenizer.model", "tokenizer.json"} {
			if _, err := os.Stat(filepath.Join(path, name)); tokPath == "" && err == nil {
				tokPath = filepath.Join(path, name)
				break
			}
		}
		if tokPath == "" {
			return nil, nil, fmt.Errorf("models: %s is a Hugging Face folder without a tokenizer.model or tokenizer.json: give a tokenizer with the same vocabulary (--tokenizer: either of those, a GGUF file or tokenizer.bin)", path)
		}
		m, err := LoadSafetensors(path)
		if err != nil {
			return nil, nil, err
		}
		tok, err := openTokenizer(tokPath, m.Config.Vocab)
		if err != nil {
			return nil, nil, err
		}
		return m, tok, nil
	}
	magic, err := readMagic(path)
	if err != nil {
		return nil, nil, err
	}
	if string(magic) == "GGUF" {
		f, err := gguf.Open(path)
		if err != nil {
			return nil, nil, err
		}
		m, err := LlamaFromGGUF(f, o.Progress)
		if err != nil {
			return nil, nil, err
		}
		tok, err := tokenizer.FromGGUF(f)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", path, err)
		}
		return m, tok, nil
	}
	m, err := LoadLlama2c(path)
	if err != nil {
		return nil, nil, err
	}
	if tokPath == "" {
		tokPath = filepath.Join(filepath.Dir(path), "tokenizer.bin")
		if _, err := os.Stat(tokPath); err != nil {
			return nil, nil, fmt.Errorf("models: %s is a llama2.c checkpoint, which has no tokenizer: give its tokenizer.bin (no %s)", path, tokPath)
		}
	}
	tok, err := openTokenizer(tokPath, m.Config.Vocab)
	if err != nil {
		return nil, nil, err
	}
	return m, tok, nil
}

// openTokenizer reads a tokenizer from a GGUF file, a SentencePiece model
// (a name ending in .model), a Hugging Face tokenizer.json (a name ending
// in .json) or a llama2.c tokenizer.bin, for a model of
// vocab tokens: a tokenizer with more is an error (its ids would index
// past the model's embedding).
func openTokenizer(path string, vocab int) (*tokenizer.Tokenizer, error) {
	tok, err := readTokenizer(path, vocab)
	if err != nil {
		return nil, err
	}
	if tok.VocabSize() > vocab {
		return nil, fmt.Errorf("models: tokenizer %s has %d tokens, the model's vocabulary %d", path, tok.VocabSize(), vocab)
	}
	return tok, nil
}

func readTokenizer(path string, vocab int) (*tokenizer.Tokenizer, error) {
	switch filepath.Ext(path) {
	case ".model":
		return tokenizer.LoadSentencePiece(path)
	case ".json":
		return tokenizer.LoadHF(path)
	}
	magic, err := readMagic(path)
	if err != nil {
		return nil, err
	}
	if string(magic) == "GGUF" {
		f, err := gguf.Open(path)
		if err != nil {
			return nil, err
		}
		return tokenizer.FromGGUF(f)
	}
	return tokenizer.LoadLlama2c(path, vocab)
}

func readMagic(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b := make([]byte, 4)
	if _, err := io.ReadFull(f, b); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("models: %s is too short to be a model file", path)
		}
		return nil, err
	}
	return bytes.Clone(b), nil
}
