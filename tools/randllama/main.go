// Command randllama writes a LLaMA model with random weights as a GGUF
// version 3 file, at the shapes of the benchmark models, so that gograd and
// llama.cpp can be timed on the same model without Python or a download:
//
//	go run ./tools/randllama -shape stories15M -type q4_0 -o /tmp/randllama/stories15M-q4_0.gguf
//
// The shapes (-shape) are
//
//	name            dim   layers  heads  kv heads  ffn hidden  vocab  context
//	stories15M      288   6       6      6         768         32000  256
//	stories110M     768   12      12     12        2048        32000  1024
//	tinyllama-1.1B  2048  22      32     4         5632        32000  2048
//
// and -dim, -layers, -heads, -kv-heads, -ffn, -vocab and -ctx override any
// of a shape's numbers (with -shape custom, all of them must be given); the
// file is then named "custom-shape".
//
// The file mirrors the ones llama.cpp's tools make (convert, then
// llama-quantize): the same metadata keys, tensor names, dimensions and
// alignment, and the same tensor types for each -type:
//
//	-type  matrices  token_embd.weight  output.weight                 norms
//	f32    F32       F32                F32                           F32
//	f16    F16       F16                F16                           F32
//	q8_0   Q8_0      Q8_0               Q8_0                          F32
//	q4_0   Q4_0      Q4_0               Q6_K (Q8_0 if dim%256 != 0)   F32
//
// Weights are drawn from a normal distribution of standard deviation 0.02
// (-std), deterministically from -seed, and the norms' weights are 1, so
// the logits stay small and finite. Q8_0 and Q4_0 are quantized as ggml's
// reference quantizers do (package quant); Q6_K by plain rounding, with
// one scale per 16 values set by their largest magnitude.
//
// The tokenizer is a synthetic SentencePiece ("llama") vocabulary of vocab
// tokens that llama.cpp and package tokenizer both accept: <unk>, <s>,
// </s>, the 256 byte tokens <0x00>..<0xFF>, "▁" and the printable ASCII
// characters, then filler pieces "▁t0", "▁t1", ... with decreasing scores.
// Text encodes to single characters; generated text is gibberish.
//
// gguf.Write takes every tensor's bytes at once, so the model is held in
// memory once, encoded (about the file's size: 4.4 GB for tinyllama-1.1B in
// f32), never as float32 beside its encoding. The file is written under a
// temporary name and renamed into place when complete.
package main

import (
	"cmp"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gograd/gograd/dtype"
	"github.com/gograd/gograd/nn/gguf"
	"github.com/gograd/gograd/nn/quant"
)

// shape is a model's hyperparameters.
type shape struct {
	name                                             string
	dim, layers, heads, kvHeads, ffn, vocab, context int
}

// shapes are the benchmark models' shapes.
var shapes = []shape{
	{"stories15M", 288, 6, 6, 6, 768, 32000, 256},
	{"stories110M", 768, 12, 12, 12, 2048, 32000, 1024},
	{"tinyllama-1.1B", 2048, 22, 32, 4, 5632, 32000, 2048},
}

// specialTokens is the number of tokens before the filler pieces: <unk>,
// <s>, </s> and the 256 byte tokens.
const specialTokens = 3 + 256

// check reports what is wrong with s for a file whose matrices are of type
// t (a block must divide every row).
func (s shape) check(t fileType) error {
	var errs []error
	for _, v := range []struct {
		name string
		n    int
	}{{"dim", s.dim}, {"layers", s.layers}, {"heads", s.heads}, {"kv-heads", s.kvHeads}, {"ffn", s.ffn}, {"vocab", s.vocab}, {"ctx", s.context}} {
		if v.n <= 0 || v.n > 1<<20 {
			errs = append(errs, fmt.Errorf("-%s is %d, want 1 to 2^20", v.name, v.n))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if s.dim%s.heads != 0 || s.dim/s.heads%2 != 0 {
		errs = append(errs, fmt.Errorf("dim %d is not an even head size times %d heads", s.dim, s.heads))
	}
	if s.heads%s.kvHeads != 0 {
		errs = append(errs, fmt.Errorf("%d heads are not a multiple of %d kv heads", s.heads, s.kvHeads))
	}
	if b := t.matrix.BlockElems(); s.dim%b != 0 || s.ffn%b != 0 {
		errs = append(errs, fmt.Errorf("dim %d and ffn %d must be multiples of %s's block of %d", s.dim, s.ffn, t.matrix, b))
	}
	if s.vocab < specialTokens {
		errs = append(errs, fmt.Errorf("vocab %d is smaller than the %d special and byte tokens", s.vocab, specialTokens))
	}
	return errors.Join(errs...)
}

// fileType is a -type: the types of the matrices and of the output matrix,
// and llama.cpp's general.file_type (enum llama_ftype).
type fileType struct {
	name      string
	matrix    gguf.Type
	ftype     uint32
	quantized bool
}

var fileTypes = []fileType{
	{"f32", gguf.F32, 0, false},
	{"f16", gguf.F16, 1, false},
	{"q4_0", gguf.Q4_0, 2, true},
	{"q8_0", gguf.Q8_0, 7, true},
}

// output is the type of output.weight, as llama-quantize chooses it: Q6_K
// for the formats below 8 bits when its rows are whole Q6_K blocks, Q8_0
// when they are not.
func (t fileType) output(dim int) gguf.Type {
	if t.matrix != gguf.Q4_0 {
		return t.matrix
	}
	if dim%gguf.Q6_K.BlockElems() != 0 {
		return gguf.Q8_0
	}
	return gguf.Q6_K
}

// options are what a run writes.
type options struct {
	shape
	typ  fileType
	seed uint64
	std  float64
}

func main() {
	err := run(os.Args[1:], os.Stderr)
	switch {
	case errors.Is(err, flag.ErrHelp):
	case err != nil:
		fmt.Fprintln(os.Stderr, "randllama:", err)
		os.Exit(1)
	}
}

// run parses the command line and writes the file, reporting to stderr.
func run(args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("randllama", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var names, types []string
	for _, s := range shapes {
		names = append(names, s.name)
	}
	for _, t := range fileTypes {
		types = append(types, t.name)
	}
	shapeName := fs.String("shape", "stories15M", "model shape: "+strings.Join(names, ", ")+" or custom")
	typeName := fs.String("type", "f32", "tensor type: "+strings.Join(types, ", "))
	out := fs.String("o", "", "output GGUF `file` (required)")
	seed := fs.Uint64("seed", 1, "random seed")
	std := fs.Float64("std", 0.02, "standard deviation of the weights")
	var over shape
	for _, f := range []struct {
		dst  *int
		name string
	}{{&over.dim, "dim"}, {&over.layers, "layers"}, {&over.heads, "heads"}, {&over.kvHeads, "kv-heads"},
		{&over.ffn, "ffn"}, {&over.vocab, "vocab"}, {&over.context, "ctx"}} {
		fs.IntVar(f.dst, f.name, 0, "override the shape's "+f.name)
	}
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: randllama -shape NAME -type TYPE -o FILE [flags]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if *out == "" {
		return errors.New("no output file: give -o FILE")
	}
	o := options{seed: *seed, std: *std}
	if *shapeName == "custom" {
		o.shape.name = "custom"
	} else {
		i := slices.IndexFunc(shapes, func(s shape) bool { return s.name == *shapeName })
		if i < 0 {
			return fmt.Errorf("unknown shape %q (want %s or custom)", *shapeName, strings.Join(names, ", "))
		}
		o.shape = shapes[i]
	}
	for _, f := range []struct{ dst, v *int }{{&o.dim, &over.dim}, {&o.layers, &over.layers}, {&o.heads, &over.heads},
		{&o.kvHeads, &over.kvHeads}, {&o.ffn, &over.ffn}, {&o.vocab, &over.vocab}, {&o.context, &over.context}} {
		if *f.v != 0 {
			*f.dst, o.shape.name = *f.v, "custom"
		}
	}
	i := slices.IndexFunc(fileTypes, func(t fileType) bool { return t.name == strings.ToLower(*typeName) })
	if i < 0 {
		return fmt.Errorf("unknown type %q (want %s)", *typeName, strings.Join(types, ", "))
	}
	o.typ = fileTypes[i]
	if err := o.check(o.typ); err != nil {
		return err
	}
	if !(o.std > 0) || math.IsInf(o.std, 0) {
		return fmt.Errorf("-std is %v, want a positive number", o.std)
	}
	start := time.Now()
	if err := writeFile(*out, o); err != nil {
		return err
	}
	st, err := os.Stat(*out)
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "randllama: wrote %s: %s %s, %.1f MB in %.1fs\n", *out, o.shape.name, o.typ.name,
		float64(st.Size())/1e6, time.Since(start).Seconds())
	return nil
}

// writeFile writes the model to path through a temporary file in the same
// folder, so that path never holds a partial file.
func writeFile(path string, o options) error {
	kv := metadata(o)
	tensors, err := weights(o)
	if err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".*.tmp")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name()) // fails harmlessly once renamed
	if err := gguf.Write(f, kv, tensors); err != nil {
		f.Close()
		return err
	}
	if err := f.Chmod(0o644); err != nil { // CreateTemp's 0600 is for secrets
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}

// metadata is the file's key-value metadata: llama.cpp's keys for the
// architecture, the file type and the tokenizer.
func metadata(o options) []gguf.KV {
	u32 := func(n int) gguf.Value { return gguf.ValueOf(uint32(n)) }
	kv := []gguf.KV{
		{Key: "general.architecture", Value: gguf.ValueOf("llama")},
		{Key: "general.name", Value: gguf.ValueOf(o.shape.name + "-shape (random weights)")},
		{Key: "llama.context_length", Value: u32(o.context)},
		{Key: "llama.embedding_length", Value: u32(o.dim)},
		{Key: "llama.block_count", Value: u32(o.layers)},
		{Key: "llama.feed_forward_length", Value: u32(o.ffn)},
		{Key: "llama.attention.head_count", Value: u32(o.heads)},
		{Key: "llama.attention.head_count_kv", Value: u32(o.kvHeads)},
		{Key: "llama.rope.dimension_count", Value: u32(o.dim / o.heads)},
		{Key: "llama.rope.freq_base", Value: gguf.ValueOf(float32(10000))},
		{Key: "llama.attention.layer_norm_rms_epsilon", Value: gguf.ValueOf(float32(1e-5))},
		{Key: "llama.vocab_size", Value: u32(o.vocab)},
	}
	// Where llama.cpp's tools put the file type: the converter after the
	// shape, llama-quantize at the end, after the quantization version.
	fileType := gguf.KV{Key: "general.file_type", Value: gguf.ValueOf(o.typ.ftype)}
	if !o.typ.quantized {
		kv = append(kv, fileType)
	}
	tokens, scores, types := vocabulary(o.vocab)
	kv = append(kv,
		gguf.KV{Key: "tokenizer.ggml.model", Value: gguf.ValueOf("llama")},
		gguf.KV{Key: "tokenizer.ggml.pre", Value: gguf.ValueOf("default")},
		gguf.KV{Key: "tokenizer.ggml.tokens", Value: gguf.ValueOf(tokens)},
		gguf.KV{Key: "tokenizer.ggml.scores", Value: gguf.ValueOf(scores)},
		gguf.KV{Key: "tokenizer.ggml.token_type", Value: gguf.ValueOf(types)},
		gguf.KV{Key: "tokenizer.ggml.bos_token_id", Value: u32(1)},
		gguf.KV{Key: "tokenizer.ggml.eos_token_id", Value: u32(2)},
		gguf.KV{Key: "tokenizer.ggml.unknown_token_id", Value: u32(0)},
		gguf.KV{Key: "tokenizer.ggml.add_bos_token", Value: gguf.ValueOf(true)},
		gguf.KV{Key: "tokenizer.ggml.add_eos_token", Value: gguf.ValueOf(false)},
	)
	if o.typ.quantized {
		kv = append(kv, gguf.KV{Key: "general.quantization_version", Value: u32(2)}, fileType)
	}
	return kv
}

// SentencePiece token types (llama.cpp's llama_token_type).
const (
	typeNormal  int32 = 1
	typeUnknown int32 = 2
	typeControl int32 = 3
	typeByte    int32 = 6
)

// vocabulary is a synthetic SentencePiece vocabulary of n tokens (n at
// least specialTokens): <unk>, <s>, </s>, the byte tokens, "▁" and the
// printable ASCII characters, then filler pieces "▁t<i>" to fill it up.
func vocabulary(n int) (tokens []string, scores []float32, types []int32) {
	add := func(tok string, score float32, typ int32) {
		if len(tokens) < n {
			tokens, scores, types = append(tokens, tok), append(scores, score), append(types, typ)
		}
	}
	add("<unk>", 0, typeUnknown)
	add("<s>", 0, typeControl)
	add("</s>", 0, typeControl)
	for b := range 256 {
		add(fmt.Sprintf("<0x%02X>", b), 0, typeByte)
	}
	add("▁", -1, typeNormal)
	for c := byte('!'); c <= '~'; c++ {
		add(string(c), -1, typeNormal)
	}
	for i := 0; len(tokens) < n; i++ {
		add(fmt.Sprintf("▁t%d", i), float32(-2-i), typeNormal)
	}
	return tokens, scores, types
}

// weights are the model's tensors in the order llama.cpp's tools write
// them, each drawn from its own stream of the seed.
func weights(o options) ([]gguf.WriteTensor, error) {
	headDim := o.dim / o.heads
	var tensors []gguf.WriteTensor
	var errs []error
	// matrix adds a matrix of rows × cols (ggml's dimensions {cols, rows}).
	matrix := func(name string, t gguf.Type, rows, cols int) {
		rng := rand.New(rand.NewPCG(o.seed, uint64(len(tensors))))
		data, err := encode(t, rows, cols, func(dst []float32) {
			for i := range dst {
				dst[i] = float32(rng.NormFloat64() * o.std)
			}
		})
		errs = append(errs, err)
		tensors = append(tensors, gguf.WriteTensor{Name: name, Type: t, Dims: []uint64{uint64(cols), uint64(rows)}, Data: data})
	}
	norm := func(name string) {
		data := make([]byte, 4*o.dim)
		for i := range o.dim {
			binary.LittleEndian.PutUint32(data[4*i:], math.Float32bits(1))
		}
		tensors = append(tensors, gguf.WriteTensor{Name: name, Type: gguf.F32, Dims: []uint64{uint64(o.dim)}, Data: data})
	}
	mt := o.typ.matrix
	matrix("token_embd.weight", mt, o.vocab, o.dim)
	norm("output_norm.weight")
	matrix("output.weight", o.typ.output(o.dim), o.vocab, o.dim)
	for i := range o.layers {
		p := fmt.Sprintf("blk.%d.", i)
		norm(p + "attn_norm.weight")
		matrix(p+"attn_q.weight", mt, o.heads*headDim, o.dim)
		matrix(p+"attn_k.weight", mt, o.kvHeads*headDim, o.dim)
		matrix(p+"attn_v.weight", mt, o.kvHeads*headDim, o.dim)
		matrix(p+"attn_output.weight", mt, o.dim, o.heads*headDim)
		norm(p + "ffn_norm.weight")
		matrix(p+"ffn_gate.weight", mt, o.ffn, o.dim)
		matrix(p+"ffn_up.weight", mt, o.ffn, o.dim)
		matrix(p+"ffn_down.weight", mt, o.dim, o.ffn)
	}
	if o.typ.quantized {
		// llama-quantize's order: the tensors outside the blocks, then
		// block by block, each group by name.
		slices.SortFunc(tensors, func(a, b gguf.WriteTensor) int {
			return cmp.Or(cmp.Compare(block(a.Name), block(b.Name)), strings.Compare(a.Name, b.Name))
		})
	}
	return tensors, errors.Join(errs...)
}

// block is the block number of a tensor named "blk.N.*", -1 for others.
func block(name string) int {
	rest, ok := strings.CutPrefix(name, "blk.")
	if !ok {
		return -1
	}
	n, _, _ := strings.Cut(rest, ".")
	i, err := strconv.Atoi(n)
	if err != nil {
		return -1
	}
	return i
}

// chunkElems is about how many float32 values encode draws at a time.
const chunkElems = 1 << 20

// encode returns a rows × cols matrix of type t (cols a multiple of its
// block) as the file stores it, drawing its values in row order, a few
// rows at a time, with fill.
func encode(t gguf.Type, rows, cols int, fill func([]float32)) ([]byte, error) {
	rowBytes := cols / t.BlockElems() * t.BlockBytes()
	out := make([]byte, 0, rows*rowBytes)
	step := max(1, chunkElems/cols)
	buf := make([]float32, min(rows, step)*cols)
	for r := 0; r < rows; r += step {
		n := min(step, rows-r)
		x := buf[:n*cols]
		fill(x)
		switch t {
		case gguf.F32:
			for _, v := range x {
				out = binary.LittleEndian.AppendUint32(out, math.Float32bits(v))
			}
		case gguf.F16:
			for _, v := range x {
				out = binary.LittleEndian.AppendUint16(out, dtype.Float16Bits(v))
			}
		case gguf.Q8_0, gguf.Q4_0:
			quantize, f := quant.QuantizeQ8_0, quant.Q8_0
			if t == gguf.Q4_0 {
				quantize, f = quant.QuantizeQ4_0, quant.Q4_0
			}
			p, err := quantize(n, cols, x)
			if err != nil {
				return nil, err
			}
			b, err := p.Blocks(f)
			if err != nil {
				return nil, err
			}
			out = append(out, b...)
		case gguf.Q6_K:
			out = appendQ6K(out, x)
		default:
			return nil, fmt.Errorf("cannot encode %s", t)
		}
	}
	return out, nil
}

// appendQ6K appends x (whole blocks of 256 values) as ggml's block_q6_K:
// 128 bytes of low nibbles, 64 of high bit pairs, 16 int8 scales (one per
// 16 values) and a half super-scale d; a value is d*scale*(q-32) with q
// from 0 to 63. It rounds to nearest with each 16's scale set by their
// value of largest magnitude (mapped to -32), not ggml's search for the
// scales of least error: the values are random anyway.
func appendQ6K(out []byte, x []float32) []byte {
	const qk, sub = 256, 16
	for len(x) >= qk {
		blk := x[:qk]
		x = x[qk:]
		var scale [qk / sub]float32
		var amax float32
		for j := range scale {
			var m, v float32
			for _, w := range blk[sub*j : sub*j+sub] {
				if a := float32(math.Abs(float64(w))); a > m {
					m, v = a, w
				}
			}
			scale[j] = v / -32
			amax = max(amax, m/32)
		}
		dBits := dtype.Float16Bits(amax / 127)
		d := dtype.Float16Float(dBits)
		var q [qk]uint8
		var sc [qk / sub]int8
		for j := range scale {
			var s float64
			if d != 0 {
				s = min(max(math.Round(float64(scale[j]/d)), -128), 127)
			}
			sc[j] = int8(s)
			var inv float32
			if s != 0 {
				inv = 1 / (d * float32(s))
			}
			for k := sub * j; k < sub*j+sub; k++ {
				q[k] = uint8(min(max(math.Round(float64(blk[k]*inv)), -32), 31) + 32)
			}
		}
		var ql [qk / 2]byte
		var qh [qk / 4]byte
		for h := range 2 { // each half of 128 values: four runs of 32
			q, ql, qh := q[128*h:], ql[64*h:], qh[32*h:]
			for l := range 32 {
				q1, q2, q3, q4 := q[l], q[l+32], q[l+64], q[l+96]
				ql[l] = q1&15 | (q3&15)<<4
				ql[l+32] = q2&15 | (q4&15)<<4
				qh[l] = q1>>4 | (q2>>4)<<2 | (q3>>4)<<4 | (q4>>4)<<6
			}
		}
		out = append(out, ql[:]...)
		out = append(out, qh[:]...)
		for _, s := range sc {
			out = append(out, byte(s))
		}
		out = binary.LittleEndian.AppendUint16(out, dBits)
	}
	return out
}
