package tokenizer

import (
	"fmt"
	"math"
	"os"

	"google.golang.org/protobuf/encoding/protowire"
)

// LoadSentencePiece reads a SentencePiece model file: the tokenizer.model
// that Hugging Face folders of LLaMA 1 and 2, Mistral and Mixtral ship
// beside their safetensors. See ParseSentencePiece.
func LoadSentencePiece(path string) (*Tokenizer, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("tokenizer: %w", err)
	}
	return parseSentencePiece(path, data)
}

// ParseSentencePiece builds a tokenizer from the bytes of a SentencePiece
// model (a serialized sentencepiece.ModelProto), as llama.cpp's converter
// does: the pieces, their scores and types make a "llama" vocabulary, the
// trainer's unk, bos, eos and pad ids are its special tokens (-1: none),
// BOS is added, and the normalizer's add_dummy_prefix (default true) puts
// a space first. Only BPE models with byte fallback are supported, the kind
// every LLaMA-family tokenizer.model is; a unigram model is an error. The
// normalizer's other settings (remove_extra_whitespaces, its precompiled
// character map) are not applied, as llama.cpp does not apply them either.
// Malformed data is an error naming the field, never a panic.
func ParseSentencePiece(data []byte) (*Tokenizer, error) {
	return parseSentencePiece("tokenizer.model", data)
}

// VocabFromSentencePiece reads a SentencePiece model into a Vocab; see
// ParseSentencePiece.
func VocabFromSentencePiece(data []byte) (Vocab, error) {
	return vocabFromSentencePiece("tokenizer.model", data)
}

func parseSentencePiece(name string, data []byte) (*Tokenizer, error) {
	v, err := vocabFromSentencePiece(name, data)
	if err != nil {
		return nil, err
	}
	t, err := New(v)
	if err != nil {
		return nil, fmt.Errorf("%w (in %s)", err, name)
	}
	return t, nil
}

// The field numbers of sentencepiece_model.proto that matter here.
const (
	spPieces     = 1 // ModelProto.pieces: repeated SentencePiece
	spTrainer    = 2 // ModelProto.trainer_spec: TrainerSpec
	spNormalizer = 3 // ModelProto.normalizer_spec: NormalizerSpec

	spPiece = 1 // SentencePiece.piece: string
	spScore = 2 // SentencePiece.score: float
	spType  = 3 // SentencePiece.type: enum, NORMAL (1) by default

	spModelType    = 3  // TrainerSpec.model_type: UNIGRAM 1, BPE 2, WORD 3, CHAR 4
	spByteFallback = 35 // TrainerSpec.byte_fallback: bool
	spUnkID        = 40 // TrainerSpec.unk_id: int32, default 0
	spBosID        = 41 // default 1
	spEosID        = 42 // default 2
	spPadID        = 43 // default -1

	spAddDummyPrefix = 3 // NormalizerSpec.add_dummy_prefix: bool, default true
)

func vocabFromSentencePiece(name string, data []byte) (Vocab, error) {
	fail := func(format string, args ...any) (Vocab, error) {
		return Vocab{}, fmt.Errorf("tokenizer: %s: %s", name, fmt.Sprintf(format, args...))
	}
	v := Vocab{Model: "llama", BOS: 1, EOS: 2, UNK: 0, PAD: -1, AddBOS: true, AddSpacePrefix: true}
	modelType := int64(1) // UNIGRAM, the proto's default
	byteFallback := false
	var trainer, normalizer []byte
	err := fields(data, modelFields, func(num protowire.Number, typ protowire.Type, val []byte, _ uint64) error {
		if typ != protowire.BytesType {
			if num == spPieces || num == spTrainer || num == spNormalizer {
				return fmt.Errorf("field %d (%s) has wire type %d, want a message", num, modelFields[num], typ)
			}
			return nil
		}
		switch num {
		case spPieces:
			piece, score, typ, err := sentencePiece(val)
			if err != nil {
				return fmt.Errorf("piece %d: %w", len(v.Tokens), err)
			}
			v.Tokens = append(v.Tokens, piece)
			v.Scores = append(v.Scores, score)
			v.Types = append(v.Types, typ)
		case spTrainer:
			trainer = val
		case spNormalizer:
			normalizer = val
		}
		return nil
	})
	if err != nil {
		return fail("%v", err)
	}
	ids := map[protowire.Number]*int{spUnkID: &v.UNK, spBosID: &v.BOS, spEosID: &v.EOS, spPadID: &v.PAD}
	err = fields(trainer, nil, func(num protowire.Number, typ protowire.Type, _ []byte, n uint64) error {
		if typ != protowire.VarintType {
			return nil
		}
		switch {
		case num == spModelType:
			modelType = int64(n)
		case num == spByteFallback:
			byteFallback = n != 0
		case ids[num] != nil:
			*ids[num] = int(int32(n))
		}
		return nil
	})
	if err != nil {
		return fail("trainer_spec: %v", err)
	}
	err = fields(normalizer, nil, func(num protowire.Number, typ protowire.Type, _ []byte, n uint64) error {
		if num == spAddDummyPrefix && typ == protowire.VarintType {
			v.AddSpacePrefix = n != 0
		}
		return nil
	})
	if err != nil {
		return fail("normalizer_spec: %v", err)
	}
	if len(v.Tokens) == 0 {
		return fail("no pieces")
	}
	if modelType != 2 {
		kind := map[int64]string{1: "unigram", 3: "word", 4: "char"}[modelType]
		if kind == "" {
			kind = fmt.Sprintf("type %d", modelType)
		}
		return fail("a %s model; only BPE models (LLaMA, Mistral) are supported", kind)
	}
	if !byteFallback {
		return fail("a BPE model without byte fallback; only byte-fallback models (LLaMA, Mistral) are supported")
	}
	for _, p := range []*int{&v.UNK, &v.BOS, &v.EOS, &v.PAD} {
		if *p < 0 || *p >= len(v.Tokens) {
			*p = -1
		}
	}
	return v, nil
}

// sentencePiece decodes one ModelProto.SentencePiece message.
func sentencePiece(b []byte) (piece string, score float32, typ int32, err error) {
	typ = TypeNormal
	err = fields(b, pieceFields, func(num protowire.Number, wt protowire.Type, val []byte, n uint64) error {
		switch {
		case num == spPiece && wt == protowire.BytesType:
			piece = string(val)
		case num == spScore && wt == protowire.Fixed32Type:
			score = math.Float32frombits(uint32(n))
		case num == spType && wt == protowire.VarintType:
			if n < uint64(TypeNormal) || n > uint64(TypeByte) {
				return fmt.Errorf("type %d, want 1 to 6", n)
			}
			typ = int32(n)
		case num == spPiece || num == spScore || num == spType:
			return fmt.Errorf("field %d (%s) has wire type %d", num, pieceFields[num], wt)
		}
		return nil
	})
	return piece, score, typ, err
}

// Field names for errors.
var (
	modelFields = map[protowire.Number]string{spPieces: "pieces", spTrainer: "trainer_spec", spNormalizer: "normalizer_spec"}
	pieceFields = map[protowire.Number]string{spPiece: "piece", spScore: "score", spType: "type"}
)

// fields calls fn for each field of the protobuf message b, in order: its
// number, wire type, and value (the bytes of a length-delimited field, or
// the number of a varint or fixed-width one). Groups are skipped. A
// truncated or malformed field is an error, naming the field by names
// where it has one there.
func fields(b []byte, names map[protowire.Number]string, fn func(num protowire.Number, typ protowire.Type, val []byte, n uint64) error) error {
	for off := 0; off < len(b); {
		num, typ, k := protowire.ConsumeTag(b[off:])
		if k < 0 {
			return fmt.Errorf("offset %d: %w", off, protowire.ParseError(k))
		}
		off += k
		var val []byte
		var n uint64
		switch typ {
		case protowire.VarintType:
			n, k = protowire.ConsumeVarint(b[off:])
		case protowire.Fixed32Type:
			var u uint32
			u, k = protowire.ConsumeFixed32(b[off:])
			n = uint64(u)
		case protowire.Fixed64Type:
			n, k = protowire.ConsumeFixed64(b[off:])
		case protowire.BytesType:
			val, k = protowire.ConsumeBytes(b[off:])
		default:
			k = protowire.ConsumeFieldValue(num, typ, b[off:])
		}
		if k < 0 {
			name := ""
			if names[num] != "" {
				name = " (" + names[num] + ")"
			}
			return fmt.Errorf("field %d%s at offset %d: %w", num, name, off, protowire.ParseError(k))
		}
		off += k
		if typ == protowire.StartGroupType || typ == protowire.EndGroupType {
			continue
		}
		if err := fn(num, typ, val, n); err != nil {
			return err
		}
	}
	return nil
}
