package tokenizer

import (
	"unicode/utf8"
)

// Decode returns the text of ids. The bytes of all tokens are joined
// first, so a character spread over byte-fallback tokens comes out whole;
// bytes that still do not form valid UTF-8 become U+FFFD, one per byte.
// Control and unknown tokens (BOS, EOS, <unk>) decode to nothing. When the
// vocabulary adds a space prefix (SentencePiece), the space that Encode
// put first is removed from the first token that has text, so
// Decode(Encode(s, ...)) gives s back. Decode panics if an id is out of
// range.
//
// llama.cpp's llama_detokenize differs in two ways: it keeps the leading
// space when a BOS comes first and special tokens are not removed, and it
// tidies spaces before punctuation for some BPE vocabularies
// (clean_up_tokenization_spaces); Decode does neither, so that it is the
// exact inverse of Encode.
func (t *Tokenizer) Decode(ids []int) string {
	var b []byte
	strip := t.addSpacePrefix
	for _, id := range ids {
		t.check(id)
		p := t.piece(id)
		if strip && p != "" {
			if p[0] == ' ' {
				p = p[1:]
			}
			strip = false
		}
		b = append(b, p...)
	}
	return validUTF8(b)
}

// validUTF8 converts b to a string, each byte that is not part of a valid
// UTF-8 character becoming U+FFFD.
func validUTF8(b []byte) string {
	if utf8.Valid(b) {
		return string(b)
	}
	out := make([]byte, 0, len(b)+8)
	for len(b) > 0 {
		r, n := utf8.DecodeRune(b)
		if r == utf8.RuneError && n == 1 {
			out = append(out, "\uFFFD"...)
		} else {
			out = append(out, b[:n]...)
		}
		b = b[n:]
	}
	return string(out)
}

// Decoder decodes a stream of tokens, one at a time, returning only whole
// UTF-8 characters: the bytes of a character that byte-fallback tokens
// spread over several tokens are held back until it is complete. It does
// not strip a leading space: tokens decoded one at a time continue text
// that came before them (the prompt). A Decoder is not safe for concurrent
// use.
type Decoder struct {
	t       *Tokenizer
	pending []byte
}

// NewDecoder returns a streaming decoder.
func (t *Tokenizer) NewDecoder() *Decoder { return &Decoder{t: t} }

// Next adds token id and returns the text that is now complete, possibly
// "". Bytes that can no longer become a valid character are returned as
// U+FFFD. It panics if id is out of range.
func (d *Decoder) Next(id int) string {
	d.t.check(id)
	d.pending = append(d.pending, d.t.piece(id)...)
	cut := completePrefix(d.pending)
	if cut == 0 {
		return ""
	}
	s := validUTF8(d.pending[:cut])
	d.pending = append(d.pending[:0], d.pending[cut:]...)
	return s
}

// Flush returns what is held back (an incomplete character, as U+FFFD)
// and empties the decoder.
func (d *Decoder) Flush() string {
	s := validUTF8(d.pending)
	d.pending = d.pending[:0]
	return s
}

// completePrefix is the length of b without a trailing incomplete (but so
// far valid) UTF-8 sequence.
func completePrefix(b []byte) int {
	// A sequence is at most 4 bytes, so its start is among the last 3.
	for i := len(b) - 1; i >= 0 && i >= len(b)-3; i-- {
		if utf8.RuneStart(b[i]) {
			if !utf8.FullRune(b[i:]) {
				return i
			}
			break
		}
	}
	return len(b)
}
