package tokenizer

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// LoadHF reads a Hugging Face tokenizer.json, and the tokenizer_config.json
// beside it when there is one (for the BOS and EOS tokens). See ParseHF.
func LoadHF(path string) (*Tokenizer, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("tokenizer: %w", err)
	}
	config, err := os.ReadFile(filepath.Join(filepath.Dir(path), "tokenizer_config.json"))
	if err != nil && !os.IsNotExist(err) {
		return nil, fmt.Errorf("tokenizer: %w", err)
	}
	v, err := vocabFromHF(path, data, config)
	if err != nil {
		return nil, err
	}
	t, err := New(v)
	if err != nil {
		return nil, fmt.Errorf("%w (in %s)", err, path)
	}
	return t, nil
}

// ParseHF builds a tokenizer from the bytes of a Hugging Face tokenizer.json
// and, when not nil, its tokenizer_config.json; see VocabFromHF.
func ParseHF(tokenizerJSON, configJSON []byte) (*Tokenizer, error) {
	v, err := VocabFromHF(tokenizerJSON, configJSON)
	if err != nil {
		return nil, err
	}
	return New(v)
}

// VocabFromHF reads a Hugging Face tokenizer.json of a byte-level BPE model
// (LLaMA 3, GPT-2 and their relatives) into a "gpt2" Vocab, as llama.cpp's
// converter does: the model's vocab and the added tokens (special ones are
// control tokens, others user-defined), its merges (as "a b" strings or
// pairs), and the pre-tokenizer named by its split pattern: LLaMA 3's
// ("llama-bpe", or "smaug-bpe" when the model does not set ignore_merges)
// or GPT-2's ByteLevel regex ("gpt-2"). Ids the file leaves out are empty,
// unused tokens. BOS and EOS are tokenizer_config.json's bos_token and
// eos_token when configJSON is given, else <|begin_of_text|> and
// <|end_of_text|> (LLaMA 3) or <|endoftext|> (GPT-2) where present. BOS is
// added when the config's add_bos_token says so, else when the
// post-processor's template starts with a special token, else for LLaMA 3
// (as llama.cpp does). SentencePiece-style files (byte_fallback) are an
// error: read the folder's tokenizer.model (LoadSentencePiece) instead.
func VocabFromHF(tokenizerJSON, configJSON []byte) (Vocab, error) {
	return vocabFromHF("tokenizer.json", tokenizerJSON, configJSON)
}

// hfFile is the part of tokenizer.json read here.
type hfFile struct {
	AddedTokens []struct {
		ID      int    `json:"id"`
		Content string `json:"content"`
		Special bool   `json:"special"`
	} `json:"added_tokens"`
	PreTokenizer  *hfStep `json:"pre_tokenizer"`
	PostProcessor *hfStep `json:"post_processor"`
	Model         struct {
		Type         string          `json:"type"`
		Vocab        map[string]int  `json:"vocab"`
		Merges       json.RawMessage `json:"merges"`
		ByteFallback bool            `json:"byte_fallback"`
		IgnoreMerges bool            `json:"ignore_merges"`
	} `json:"model"`
}

// hfStep is a pre-tokenizer or post-processor, possibly a Sequence of them.
type hfStep struct {
	Type          string    `json:"type"`
	Pretokenizers []*hfStep `json:"pretokenizers"`
	Processors    []*hfStep `json:"processors"`
	Pattern       struct {
		Regex  string `json:"Regex"`
		String string `json:"String"`
	} `json:"pattern"`
	UseRegex bool `json:"use_regex"`
	Single   []struct {
		SpecialToken *struct {
			ID string `json:"id"`
		} `json:"SpecialToken"`
	} `json:"single"`
}

// steps returns s and the steps of its sequences, in order.
func (s *hfStep) steps() []*hfStep {
	if s == nil {
		return nil
	}
	out := []*hfStep{s}
	for _, c := range append(s.Pretokenizers, s.Processors...) {
		out = append(out, c.steps()...)
	}
	return out
}

// Split patterns of the supported pre-tokenizers, as tokenizer.json
// writes them.
const (
	hfLlama3Pattern = `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
	hfGPT2Pattern   = `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`
)

// hfConfig is the part of tokenizer_config.json read here; the tokens are
// strings or AddedToken objects.
type hfConfig struct {
	BOS    json.RawMessage `json:"bos_token"`
	EOS    json.RawMessage `json:"eos_token"`
	AddBOS *bool           `json:"add_bos_token"`
	AddEOS *bool           `json:"add_eos_token"`
}

func vocabFromHF(name string, data, config []byte) (Vocab, error) {
	fail := func(format string, args ...any) (Vocab, error) {
		return Vocab{}, fmt.Errorf("tokenizer: %s: %s", name, fmt.Sprintf(format, args...))
	}
	var f hfFile
	if err := json.Unmarshal(data, &f); err != nil {
		return fail("%v", err)
	}
	if f.Model.Type != "BPE" {
		return fail("model type %q; only BPE models are read", f.Model.Type)
	}
	if f.Model.ByteFallback {
		return fail("a SentencePiece-style BPE model (byte_fallback): read its tokenizer.model instead")
	}
	v := Vocab{Model: "gpt2", BOS: -1, EOS: -1, UNK: -1, PAD: -1}
	var byteLevel bool
	pattern := ""
	for _, s := range f.PreTokenizer.steps() {
		switch s.Type {
		case "ByteLevel":
			byteLevel = true
			if s.UseRegex && pattern == "" {
				pattern = hfGPT2Pattern
			}
		case "Split":
			pattern = s.Pattern.Regex
		}
	}
	switch {
	case !byteLevel:
		return fail("no ByteLevel pre-tokenizer; only byte-level BPE models (LLaMA 3, GPT-2) are read")
	case pattern == hfLlama3Pattern && f.Model.IgnoreMerges:
		v.Pre = "llama-bpe"
	case pattern == hfLlama3Pattern:
		v.Pre = "smaug-bpe"
	case pattern == hfGPT2Pattern:
		v.Pre = "gpt-2"
	default:
		return fail("unsupported pre-tokenizer split pattern %q (supported: LLaMA 3's and GPT-2's)", pattern)
	}

	// Tokens by id: the model's vocabulary, then the added tokens.
	n := 0
	for s, id := range f.Model.Vocab {
		if id < 0 || id >= 1<<30 {
			return fail("token %q has id %d", s, id)
		}
		n = max(n, id+1)
	}
	for _, a := range f.AddedTokens {
		if a.ID < 0 || a.ID >= 1<<30 {
			return fail("added token %q has id %d", a.Content, a.ID)
		}
		n = max(n, a.ID+1)
	}
	if n > len(data) { // every token takes bytes of the file
		return fail("ids up to %d in a file of %d bytes", n-1, len(data))
	}
	v.Tokens = make([]string, n)
	v.Types = make([]int32, n)
	for i := range v.Types {
		v.Types[i] = TypeUnused
	}
	for s, id := range f.Model.Vocab {
		if v.Types[id] != TypeUnused {
			return fail("id %d is both %q and %q", id, v.Tokens[id], s)
		}
		v.Tokens[id], v.Types[id] = s, TypeNormal
	}
	ids := make(map[string]int, len(f.AddedTokens))
	for _, a := range f.AddedTokens {
		if v.Types[a.ID] != TypeUnused && v.Tokens[a.ID] != a.Content {
			return fail("id %d is both %q and the added token %q", a.ID, v.Tokens[a.ID], a.Content)
		}
		v.Tokens[a.ID], v.Types[a.ID] = a.Content, TypeUserDefined
		if a.Special {
			v.Types[a.ID] = TypeControl
		}
		ids[a.Content] = a.ID
	}
	lookup := func(s string) int {
		if id, ok := ids[s]; ok {
			return id
		}
		if id, ok := f.Model.Vocab[s]; ok {
			return id
		}
		return -1
	}

	// Merges: "a b" strings (tokenizers before 0.20) or ["a", "b"] pairs.
	if len(f.Model.Merges) > 0 {
		var strs []string
		if err := json.Unmarshal(f.Model.Merges, &strs); err != nil {
			var pairs [][2]string
			if err2 := json.Unmarshal(f.Model.Merges, &pairs); err2 != nil {
				return fail("merges are neither strings nor pairs of strings: %v", err)
			}
			strs = make([]string, len(pairs))
			for i, p := range pairs {
				if strings.Contains(p[0], " ") || strings.Contains(p[1], " ") {
					return fail("merge %d (%q, %q) has a space", i, p[0], p[1])
				}
				strs[i] = p[0] + " " + p[1]
			}
		}
		v.Merges = strs
	}

	// Special tokens and flags.
	var c hfConfig
	if config != nil {
		if err := json.Unmarshal(config, &c); err != nil {
			return fail("tokenizer_config.json: %v", err)
		}
	}
	token := func(raw json.RawMessage, defaults ...string) (int, error) {
		if len(raw) > 0 && string(raw) != "null" {
			var s string
			if err := json.Unmarshal(raw, &s); err != nil {
				var obj struct {
					Content string `json:"content"`
				}
				if err := json.Unmarshal(raw, &obj); err != nil {
					return -1, fmt.Errorf("tokenizer_config.json: a special token is %s", raw)
				}
				s = obj.Content
			}
			id := lookup(s)
			if id < 0 {
				return -1, fmt.Errorf("tokenizer_config.json names %q, which is no token", s)
			}
			return id, nil
		}
		for _, s := range defaults {
			if id := lookup(s); id >= 0 {
				return id, nil
			}
		}
		return -1, nil
	}
	var err error
	if v.BOS, err = token(c.BOS, "<|begin_of_text|>", "<|endoftext|>"); err != nil {
		return fail("%v", err)
	}
	if v.EOS, err = token(c.EOS, "<|end_of_text|>", "<|endoftext|>"); err != nil {
		return fail("%v", err)
	}
	switch {
	case c.AddBOS != nil:
		v.AddBOS = *c.AddBOS
	default:
		for _, s := range f.PostProcessor.steps() {
			if s.Type == "TemplateProcessing" && len(s.Single) > 0 && s.Single[0].SpecialToken != nil {
				v.AddBOS = true
				if id := lookup(s.Single[0].SpecialToken.ID); id >= 0 {
					v.BOS = id
				}
			}
		}
		v.AddBOS = v.AddBOS || v.Pre == "llama-bpe"
	}
	if c.AddEOS != nil {
		v.AddEOS = *c.AddEOS
	}
	if v.AddBOS && v.BOS < 0 {
		return fail("BOS is to be added but there is no BOS token")
	}
	if v.AddEOS && v.EOS < 0 {
		return fail("EOS is to be added but there is no EOS token")
	}
	return v, nil
}
