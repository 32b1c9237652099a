package tokenizer

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
)

// Token types, as ggml stores them in tokenizer.ggml.token_type.
const (
	TypeUndefined   int32 = 0
	TypeNormal      int32 = 1
	TypeUnknown     int32 = 2
	TypeControl     int32 = 3
	TypeUserDefined int32 = 4
	TypeUnused      int32 = 5
	TypeByte        int32 = 6
)

// Vocab is everything a tokenizer needs, whatever file it came from.
type Vocab struct {
	// Model is "llama" (SentencePiece BPE with byte fallback) or "gpt2"
	// (byte-level BPE), as in tokenizer.ggml.model.
	Model string
	// Pre names the pre-tokenizer of a "gpt2" model, as in
	// tokenizer.ggml.pre: the LLaMA 3 pattern ("llama-bpe", "llama3",
	// "llama-v3", "falcon3", "dbrx", "smaug-bpe"), GPT-2's ("gpt-2", "phi-2",
	// "roberta-bpe", "mpt", "olmo", "jais", "gigachat", "jina-es", "jina-de",
	// "jina-v1-en") or llama.cpp's "default" chain (also used when Pre is
	// empty). Other names are an error. A "llama" model ignores Pre.
	Pre string

	Tokens []string
	Scores []float32 // one per token, or none (all zero)
	Types  []int32   // one per token (Type* constants), or none (all normal)
	Merges []string  // "gpt2" only: "left right", best (lowest rank) first

	BOS, EOS, UNK, PAD int // token ids, -1 when absent
	// EOG lists further ids that end generation besides EOS (end of turn,
	// end of message); tokens named <|eot_id|>, <|im_end|>, <|end|>,
	// <end_of_turn>, <|endoftext|>, <|eom_id|> or <EOT> count too, as in
	// llama.cpp.
	EOG []int

	AddBOS, AddEOS bool // whether Encode with addSpecial adds them
	// AddSpacePrefix is SentencePiece's add_dummy_prefix: a space is put
	// before the text (and before text that follows a special token). A
	// "gpt2" model ignores it, as llama.cpp does.
	AddSpacePrefix bool
}

// Tokenizer encodes text to token ids and decodes them back. Build one with
// New, FromGGUF, LoadLlama2c or ParseLlama2c.
type Tokenizer struct {
	bpe bool // byte-level BPE ("gpt2"); SentencePiece ("llama") otherwise

	tokens []string
	scores []float32
	types  []int32
	ids    map[string]int32 // token text to id; a later duplicate wins

	// pieces holds what each token decodes to (control and unknown
	// tokens: nothing), pieceOff[i]:pieceOff[i+1] being token i's.
	pieces   string
	pieceOff []int32

	bos, eos, unk  int
	addBOS, addEOS bool
	addSpacePrefix bool
	escapeSpaces   bool // SPM: spaces become ▁ (not for llama2.c's vocabulary, which has spaces)
	eog            []bool

	// specials are the tokens matched whole before BPE, longest first:
	// user-defined ones always, control and unknown ones by EncodeSpecial.
	userSpecials []int32
	allSpecials  []int32

	// SPM: the token each byte falls back to, -1 for none.
	byteToken [256]int32

	// BPE.
	pre          pretokenizer
	ignoreMerges bool
	merges       map[uint64]merge // (left sid, right sid) -> rank and result
	byteSym      [256]int32       // sid of the printable character standing for each byte
	nSyms        int32            // symbol ids: tokens first, then strings only merges name
}

// merge is one BPE merge: its rank (lower merges first) and the symbol id
// of the merged string.
type merge struct {
	rank, result int32
}

// New checks v and builds a tokenizer from it; the tokenizer keeps copies,
// not v's slices. A vocabulary that cannot be used (unknown model or
// pre-tokenizer, Scores or Types of the wrong length, special ids out of
// range, a malformed merge or byte token) is an error.
func New(v Vocab) (*Tokenizer, error) {
	return newTokenizer(v, false)
}

// newTokenizer is New; literalSpaces says that a "llama" vocabulary has
// plain spaces where SentencePiece has ▁ (llama2.c's tokenizer.bin).
func newTokenizer(v Vocab, literalSpaces bool) (*Tokenizer, error) {
	t := &Tokenizer{}
	switch v.Model {
	case "llama":
		t.escapeSpaces = !literalSpaces
	case "gpt2":
		t.bpe = true
		pre, ignoreMerges, err := pretokenizerFor(v.Pre)
		if err != nil {
			return nil, err
		}
		t.pre, t.ignoreMerges = pre, ignoreMerges
	default:
		return nil, fmt.Errorf("tokenizer: unknown tokenizer model %q (want \"llama\" or \"gpt2\")", v.Model)
	}
	n := len(v.Tokens)
	if n == 0 {
		return nil, fmt.Errorf("tokenizer: vocabulary has no tokens")
	}
	if n > 1<<30 {
		return nil, fmt.Errorf("tokenizer: vocabulary has %d tokens, more than 2^30", n)
	}
	if len(v.Scores) != 0 && len(v.Scores) != n {
		return nil, fmt.Errorf("tokenizer: %d scores for %d tokens", len(v.Scores), n)
	}
	if len(v.Types) != 0 && len(v.Types) != n {
		return nil, fmt.Errorf("tokenizer: %d token types for %d tokens", len(v.Types), n)
	}
	for _, s := range []struct {
		name string
		id   int
	}{{"BOS", v.BOS}, {"EOS", v.EOS}, {"UNK", v.UNK}, {"PAD", v.PAD}} {
		if s.id < -1 || s.id >= n {
			return nil, fmt.Errorf("tokenizer: %s id %d out of range [-1, %d)", s.name, s.id, n)
		}
	}
	if v.AddBOS && v.BOS < 0 {
		return nil, fmt.Errorf("tokenizer: AddBOS set but the vocabulary has no BOS token")
	}
	if v.AddEOS && v.EOS < 0 {
		return nil, fmt.Errorf("tokenizer: AddEOS set but the vocabulary has no EOS token")
	}
	t.tokens, t.scores, t.types = slices.Clone(v.Tokens), slices.Clone(v.Scores), slices.Clone(v.Types)
	t.bos, t.eos, t.unk = v.BOS, v.EOS, v.UNK
	t.addBOS, t.addEOS = v.AddBOS, v.AddEOS
	t.addSpacePrefix = v.AddSpacePrefix && !t.bpe // llama.cpp's BPE never adds one
	if t.scores == nil {
		t.scores = make([]float32, n)
	}
	if t.types == nil {
		t.types = make([]int32, n)
		for i := range t.types {
			t.types[i] = TypeNormal
		}
	}

	t.ids = make(map[string]int32, n)
	for i, s := range v.Tokens {
		if s != "" {
			t.ids[s] = int32(i)
		}
	}
	if err := t.buildPieces(); err != nil {
		return nil, err
	}
	t.buildSpecials()
	t.buildEOG(v.EOG)
	if t.bpe {
		if err := t.buildMerges(v.Merges); err != nil {
			return nil, err
		}
	} else {
		t.buildByteFallback()
	}
	return t, nil
}

// buildPieces computes the bytes each token decodes to.
func (t *Tokenizer) buildPieces() error {
	var b strings.Builder
	t.pieceOff = make([]int32, len(t.tokens)+1)
	for i, s := range t.tokens {
		switch t.types[i] {
		case TypeNormal:
			switch {
			case t.bpe:
				b.WriteString(unmapBytes(s))
			case t.escapeSpaces:
				b.WriteString(strings.ReplaceAll(s, "▁", " "))
			default:
				b.WriteString(s)
			}
		case TypeUserDefined:
			b.WriteString(s)
		case TypeByte:
			if !t.bpe {
				c, ok := parseByteToken(s)
				if !ok {
					return fmt.Errorf("tokenizer: token %d has type byte but text %q is not <0xXX>", i, s)
				}
				b.WriteByte(c)
			}
		}
		if b.Len() > 1<<31-1 {
			return fmt.Errorf("tokenizer: token texts exceed 2 GiB")
		}
		t.pieceOff[i+1] = int32(b.Len())
	}
	t.pieces = b.String()
	return nil
}

// parseByteToken reads a byte token's text, "<0xXX>" with upper- or
// lower-case hex digits.
func parseByteToken(s string) (byte, bool) {
	if len(s) != 6 || s[:3] != "<0x" || s[5] != '>' {
		return 0, false
	}
	hi, ok1 := hexDigit(s[3])
	lo, ok2 := hexDigit(s[4])
	return hi<<4 | lo, ok1 && ok2
}

func hexDigit(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	}
	return 0, false
}

// buildSpecials lists the tokens matched whole in the input, longest first
// (ties by id, so the order is the same on every run).
func (t *Tokenizer) buildSpecials() {
	for i, s := range t.tokens {
		if s == "" {
			continue
		}
		switch t.types[i] {
		case TypeUserDefined:
			t.userSpecials = append(t.userSpecials, int32(i))
			t.allSpecials = append(t.allSpecials, int32(i))
		case TypeControl, TypeUnknown:
			t.allSpecials = append(t.allSpecials, int32(i))
		}
	}
	byLength := func(a, b int32) int {
		if c := cmp.Compare(len(t.tokens[b]), len(t.tokens[a])); c != 0 {
			return c
		}
		return cmp.Compare(a, b)
	}
	slices.SortFunc(t.userSpecials, byLength)
	slices.SortFunc(t.allSpecials, byLength)
}

// eogNames are the token texts llama.cpp treats as ending generation.
var eogNames = map[string]bool{
	"<|eot_id|>": true, "<|im_end|>": true, "<|end|>": true, "<end_of_turn>": true,
	"<|endoftext|>": true, "<|eom_id|>": true, "<EOT>": true,
}

func (t *Tokenizer) buildEOG(extra []int) {
	t.eog = make([]bool, len(t.tokens))
	if t.eos >= 0 {
		t.eog[t.eos] = true
	}
	for _, id := range extra {
		if id >= 0 && id < len(t.eog) {
			t.eog[id] = true
		}
	}
	for i, s := range t.tokens {
		if eogNames[s] {
			t.eog[i] = true
		}
	}
}

// buildByteFallback finds, for each byte, the token SPM falls back to: the
// byte token <0xXX>, else a token that is the byte itself, else UNK.
func (t *Tokenizer) buildByteFallback() {
	const hex = "0123456789ABCDEF"
	for c := range 256 {
		id, ok := t.ids[string([]byte{'<', '0', 'x', hex[c>>4], hex[c&15], '>'})]
		if !ok {
			id, ok = t.ids[string([]byte{byte(c)})]
		}
		if !ok {
			id = int32(t.unk)
		}
		t.byteToken[c] = id
	}
}

// VocabSize is the number of tokens.
func (t *Tokenizer) VocabSize() int { return len(t.tokens) }

// BOS is the beginning-of-sequence token id, -1 when there is none.
func (t *Tokenizer) BOS() int { return t.bos }

// EOS is the end-of-sequence token id, -1 when there is none.
func (t *Tokenizer) EOS() int { return t.eos }

// AddsBOS reports whether Encode with addSpecial puts BOS first.
func (t *Tokenizer) AddsBOS() bool { return t.addBOS }

// IsEOG reports whether id ends generation: EOS, end-of-turn and the like.
// Ids out of range are not.
func (t *Tokenizer) IsEOG(id int) bool {
	return id >= 0 && id < len(t.eog) && t.eog[id]
}

// TokenText is token id's text as the vocabulary has it ("▁Hello", "<0x0A>",
// "ĠHello", "<s>"). It panics if id is out of range.
func (t *Tokenizer) TokenText(id int) string {
	t.check(id)
	return t.tokens[id]
}

// TokenType is token id's ggml type (TypeNormal, TypeControl, ...). It
// panics if id is out of range.
func (t *Tokenizer) TokenType(id int) int32 {
	t.check(id)
	return t.types[id]
}

// Piece is what token id decodes to on its own: raw bytes, possibly part
// of a UTF-8 character; empty for control and unknown tokens. It panics if
// id is out of range.
func (t *Tokenizer) Piece(id int) string {
	t.check(id)
	return t.piece(id)
}

func (t *Tokenizer) piece(id int) string {
	return t.pieces[t.pieceOff[id]:t.pieceOff[id+1]]
}

func (t *Tokenizer) check(id int) {
	if id < 0 || id >= len(t.tokens) {
		panic(fmt.Sprintf("tokenizer: token id %d out of range [0, %d)", id, len(t.tokens)))
	}
}
