package models

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/gograd/gograd/models/tinystories"
	"github.com/gograd/gograd/nn/llama2c"
	"github.com/gograd/gograd/tokenizer"
)

// DefaultModel names the embedded model Open loads for an empty path.
const DefaultModel = "stories260K (embedded)"

// Open loads a LLaMA-family model and its tokenizer from path:
//   - "" is the embedded stories260K with its tokenizer (package tinystories);
//   - a GGUF file carries its own tokenizer;
//   - a llama2.c checkpoint takes its tokenizer.bin from tokPath, or from
//     tokenizer.bin beside it.
func Open(path, tokPath string) (*Llama, *tokenizer.Tokenizer, error) {
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
		return nil, nil, fmt.Errorf("models: %s is a folder; Hugging Face folders load with OpenSafetensors", path)
	}
	magic, err := readMagic(path)
	if err != nil {
		return nil, nil, err
	}
	if string(magic) == "GGUF" {
		m, f, err := LoadGGUF(path)
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
	tok, err := tokenizer.LoadLlama2c(tokPath, m.Config.Vocab)
	if err != nil {
		return nil, nil, err
	}
	return m, tok, nil
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
