package tokenizer

import (
	"encoding/binary"
	"fmt"
	"math"
	"os"
)

// LoadLlama2c reads llama2.c's tokenizer.bin. vocabSize is the model's
// vocabulary size (the file does not store it); 0 or less reads tokens up
// to the end of the file. See ParseLlama2c for the format.
func LoadLlama2c(path string, vocabSize int) (*Tokenizer, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("tokenizer: %w", err)
	}
	return parseLlama2c(path, data, vocabSize)
}

// ParseLlama2c reads a llama2.c tokenizer.bin from memory (an embedded
// file): a little-endian int32 max_token_len, then per token a float32
// score, an int32 byte length and the bytes. vocabSize is the number of
// tokens to read; 0 or less reads to the end of data. Truncated data,
// negative or oversized lengths and trailing bytes are errors.
//
// The tokenizer encodes as llama2.c's run.c does: a space is put first
// ("dummy prefix"), characters merge by score, and characters that are no
// token fall back to the byte tokens <0xXX>. The vocabulary keeps its
// spaces (llama2.c's export turned ▁ into ' '), so a literal ▁ in the text
// is an ordinary character, as in run.c. BOS is 1 and EOS 2; token 0
// "<unk>" is the unknown token; both are control tokens.
func ParseLlama2c(data []byte, vocabSize int) (*Tokenizer, error) {
	return parseLlama2c("tokenizer.bin", data, vocabSize)
}

func parseLlama2c(name string, data []byte, vocabSize int) (*Tokenizer, error) {
	fail := func(format string, args ...any) error {
		return fmt.Errorf("tokenizer: %s: %s", name, fmt.Sprintf(format, args...))
	}
	if len(data) < 4 {
		return nil, fail("%d bytes, too short for the max_token_len header", len(data))
	}
	maxLen := int32(binary.LittleEndian.Uint32(data))
	if maxLen < 0 || int64(maxLen) > int64(len(data)) {
		return nil, fail("max_token_len %d out of range [0, %d] (the file's size)", maxLen, len(data))
	}
	// Every token takes at least 8 bytes, so the file bounds the count
	// whatever vocabSize says.
	capacity := (len(data) - 4) / 8
	if vocabSize > 0 {
		capacity = min(capacity, vocabSize)
	}
	all := string(data) // one copy; the tokens are slices of it
	v := Vocab{
		Model:          "llama",
		Tokens:         make([]string, 0, capacity),
		Scores:         make([]float32, 0, capacity),
		BOS:            -1,
		EOS:            -1,
		UNK:            -1,
		PAD:            -1,
		AddSpacePrefix: true,
	}
	off := 4
	for i := 0; vocabSize <= 0 && off < len(data) || i < vocabSize; i++ {
		if len(data)-off < 8 {
			return nil, fail("truncated at token %d (offset %d): need 8 bytes for score and length, have %d", i, off, len(data)-off)
		}
		score := math.Float32frombits(binary.LittleEndian.Uint32(data[off:]))
		n := int32(binary.LittleEndian.Uint32(data[off+4:]))
		off += 8
		if n < 0 || n > maxLen {
			return nil, fail("token %d (offset %d) has length %d, outside [0, max_token_len %d]", i, off-4, n, maxLen)
		}
		if int64(n) > int64(len(data)-off) {
			return nil, fail("truncated at token %d (offset %d): length %d, %d bytes left", i, off, n, len(data)-off)
		}
		v.Tokens = append(v.Tokens, all[off:off+int(n)])
		v.Scores = append(v.Scores, score)
		off += int(n)
	}
	if off != len(data) {
		return nil, fail("%d bytes left after %d tokens (vocabulary size %d)", len(data)-off, len(v.Tokens), vocabSize)
	}
	if len(v.Tokens) == 0 {
		return nil, fail("no tokens")
	}
	v.Types = make([]int32, len(v.Tokens))
	for i, s := range v.Tokens {
		v.Types[i] = TypeNormal
		if _, ok := parseByteToken(s); ok {
			v.Types[i] = TypeByte
		}
	}
	// llama2.c's fixed ids: 0 <unk>, 1 BOS ("\n<s>\n"), 2 EOS ("\n</s>\n").
	if len(v.Tokens) > 0 {
		v.UNK, v.Types[0] = 0, TypeUnknown
	}
	if len(v.Tokens) > 2 {
		v.BOS, v.EOS = 1, 2
		v.Types[1], v.Types[2] = TypeControl, TypeControl
		v.AddBOS = true
	}
	t, err := newTokenizer(v, true)
	if err != nil {
		return nil, fail("%v", err)
	}
	return t, nil
}
