package main

import (
	"io"
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"testing"

	"github.com/gograd/gograd/models"
	"github.com/gograd/gograd/nn/gguf"
	"github.com/gograd/gograd/nn/quant"
)

// writeCustom runs randllama with a custom shape given by flags, writing
// path, and opens what it wrote.
func writeCustom(t *testing.T, path string, flags ...string) *gguf.File {
	t.Helper()
	args := append(append([]string{"-shape", "custom"}, flags...), "-o", path)
	if err := run(args, io.Discard); err != nil {
		t.Fatal(err)
	}
	f, err := gguf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// TestTinyModelRuns writes a tiny model of every type, loads it with its
// tokenizer as gograd does, and checks that a decoding step gives finite,
// varied logits. dim 256 makes q4_0's output Q6_K.
func TestTinyModelRuns(t *testing.T) {
	for _, typ := range fileTypes {
		t.Run(typ.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "tiny.gguf")
			f := writeCustom(t, path, "-dim", "256", "-layers", "1", "-heads", "4", "-kv-heads", "2",
				"-ffn", "64", "-vocab", "400", "-ctx", "16", "-type", typ.name, "-seed", "7")
			out, _ := f.Tensor("output.weight")
			if want := typ.output(256); out.Type != want {
				t.Errorf("output.weight is %s, want %s", out.Type, want)
			}
			m, tok, err := models.Open(path, models.OpenOptions{})
			if err != nil {
				t.Fatal(err)
			}
			c := m.Config
			if c.Dim != 256 || c.Layers != 1 || c.Heads != 4 || c.KVHeads != 2 || c.HiddenDim != 64 || c.Vocab != 400 || c.Context != 16 {
				t.Fatalf("config %+v is not the shape written", c)
			}
			ids := tok.Encode("Once", true)
			if want := []int{1, specialTokens, specialTokens + 1 + 'O' - '!'}; len(ids) != 6 || !slices.Equal(ids[:3], want) {
				t.Fatalf(`"Once" encodes to %v, want 6 ids starting %v`, ids, want)
			}
			if got := tok.Decode(ids[1:]); got != "Once" {
				t.Errorf("ids decode to %q, want \"Once\"", got)
			}
			logits, err := m.NewSession(4).Step(ids[0])
			if err != nil {
				t.Fatal(err)
			}
			v := logits.Float32s()
			if len(v) != c.Vocab {
				t.Fatalf("%d logits, want %d", len(v), c.Vocab)
			}
			for i, x := range v {
				if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
					t.Fatalf("logit %d is %v", i, x)
				}
			}
			if slices.Min(v) == slices.Max(v) {
				t.Fatalf("all logits are %v", v[0])
			}
		})
	}
}

// TestDeterministic: the same seed writes the same bytes, another seed
// other weights.
func TestDeterministic(t *testing.T) {
	dir := t.TempDir()
	write := func(name, seed string) []byte {
		t.Helper()
		f := writeCustom(t, filepath.Join(dir, name), "-dim", "64", "-layers", "1", "-heads", "2", "-kv-heads", "1",
			"-ffn", "96", "-vocab", "300", "-ctx", "8", "-type", "q4_0", "-seed", seed)
		w, _ := f.Tensor("blk.0.ffn_down.weight")
		return slices.Clone(w.Data)
	}
	a, b, c := write("a.gguf", "3"), write("b.gguf", "3"), write("c.gguf", "4")
	if !slices.Equal(a, b) {
		t.Error("seed 3 wrote different weights twice")
	}
	if slices.Equal(a, c) {
		t.Error("seeds 3 and 4 wrote the same weights")
	}
}

func TestBadArguments(t *testing.T) {
	for _, args := range [][]string{
		{"-shape", "stories15M"},                           // no -o
		{"-shape", "nope", "-o", "x"},                      // unknown shape
		{"-type", "q2_k", "-o", "x"},                       // unknown type
		{"-shape", "custom", "-dim", "64", "-o", "x"},      // custom shape incomplete
		{"-dim", "100", "-type", "q8_0", "-o", "x"},        // rows not whole blocks
		{"-heads", "5", "-o", "x"},                         // 288 / 5
		{"-vocab", "100", "-o", "x"},                       // no room for the byte tokens
		{"-shape", "stories15M", "-o", "x", "extra"},       // stray argument
		{"-shape", "stories15M", "-std", "-1", "-o", "x"},  // negative deviation
		{"-shape", "stories15M", "-std", "NaN", "-o", "x"}, // NaN deviation
	} {
		if err := run(args, io.Discard); err == nil {
			t.Errorf("run(%q) succeeded", args)
		}
	}
}

// TestQ6K decodes appendQ6K's blocks with package quant's reference
// dequantization: each value comes back within half a step of its 16's
// scale, plus the error of rounding that scale to an int8 times d.
func TestQ6K(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	x := make([]float32, 4*256)
	for i := range x {
		x[i] = float32(rng.NormFloat64()) * float32(math.Pow(10, float64(i/256-2)))
	}
	for i := 300; i < 316; i++ { // a 16 of zeros
		x[i] = 0
	}
	x[600] = 7 // an outlier
	data := appendQ6K(nil, x)
	if len(data) != len(x)/256*gguf.Q6_K.BlockBytes() {
		t.Fatalf("%d bytes for %d values", len(data), len(x))
	}
	got := make([]float32, len(x))
	if err := quant.DequantizeBlocks(quant.Q6_K, data, got); err != nil {
		t.Fatal(err)
	}
	for b := 0; b < len(x); b += 256 {
		var amax float64
		for _, v := range x[b : b+256] {
			amax = max(amax, math.Abs(float64(v)))
		}
		d := amax / 32 / 127
		for s := b; s < b+256; s += 16 {
			var smax float64
			for _, v := range x[s : s+16] {
				smax = max(smax, math.Abs(float64(v)))
			}
			bound := (smax/32/2+16*d)*1.01 + 1e-9
			for i := s; i < s+16; i++ {
				if e := math.Abs(float64(got[i] - x[i])); e > bound {
					t.Fatalf("value %d: %v decodes to %v, error %v over %v", i, x[i], got[i], e, bound)
				}
			}
		}
	}
}
