package tokenizer

import "math"

// candidate is a possible merge of the adjacent symbols left and right.
// key orders candidates, smallest first: the merge's priority in the high
// 32 bits, the left symbol's index in the low ones (ties go to the leftmost
// pair, as in llama.cpp). a, b and c are the tokenizer's own data.
type candidate struct {
	key         uint64
	left, right int32
	a, b, c     int32
}

// mergeQueue is a binary min-heap of candidates: both tokenizers pop the
// best merge in O(log n) instead of rescanning the text for it.
type mergeQueue struct {
	items []candidate
}

func (h *mergeQueue) push(x candidate) {
	h.items = append(h.items, x)
	items := h.items
	i := len(items) - 1
	for i > 0 {
		p := (i - 1) / 2
		if items[p].key <= x.key {
			break
		}
		items[i] = items[p]
		i = p
	}
	items[i] = x
}

func (h *mergeQueue) pop() candidate {
	items := h.items
	top := items[0]
	n := len(items) - 1
	x := items[n]
	h.items = items[:n]
	items = items[:n]
	i := 0
	for {
		c := 2*i + 1
		if c >= n {
			break
		}
		if r := c + 1; r < n && items[r].key < items[c].key {
			c = r
		}
		if x.key <= items[c].key {
			break
		}
		items[i] = items[c]
		i = c
	}
	if n > 0 {
		items[i] = x
	}
	return top
}

// rankKey orders BPE merges: lowest rank first.
func rankKey(rank, left int32) uint64 {
	return uint64(uint32(rank))<<32 | uint64(uint32(left))
}

// scoreKey orders SentencePiece merges: highest score first. The float's
// bits are mapped to an unsigned integer in the same order (negative
// numbers flipped), then inverted; -0 counts as +0.
func scoreKey(score float32, left int32) uint64 {
	if score == 0 {
		score = 0
	}
	bits := math.Float32bits(score)
	if bits&(1<<31) != 0 {
		bits = ^bits
	} else {
		bits |= 1 << 31
	}
	return uint64(^bits)<<32 | uint64(uint32(left))
}
