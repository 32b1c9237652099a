package llama2c

import (
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"unsafe"
)

// stories260K is the shared llama2.c checkpoint (../shared beside the
// module root).
const stories260K = "../../../shared/data/llama2c/stories260K.bin"

// model is a llama2.c model in export.py's terms: the header values and the
// weights by PyTorch module name, for the writers below.
type model struct {
	dim, hidden, layers, heads, kvHeads, vocab, seqLen int
	shared                                             bool
	w                                                  map[string][]float32
}

// newModel makes a model whose every float is distinct (its index in a
// running count, plus 0.5), so a weight read from the wrong place shows.
func newModel(dim, hidden, layers, heads, kvHeads, vocab, seqLen int, shared bool) *model {
	m := &model{dim, hidden, layers, heads, kvHeads, vocab, seqLen, shared, map[string][]float32{}}
	next := float32(0.5)
	mk := func(name string, n int) {
		v := make([]float32, n)
		for i := range v {
			v[i] = next
			next++
		}
		m.w[name] = v
	}
	kv := dim / heads * kvHeads
	mk("tok_embeddings", vocab*dim)
	for l := range layers {
		mk(fmt.Sprint("attention_norm.", l), dim)
		mk(fmt.Sprint("wq.", l), dim*dim)
		mk(fmt.Sprint("wk.", l), kv*dim)
		mk(fmt.Sprint("wv.", l), kv*dim)
		mk(fmt.Sprint("wo.", l), dim*dim)
		mk(fmt.Sprint("ffn_norm.", l), dim)
		mk(fmt.Sprint("w1.", l), hidden*dim)
		mk(fmt.Sprint("w2.", l), dim*hidden)
		mk(fmt.Sprint("w3.", l), hidden*dim)
	}
	mk("norm", dim)
	if !shared {
		mk("output", vocab*dim)
	}
	return m
}

// ggufName maps export.py's module names to this package's names.
func ggufName(name string) string {
	base, layer, ok := strings.Cut(name, ".")
	top := map[string]string{"tok_embeddings": "token_embd.weight", "norm": "output_norm.weight", "output": "output.weight"}
	if !ok {
		return top[base]
	}
	blk := map[string]string{"attention_norm": "attn_norm", "wq": "attn_q", "wk": "attn_k", "wv": "attn_v", "wo": "attn_output",
		"ffn_norm": "ffn_norm", "w1": "ffn_gate", "w2": "ffn_down", "w3": "ffn_up"}
	return "blk." + layer + "." + blk[base] + ".weight"
}

func appendFloats(b []byte, v []float32) []byte {
	for _, x := range v {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(x))
	}
	return b
}

func appendInts(b []byte, v ...int) []byte {
	for _, x := range v {
		b = binary.LittleEndian.AppendUint32(b, uint32(int32(x)))
	}
	return b
}

// perLayer appends weight kind for every layer, as export.py does.
func (m *model) perLayer(b []byte, kinds ...string) []byte {
	for _, k := range kinds {
		for l := range m.layers {
			b = appendFloats(b, m.w[fmt.Sprint(k, ".", l)])
		}
	}
	return b
}

// v0 writes the model as export.py's legacy_export does.
func (m *model) v0() []byte {
	vocab := m.vocab
	if !m.shared {
		vocab = -vocab
	}
	b := appendInts(nil, m.dim, m.hidden, m.layers, m.heads, m.kvHeads, vocab, m.seqLen)
	b = appendFloats(b, m.w["tok_embeddings"])
	b = m.perLayer(b, "attention_norm", "wq", "wk", "wv", "wo", "ffn_norm", "w1", "w2", "w3")
	b = appendFloats(b, m.w["norm"])
	freqs := make([]float32, m.seqLen*m.dim/m.heads/2)
	for i := range freqs {
		freqs[i] = float32(math.NaN()) // never read
	}
	b = appendFloats(appendFloats(b, freqs), freqs)
	if !m.shared {
		b = appendFloats(b, m.w["output"])
	}
	return b
}

// v1 writes the model as export.py's version1_export does.
func (m *model) v1() []byte {
	b := binary.LittleEndian.AppendUint32(nil, 0x616b3432)
	b = appendInts(b, 1, m.dim, m.hidden, m.layers, m.heads, m.kvHeads, m.vocab, m.seqLen)
	if m.shared {
		b = append(b, 1)
	} else {
		b = append(b, 0)
	}
	b = append(b, make([]byte, 256-len(b))...)
	b = m.perLayer(b, "attention_norm", "ffn_norm")
	b = appendFloats(b, m.w["norm"])
	b = appendFloats(b, m.w["tok_embeddings"])
	b = m.perLayer(b, "wq", "wk", "wv", "wo", "w1", "w2", "w3")
	if !m.shared {
		b = appendFloats(b, m.w["output"])
	}
	return b
}

// check compares a parsed checkpoint with the model it was written from.
func (m *model) check(t *testing.T, c *Checkpoint, version int) {
	t.Helper()
	want := Config{m.dim, m.hidden, m.layers, m.heads, m.kvHeads, m.vocab, m.seqLen, m.shared, version}
	if c.Config != want {
		t.Errorf("Config = %+v, want %+v", c.Config, want)
	}
	if len(c.Weights) != len(m.w) || len(c.Names()) != len(m.w) {
		t.Errorf("%d weights (%d names), want %d", len(c.Weights), len(c.Names()), len(m.w))
	}
	kv := m.dim / m.heads * m.kvHeads
	shapes := map[string][]int{"tok_embeddings": {m.vocab, m.dim}, "output": {m.vocab, m.dim}, "norm": {m.dim},
		"attention_norm": {m.dim}, "ffn_norm": {m.dim}, "wq": {m.dim, m.dim}, "wo": {m.dim, m.dim},
		"wk": {kv, m.dim}, "wv": {kv, m.dim}, "w1": {m.hidden, m.dim}, "w3": {m.hidden, m.dim}, "w2": {m.dim, m.hidden}}
	for name, v := range m.w {
		w, ok := c.Weights[ggufName(name)]
		if !ok {
			t.Errorf("no weight %s (%s)", ggufName(name), name)
			continue
		}
		base, _, _ := strings.Cut(name, ".")
		if w.Name != ggufName(name) || !slices.Equal(w.Shape, shapes[base]) || !slices.Equal(w.Data, v) {
			t.Errorf("%s: got %s %v (%d values), want %v", ggufName(name), w.Name, w.Shape, len(w.Data), shapes[base])
		}
	}
}

// TestVersions writes models in both versions, shared and not, with
// grouped-query attention, and reads them back.
func TestVersions(t *testing.T) {
	for _, shared := range []bool{true, false} {
		m := newModel(8, 12, 3, 4, 2, 11, 5, shared)
		for version, file := range [][]byte{m.v0(), m.v1()} {
			t.Run(fmt.Sprintf("v%d/shared=%v", version, shared), func(t *testing.T) {
				c, err := Parse("m.bin", file)
				if err != nil {
					t.Fatal(err)
				}
				m.check(t, c, version)
				if c.Path != "m.bin" || c.Keep() != nil {
					t.Errorf("Path %q, Keep %v", c.Path, c.Keep())
				}
				// Names come in the file's order: the first is the first
				// weight written.
				first := map[int]string{0: "token_embd.weight", 1: "blk.0.attn_norm.weight"}[version]
				if c.Names()[0] != first {
					t.Errorf("first name %s, want %s", c.Names()[0], first)
				}
			})
		}
	}
}

// TestNoCopy checks that the weights are views of aligned data and copies
// of misaligned data.
func TestNoCopy(t *testing.T) {
	m := newModel(4, 6, 1, 2, 1, 5, 3, true)
	file := m.v0()
	c, err := Parse("m.bin", file)
	if err != nil {
		t.Fatal(err)
	}
	w := c.Weights["token_embd.weight"]
	if unsafe.Pointer(&w.Data[0]) != unsafe.Pointer(&file[28]) {
		t.Error("token_embd.weight is not a view of the file's bytes")
	}
	if b := w.Bytes(); len(b) != 4*len(w.Data) || &b[0] != &file[28] {
		t.Error("Bytes is not a view of the file's bytes")
	}
	buf := make([]byte, len(file)+1)
	copy(buf[1:], file)
	c2, err := Parse("odd.bin", buf[1:])
	if err != nil {
		t.Fatal(err)
	}
	m.check(t, c2, 0)
	w2 := c2.Weights["token_embd.weight"]
	if p := uintptr(unsafe.Pointer(&w2.Data[0])); p%4 != 0 {
		t.Errorf("misaligned weight not copied: address %#x", p)
	}
}

// TestMalformed checks the errors of broken files: each names the file and
// the problem, and nothing panics.
func TestMalformed(t *testing.T) {
	m := newModel(8, 12, 3, 4, 2, 11, 5, false)
	v0, v1 := m.v0(), m.v1()
	hdr := func(v ...int) []byte { return append(appendInts(nil, v...), make([]byte, 64)...) }
	v1hdr := func(version int, v ...int) []byte {
		b := appendInts(binary.LittleEndian.AppendUint32(nil, Magic), append([]int{version}, v...)...)
		b = append(b, 1)
		return append(b, make([]byte, 256-len(b))...)
	}
	setByte := func(b []byte, i int, v byte) []byte { b = slices.Clone(b); b[i] = v; return b }
	cases := []struct {
		name string
		file []byte
		want string
	}{
		{"empty", nil, "file of 0 bytes is shorter than the 28-byte header"},
		{"short header", v0[:27], "file of 27 bytes is shorter than the 28-byte header"},
		{"header only", v0[:28], fmt.Sprintf("the weights end at byte %d, but the file ends at byte 28", len(v0))},
		{"one float short", v0[:len(v0)-4], fmt.Sprintf("but the file ends at byte %d", len(v0)-4)},
		{"one byte short", v0[:len(v0)-1], fmt.Sprintf("but the file ends at byte %d", len(v0)-1)},
		{"trailing bytes", append(slices.Clone(v0), 0, 0, 0, 0), "the file has 4 bytes more"},
		{"classifier missing", v0[:len(v0)-4*11*8], "3 layers of dim 8 (hidden 12, 4 heads, 2 kv heads), vocab 11, seq_len 5, separate classifier: the weights end at byte"},
		{"shared flag wrong", append(appendInts(nil, 8, 12, 3, 4, 2, 11, 5), v0[28:]...), fmt.Sprintf("shared classifier: the weights end at byte %d, but the file has 352 bytes more", len(v0)-352)},
		{"zero dim", hdr(0, 12, 3, 4, 2, 11, 5), "dim 0 is not positive"},
		{"negative hidden", hdr(8, -12, 3, 4, 2, 11, 5), "hidden_dim -12 is not positive"},
		{"zero layers", hdr(8, 12, 0, 4, 2, 11, 5), "n_layers 0 is not positive"},
		{"zero heads", hdr(8, 12, 3, 0, 2, 11, 5), "n_heads 0 is not positive"},
		{"zero kv heads", hdr(8, 12, 3, 4, 0, 11, 5), "n_kv_heads 0 is not positive"},
		{"zero vocab", hdr(8, 12, 3, 4, 2, 0, 5), "vocab_size 0 is not positive"},
		{"min vocab", hdr(8, 12, 3, 4, 2, math.MinInt32, 5), "vocab_size -2147483648"},
		{"zero seq_len", hdr(8, 12, 3, 4, 2, 11, 0), "seq_len 0 is not positive"},
		{"dim not multiple of heads", hdr(8, 12, 3, 3, 1, 11, 5), "dim 8 is not a multiple of n_heads 3"},
		{"kv heads do not divide", hdr(8, 12, 3, 4, 3, 11, 5), "n_heads 4 is not a multiple of n_kv_heads 3"},
		{"more kv heads", hdr(8, 12, 3, 4, 8, 11, 5), "n_heads 4 is not a multiple of n_kv_heads 8"},
		{"odd head size", hdr(6, 12, 3, 2, 2, 11, 5), "head size 3"},
		{"overflow", hdr(1<<30, math.MaxInt32, math.MaxInt32, 1, 1, math.MaxInt32, math.MaxInt32), "the weights' size overflows"},
		{"huge sizes", hdr(1<<16, 1<<16, 1<<10, 1<<10, 1<<10, 1<<16, 1<<10), "the weights end at byte 123163019575324, but the file ends at byte 92"},
		{"huge layers", hdr(2, 2, math.MaxInt32, 1, 1, 1, 1), "2147483647 layers of dim 2"},
		{"v1 short header", v1[:100], "shorter than the version 1 header of 256 bytes"},
		{"v1 truncated", v1[:len(v1)-8], fmt.Sprintf("but the file ends at byte %d", len(v1)-8)},
		{"v1 shared byte", setByte(v1, 36, 7), "shared_classifier byte is 7"},
		{"v1 negative vocab", v1hdr(1, 8, 12, 3, 4, 2, -11, 5), "version 1 header has vocab_size -11"},
		{"v1 zero dim", v1hdr(1, 0, 12, 3, 4, 2, 11, 5), "dim 0 is not positive"},
		{"v2", v1hdr(2, 8, 12, 3, 4, 2, 11, 5), "version 2 (int8 weights quantized in groups"},
		{"v7", v1hdr(7, 8, 12, 3, 4, 2, 11, 5), "unknown version 7"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ck, err := Parse("bad.bin", c.file)
			if err == nil {
				t.Fatalf("no error; config %+v", ck.Config)
			}
			if !strings.HasPrefix(err.Error(), "llama2c: bad.bin: ") || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q, want one naming bad.bin and containing %q", err, c.want)
			}
		})
	}
}

// TestHugeHeaderAllocates checks that a header describing an enormous
// model costs no memory: sizes are checked before anything is made.
func TestHugeHeaderAllocates(t *testing.T) {
	file := append(appendInts(nil, 2, 2, math.MaxInt32, 1, 1, 1, 1), make([]byte, 1<<10)...)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	if _, err := Parse("huge.bin", file); err == nil {
		t.Fatal("no error")
	}
	runtime.ReadMemStats(&after)
	if n := after.TotalAlloc - before.TotalAlloc; n > 64<<10 {
		t.Errorf("a rejected header allocated %d bytes", n)
	}
}

// TestOpen reads stories260K.bin with Open and checks it against Parse of
// the file's bytes and the values at offsets computed from run.c's layout.
func TestOpen(t *testing.T) {
	if _, err := os.Stat(stories260K); err != nil {
		t.Skipf("skipping: %s not found (the shared data folder ../shared beside the module root is absent): %v", stories260K, err)
	}
	c, err := Open(stories260K)
	if err != nil {
		t.Fatal(err)
	}
	want := Config{Dim: 64, HiddenDim: 172, NLayers: 5, NHeads: 8, NKVHeads: 4, VocabSize: 512, SeqLen: 512, SharedClassifier: true}
	if c.Config != want {
		t.Fatalf("Config = %+v, want %+v", c.Config, want)
	}
	if c.Config.HeadSize() != 8 || c.Config.KVDim() != 32 {
		t.Errorf("HeadSize %d, KVDim %d", c.Config.HeadSize(), c.Config.KVDim())
	}
	if c.Keep() == nil && runtime.GOOS == "linux" {
		t.Error("Open on linux: no mapping to keep")
	}
	if n := len(c.Names()); n != 1+5*9+1 {
		t.Errorf("%d weights, want 47", n)
	}
	if _, ok := c.Weights["output.weight"]; ok {
		t.Error("shared classifier, yet output.weight")
	}
	raw, err := os.ReadFile(stories260K)
	if err != nil {
		t.Fatal(err)
	}
	p, err := Parse("stories260K.bin", raw)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range c.Names() {
		a, b := c.Weights[name], p.Weights[name]
		if !slices.Equal(a.Shape, b.Shape) || !slices.Equal(a.Data, b.Data) || a.Keep() != c.Keep() {
			t.Errorf("%s: Open and Parse differ", name)
		}
	}
	// Offsets (in floats after the header) from run.c's memory_map_weights.
	at := func(off int) float32 { return math.Float32frombits(binary.LittleEndian.Uint32(raw[28+4*off:])) }
	const d, h, kv, L, v = 64, 172, 32, 5, 512
	wq := v*d + L*d
	w3 := wq + L*d*d + 2*L*kv*d + L*d*d + L*d + 2*L*h*d
	for _, c2 := range []struct {
		name string
		i    int // flat index in the weight
		off  int
	}{
		{"token_embd.weight", 5*d + 3, 5*d + 3},
		{"blk.2.attn_norm.weight", 7, v*d + 2*d + 7},
		{"blk.1.attn_q.weight", 10*d + 9, wq + d*d + 10*d + 9},
		{"blk.4.attn_k.weight", 31*d + 63, wq + L*d*d + 4*kv*d + 31*d + 63},
		{"blk.3.ffn_up.weight", 171*d + 1, w3 + 3*h*d + 171*d + 1},
		{"output_norm.weight", 63, w3 + L*h*d + 63},
	} {
		if got, want := c.Weights[c2.name].Data[c2.i], at(c2.off); got != want {
			t.Errorf("%s[%d] = %v, want %v (float %d of the file)", c2.name, c2.i, got, want, c2.off)
		}
	}
	// The file, truncated anywhere, is an error naming it.
	dir := t.TempDir()
	for _, n := range []int{0, 27, 28, 1000, len(raw) / 2, len(raw) - 1} {
		path := filepath.Join(dir, "cut.bin")
		if err := os.WriteFile(path, raw[:n], 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := Open(path); err == nil || !strings.Contains(err.Error(), path+": ") {
			t.Errorf("truncated to %d bytes: error %v", n, err)
		}
	}
	if _, err := Open(dir); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("Open of a folder: %v", err)
	}
	if _, err := Open(filepath.Join(dir, "missing.bin")); err == nil || !strings.Contains(err.Error(), "missing.bin") {
		t.Errorf("Open of a missing file: %v", err)
	}
}

// FuzzParse feeds Parse arbitrary files. It must never panic; a rejected
// file gives an error naming it; an accepted file's weights must have the
// sizes of their shapes, fill the file exactly, and lie inside it.
func FuzzParse(f *testing.F) {
	for _, shared := range []bool{true, false} {
		m := newModel(4, 6, 2, 2, 1, 3, 2, shared)
		f.Add(m.v0())
		f.Add(m.v1())
	}
	m := newModel(4, 6, 1, 2, 2, 3, 2, true)
	f.Add(m.v0()[:40])
	f.Add(m.v1()[:260])
	f.Add(appendInts(nil, 2, 2, math.MaxInt32, 1, 1, 1, 1))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse("fuzz.bin", data)
		if err != nil {
			if c != nil || !strings.HasPrefix(err.Error(), "llama2c: fuzz.bin: ") {
				t.Fatalf("error %q (checkpoint %v)", err, c != nil)
			}
			return
		}
		header := 28
		if c.Config.Version == 1 {
			header = 256
		}
		total := 0
		for _, name := range c.Names() {
			w := c.Weights[name]
			n := 1
			for _, s := range w.Shape {
				n *= s
			}
			if n != len(w.Data) || w.Name != name {
				t.Fatalf("%s: shape %v, %d values", name, w.Shape, len(w.Data))
			}
			if n > 0 {
				p := uintptr(unsafe.Pointer(&w.Data[0]))
				lo := uintptr(unsafe.Pointer(&data[0]))
				if p%4 == lo%4 && (p < lo+uintptr(header) || p+uintptr(4*n) > lo+uintptr(len(data))) {
					t.Fatalf("%s outside the file's weights", name)
				}
			}
			total += 4 * n
		}
		if c.Config.Version == 0 {
			total += 4 * c.Config.SeqLen * c.Config.HeadSize()
		}
		if header+total != len(data) {
			t.Fatalf("weights of %d bytes after a %d-byte header in a file of %d", total, header, len(data))
		}
	})
}
