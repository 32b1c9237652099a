// Package llama2c reads the model checkpoints of Andrej Karpathy's llama2.c
// (https://github.com/karpathy/llama2.c): the legacy version 0 files that
// run.c reads (stories15M.bin, stories260K.bin, ...) and the version 1
// export of export.py. The weights are float32 views of the file's memory
// (a private memory mapping), named as GGUF names a LLaMA's tensors, so that
// a model loads every file format the same way.
//
// # Formats
//
// Version 0 (export.py's legacy_export) is a header of 7 little-endian
// int32 (dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size,
// seq_len; a negative vocab_size means the output classifier is not the
// token embedding), then float32 weights in run.c's order:
// token_embedding_table, rms_att_weight, wq, wk, wv, wo, rms_ffn_weight, w1,
// w2, w3, rms_final_weight, the unused RoPE tables freq_cis_real and
// freq_cis_imag (seq_len*head_size/2 floats each, skipped), and wcls when
// the classifier is not shared. Each of the per-layer weights is stored for
// every layer before the next one starts.
//
// Version 1 (export.py's version1_export) starts with the magic "ak42"
// (the uint32 0x616b3432), the int32 version 1, the same 7 int32 (with a
// positive vocab_size) and a byte that is 1 when the classifier is shared,
// padded with zeros to 256 bytes. Its float32 weights follow in another
// order: rms_att_weight, rms_ffn_weight, rms_final_weight,
// token_embedding_table, wq, wk, wv, wo, w1, w2, w3, then wcls when the
// classifier is not shared; there are no RoPE tables. Version 2 (int8
// weights in groups, export.py's version2_export) is refused with an error
// that names it.
//
// # Names and layout
//
// Every matrix is stored row-major as [out, in], PyTorch's nn.Linear order,
// and Weight.Shape says so: blk.0.attn_k.weight of a model with dim 64 and
// a key/value width of 32 has Shape [32 64], and y = W x reads row i of W for
// y[i]. The names are GGUF's for LLaMA:
//
//	token_embd.weight          [vocab, dim]       token_embedding_table
//	blk.N.attn_norm.weight     [dim]              rms_att_weight
//	blk.N.attn_q.weight        [dim, dim]         wq
//	blk.N.attn_k.weight        [kv_dim, dim]      wk (kv_dim = n_kv_heads*head_size)
//	blk.N.attn_v.weight        [kv_dim, dim]      wv
//	blk.N.attn_output.weight   [dim, dim]         wo
//	blk.N.ffn_norm.weight      [dim]              rms_ffn_weight
//	blk.N.ffn_gate.weight      [hidden, dim]      w1
//	blk.N.ffn_down.weight      [dim, hidden]      w2
//	blk.N.ffn_up.weight        [hidden, dim]      w3
//	output_norm.weight         [dim]              rms_final_weight
//	output.weight              [vocab, dim]       wcls, only when not shared
//
// When Config.SharedClassifier is true the logits are token_embd.weight
// times the final hidden state.
//
// # RoPE and other constants
//
// llama2.c rotates adjacent pairs of each head, (x[2i], x[2i+1]) by the
// angle pos * RopeTheta^(-2i/head_size), which is the convention of GGUF's
// LLaMA tensors (llama.cpp's "normal" RoPE), so attn_q and attn_k need no
// permutation: a model that applies GGUF's RoPE to these weights computes
// what run.c computes. (Hugging Face checkpoints rotate the two halves of
// each head instead, which is why llama.cpp's converter permutes their q
// and k rows.) The files hold no RoPE base, norm epsilon or tokenizer:
// run.c uses RopeTheta and RMSNormEps, and the tokenizer comes in a separate
// tokenizer.bin.
//
// # Errors
//
// A file that is not a well-formed checkpoint gives an error that names it
// and the problem (a header that does not describe a model, a file that
// ends before the weights the header describes do, bytes left after them),
// never a panic; sizes are computed with overflow checks and checked
// against the file before anything is allocated, and nothing is allocated
// beyond a small multiple of the number of layers, which the file's size
// bounds.
//
// Package llama2c imports only the standard library and internal/mmap.
package llama2c

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"os"
	"slices"
	"unsafe"

	"github.com/gograd/gograd/internal/mmap"
)

// Constants of run.c's forward pass that the files do not hold.
const (
	// RopeTheta is the base of RoPE's frequencies.
	RopeTheta = 10000.0
	// RMSNormEps is the epsilon added to the mean square in RMSNorm.
	RMSNormEps = 1e-5
	// BOS and EOS are the tokenizer's begin and end of sequence ids
	// (run.c stops generating at BOS).
	BOS = 1
	EOS = 2
)

// Magic is the first uint32 of a versioned (v1 or v2) file: "ak42" as
// export.py writes it, little-endian.
const Magic = 0x616b3432

// Header sizes of the two versions read.
const (
	headerV0 = 7 * 4
	headerV1 = 256
)

// Config is a checkpoint's model shape.
type Config struct {
	// Dim is the model (embedding) width; HiddenDim the SwiGLU
	// feed-forward width.
	Dim, HiddenDim int
	// NLayers is the number of transformer blocks.
	NLayers int
	// NHeads and NKVHeads are the numbers of query heads and of key/value
	// heads (fewer with grouped-query attention; NHeads is a multiple).
	NHeads, NKVHeads int
	// VocabSize is the number of tokens (positive in every version).
	VocabSize int
	// SeqLen is the longest sequence the model was trained for.
	SeqLen int
	// SharedClassifier is true when the output classifier is the token
	// embedding (there is no output.weight).
	SharedClassifier bool
	// Version is the file's format version, 0 (legacy) or 1.
	Version int
}

// HeadSize is the width of one attention head, Dim/NHeads.
func (c Config) HeadSize() int { return c.Dim / c.NHeads }

// KVDim is the width of the keys and values, NKVHeads*HeadSize.
func (c Config) KVDim() int { return c.NKVHeads * c.HeadSize() }

// Weight is one tensor of a checkpoint.
type Weight struct {
	// Name is GGUF's name of the tensor (see the package doc).
	Name string
	// Shape is row-major, PyTorch's order: [out, in] for a matrix.
	Shape []int
	// Data holds the values. It is a view of the file's mapping (a copy
	// only where the bytes are not aligned for float32 or the host is
	// big-endian): writing to it changes the process's copy, never the
	// file. It stays valid while the Checkpoint, a Weight copied from it or
	// its Keep value is reachable.
	Data []float32

	keep any
}

// Bytes returns Data's memory as little-endian bytes, without copying
// (on a little-endian host).
func (w Weight) Bytes() []byte {
	if len(w.Data) == 0 {
		return []byte{}
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(&w.Data[0])), 4*len(w.Data))
}

// Keep returns the value that keeps Data's memory mapped (nil when Data is
// ordinary Go memory); hold it as long as Data is used, for example by
// passing it to gograd.FromBytesShared with Bytes.
func (w Weight) Keep() any { return w.keep }

// Checkpoint is a llama2.c model file read by Open or Parse.
type Checkpoint struct {
	// Path is the file's path (or the name given to Parse).
	Path string
	// Config is the model's shape.
	Config Config
	// Weights holds every weight by name.
	Weights map[string]Weight

	names []string // in the file's order
	keep  any
}

// Names returns the names of the weights in the order the file stores them.
func (c *Checkpoint) Names() []string { return slices.Clone(c.names) }

// Keep returns the value that keeps the weights' memory mapped (nil when
// the checkpoint is over memory that Parse was given).
func (c *Checkpoint) Keep() any { return c.keep }

// Open memory-maps the llama2.c checkpoint at path (privately: the file is
// never written) and reads it as Parse does, without copying the weights.
func Open(path string) (*Checkpoint, error) {
	fd, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("llama2c: %w", err)
	}
	defer fd.Close()
	st, err := fd.Stat()
	if err != nil {
		return nil, fmt.Errorf("llama2c: %w", err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("llama2c: %s: not a regular file", path)
	}
	if st.Size() > math.MaxInt {
		return nil, fmt.Errorf("llama2c: %s: file of %d bytes is too large to map", path, st.Size())
	}
	data, keep, err := mmap.File(fd, int(st.Size()))
	if err != nil {
		return nil, fmt.Errorf("llama2c: %s: %w", path, err)
	}
	c, err := parse(path, data, keep)
	if err != nil {
		return nil, err
	}
	return c, nil
}

// Parse reads a llama2.c checkpoint (version 0 or 1) from the bytes of a
// whole file; name names it in errors. The weights are views of data,
// which must not change while they are used.
func Parse(name string, data []byte) (*Checkpoint, error) {
	return parse(name, data, nil)
}

// parse reads data, whose memory belongs to keep.
func parse(name string, data []byte, keep any) (*Checkpoint, error) {
	fail := func(format string, args ...any) (*Checkpoint, error) {
		return nil, fmt.Errorf("llama2c: %s: %s", name, fmt.Sprintf(format, args...))
	}
	if len(data) < headerV0 {
		return fail("file of %d bytes is shorter than the %d-byte header", len(data), headerV0)
	}
	var (
		cfg    Config
		hdr    [7]int32
		offset int
	)
	le := binary.LittleEndian
	if le.Uint32(data) == Magic {
		version := int32(le.Uint32(data[4:]))
		switch version {
		case 1:
		case 2:
			return fail("version 2 (int8 weights quantized in groups, export.py's version2_export) is not supported; export the model as version 0 or 1")
		default:
			return fail("unknown version %d after the \"ak42\" magic (versions 0 and 1 are read)", version)
		}
		if len(data) < headerV1 {
			return fail("file of %d bytes is shorter than the version 1 header of %d bytes", len(data), headerV1)
		}
		for i := range hdr {
			hdr[i] = int32(le.Uint32(data[8+4*i:]))
		}
		switch data[36] {
		case 0, 1:
			cfg.SharedClassifier = data[36] == 1
		default:
			return fail("shared_classifier byte is %d, not 0 or 1", data[36])
		}
		if hdr[5] <= 0 {
			return fail("version 1 header has vocab_size %d", hdr[5])
		}
		cfg.Version = 1
		offset = headerV1
	} else {
		for i := range hdr {
			hdr[i] = int32(le.Uint32(data[4*i:]))
		}
		// A negative vocabulary size marks an unshared classifier.
		cfg.SharedClassifier = hdr[5] > 0
		if hdr[5] < 0 {
			if hdr[5] == math.MinInt32 {
				return fail("header has vocab_size %d", hdr[5])
			}
			hdr[5] = -hdr[5]
		}
		offset = headerV0
	}
	cfg.Dim, cfg.HiddenDim, cfg.NLayers = int(hdr[0]), int(hdr[1]), int(hdr[2])
	cfg.NHeads, cfg.NKVHeads, cfg.VocabSize, cfg.SeqLen = int(hdr[3]), int(hdr[4]), int(hdr[5]), int(hdr[6])
	if err := cfg.check(); err != nil {
		return fail("header (version %d) %v: %v", cfg.Version, hdr, err)
	}
	total, err := cfg.floats()
	if err != nil {
		return fail("header (version %d) %v: the weights' size overflows", cfg.Version, hdr)
	}
	need, err := mulSize(total, 4)
	if err == nil {
		need, err = addSize(need, uint64(offset))
	}
	if err != nil {
		return fail("header (version %d) %v: the weights' size overflows", cfg.Version, hdr)
	}
	if need > uint64(len(data)) {
		return fail("header says %s: the weights end at byte %d, but the file ends at byte %d", cfg.describe(), need, len(data))
	}
	if need < uint64(len(data)) {
		return fail("header says %s: the weights end at byte %d, but the file has %d bytes more (a wrong header or shared-classifier flag?)", cfg.describe(), need, uint64(len(data))-need)
	}
	// The file holds the weights, so the plan (a few entries per layer)
	// is bounded by its size.
	plan := cfg.layout()
	c := &Checkpoint{Path: name, Config: cfg, Weights: make(map[string]Weight, len(plan)), keep: keep}
	at := offset
	for _, p := range plan {
		n := int(p.count) // fits: the file holds it
		raw := data[at : at+4*n : at+4*n]
		at += 4 * n
		if p.name == "" { // skipped
			continue
		}
		w := Weight{Name: p.name, Shape: p.shape, Data: floats(raw), keep: keep}
		c.Weights[p.name] = w
		c.names = append(c.names, p.name)
	}
	return c, nil
}

// check validates a header's values.
func (c Config) check() error {
	switch {
	case c.Dim <= 0:
		return fmt.Errorf("dim %d is not positive", c.Dim)
	case c.HiddenDim <= 0:
		return fmt.Errorf("hidden_dim %d is not positive", c.HiddenDim)
	case c.NLayers <= 0:
		return fmt.Errorf("n_layers %d is not positive", c.NLayers)
	case c.NHeads <= 0:
		return fmt.Errorf("n_heads %d is not positive", c.NHeads)
	case c.NKVHeads <= 0:
		return fmt.Errorf("n_kv_heads %d is not positive", c.NKVHeads)
	case c.VocabSize <= 0:
		return fmt.Errorf("vocab_size %d is not positive", c.VocabSize)
	case c.SeqLen <= 0:
		return fmt.Errorf("seq_len %d is not positive", c.SeqLen)
	case c.Dim%c.NHeads != 0:
		return fmt.Errorf("dim %d is not a multiple of n_heads %d", c.Dim, c.NHeads)
	case c.NKVHeads > c.NHeads || c.NHeads%c.NKVHeads != 0:
		return fmt.Errorf("n_heads %d is not a multiple of n_kv_heads %d", c.NHeads, c.NKVHeads)
	case c.HeadSize()%2 != 0:
		return fmt.Errorf("head size %d (dim %d / n_heads %d) is odd, and RoPE rotates pairs", c.HeadSize(), c.Dim, c.NHeads)
	}
	return nil
}

// describe says what a header describes, for errors.
func (c Config) describe() string {
	cls := "shared classifier"
	if !c.SharedClassifier {
		cls = "separate classifier"
	}
	return fmt.Sprintf("version %d, %d layers of dim %d (hidden %d, %d heads, %d kv heads), vocab %d, seq_len %d, %s",
		c.Version, c.NLayers, c.Dim, c.HiddenDim, c.NHeads, c.NKVHeads, c.VocabSize, c.SeqLen, cls)
}

// part is one run of floats in the file: a weight (name, shape) or, with no
// name, floats skipped.
type part struct {
	name  string
	shape []int
	count uint64
}

// floats counts the floats of a file's weights (skipped runs included),
// failing if the count overflows.
func (c Config) floats() (uint64, error) {
	d, h, kv, v := uint64(c.Dim), uint64(c.HiddenDim), uint64(c.KVDim()), uint64(c.VocabSize)
	var err error
	mul := func(a, b uint64) uint64 {
		p, e := mulSize(a, b)
		if e != nil {
			err = e
		}
		return p
	}
	add := func(xs ...uint64) uint64 {
		s := uint64(0)
		for _, x := range xs {
			var e error
			if s, e = addSize(s, x); e != nil {
				err = e
			}
		}
		return s
	}
	// One layer: two norms, q and output, k and v, three SwiGLU matrices.
	layer := add(2*d, mul(2, mul(d, d)), mul(2, mul(kv, d)), mul(3, mul(h, d)))
	total := add(mul(v, d), mul(uint64(c.NLayers), layer), d)
	if c.Version == 0 { // the RoPE tables
		total = add(total, mul(uint64(c.SeqLen), uint64(c.HeadSize())))
	}
	if !c.SharedClassifier {
		total = add(total, mul(v, d))
	}
	return total, err
}

// layout lists the file's float runs in order. The sizes must have been
// checked by floats.
func (c Config) layout() []part {
	mk := func(name string, shape ...int) part {
		n := uint64(1)
		for _, s := range shape {
			n *= uint64(s)
		}
		return part{name: name, shape: shape, count: n}
	}
	d, h, kv, v, L := c.Dim, c.HiddenDim, c.KVDim(), c.VocabSize, c.NLayers
	perLayer := func(suffix string, shape ...int) []part {
		out := make([]part, L)
		for i := range out {
			out[i] = mk(fmt.Sprintf("blk.%d.%s", i, suffix), slices.Clone(shape)...)
		}
		return out
	}
	var plan []part
	add := func(ps ...part) { plan = append(plan, ps...) }
	embd := mk("token_embd.weight", v, d)
	switch c.Version {
	case 0:
		add(embd)
		add(perLayer("attn_norm.weight", d)...)
		add(perLayer("attn_q.weight", d, d)...)
		add(perLayer("attn_k.weight", kv, d)...)
		add(perLayer("attn_v.weight", kv, d)...)
		add(perLayer("attn_output.weight", d, d)...)
		add(perLayer("ffn_norm.weight", d)...)
		add(perLayer("ffn_gate.weight", h, d)...)
		add(perLayer("ffn_down.weight", d, h)...)
		add(perLayer("ffn_up.weight", h, d)...)
		add(mk("output_norm.weight", d))
		// freq_cis_real and freq_cis_imag: seq_len*head_size/2 floats each.
		half := mk("", c.SeqLen, c.HeadSize()/2)
		add(half, half)
	case 1:
		add(perLayer("attn_norm.weight", d)...)
		add(perLayer("ffn_norm.weight", d)...)
		add(mk("output_norm.weight", d), embd)
		add(perLayer("attn_q.weight", d, d)...)
		add(perLayer("attn_k.weight", kv, d)...)
		add(perLayer("attn_v.weight", kv, d)...)
		add(perLayer("attn_output.weight", d, d)...)
		add(perLayer("ffn_gate.weight", h, d)...)
		add(perLayer("ffn_down.weight", d, h)...)
		add(perLayer("ffn_up.weight", h, d)...)
	}
	if !c.SharedClassifier {
		add(mk("output.weight", v, d))
	}
	return plan
}

var errOverflow = errors.New("size overflows")

// mulSize multiplies sizes, failing past the largest int.
func mulSize(a, b uint64) (uint64, error) {
	hi, lo := bits.Mul64(a, b)
	if hi != 0 || lo > math.MaxInt {
		return 0, errOverflow
	}
	return lo, nil
}

// addSize adds sizes, failing past the largest int.
func addSize(a, b uint64) (uint64, error) {
	s, carry := bits.Add64(a, b, 0)
	if carry != 0 || s > math.MaxInt {
		return 0, errOverflow
	}
	return s, nil
}

// littleEndian reports the host's byte order; the files are little-endian.
var littleEndian = binary.NativeEndian.Uint16([]byte{1, 0}) == 1

// floats returns raw's little-endian float32 values: a view of raw where
// it is aligned and the host is little-endian, a copy otherwise.
func floats(raw []byte) []float32 {
	n := len(raw) / 4
	if n == 0 {
		return []float32{}
	}
	if littleEndian && uintptr(unsafe.Pointer(&raw[0]))%unsafe.Alignof(float32(0)) == 0 {
		return unsafe.Slice((*float32)(unsafe.Pointer(&raw[0])), n)
	}
	out := make([]float32, n)
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
	}
	return out
}
