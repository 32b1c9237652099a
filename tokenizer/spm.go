package tokenizer

// spmSym is one symbol of the text being merged: the bytes [start, end)
// (empty once merged into its left neighbour) and its neighbours.
type spmSym struct {
	start, end int32
	prev, next int32
}

// spmState is the scratch space of one Encode call.
type spmState struct {
	syms  []spmSym
	queue mergeQueue // candidates: a is the merged text's length
	text  []byte
}

// utf8Len is the length of a UTF-8 sequence by its first byte, as
// SentencePiece and llama.cpp split text into characters (a stray
// continuation byte counts as one).
func utf8Len(c byte) int {
	switch c >> 4 {
	case 0xC, 0xD:
		return 2
	case 0xE:
		return 3
	case 0xF:
		return 4
	}
	return 1
}

// encodeSPM appends the tokens of one fragment of text (no special tokens
// in it) to out; prefix says whether a space goes first.
func (t *Tokenizer) encodeSPM(fragment string, prefix bool, out []int, st *spmState) []int {
	buf := st.text[:0]
	if prefix {
		buf = t.appendSpace(buf)
	}
	for i := 0; i < len(fragment); i++ {
		if fragment[i] == ' ' {
			buf = t.appendSpace(buf)
		} else {
			buf = append(buf, fragment[i])
		}
	}
	st.text = buf
	if len(buf) == 0 {
		return out
	}
	text := string(buf)

	syms := st.syms[:0]
	for off := 0; off < len(text); {
		n := min(utf8Len(text[off]), len(text)-off)
		k := int32(len(syms))
		syms = append(syms, spmSym{start: int32(off), end: int32(off + n), prev: k - 1, next: k + 1})
		off += n
	}
	syms[len(syms)-1].next = -1
	st.syms = syms
	q := &st.queue
	q.items = q.items[:0]
	for i := 1; i < len(syms); i++ {
		t.pushSPM(st, text, int32(i-1), int32(i))
	}
	for len(q.items) > 0 {
		bg := q.pop()
		l, r := &syms[bg.left], &syms[bg.right]
		if l.start == l.end || r.start == r.end || (l.end-l.start)+(r.end-r.start) != bg.a {
			continue // stale: one side has merged since (their lengths no longer add up)
		}
		l.end, l.next = r.end, r.next
		r.end = r.start
		if l.next >= 0 {
			syms[l.next].prev = bg.left
		}
		t.pushSPM(st, text, l.prev, bg.left)
		t.pushSPM(st, text, bg.left, l.next)
	}
	for i := int32(0); i != -1; i = syms[i].next {
		s := text[syms[i].start:syms[i].end]
		if id, ok := t.ids[s]; ok {
			out = append(out, int(id))
			continue
		}
		// Byte fallback: what no token covers goes out byte by byte.
		for j := 0; j < len(s); j++ {
			if id := t.byteToken[s[j]]; id >= 0 {
				out = append(out, int(id))
			}
		}
	}
	return out
}

func (t *Tokenizer) appendSpace(buf []byte) []byte {
	if t.escapeSpaces {
		return append(buf, "▁"...)
	}
	return append(buf, ' ')
}

// pushSPM queues the merge of symbols left and right if their joined text
// is a token.
func (t *Tokenizer) pushSPM(st *spmState, text string, left, right int32) {
	if left < 0 || right < 0 {
		return
	}
	s := text[st.syms[left].start:st.syms[right].end]
	id, ok := t.ids[s]
	if !ok {
		return
	}
	st.queue.push(candidate{key: scoreKey(t.scores[id], left), left: left, right: right, a: int32(len(s))})
}
