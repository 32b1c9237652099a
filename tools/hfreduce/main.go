// Command hfreduce writes a reduced copy of a Hugging Face tokenizer.json
// for package tokenizer's tests: the same file, structure and special
// tokens, with the model's vocabulary and merges cut down to those of a
// reduced vocabulary fixture (testdata/<name>.vocab.json, written by
// tools/tokfixture, which keeps what llama.cpp's test vectors can reach).
// It refuses to write unless the full and the reduced file both give the
// vectors' expected ids.
//
//	go run ./tools/hfreduce -tokenizer Llama-3/tokenizer.json \
//	    -fixture tokenizer/testdata/llama-bpe.vocab.json \
//	    -vectors tokenizer/testdata/llama-bpe -o tokenizer/testdata/llama-bpe.tokenizer.json
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/gograd/gograd/tokenizer"
)

func main() {
	tokPath := flag.String("tokenizer", "", "the full tokenizer.json")
	fixture := flag.String("fixture", "", "the reduced vocabulary fixture (.vocab.json) to cut down to")
	vectors := flag.String("vectors", "", "test vectors: path without .inp/.out")
	out := flag.String("o", "", "the reduced tokenizer.json to write")
	flag.Parse()
	if *tokPath == "" || *fixture == "" || *vectors == "" || *out == "" {
		flag.Usage()
		os.Exit(2)
	}
	full, err := os.ReadFile(*tokPath)
	check(err)
	var fx struct {
		IDs    []int    `json:"ids"`
		Merges []string `json:"merges"`
	}
	b, err := os.ReadFile(*fixture)
	check(err)
	check(json.Unmarshal(b, &fx))

	var top map[string]json.RawMessage
	check(json.Unmarshal(full, &top))
	var model map[string]json.RawMessage
	check(json.Unmarshal(top["model"], &model))
	var vocab map[string]int
	check(json.Unmarshal(model["vocab"], &vocab))
	keep := map[int]bool{}
	for _, id := range fx.IDs {
		keep[id] = true
	}
	reduced := map[string]int{}
	for s, id := range vocab {
		if keep[id] {
			reduced[s] = id
		}
	}
	merges := map[string]bool{}
	for _, m := range fx.Merges {
		merges[m] = true
	}
	var mergeOut any
	var strs []string
	if json.Unmarshal(model["merges"], &strs) == nil {
		mergeOut = slices.DeleteFunc(strs, func(m string) bool { return !merges[m] })
	} else {
		var pairs [][2]string
		check(json.Unmarshal(model["merges"], &pairs))
		mergeOut = slices.DeleteFunc(pairs, func(p [2]string) bool { return !merges[p[0]+" "+p[1]] })
	}
	model["vocab"] = marshal(reduced)
	model["merges"] = marshal(mergeOut)
	top["model"] = marshal(model)
	small := marshal(top)

	texts, ids := readVectors(*vectors)
	for _, f := range []struct {
		name string
		data []byte
	}{{"full", full}, {"reduced", small}} {
		tok, err := tokenizer.ParseHF(f.data, nil)
		check(err)
		for i, text := range texts {
			if got := tok.Encode(text, false); !slices.Equal(got, ids[i]) {
				log.Fatalf("%s file: vector %d (%q) encodes to %v, want %v", f.name, i, text, got, ids[i])
			}
		}
	}
	check(os.WriteFile(*out, small, 0o644))
	fmt.Printf("%s: %d of %d tokens, %d merges, %d bytes\n", *out, len(reduced), len(vocab), len(fx.Merges), len(small))
}

// marshal is JSON without HTML escaping, indented by one space.
func marshal(v any) json.RawMessage {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	check(enc.Encode(v))
	var out bytes.Buffer
	check(json.Indent(&out, bytes.TrimSpace(buf.Bytes()), "", " "))
	return out.Bytes()
}

// readVectors reads llama.cpp's .inp/.out test vectors.
func readVectors(path string) ([]string, [][]int) {
	in, err := os.ReadFile(path + ".inp")
	check(err)
	outs, err := os.ReadFile(path + ".out")
	check(err)
	texts := strings.Split(string(in), "\n__ggml_vocab_test__\n")
	texts = texts[:len(texts)-1]
	lines := strings.Split(strings.TrimSuffix(string(outs), "\n"), "\n")
	if len(lines) != len(texts) {
		log.Fatalf("%d inputs, %d outputs", len(texts), len(lines))
	}
	ids := make([][]int, len(lines))
	for i, l := range lines {
		for _, f := range strings.Fields(l) {
			id, err := strconv.Atoi(f)
			check(err)
			ids[i] = append(ids[i], id)
		}
	}
	return texts, ids
}

func check(err error) {
	if err != nil {
		log.Fatal(err)
	}
}
