package tokenizer

import (
	"bytes"
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/gograd/gograd/nn/gguf"
)

// storiesStrings are encoded with both of stories260K's vocabularies.
var storiesStrings = []string{
	"", "Once upon a time", "Once upon a time, there was a little girl named Lily.",
	" leading space", "two  spaces", "new\nline\n\n", "\ttab", "Lily's dog said: \"Woof!\"",
	"12345 + 678 = 13023", "Führer", "你好，世界", "🦙🚀", "ÄÖÜ äöü ß", "<s> </s> <unk>",
	"a▁b", "The end.", strings.Repeat("ha", 50),
}

func TestStories260KBothFormats(t *testing.T) {
	bin, err := LoadLlama2c(sharedFile(t, "llama2c/tok512.bin"), 512)
	if err != nil {
		t.Fatal(err)
	}
	f, err := gguf.Open(sharedFile(t, "gguf/stories260K.gguf"))
	if err != nil {
		t.Fatal(err)
	}
	gg, err := FromGGUF(f)
	if err != nil {
		t.Fatal(err)
	}
	if bin.VocabSize() != 512 || gg.VocabSize() != 512 || bin.BOS() != gg.BOS() || bin.EOS() != gg.EOS() {
		t.Fatalf("vocab %d/%d BOS %d/%d EOS %d/%d", bin.VocabSize(), gg.VocabSize(), bin.BOS(), gg.BOS(), bin.EOS(), gg.EOS())
	}
	for _, s := range storiesStrings {
		if s == "a▁b" {
			continue // a literal ▁ is a space to the GGUF vocabulary, a character to llama2.c's
		}
		for _, add := range []bool{false, true} {
			a, b := bin.Encode(s, add), gg.Encode(s, add)
			if !slices.Equal(a, b) {
				t.Errorf("Encode(%q, %v): tok512.bin %v, stories260K.gguf %v", s, add, a, b)
			}
			if da, db := bin.Decode(a), gg.Decode(b); da != s || db != s {
				t.Errorf("Decode: tok512.bin %q, stories260K.gguf %q, want %q", da, db, s)
			}
		}
	}
	// The one difference, on purpose: run.c has no ▁ in its vocabulary.
	if got := bin.Decode(bin.Encode("a▁b", false)); got != "a▁b" {
		t.Errorf("tok512.bin: a▁b round-trips to %q", got)
	}
	if got := gg.Decode(gg.Encode("a▁b", false)); got != "a b" {
		t.Errorf("stories260K.gguf: a▁b decodes to %q, want %q", got, "a b")
	}
}

// TestRunCVectors checks the prompts of llama2.c's test.c (from Meta's
// example_text_completion.py, ids from SentencePiece), with BOS, through
// tokenizer.bin and through the GGUF vocabulary.
func TestRunCVectors(t *testing.T) {
	cases := []vector{
		{"", []int{1}},
		{"I believe the meaning of life is", []int{1, 306, 4658, 278, 6593, 310, 2834, 338}},
		{"Simply put, the theory of relativity states that ", []int{1, 3439, 17632, 1925, 29892, 278, 6368, 310, 14215, 537, 5922, 393, 29871}},
		{"A brief message congratulating the team on the launch:\n\n        Hi everyone,\n\n        I just ",
			[]int{1, 319, 11473, 2643, 378, 629, 271, 18099, 278, 3815, 373, 278, 6826, 29901, 13, 13, 4706, 6324, 14332, 29892, 13, 13, 4706, 306, 925, 29871}},
		{"Translate English to French:\n\n        sea otter => loutre de mer\n        peppermint => menthe poivrée\n        plush girafe => girafe peluche\n        cheese =>",
			[]int{1, 4103, 9632, 4223, 304, 5176, 29901, 13, 13, 4706, 7205, 4932, 357, 1149, 301, 449, 276, 316, 2778, 13, 4706, 1236, 407, 837, 524, 1149, 6042, 354, 772, 440, 29878, 1318, 13, 4706, 715, 1878, 330, 3055, 1725, 1149, 330, 3055, 1725, 4639, 28754, 13, 4706, 923, 968, 1149}},
	}
	bin, err := LoadLlama2c(sharedFile(t, "llama2c/tokenizer.bin"), 32000)
	if err != nil {
		t.Fatal(err)
	}
	f, err := gguf.Open(sharedFile(t, "gguf/ggml-vocab-llama-spm.gguf"))
	if err != nil {
		t.Fatal(err)
	}
	gg, err := FromGGUF(f)
	if err != nil {
		t.Fatal(err)
	}
	for name, tok := range map[string]*Tokenizer{"tokenizer.bin": bin, "ggml-vocab-llama-spm.gguf": gg} {
		for _, c := range cases {
			if got := tok.Encode(c.text, true); !slices.Equal(got, c.ids) {
				t.Errorf("%s: Encode(%q) =\n %v, want\n %v", name, c.text, got, c.ids)
			}
			if got := tok.Decode(c.ids); got != c.text {
				t.Errorf("%s: Decode = %q, want %q", name, got, c.text)
			}
		}
	}
}

// tokBin writes a llama2.c tokenizer.bin.
func tokBin(maxLen int32, tokens []string, scores []float32) []byte {
	var b bytes.Buffer
	binary.Write(&b, binary.LittleEndian, maxLen)
	for i, s := range tokens {
		binary.Write(&b, binary.LittleEndian, scores[i])
		binary.Write(&b, binary.LittleEndian, int32(len(s)))
		b.WriteString(s)
	}
	return b.Bytes()
}

func le32(x int32) []byte { return binary.LittleEndian.AppendUint32(nil, uint32(x)) }

func TestParseLlama2c(t *testing.T) {
	toks := []string{"<unk>", "\n<s>\n", "\n</s>\n", "<0x41>", " ", "a", "b", " a", "ab", " ab"}
	scores := []float32{0, 0, 0, 0, -1, -2, -2, -3, -1, -0.5}
	data := tokBin(6, toks, scores)
	for _, n := range []int{0, len(toks)} {
		tok, err := ParseLlama2c(data, n)
		if err != nil {
			t.Fatalf("vocabSize %d: %v", n, err)
		}
		if tok.VocabSize() != len(toks) || tok.BOS() != 1 || tok.EOS() != 2 {
			t.Fatalf("VocabSize %d BOS %d EOS %d", tok.VocabSize(), tok.BOS(), tok.EOS())
		}
		// " ab": ab (-1) merges first, then " " + "ab" (-0.5); 'A' falls back to <0x41>.
		if got, want := tok.Encode("abA", true), []int{1, 9, 3}; !slices.Equal(got, want) {
			t.Errorf("Encode = %v, want %v", got, want)
		}
		if got := tok.Decode([]int{1, 9, 3}); got != "abA" {
			t.Errorf("Decode = %q", got)
		}
		if tok.TokenType(3) != TypeByte || tok.TokenType(1) != TypeControl || tok.TokenType(0) != TypeUnknown {
			t.Errorf("types %d %d %d", tok.TokenType(3), tok.TokenType(1), tok.TokenType(0))
		}
	}
}

func TestParseLlama2cMalformed(t *testing.T) {
	good := tokBin(5, []string{"<unk>", "a", "b", "ab"}, []float32{0, -1, -1, -2})
	for _, c := range []struct {
		name      string
		data      []byte
		vocabSize int
		want      string
	}{
		{"empty", nil, 0, "too short for the max_token_len header"},
		{"header only, vocab asked", le32(1), 4, "truncated at token 0"},
		{"negative max_token_len", append(le32(-1), good[4:]...), 4, "max_token_len -1 out of range"},
		{"huge max_token_len", append(le32(math.MaxInt32), good[4:]...), 4, "max_token_len 2147483647 out of range"},
		{"truncated score", good[:len(good)-9], 4, "truncated at token 3"},
		{"truncated text", good[:len(good)-1], 4, "truncated at token 3"},
		{"negative length", append(append(le32(5), 0, 0, 0, 0), le32(-3)...), 1, "has length -3"},
		{"length over max", tokBin(1, []string{"abc"}, []float32{0}), 1, "has length 3, outside [0, max_token_len 1]"},
		{"more tokens asked than the file has", good, 5, "truncated at token 4"},
		{"bytes left over", good, 3, "bytes left after 3 tokens"},
		{"huge vocab size", good, 1 << 30, "truncated at token 4"},
		{"no tokens", le32(0), 0, "no tokens"},
	} {
		_, err := ParseLlama2c(c.data, c.vocabSize)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one containing %q", c.name, err, c.want)
		}
	}
	if _, err := ParseLlama2c(good, 4); err != nil {
		t.Errorf("the well-formed file fails: %v", err)
	}
}

func TestLoadLlama2cNamesFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tokenizer.bin")
	if err := os.WriteFile(path, tokBin(1, []string{"a", "b"}, []float32{0, 0})[:10], 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := LoadLlama2c(path, 2)
	if err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("error %v does not name %s", err, path)
	}
	if _, err := LoadLlama2c(filepath.Join(t.TempDir(), "missing.bin"), 2); err == nil {
		t.Error("a missing file loads")
	}
}

// TestParseLlama2cAllocation checks that what a file claims (a huge
// vocabulary, a huge max_token_len) allocates nothing beyond what the file
// holds.
func TestParseLlama2cAllocation(t *testing.T) {
	data := append(le32(math.MaxInt32/2), make([]byte, 60)...) // max_token_len over the file size
	bogus := append(le32(40), make([]byte, 60)...)             // 60 bytes, and a vocabulary of 2^30 asked
	for _, c := range []struct {
		data      []byte
		vocabSize int
	}{{data, 1 << 30}, {bogus, 1 << 30}, {bogus, 0}} {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		for range 10 {
			ParseLlama2c(c.data, c.vocabSize)
		}
		runtime.ReadMemStats(&after)
		if per := (after.TotalAlloc - before.TotalAlloc) / 10; per > 64<<10 {
			t.Errorf("parsing %d bytes (vocabSize %d) allocates %d bytes", len(c.data), c.vocabSize, per)
		}
	}
}
