package tokenizer

import (
	"math"
	"os"
	"slices"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/gograd/gograd/nn/gguf"
)

// spPieceMsg is a serialized SentencePiece message; typ 0 leaves the type
// out (NORMAL by default).
func spPieceMsg(piece string, score float32, typ int) []byte {
	var b []byte
	b = protowire.AppendTag(b, spPiece, protowire.BytesType)
	b = protowire.AppendString(b, piece)
	b = protowire.AppendTag(b, spScore, protowire.Fixed32Type)
	b = protowire.AppendFixed32(b, math.Float32bits(score))
	if typ != 0 {
		b = protowire.AppendTag(b, spType, protowire.VarintType)
		b = protowire.AppendVarint(b, uint64(typ))
	}
	return b
}

// spModel is a serialized ModelProto of the pieces, a trainer spec of the
// given model type with byte fallback and ids, and a normalizer spec with
// add_dummy_prefix.
func spModel(pieces [][]byte, modelType int, ids map[protowire.Number]int64, dummyPrefix bool) []byte {
	var b []byte
	for _, p := range pieces {
		b = protowire.AppendTag(b, spPieces, protowire.BytesType)
		b = protowire.AppendBytes(b, p)
	}
	var tr []byte
	tr = protowire.AppendTag(tr, spModelType, protowire.VarintType)
	tr = protowire.AppendVarint(tr, uint64(modelType))
	tr = protowire.AppendTag(tr, spByteFallback, protowire.VarintType)
	tr = protowire.AppendVarint(tr, 1)
	for num, id := range ids {
		tr = protowire.AppendTag(tr, num, protowire.VarintType)
		tr = protowire.AppendVarint(tr, uint64(id)) // negative ids as int32 varints: 10 bytes
	}
	b = protowire.AppendTag(b, spTrainer, protowire.BytesType)
	b = protowire.AppendBytes(b, tr)
	var nm []byte
	nm = protowire.AppendTag(nm, 1, protowire.BytesType) // name
	nm = protowire.AppendString(nm, "identity")
	nm = protowire.AppendTag(nm, spAddDummyPrefix, protowire.VarintType)
	nm = protowire.AppendVarint(nm, map[bool]uint64{false: 0, true: 1}[dummyPrefix])
	b = protowire.AppendTag(b, spNormalizer, protowire.BytesType)
	return protowire.AppendBytes(b, nm)
}

// tinySP is a small BPE model: <unk>, <s>, </s>, a byte token and merges
// of "▁ab".
func tinySP(modelType int, dummyPrefix bool) []byte {
	return spModel([][]byte{
		spPieceMsg("<unk>", 0, 2), spPieceMsg("<s>", 0, 3), spPieceMsg("</s>", 0, 3),
		spPieceMsg("<0x21>", 0, 6),
		spPieceMsg("▁", -1, 0), spPieceMsg("a", -2, 1), spPieceMsg("b", -3, 0),
		spPieceMsg("ab", -4, 0), spPieceMsg("▁ab", -5, 0),
	}, modelType, map[protowire.Number]int64{spUnkID: 0, spBosID: 1, spEosID: 2, spPadID: -1}, dummyPrefix)
}

func TestParseSentencePiece(t *testing.T) {
	tok, err := ParseSentencePiece(tinySP(2, true))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		text string
		want []int
	}{
		{"ab", []int{1, 8}},           // BOS, ▁ab
		{"ab!", []int{1, 8, 3}},       // ! by byte fallback
		{"ba", []int{1, 4, 6, 5}},     // ▁ b a: no merge "ba"
		{"ab ab", []int{1, 8, 8}},     // the space becomes ▁
		{"", []int{1}},                // BOS only
		{"abab", []int{1, 8, 7}},      // ▁ab ab
		{"a", []int{1, 4, 5}},         // ▁ a
		{"\x00", []int{1, 4, 0}},      // no byte token for 0x00: <unk>
		{"b!b", []int{1, 4, 6, 3, 6}}, // ▁ b ! b
	}
	for _, tt := range tests {
		if got := tok.Encode(tt.text, true); !slices.Equal(got, tt.want) {
			t.Errorf("Encode(%q) = %v, want %v", tt.text, got, tt.want)
		}
	}
	if got := tok.Decode([]int{1, 8, 3, 8}); got != "ab! ab" {
		t.Errorf("Decode = %q, want %q", got, "ab! ab")
	}
	v, err := VocabFromSentencePiece(tinySP(2, false))
	if err != nil {
		t.Fatal(err)
	}
	if v.AddSpacePrefix || v.PAD != -1 || v.UNK != 0 || v.BOS != 1 || v.EOS != 2 || v.Types[0] != TypeUnknown || v.Types[4] != TypeNormal || v.Scores[8] != -5 {
		t.Errorf("VocabFromSentencePiece = %+v", v)
	}
}

func TestParseSentencePieceErrors(t *testing.T) {
	good := tinySP(2, true)
	badType := spModel([][]byte{spPieceMsg("<unk>", 0, 9)}, 2, nil, true)
	wrongWire := append(protowire.AppendTag(nil, spPieces, protowire.VarintType), 1)
	tests := []struct {
		name string
		data []byte
		want string
	}{
		{"empty", nil, "no pieces"},
		{"unigram", tinySP(1, true), "unigram model"},
		{"truncated", good[:len(good)-3], "normalizer_spec"},
		{"cut in a piece", good[:20], "piece"},
		{"piece type", badType, "type 9"},
		{"pieces as a varint", wrongWire, "wire type"},
		{"not protobuf", []byte("\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff"), "tokenizer.model"},
	}
	for _, tt := range tests {
		tok, err := ParseSentencePiece(tt.data)
		if err == nil || tok != nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: ParseSentencePiece = %v, %v; want an error containing %q", tt.name, tok, err, tt.want)
		}
	}
}

// TestSentencePieceMatchesGGUF reads LLaMA's tokenizer.model (shipped by
// llama2.c) and checks it against llama.cpp's conversion of the same
// vocabulary (the vocab-only GGUF): every token, score and type, the
// special ids and flags. Then llama.cpp's test vectors.
func TestSentencePieceMatchesGGUF(t *testing.T) {
	data, err := os.ReadFile(sharedFile(t, "llama2c/tokenizer.model"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := VocabFromSentencePiece(data)
	if err != nil {
		t.Fatal(err)
	}
	f, err := gguf.Open(sharedFile(t, "gguf/ggml-vocab-llama-spm.gguf"))
	if err != nil {
		t.Fatal(err)
	}
	want, err := VocabFromGGUF(f)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got.Tokens, want.Tokens) || !slices.Equal(got.Scores, want.Scores) || !slices.Equal(got.Types, want.Types) {
		t.Fatalf("tokens, scores or types differ from the GGUF's (%d vs %d tokens)", len(got.Tokens), len(want.Tokens))
	}
	if got.BOS != want.BOS || got.EOS != want.EOS || got.UNK != want.UNK || got.PAD != want.PAD ||
		got.AddBOS != want.AddBOS || got.AddEOS != want.AddEOS || got.AddSpacePrefix != want.AddSpacePrefix {
		t.Errorf("specials: got BOS %d EOS %d UNK %d PAD %d add %v/%v/%v, GGUF's BOS %d EOS %d UNK %d PAD %d add %v/%v/%v",
			got.BOS, got.EOS, got.UNK, got.PAD, got.AddBOS, got.AddEOS, got.AddSpacePrefix,
			want.BOS, want.EOS, want.UNK, want.PAD, want.AddBOS, want.AddEOS, want.AddSpacePrefix)
	}
	tok, err := LoadSentencePiece(sharedFile(t, "llama2c/tokenizer.model"))
	if err != nil {
		t.Fatal(err)
	}
	checkVectors(t, tok, spmVectors(t))
}

func FuzzParseSentencePiece(f *testing.F) {
	f.Add(tinySP(2, true))
	f.Add(tinySP(1, false))
	f.Add([]byte{})
	f.Add([]byte{0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, data []byte) {
		tok, err := ParseSentencePiece(data)
		exercise(t, tok, err)
	})
}
