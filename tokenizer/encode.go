package tokenizer

import (
	"fmt"
	"strings"
	"sync"
)

// Encode returns the token ids of text.
//
// addSpecial is llama.cpp's add_special (llama_tokenize): when true, BOS is
// put first if the vocabulary asks for it (AddBOS, true for LLaMA 1/2 and
// LLaMA 3) and EOS last if it asks for that (AddEOS); when false neither is
// added. A vocabulary that does not ask gets no BOS either way.
//
// Control tokens written in text ("<s>", "<|eot_id|>") are encoded as plain
// text, not as the tokens; user-defined tokens are matched whole. Use
// EncodeSpecial for text that holds control tokens on purpose (chat
// templates). Texts over 512 MiB are misuse: Encode panics.
func (t *Tokenizer) Encode(text string, addSpecial bool) []int {
	return t.encode(text, addSpecial, t.userSpecials)
}

// EncodeSpecial is Encode, except that the texts of control tokens
// ("<|start_header_id|>", "</s>") in text become those tokens, as
// llama.cpp's parse_special.
func (t *Tokenizer) EncodeSpecial(text string, addSpecial bool) []int {
	return t.encode(text, addSpecial, t.allSpecials)
}

// maxText is the longest text Encode takes (512 MiB): offsets are int32,
// and SentencePiece's ▁ makes a space three bytes.
const maxText = 1 << 29

// state is the scratch space of one Encode call, pooled so that encoding
// allocates little beyond its result.
type state struct {
	spm   spmState
	bpe   bpeState
	words [][2]int
	frags []fragment
	next  []fragment
}

var states = sync.Pool{New: func() any { return new(state) }}

// fragment is a piece of the input: text[start:end], or a special token
// (id >= 0).
type fragment struct {
	start, end int
	id         int
}

func (t *Tokenizer) encode(text string, addSpecial bool, specials []int32) []int {
	if len(text) > maxText {
		panic(fmt.Sprintf("tokenizer: Encode of %d bytes: texts are limited to %d bytes", len(text), maxText))
	}
	st := states.Get().(*state)
	defer states.Put(st)

	out := make([]int, 0, len(text)/3+2)
	if addSpecial && t.addBOS {
		out = append(out, t.bos)
	}
	frags := t.partition(text, specials, st)
	prevSpecial := true // the text's start counts as following a special token
	for _, f := range frags {
		if f.id >= 0 {
			out = append(out, f.id)
			prevSpecial = true
			continue
		}
		s := text[f.start:f.end]
		if t.bpe {
			st.words = t.pre.split(s, st.words)
			for _, w := range st.words {
				out = t.encodeWord(s, w[0], w[1], out, &st.bpe)
			}
		} else {
			out = t.encodeSPM(s, t.addSpacePrefix && prevSpecial, out, &st.spm)
		}
		prevSpecial = false
	}
	if addSpecial && t.addEOS {
		out = append(out, t.eos)
	}
	return out
}

// partition splits text at every occurrence of the special tokens' texts,
// longest tokens first, as llama.cpp's tokenizer_st_partition does.
func (t *Tokenizer) partition(text string, specials []int32, st *state) []fragment {
	frags := append(st.frags[:0], fragment{0, len(text), -1})
	if text == "" {
		st.frags = frags[:0]
		return st.frags
	}
	for _, id := range specials {
		tok := t.tokens[id]
		if !strings.Contains(text, tok) {
			continue
		}
		next := st.next[:0]
		for _, f := range frags {
			if f.id >= 0 {
				next = append(next, f)
				continue
			}
			for f.start < f.end {
				k := strings.Index(text[f.start:f.end], tok)
				if k < 0 {
					next = append(next, f)
					break
				}
				if k > 0 {
					next = append(next, fragment{f.start, f.start + k, -1})
				}
				next = append(next, fragment{f.start + k, f.start + k + len(tok), int(id)})
				f.start += k + len(tok)
			}
		}
		frags, st.next = next, frags
	}
	st.frags = frags
	return frags
}
