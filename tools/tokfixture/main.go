// Command tokfixture writes the small vocabulary fixtures that package
// tokenizer's BPE tests read, from full vocabularies too large to commit.
//
// A fixture keeps, of a vocabulary, only what llama.cpp's test vectors can
// reach: every special (control, user-defined, unknown) token, the 256
// single-byte tokens, every token whose byte-level text occurs somewhere in
// a test input, and every merge whose joined text does. Tokens keep their
// ids (the ids in between are left empty), and merges their order, so the
// vectors' expected ids stay valid. Nothing outside this set can take part
// in encoding an input: BPE only ever looks up substrings of the text. The
// command checks that claim: it encodes every vector with the full and with
// the reduced vocabulary and fails unless both give llama.cpp's ids.
//
// From a GGUF vocabulary (llama.cpp's models/ggml-vocab-gpt-2.gguf):
//
//	go run ./tools/tokfixture -gguf models/ggml-vocab-gpt-2.gguf \
//	    -vectors models/ggml-vocab-gpt-2.gguf -o tokenizer/testdata/gpt-2
//
// From a Hugging Face encoder.json and merges file (LLaMA 3's vocabulary,
// whose ggml-vocab-llama-bpe.gguf is not at hand), with LLaMA 3's 256
// special tokens added as control tokens:
//
//	go run ./tools/tokfixture -encoder encoder.json -merges vocab.bpe \
//	    -pre llama-bpe -llama3-specials \
//	    -vectors models/ggml-vocab-llama-bpe.gguf -extra tokenizer/testdata/bench.txt \
//	    -o tokenizer/testdata/llama-bpe
//
// With -extra FILE the fixture also covers that text (the benchmark's), and
// the command checks that the full and reduced vocabularies encode it alike.
//
// It writes <o>.vocab.json (the reduced vocabulary) and copies the
// vectors, <vectors>.inp and .out, to <o>.inp and <o>.out unchanged.
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/gograd/gograd/nn/gguf"
	"github.com/gograd/gograd/tokenizer"
)

// fixture is the JSON form of a reduced vocabulary; tokenizer's tests read
// it into a tokenizer.Vocab (see tokenizer/fixture_test.go).
type fixture struct {
	Source         string    `json:"source"`
	Model          string    `json:"model"`
	Pre            string    `json:"pre"`
	NTokens        int       `json:"n_tokens"`
	BOS            int       `json:"bos"`
	EOS            int       `json:"eos"`
	UNK            int       `json:"unk"`
	PAD            int       `json:"pad"`
	EOG            []int     `json:"eog,omitempty"`
	AddBOS         bool      `json:"add_bos"`
	AddEOS         bool      `json:"add_eos"`
	AddSpacePrefix bool      `json:"add_space_prefix"`
	IDs            []int     `json:"ids"`
	Texts          []string  `json:"texts"`
	Types          []int32   `json:"types"`
	Scores         []float32 `json:"scores,omitempty"`
	Merges         []string  `json:"merges"`
}

func main() {
	ggufPath := flag.String("gguf", "", "GGUF file with the vocabulary")
	encoder := flag.String("encoder", "", "Hugging Face encoder.json (token -> id)")
	mergesPath := flag.String("merges", "", "Hugging Face merges file (vocab.bpe / merges.txt)")
	pre := flag.String("pre", "", "pre-tokenizer name, with -encoder")
	llama3 := flag.Bool("llama3-specials", false, "with -encoder: add LLaMA 3's special tokens 128000-128255 (BOS 128000, EOS 128001)")
	vectors := flag.String("vectors", "", "test vectors: path without .inp/.out")
	extra := flag.String("extra", "", "a text file the fixture must also cover (no expected ids: the reduced vocabulary must encode it as the full one does)")
	out := flag.String("o", "", "output path without extension")
	flag.Parse()
	if *vectors == "" || *out == "" || (*ggufPath == "") == (*encoder == "") {
		flag.Usage()
		os.Exit(2)
	}

	var v tokenizer.Vocab
	var source string
	var err error
	if *ggufPath != "" {
		f, err := gguf.Open(*ggufPath)
		if err != nil {
			log.Fatal(err)
		}
		if v, err = tokenizer.VocabFromGGUF(f); err != nil {
			log.Fatal(err)
		}
		source = "llama.cpp " + baseName(*ggufPath)
	} else {
		if v, err = readHF(*encoder, *mergesPath, *pre, *llama3); err != nil {
			log.Fatal(err)
		}
		source = baseName(*encoder) + " + " + baseName(*mergesPath)
		if *llama3 {
			source += " + LLaMA 3 special tokens"
		}
	}
	if v.Model != "gpt2" {
		log.Fatalf("model %q: only byte-level BPE (gpt2) vocabularies need reducing", v.Model)
	}

	inp, err := os.ReadFile(*vectors + ".inp")
	if err != nil {
		log.Fatal(err)
	}
	outp, err := os.ReadFile(*vectors + ".out")
	if err != nil {
		log.Fatal(err)
	}
	texts, want, err := parseVectors(string(inp), string(outp))
	if err != nil {
		log.Fatal(err)
	}

	covered := texts
	var extraText string
	if *extra != "" {
		data, err := os.ReadFile(*extra)
		if err != nil {
			log.Fatal(err)
		}
		extraText = string(data)
		covered = append(slices.Clip(texts), extraText)
	}
	small := reduce(v, covered)
	var extraIDs []int
	for _, c := range []struct {
		name string
		v    tokenizer.Vocab
	}{{"full", v}, {"reduced", small}} {
		tok, err := tokenizer.New(c.v)
		if err != nil {
			log.Fatalf("%s vocabulary: %v", c.name, err)
		}
		pass := 0
		for i, text := range texts {
			if got := tok.Encode(text, false); slices.Equal(got, want[i]) {
				pass++
			} else {
				log.Printf("%s vocabulary, case %d %q:\n got %v\nwant %v", c.name, i, text, got, want[i])
			}
		}
		log.Printf("%s vocabulary: %d of %d vectors pass", c.name, pass, len(texts))
		if pass != len(texts) {
			log.Fatal("not writing a fixture that fails")
		}
		if *extra != "" {
			ids := tok.Encode(extraText, false)
			if extraIDs != nil && !slices.Equal(ids, extraIDs) {
				log.Fatalf("%s: the reduced vocabulary encodes it differently", *extra)
			}
			extraIDs = ids
		}
	}
	if *extra != "" {
		log.Printf("%s: %d tokens, the same with both vocabularies", *extra, len(extraIDs))
	}

	fx := fixture{
		Source: source, Model: small.Model, Pre: small.Pre, NTokens: len(small.Tokens),
		BOS: small.BOS, EOS: small.EOS, UNK: small.UNK, PAD: small.PAD, EOG: small.EOG,
		AddBOS: small.AddBOS, AddEOS: small.AddEOS, AddSpacePrefix: small.AddSpacePrefix,
		Merges: small.Merges,
	}
	for i, s := range small.Tokens {
		if s == "" {
			continue
		}
		fx.IDs = append(fx.IDs, i)
		fx.Texts = append(fx.Texts, s)
		fx.Types = append(fx.Types, small.Types[i])
		if small.Scores != nil {
			fx.Scores = append(fx.Scores, small.Scores[i])
		}
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", " ")
	if err := enc.Encode(fx); err != nil {
		log.Fatal(err)
	}
	for name, data := range map[string][]byte{".vocab.json": buf.Bytes(), ".inp": inp, ".out": outp} {
		if err := os.WriteFile(*out+name, data, 0o644); err != nil {
			log.Fatal(err)
		}
	}
	log.Printf("wrote %s.vocab.json: %d of %d tokens, %d of %d merges (%d bytes)",
		*out, len(fx.IDs), len(v.Tokens), len(fx.Merges), len(v.Merges), buf.Len())
}

// reduce keeps what the inputs can reach (see the package comment).
func reduce(v tokenizer.Vocab, texts []string) tokenizer.Vocab {
	var corpus []string
	for _, t := range texts {
		corpus = append(corpus, byteLevel(t))
	}
	occurs := func(s string) bool {
		for _, c := range corpus {
			if strings.Contains(c, s) {
				return true
			}
		}
		return false
	}
	single := map[string]bool{}
	for b := range 256 {
		single[byteLevel(string([]byte{byte(b)}))] = true
	}
	small := v
	small.Tokens = make([]string, len(v.Tokens))
	small.Types = make([]int32, len(v.Tokens))
	if v.Scores != nil {
		small.Scores = make([]float32, len(v.Tokens))
	}
	for i, s := range v.Tokens {
		typ := tokenizer.TypeNormal
		if v.Types != nil {
			typ = v.Types[i]
		}
		special := typ == tokenizer.TypeControl || typ == tokenizer.TypeUserDefined || typ == tokenizer.TypeUnknown
		if special || single[s] || occurs(s) {
			small.Tokens[i], small.Types[i] = s, typ
			if v.Scores != nil {
				small.Scores[i] = v.Scores[i]
			}
		} else {
			small.Types[i] = tokenizer.TypeUnused
		}
	}
	small.Merges = nil
	for _, m := range v.Merges {
		if occurs(strings.Replace(m, " ", "", 1)) {
			small.Merges = append(small.Merges, m)
		}
	}
	return small
}

// byteLevel maps text to GPT-2's byte-level alphabet.
func byteLevel(text string) string {
	var b strings.Builder
	for i := 0; i < len(text); i++ {
		b.WriteRune(byteRune(text[i]))
	}
	return b.String()
}

func byteRune(c byte) rune {
	n := rune(256)
	for b := range 256 {
		printable := '!' <= b && b <= '~' || 0xA1 <= b && b <= 0xAC || 0xAE <= b && b <= 0xFF
		if b == int(c) {
			if printable {
				return rune(b)
			}
			return n
		}
		if !printable {
			n++
		}
	}
	panic("unreachable")
}

// readHF reads a Hugging Face byte-level BPE vocabulary.
func readHF(encoderPath, mergesPath, pre string, llama3 bool) (tokenizer.Vocab, error) {
	data, err := os.ReadFile(encoderPath)
	if err != nil {
		return tokenizer.Vocab{}, err
	}
	var ids map[string]int
	if err := json.Unmarshal(data, &ids); err != nil {
		return tokenizer.Vocab{}, fmt.Errorf("%s: %w", encoderPath, err)
	}
	n := 0
	for _, id := range ids {
		if id < 0 || id > 1<<24 {
			return tokenizer.Vocab{}, fmt.Errorf("%s: id %d out of range", encoderPath, id)
		}
		n = max(n, id+1)
	}
	v := tokenizer.Vocab{Model: "gpt2", Pre: pre, BOS: -1, EOS: -1, UNK: -1, PAD: -1}
	if llama3 {
		n = max(n, 128256)
		v.BOS, v.EOS, v.AddBOS = 128000, 128001, true
	}
	v.Tokens = make([]string, n)
	v.Types = make([]int32, n)
	for s, id := range ids {
		v.Tokens[id], v.Types[id] = s, tokenizer.TypeNormal
	}
	if llama3 {
		// Meta-Llama-3-8B's added tokens.
		named := map[int]string{
			128000: "<|begin_of_text|>", 128001: "<|end_of_text|>",
			128006: "<|start_header_id|>", 128007: "<|end_header_id|>", 128009: "<|eot_id|>",
		}
		reserved := 0
		for id := 128000; id < 128256; id++ {
			s, ok := named[id]
			if !ok {
				s = "<|reserved_special_token_" + strconv.Itoa(reserved) + "|>"
				reserved++
			}
			v.Tokens[id], v.Types[id] = s, tokenizer.TypeControl
		}
	}
	for i, s := range v.Tokens {
		if s == "" {
			v.Types[i] = tokenizer.TypeUnused
		}
	}
	f, err := os.Open(mergesPath)
	if err != nil {
		return tokenizer.Vocab{}, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#version") || line == "" {
			continue
		}
		v.Merges = append(v.Merges, line)
	}
	return v, sc.Err()
}

// parseVectors reads llama.cpp's .inp (inputs each followed by a line
// "__ggml_vocab_test__") and .out (a line of ids per input).
func parseVectors(inp, out string) ([]string, [][]int, error) {
	const sep = "\n__ggml_vocab_test__\n"
	var texts []string
	for inp != "" {
		k := strings.Index(inp, sep)
		if k < 0 {
			return nil, nil, fmt.Errorf("input %d has no separator after it", len(texts)+1)
		}
		texts = append(texts, inp[:k])
		inp = inp[k+len(sep):]
	}
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != len(texts) {
		return nil, nil, fmt.Errorf("%d inputs, %d outputs", len(texts), len(lines))
	}
	want := make([][]int, len(lines))
	for i, l := range lines {
		for _, f := range strings.Fields(l) {
			id, err := strconv.Atoi(f)
			if err != nil {
				return nil, nil, fmt.Errorf("output %d: %w", i+1, err)
			}
			want[i] = append(want[i], id)
		}
	}
	return texts, want, nil
}

func baseName(p string) string {
	return p[strings.LastIndexByte(p, '/')+1:]
}
