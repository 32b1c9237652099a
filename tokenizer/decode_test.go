package tokenizer

import (
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

// stream feeds ids through a Decoder one at a time and returns what each
// call gave, then the Flush.
func stream(tok *Tokenizer, ids []int) []string {
	d := tok.NewDecoder()
	var out []string
	for _, id := range ids {
		out = append(out, d.Next(id))
	}
	return append(out, d.Flush())
}

// checkStream checks that no chunk of a stream holds a broken character,
// that together they make want, and that at least one character was held
// back across tokens (so the test tested something).
func checkStream(t *testing.T, name string, tok *Tokenizer, ids []int, want string) {
	t.Helper()
	chunks := stream(tok, ids)
	held := false
	for i, c := range chunks[:len(chunks)-1] {
		if !utf8.ValidString(c) || strings.ContainsRune(c, utf8.RuneError) {
			t.Errorf("%s: token %d (%d) gave %q, a broken character", name, i, ids[i], c)
		}
		if c == "" && tok.Piece(ids[i]) != "" {
			held = true
		}
	}
	if got := strings.Join(chunks, ""); got != want {
		t.Errorf("%s: streamed %q, want %q", name, got, want)
	}
	if !held {
		t.Errorf("%s: no character was split over tokens; the test needs one", name)
	}
}

func TestDecoderByteFallback(t *testing.T) {
	tok := tinySPM(t, false)
	text := "你好, 🦙 ✅a"
	ids := tok.Encode(text, false)
	if got := tok.Decode(ids); got != text {
		t.Fatalf("Decode = %q", got)
	}
	checkStream(t, "tiny", tok, ids, text)

	// A stream that goes wrong: a lead byte followed by ASCII, then a
	// character cut short at the end.
	chunks := stream(tok, []int{byteTok(0xE4), 259, byteTok(0xF0), byteTok(0x9F)})
	if want := []string{"", "\uFFFDa", "", "", "\uFFFD\uFFFD"}; !slices.Equal(chunks, want) {
		t.Errorf("chunks %q, want %q", chunks, want)
	}
}

func TestDecoderStories(t *testing.T) {
	tok, err := LoadLlama2c(sharedFile(t, "llama2c/tok512.bin"), 512)
	if err != nil {
		t.Fatal(err)
	}
	// tok512 has 512 tokens: every character outside ASCII is byte fallback.
	text := "Lily saw 你好，世界 and a 🦙 with 🚀 (Führer, Cửa Việt)."
	ids := tok.Encode(text, true)
	// The Decoder keeps the space Encode put first: it decodes
	// continuations, not whole texts.
	checkStream(t, "tok512.bin", tok, ids, " "+text)
}

func TestDecoderBPE(t *testing.T) {
	tok := fixtureTokenizer(t, "llama-bpe")
	// One of llama.cpp's vectors (so the fixture has its tokens): 🚀 and
	// 😶 are three byte-level tokens each.
	text := "🚀 (normal) 😶‍🌫️ (multiple emojis concatenated) ✅ (only emoji that has its own token)"
	ids := tok.Encode(text, true)
	if ids[0] != 128000 {
		t.Errorf("LLaMA 3 adds BOS 128000, got %v", ids[:1])
	}
	checkStream(t, "llama-bpe", tok, ids, text)
}
