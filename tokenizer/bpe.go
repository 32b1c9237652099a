package tokenizer

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// GPT-2's byte-level alphabet: every byte stands for one printable
// character. Bytes that are printable Latin-1 ('!'..'~', '¡'..'¬', '®'..'ÿ')
// stand for themselves; the other 68 take the code points from U+0100 up, in
// byte order (so ' ' is 'Ġ' U+0120 and '\n' is 'Ċ' U+010A).
var (
	byteRune [256]rune
	runeByte = map[rune]byte{}
)

func init() {
	next := rune(256)
	for b := range 256 {
		printable := '!' <= b && b <= '~' || 0xA1 <= b && b <= 0xAC || 0xAE <= b && b <= 0xFF
		if printable {
			byteRune[b] = rune(b)
		} else {
			byteRune[b] = next
			next++
		}
		runeByte[byteRune[b]] = byte(b)
	}
}

// unmapBytes turns a byte-level token text back into the bytes it stands
// for; a character outside the alphabet is kept as it is.
func unmapBytes(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		if c, ok := runeByte[r]; ok {
			b.WriteByte(c)
		} else {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// buildMerges parses the merges and numbers every string they name: a
// token's symbol id is its token id, strings that are no token (a merge
// result missing from a sloppy vocabulary) get ids past the tokens.
func (t *Tokenizer) buildMerges(merges []string) error {
	t.nSyms = int32(len(t.tokens))
	extra := map[string]int32{}
	sym := func(s string) int32 {
		if id, ok := t.ids[s]; ok {
			return id
		}
		if id, ok := extra[s]; ok {
			return id
		}
		id := t.nSyms
		extra[s] = id
		t.nSyms++
		return id
	}
	t.merges = make(map[uint64]merge, len(merges))
	for i, m := range merges {
		// The separator is the first space after the first byte, as in
		// llama.cpp (byte-level texts never hold a plain space).
		sp := -1
		if len(m) > 1 {
			sp = strings.IndexByte(m[1:], ' ')
		}
		if sp < 0 || sp+2 > len(m) {
			return fmt.Errorf("tokenizer: merge %d %q is not \"left right\"", i, m)
		}
		left, right := m[:sp+1], m[sp+2:]
		if right == "" {
			return fmt.Errorf("tokenizer: merge %d %q is not \"left right\"", i, m)
		}
		key := pairKey(sym(left), sym(right))
		if _, dup := t.merges[key]; dup {
			continue // the first (best) rank wins
		}
		t.merges[key] = merge{rank: int32(i), result: sym(left + right)}
	}
	for b := range 256 {
		if id, ok := t.ids[string(byteRune[b])]; ok {
			t.byteSym[b] = id
		} else {
			t.byteSym[b] = -1
		}
	}
	return nil
}

func pairKey(a, b int32) uint64 { return uint64(uint32(a))<<32 | uint64(uint32(b)) }

// bpeSym is one symbol of a word being merged: the bytes [start, end) of
// the text, its symbol id (-1: none, cannot merge), and its neighbours.
type bpeSym struct {
	start, end int32
	sid        int32
	prev, next int32
}

// bpeState is the scratch space of one Encode call.
type bpeState struct {
	syms  []bpeSym
	queue mergeQueue // candidates: a and b the symbol ids merged, c the result's
	word  []byte     // the current word in the byte-level alphabet
}

// encodeWord merges the bytes text[start:end] of one pre-tokenized word.
func (t *Tokenizer) encodeWord(text string, start, end int, out []int, st *bpeState) []int {
	if start >= end {
		return out
	}
	if t.ignoreMerges || end-start == 1 {
		st.word = st.word[:0]
		for i := start; i < end; i++ {
			st.word = utf8.AppendRune(st.word, byteRune[text[i]])
		}
		if id, ok := t.ids[string(st.word)]; ok {
			return append(out, int(id))
		}
	}
	syms := st.syms[:0]
	for i := start; i < end; i++ {
		k := int32(len(syms))
		syms = append(syms, bpeSym{start: int32(i), end: int32(i + 1), sid: t.byteSym[text[i]], prev: k - 1, next: k + 1})
	}
	syms[len(syms)-1].next = -1
	st.syms = syms
	q := &st.queue
	q.items = q.items[:0]
	for i := 1; i < len(syms); i++ {
		t.pushBigram(st, int32(i-1), int32(i))
	}
	for len(q.items) > 0 {
		bg := q.pop()
		l, r := &syms[bg.left], &syms[bg.right]
		if l.start == l.end || r.start == r.end || l.sid != bg.a || r.sid != bg.b {
			continue // stale: one side has merged since
		}
		l.end, l.sid, l.next = r.end, bg.c, r.next
		r.end = r.start
		if l.next >= 0 {
			syms[l.next].prev = bg.left
		}
		t.pushBigram(st, l.prev, bg.left)
		t.pushBigram(st, bg.left, l.next)
	}
	for i := int32(0); i != -1; i = syms[i].next {
		s := syms[i]
		if s.sid >= 0 && s.sid < int32(len(t.tokens)) {
			out = append(out, int(s.sid))
			continue
		}
		// No token for this symbol: llama.cpp looks each byte of its
		// byte-level text up as a token and drops what it cannot find.
		st.word = st.word[:0]
		for j := s.start; j < s.end; j++ {
			st.word = utf8.AppendRune(st.word, byteRune[text[j]])
		}
		for _, c := range st.word {
			if id, ok := t.ids[string([]byte{c})]; ok {
				out = append(out, int(id))
			}
		}
	}
	return out
}

func (t *Tokenizer) pushBigram(st *bpeState, left, right int32) {
	if left < 0 || right < 0 {
		return
	}
	l, r := st.syms[left].sid, st.syms[right].sid
	if l < 0 || r < 0 {
		return
	}
	m, ok := t.merges[pairKey(l, r)]
	if !ok {
		return
	}
	st.queue.push(candidate{key: rankKey(m.rank, left), left: left, right: right, a: l, b: r, c: m.result})
}
