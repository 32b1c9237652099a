package tokenizer

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

// tinySPM is a small SentencePiece vocabulary whose merges can be worked
// out by hand: 0 <unk>, 1 <s>, 2 </s>, 3..258 the byte tokens, then the
// pieces below.
func tinySPM(t *testing.T, prefix bool) *Tokenizer {
	t.Helper()
	v := Vocab{Model: "llama", BOS: 1, EOS: 2, UNK: 0, PAD: -1, AddBOS: true, AddSpacePrefix: prefix}
	add := func(s string, score float32, typ int32) {
		v.Tokens = append(v.Tokens, s)
		v.Scores = append(v.Scores, score)
		v.Types = append(v.Types, typ)
	}
	add("<unk>", 0, TypeUnknown)
	add("<s>", 0, TypeControl)
	add("</s>", 0, TypeControl)
	for b := range 256 {
		add(fmt.Sprintf("<0x%02X>", b), 0, TypeByte)
	}
	for _, p := range []struct {
		s     string
		score float32
		typ   int32
	}{
		{"a", -5, TypeNormal},       // 259
		{"b", -5, TypeNormal},       // 260
		{"c", -5, TypeNormal},       // 261
		{"ab", -1, TypeNormal},      // 262
		{"bc", -0.5, TypeNormal},    // 263: beats ab
		{"▁", -3, TypeNormal},       // 264
		{"▁a", -2, TypeNormal},      // 265
		{"aa", -1, TypeNormal},      // 266: ties go to the leftmost pair
		{"<u>", 0, TypeUserDefined}, // 267
		{"x", -5, TypeUnused},       // 268: decodes to nothing
	} {
		add(p.s, p.score, p.typ)
	}
	tok, err := New(v)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func byteTok(c byte) int { return 3 + int(c) }

func TestEncodeSPM(t *testing.T) {
	for _, c := range []struct {
		text    string
		prefix  bool
		special bool // EncodeSpecial
		add     bool // addSpecial
		want    []int
	}{
		{text: "", want: nil},
		{text: "", add: true, want: []int{1}},
		{text: "ab", want: []int{262}},
		{text: "abc", want: []int{259, 263}}, // bc (-0.5) merges before ab (-1)
		{text: "aaa", want: []int{266, 259}}, // equal scores: leftmost first
		{text: "a b", want: []int{259, 264, 260}},
		{text: " a", want: []int{265}},
		{text: "a", prefix: true, want: []int{265}},
		{text: "a", prefix: true, add: true, want: []int{1, 265}},
		{text: "d", want: []int{byteTok('d')}},                               // byte fallback
		{text: "é", want: []int{byteTok(0xC3), byteTok(0xA9)}},               // a character as bytes
		{text: "a<u>b", want: []int{259, 267, 260}},                          // user-defined: matched whole
		{text: "a<u>b", prefix: true, want: []int{265, 267, 264, 260}},       // and a space after it, as llama.cpp
		{text: "<s>", want: []int{byteTok('<'), byteTok('s'), byteTok('>')}}, // control: plain text
		{text: "<s>a</s>", special: true, want: []int{1, 259, 2}},
		{text: "<s>a</s>", special: true, prefix: true, want: []int{1, 265, 2}},
	} {
		tok := tinySPM(t, c.prefix)
		var got []int
		if c.special {
			got = tok.EncodeSpecial(c.text, c.add)
		} else {
			got = tok.Encode(c.text, c.add)
		}
		if !slices.Equal(got, c.want) {
			t.Errorf("Encode(%q, prefix %v, special %v, add %v) = %v, want %v", c.text, c.prefix, c.special, c.add, got, c.want)
		}
	}
}

func TestAddBOSEOS(t *testing.T) {
	base := func() Vocab {
		return Vocab{Model: "llama", Tokens: []string{"<unk>", "<s>", "</s>", "a"}, Types: []int32{2, 3, 3, 1}, BOS: 1, EOS: 2, UNK: 0, PAD: -1}
	}
	for _, c := range []struct {
		addBOS, addEOS, special bool
		want                    []int
	}{
		{false, false, false, []int{3}},
		{false, false, true, []int{3}}, // the vocabulary does not ask: no BOS either way
		{true, false, false, []int{3}},
		{true, false, true, []int{1, 3}},
		{true, true, true, []int{1, 3, 2}},
		{false, true, true, []int{3, 2}},
	} {
		v := base()
		v.AddBOS, v.AddEOS = c.addBOS, c.addEOS
		tok, err := New(v)
		if err != nil {
			t.Fatal(err)
		}
		if got := tok.Encode("a", c.special); !slices.Equal(got, c.want) {
			t.Errorf("AddBOS %v AddEOS %v: Encode(%q, %v) = %v, want %v", c.addBOS, c.addEOS, "a", c.special, got, c.want)
		}
		if got := tok.Decode(c.want); got != "a" {
			t.Errorf("Decode(%v) = %q, want %q", c.want, got, "a")
		}
	}
}

func TestDecodeSPM(t *testing.T) {
	tok := tinySPM(t, true)
	for _, c := range []struct {
		ids  []int
		want string
	}{
		{nil, ""},
		{[]int{265}, "a"},                     // the prefix space goes
		{[]int{264, 265}, " a"},               // only one
		{[]int{1, 265, 2}, "a"},               // BOS and EOS decode to nothing, and the space still goes
		{[]int{0, 268, 259}, "a"},             // <unk> and unused tokens too
		{[]int{259, 267, 264, 260}, "a<u> b"}, // user-defined tokens decode to their text
		{[]int{byteTok(0xE4), byteTok(0xBD), byteTok(0xA0)}, "你"},
		{[]int{byteTok(0xE4), byteTok(0xBD)}, "\uFFFD\uFFFD"}, // incomplete: one U+FFFD per byte
		{[]int{byteTok(0xFF), 259}, "\uFFFDa"},
	} {
		if got := tok.Decode(c.ids); got != c.want {
			t.Errorf("Decode(%v) = %q, want %q", c.ids, got, c.want)
		}
	}
}

// tinyBPE is a byte-level BPE vocabulary: the 256 byte characters (ids
// 0..255, in byte order), then merged tokens.
func tinyBPE(t *testing.T, pre string, extra ...string) *Tokenizer {
	t.Helper()
	v := Vocab{Model: "gpt2", Pre: pre, BOS: -1, EOS: -1, UNK: -1, PAD: -1}
	for b := range 256 {
		v.Tokens = append(v.Tokens, string(byteRune[b]))
	}
	v.Tokens = append(v.Tokens, "he", "ll", "hell", "hello", "Ġw", "Ġwo", "xyz", "<|eot|>")
	v.Types = make([]int32, len(v.Tokens))
	for i := range v.Types {
		v.Types[i] = TypeNormal
	}
	v.Types[len(v.Types)-1] = TypeControl
	v.EOS = len(v.Tokens) - 1
	v.Merges = append([]string{"l l", "h e", "he ll", "hell o", "Ġ w", "Ġw o", "h e"}, extra...)
	tok, err := New(v)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestEncodeBPE(t *testing.T) {
	const he, ll, hell, hello, gw, gwo, xyz, eot = 256, 257, 258, 259, 260, 261, 262, 263
	for _, c := range []struct {
		pre, text string
		special   bool
		want      []int
	}{
		{"gpt-2", "hello", false, []int{hello}},
		{"gpt-2", "hel", false, []int{he, 'l'}},
		{"gpt-2", "hello wo", false, []int{hello, gwo}},
		{"gpt-2", "xyz", false, []int{'x', 'y', 'z'}}, // no merges lead there
		{"llama-bpe", "xyz", false, []int{xyz}},       // LLaMA 3: a word that is a token is taken whole
		{"gpt-2", "a\nb", false, []int{'a', 10, 'b'}}, // '\n' is byte 10: id 10
		{"gpt-2", "<|eot|>", true, []int{eot}},
		{"gpt-2", "hi<|eot|>", false, []int{'h', 'i', '<', '|', 'e', 'o', 't', '|', '>'}},
	} {
		tok := tinyBPE(t, c.pre)
		var got []int
		if c.special {
			got = tok.EncodeSpecial(c.text, false)
		} else {
			got = tok.Encode(c.text, false)
		}
		if !slices.Equal(got, c.want) {
			t.Errorf("%s: Encode(%q) = %v, want %v", c.pre, c.text, got, c.want)
		}
		if back := tok.Decode(got); back != c.text && !c.special {
			t.Errorf("%s: Decode(Encode(%q)) = %q", c.pre, c.text, back)
		}
	}
}

func TestBytesToUnicode(t *testing.T) {
	seen := map[rune]bool{}
	for b := range 256 {
		r := byteRune[b]
		if seen[r] {
			t.Fatalf("byte %#x maps to %q twice", b, r)
		}
		seen[r] = true
		if runeByte[r] != byte(b) {
			t.Errorf("byte %#x -> %q -> %#x", b, r, runeByte[r])
		}
	}
	for b, want := range map[byte]rune{' ': 'Ġ', '\n': 'Ċ', 'a': 'a', 0: 'Ā', 0xAD: 'Ń', 0xFF: 'ÿ'} {
		if byteRune[b] != want {
			t.Errorf("byte %#x -> %q, want %q", b, byteRune[b], want)
		}
	}
}

func TestNewErrors(t *testing.T) {
	ok := func() Vocab {
		return Vocab{Model: "gpt2", Pre: "gpt-2", Tokens: []string{"a", "b", "ab"}, Merges: []string{"a b"}, BOS: -1, EOS: -1, UNK: -1, PAD: -1}
	}
	if _, err := New(ok()); err != nil {
		t.Fatalf("the base vocabulary fails: %v", err)
	}
	for _, c := range []struct {
		name   string
		change func(*Vocab)
		want   string
	}{
		{"no tokens", func(v *Vocab) { v.Tokens = nil }, "no tokens"},
		{"model", func(v *Vocab) { v.Model = "t5" }, `unknown tokenizer model "t5"`},
		{"pre", func(v *Vocab) { v.Pre = "tekken" }, `unsupported pre-tokenizer "tekken"`},
		{"scores", func(v *Vocab) { v.Scores = []float32{1, 2} }, "2 scores for 3 tokens"},
		{"types", func(v *Vocab) { v.Types = []int32{1, 1, 1, 1} }, "4 token types for 3 tokens"},
		{"bos", func(v *Vocab) { v.BOS = 3 }, "BOS id 3 out of range"},
		{"eos", func(v *Vocab) { v.EOS = -2 }, "EOS id -2 out of range"},
		{"add bos", func(v *Vocab) { v.AddBOS = true }, "AddBOS set but the vocabulary has no BOS"},
		{"add eos", func(v *Vocab) { v.AddEOS = true }, "AddEOS set but the vocabulary has no EOS"},
		{"merge", func(v *Vocab) { v.Merges = []string{"ab"} }, `merge 0 "ab" is not "left right"`},
		{"merge end", func(v *Vocab) { v.Merges = []string{"a "} }, `merge 0 "a " is not "left right"`},
		{"byte token", func(v *Vocab) { v.Model, v.Types = "llama", []int32{1, 6, 1} }, `token 1 has type byte but text "b" is not <0xXX>`},
	} {
		v := ok()
		c.change(&v)
		_, err := New(v)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one containing %q", c.name, err, c.want)
		}
	}
}

func TestAccessors(t *testing.T) {
	tok := tinySPM(t, true)
	if tok.VocabSize() != 269 || tok.BOS() != 1 || tok.EOS() != 2 || !tok.AddsBOS() {
		t.Errorf("VocabSize %d BOS %d EOS %d AddsBOS %v", tok.VocabSize(), tok.BOS(), tok.EOS(), tok.AddsBOS())
	}
	if !tok.IsEOG(2) || tok.IsEOG(1) || tok.IsEOG(-1) || tok.IsEOG(1000) {
		t.Error("IsEOG: want only EOS")
	}
	if tok.TokenText(265) != "▁a" || tok.Piece(265) != " a" || tok.Piece(1) != "" || tok.Piece(byteTok('\n')) != "\n" {
		t.Errorf("TokenText/Piece: %q %q %q", tok.TokenText(265), tok.Piece(265), tok.Piece(1))
	}
	if tok.TokenType(267) != TypeUserDefined {
		t.Errorf("TokenType(267) = %d", tok.TokenType(267))
	}
	defer func() {
		if r := recover(); r == nil || !strings.Contains(fmt.Sprint(r), "token id 269 out of range [0, 269)") {
			t.Errorf("Decode of an id out of range: panic %v", r)
		}
	}()
	tok.Decode([]int{269})
}

func TestEOGByName(t *testing.T) {
	v := Vocab{Model: "gpt2", Pre: "llama-bpe", Tokens: []string{"a", "<|eot_id|>", "<|end_of_text|>", "<|x|>"}, Types: []int32{1, 3, 3, 3}, BOS: -1, EOS: 2, UNK: -1, PAD: -1, EOG: []int{3}}
	tok, err := New(v)
	if err != nil {
		t.Fatal(err)
	}
	for id, want := range []bool{false, true, true, true} {
		if tok.IsEOG(id) != want {
			t.Errorf("IsEOG(%d) = %v, want %v", id, !want, want)
		}
	}
}

// TestConcurrentEncode encodes from several goroutines at once (run with
// -race): a Tokenizer is read-only after New, the scratch space pooled.
func TestConcurrentEncode(t *testing.T) {
	for _, tok := range []*Tokenizer{tinySPM(t, true), fixtureTokenizer(t, "llama-bpe")} {
		text := "Hello, y'all! How are you 😁 ?我想在apple工作1314151天～"
		want := tok.Encode(text, true)
		done := make(chan []int)
		for range 8 {
			go func() {
				var got []int
				for range 50 {
					got = tok.Encode(text, true)
				}
				done <- got
			}()
		}
		for range 8 {
			if got := <-done; !slices.Equal(got, want) {
				t.Errorf("concurrent Encode = %v, want %v", got, want)
			}
		}
	}
}

// TestBPEIgnoresSpacePrefix: a GGUF BPE vocabulary may carry
// add_space_prefix; llama.cpp's BPE adds no space, and Decode must not
// remove one either.
func TestBPEIgnoresSpacePrefix(t *testing.T) {
	v := Vocab{Model: "gpt2", Pre: "gpt-2", Tokens: []string{"a", "Ġ", "Ġa"}, Merges: []string{"Ġ a"}, BOS: -1, EOS: -1, UNK: -1, PAD: -1, AddSpacePrefix: true}
	tok, err := New(v)
	if err != nil {
		t.Fatal(err)
	}
	if got := tok.Encode(" a", false); !slices.Equal(got, []int{2}) {
		t.Errorf("Encode = %v, want [2]", got)
	}
	if got := tok.Decode([]int{2}); got != " a" {
		t.Errorf("Decode = %q, want %q", got, " a")
	}
}
