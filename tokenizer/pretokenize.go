package tokenizer

import (
	"fmt"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// A pretokenizer splits text into the words BPE merges within. It is a
// chain of split steps, each applied to every piece of the step before,
// as llama.cpp applies its list of patterns. The patterns are written as
// scanners: Go's regexp has no lookahead, and a scanner is faster.
type pretokenizer struct {
	steps []splitStep
}

// A splitStep appends to out the pieces of s, as byte ranges offset by base.
// The pieces cover s exactly, in order, none empty.
type splitStep func(s string, base int, out [][2]int) [][2]int

var (
	llama3Pre  = pretokenizer{[]splitStep{splitLlama3}}
	gpt2Pre    = pretokenizer{[]splitStep{splitGPT2}}
	defaultPre = pretokenizer{[]splitStep{splitPunctRuns, splitGPT2, splitNumberRuns, splitDigitTriples}}
)

// pretokenizerFor maps a tokenizer.ggml.pre name to its pre-tokenizer and
// whether words that are whole tokens skip merging (llama.cpp's
// ignore_merges, set for LLaMA 3).
func pretokenizerFor(name string) (pretokenizer, bool, error) {
	switch name {
	case "llama3", "llama-v3", "llama-bpe", "falcon3":
		return llama3Pre, true, nil
	case "dbrx", "smaug-bpe":
		return llama3Pre, false, nil
	case "gpt-2", "phi-2", "roberta-bpe", "mpt", "olmo", "jais", "gigachat", "jina-es", "jina-de", "jina-v1-en":
		return gpt2Pre, false, nil
	case "default", "":
		return defaultPre, false, nil
	}
	return pretokenizer{}, false, fmt.Errorf("tokenizer: unsupported pre-tokenizer %q (supported: the LLaMA 3 pattern as llama-bpe, llama3, llama-v3, falcon3, dbrx, smaug-bpe; GPT-2's as gpt-2, phi-2, roberta-bpe, mpt, olmo, jais, gigachat, jina-es, jina-de, jina-v1-en; and default)", name)
}

// split returns the words of text as byte ranges, appended to out[:0].
func (p pretokenizer) split(text string, out [][2]int) [][2]int {
	out = out[:0]
	if text == "" {
		return out
	}
	out = append(out, [2]int{0, len(text)})
	var next [][2]int
	for _, step := range p.steps {
		next = next[:0]
		for _, r := range out {
			next = step(text[r[0]:r[1]], r[0], next)
		}
		out, next = next, out
	}
	return out
}

// Character classes, as llama.cpp's unicode tables have them: \p{L},
// \p{N}, \s (the White_Space property) and \p{P}. A byte that is not valid
// UTF-8 is in none of them.
const (
	clsLetter uint8 = 1 << iota
	clsNumber
	clsSpace
	clsPunct
)

var asciiClass [128]uint8

func init() {
	for c := range rune(128) {
		asciiClass[c] = classOf(c)
	}
}

func classOf(r rune) uint8 {
	var c uint8
	if unicode.IsLetter(r) {
		c |= clsLetter
	}
	if unicode.IsNumber(r) {
		c |= clsNumber
	}
	if unicode.Is(unicode.White_Space, r) {
		c |= clsSpace
	}
	if unicode.IsPunct(r) {
		c |= clsPunct
	}
	return c
}

// at decodes the character at s[i]: its rune, class and size; past the end
// of s it returns size 0. An invalid byte is a character of its own (rune
// utf8.RuneError, no class), so that byte-level BPE keeps it.
func at(s string, i int) (rune, uint8, int) {
	if i >= len(s) {
		return -1, 0, 0
	}
	if c := s[i]; c < utf8.RuneSelf {
		return rune(c), asciiClass[c], 1
	}
	r, n := utf8.DecodeRuneInString(s[i:])
	if r == utf8.RuneError && n == 1 {
		return r, 0, 1
	}
	return r, classOf(r), n
}

// isOther is [^\s\p{L}\p{N}] for a character that exists (size > 0).
func isOther(cls uint8, size int) bool {
	return size > 0 && cls&(clsLetter|clsNumber|clsSpace) == 0
}

// skip advances i over characters of s whose class has any of the bits in
// mask, at most max of them (max < 0: no limit).
func skip(s string, i int, mask uint8, max int) int {
	for max != 0 {
		_, c, n := at(s, i)
		if n == 0 || c&mask == 0 {
			break
		}
		i += n
		max--
	}
	return i
}

// contraction matches 's 't 're 've 'm 'll 'd at s[i], an apostrophe,
// ignoring case if fold; it returns the end of the match or i.
func contraction(s string, i int, fold bool) int {
	lower := func(j int) (rune, int) {
		r, _, n := at(s, j)
		if fold && n > 0 {
			r = unicode.ToLower(r)
		}
		return r, n
	}
	r1, n1 := lower(i + 1)
	switch r1 {
	case 's', 't', 'm', 'd':
		return i + 1 + n1
	case 'r', 'v', 'l':
		r2, n2 := lower(i + 1 + n1)
		if r1 == 'r' && r2 == 'e' || r1 == 'v' && r2 == 'e' || r1 == 'l' && r2 == 'l' {
			return i + 1 + n1 + n2
		}
	}
	return i
}

// spaceRun measures the whitespace starting at s[i]: where it ends, where
// its last character starts, how many characters it has, and the end of
// its last \r or \n (0 if none).
func spaceRun(s string, i int) (end, last, count, afterNL int) {
	end, last = i, i
	for {
		r, c, n := at(s, end)
		if n == 0 || c&clsSpace == 0 {
			return
		}
		last = end
		end += n
		count++
		if r == '\r' || r == '\n' {
			afterNL = end
		}
	}
}

// splitLlama3 is LLaMA 3's pattern:
//
//	(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
//
// The alternatives are tried in order at each position, as a backtracking
// regex engine does.
func splitLlama3(s string, base int, out [][2]int) [][2]int {
	for i := 0; i < len(s); {
		j := matchLlama3(s, i)
		out = append(out, [2]int{base + i, base + j})
		i = j
	}
	return out
}

func matchLlama3(s string, i int) int {
	r, c, n := at(s, i)
	// (?i:'s|'t|'re|'ve|'m|'ll|'d)
	if r == '\'' {
		if j := contraction(s, i, true); j > i {
			return j
		}
	}
	// [^\r\n\p{L}\p{N}]?\p{L}+
	if c&clsLetter != 0 {
		return skip(s, i, clsLetter, -1)
	}
	if r != '\r' && r != '\n' && c&clsNumber == 0 {
		if _, c1, _ := at(s, i+n); c1&clsLetter != 0 {
			return skip(s, i+n, clsLetter, -1)
		}
	}
	// \p{N}{1,3}
	if c&clsNumber != 0 {
		return skip(s, i, clsNumber, 3)
	}
	// ' ?[^\s\p{L}\p{N}]+[\r\n]*'
	j := -1
	if isOther(c, n) {
		j = i
	} else if r == ' ' {
		if _, c1, n1 := at(s, i+1); isOther(c1, n1) {
			j = i + 1
		}
	}
	if j >= 0 {
		for {
			_, c1, n1 := at(s, j)
			if !isOther(c1, n1) {
				break
			}
			j += n1
		}
		for j < len(s) && (s[j] == '\r' || s[j] == '\n') {
			j++
		}
		return j
	}
	// \s*[\r\n]+ | \s+(?!\S) | \s+
	if end, last, count, afterNL := spaceRun(s, i); count > 0 {
		switch {
		case afterNL > 0:
			return afterNL
		case end == len(s) || count == 1:
			return end
		default:
			return last
		}
	}
	return i + n // nothing matches: the character stands alone
}

// splitGPT2 is GPT-2's pattern:
//
//	's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)
//
// A character no alternative matches (a lone whitespace character before
// a non-space) becomes a piece of its own, as the text between matches.
func splitGPT2(s string, base int, out [][2]int) [][2]int {
	for i := 0; i < len(s); {
		j := matchGPT2(s, i)
		out = append(out, [2]int{base + i, base + j})
		i = j
	}
	return out
}

func matchGPT2(s string, i int) int {
	r, c, n := at(s, i)
	if r == '\'' {
		if j := contraction(s, i, false); j > i {
			return j
		}
	}
	// ' ?\p{L}+', ' ?\p{N}+', ' ?[^\s\p{L}\p{N}]+': the class of the first
	// character after an optional space decides which.
	start, cls, size := i, c, n
	if r == ' ' {
		if _, c1, n1 := at(s, i+1); n1 > 0 && c1&clsSpace == 0 {
			start, cls, size = i+1, c1, n1
		}
	}
	switch {
	case cls&clsLetter != 0:
		return skip(s, start, clsLetter, -1)
	case cls&clsNumber != 0:
		return skip(s, start, clsNumber, -1)
	case isOther(cls, size):
		j := start
		for {
			_, c1, n1 := at(s, j)
			if !isOther(c1, n1) {
				return j
			}
			j += n1
		}
	}
	// \s+(?!\S)
	if end, last, count, _ := spaceRun(s, i); count > 0 {
		switch {
		case end == len(s):
			return end
		case count > 1:
			return last
		}
	}
	return i + n
}

// splitRuns splits s into maximal runs of characters that are, and are
// not, in class: the pieces of a pattern "[class]+" and the text between.
func splitRuns(s string, base int, out [][2]int, in func(r rune, cls uint8) bool) [][2]int {
	start := 0
	var inRun bool
	for i := 0; i < len(s); {
		r, c, n := at(s, i)
		b := in(r, c)
		if i > start && b != inRun {
			out = append(out, [2]int{base + start, base + i})
			start = i
		}
		inRun = b
		i += n
	}
	if start < len(s) {
		out = append(out, [2]int{base + start, base + len(s)})
	}
	return out
}

// splitPunctRuns is the first pattern of llama.cpp's default chain,
// [\p{P}\$\+<=>\^~\|]+.
func splitPunctRuns(s string, base int, out [][2]int) [][2]int {
	return splitRuns(s, base, out, func(r rune, c uint8) bool {
		return c&clsPunct != 0 || strings.ContainsRune("$+<=>^~|", r)
	})
}

// splitNumberRuns is \p{N}+.
func splitNumberRuns(s string, base int, out [][2]int) [][2]int {
	return splitRuns(s, base, out, func(_ rune, c uint8) bool { return c&clsNumber != 0 })
}

// splitDigitTriples is [0-9][0-9][0-9]: each three ASCII digits in a row,
// found left to right, is a piece, and so is the text between.
func splitDigitTriples(s string, base int, out [][2]int) [][2]int {
	isDigit := func(i int) bool { return i < len(s) && '0' <= s[i] && s[i] <= '9' }
	start := 0
	for i := 0; i < len(s); {
		if isDigit(i) && isDigit(i+1) && isDigit(i+2) {
			if i > start {
				out = append(out, [2]int{base + start, base + i})
			}
			out = append(out, [2]int{base + i, base + i + 3})
			i += 3
			start = i
			continue
		}
		i++
	}
	if start < len(s) {
		out = append(out, [2]int{base + start, base + len(s)})
	}
	return out
}

// words returns the pieces of text as strings (for tests and debugging).
func (p pretokenizer) words(text string) []string {
	var ws []string
	for _, r := range p.split(text, nil) {
		ws = append(ws, text[r[0]:r[1]])
	}
	return slices.Clip(ws)
}
