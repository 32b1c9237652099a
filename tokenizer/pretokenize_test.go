package tokenizer

import (
	"slices"
	"strings"
	"testing"
)

func TestPretokenizers(t *testing.T) {
	for _, c := range []struct {
		pre  string
		text string
		want []string
	}{
		{"llama-bpe", "", nil},
		{"llama-bpe", "Hello world", []string{"Hello", " world"}},
		{"llama-bpe", "I'm here, don't", []string{"I", "'m", " here", ",", " don", "'t"}},
		{"llama-bpe", "I'M WE'LL THEY'RE", []string{"I", "'M", " WE", "'LL", " THEY", "'RE"}}, // (?i:...)
		{"llama-bpe", "'hello", []string{"'hello"}},                                           // [^\r\n\p{L}\p{N}]?\p{L}+
		{"llama-bpe", "\tfoo", []string{"\tfoo"}},
		{"llama-bpe", "12345 3.14", []string{"123", "45", " ", "3", ".", "14"}}, // \p{N}{1,3}
		{"llama-bpe", "١٢٣٤", []string{"١٢٣", "٤"}},                             // any \p{N}
		{"llama-bpe", "a  b", []string{"a", " ", " b"}},                         // \s+(?!\S) leaves one space
		{"llama-bpe", "end   ", []string{"end", "   "}},                         // ... but takes all at the end
		{"llama-bpe", "a\n\nb", []string{"a", "\n\n", "b"}},                     // \s*[\r\n]+
		{"llama-bpe", "x  \n  y", []string{"x", "  \n", " ", " y"}},
		{"llama-bpe", "!!!\n\nx", []string{"!!!\n\n", "x"}}, // ' ?[^\s\p{L}\p{N}]+[\r\n]*'
		{"llama-bpe", " !! ?", []string{" !!", " ?"}},
		{"llama-bpe", "\t!", []string{"\t", "!"}},
		{"llama-bpe", "héllo wörld 日本語テキスト", []string{"héllo", " wörld", " 日本語テキスト"}},
		{"llama-bpe", "a\u00a0b", []string{"a", "\u00a0b"}}, // NBSP is \s, and not \r\n
		{"llama-bpe", "a\xffb", []string{"a", "\xffb"}},     // an invalid byte is "other"
		{"llama-bpe", "🦙.cpp", []string{"🦙.", "cpp"}},

		{"gpt-2", "Hello world", []string{"Hello", " world"}},
		{"gpt-2", "I'm I'M", []string{"I", "'m", " I", "'", "M"}}, // case-sensitive
		{"gpt-2", "'hello", []string{"'", "hello"}},
		{"gpt-2", "12345", []string{"12345"}},
		{"gpt-2", "a\n\nb", []string{"a", "\n", "\n", "b"}}, // a lone \s before \S matches nothing: it stands alone
		{"gpt-2", "a  b", []string{"a", " ", " b"}},
		{"gpt-2", "end   ", []string{"end", "   "}},
		{"gpt-2", "a\u00a0b", []string{"a", "\u00a0", "b"}},
		{"gpt-2", " 3 !!", []string{" 3", " !!"}},

		// llama.cpp's default chain: punctuation runs, GPT-2, number runs, digit triples.
		{"default", "Hello, world! 1234567", []string{"Hello", ",", " world", "!", " ", "123", "456", "7"}},
		{"default", "a+b=c", []string{"a", "+", "b", "=", "c"}},
		{"default", "x$$y a`b", []string{"x", "$$", "y", " a", "`", "b"}},
		{"default", "12a345", []string{"12", "a", "345"}},
	} {
		p, _, err := pretokenizerFor(c.pre)
		if err != nil {
			t.Fatal(err)
		}
		got := p.words(c.text)
		if !slices.Equal(got, c.want) {
			t.Errorf("%s %q:\n got %q\nwant %q", c.pre, c.text, got, c.want)
		}
	}
}

// checkSplit checks that the words of text cover it exactly, in order, none
// empty.
func checkSplit(t *testing.T, name, text string) {
	p, _, err := pretokenizerFor(name)
	if err != nil {
		t.Fatal(err)
	}
	ws := p.words(text)
	for _, w := range ws {
		if w == "" {
			t.Fatalf("%s %q: an empty word in %q", name, text, ws)
		}
	}
	if strings.Join(ws, "") != text {
		t.Fatalf("%s %q: words %q do not cover the text", name, text, ws)
	}
}

func TestPretokenizersCover(t *testing.T) {
	for _, name := range []string{"llama-bpe", "gpt-2", "default"} {
		for _, text := range []string{"", " ", "\n", "'", "''", "'s", "a'", " '", "\r\n\r\n", "\xff\xfe", "\xe4\xbd", "x \xff", "1'2", "  \t\n x"} {
			checkSplit(t, name, text)
		}
	}
}
