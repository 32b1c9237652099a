package gguf

import (
	"encoding/binary"
	"math/rand/v2"
	"strings"
	"testing"
)

// raw builds GGUF bytes by hand, for files no writer would make.
type raw []byte

func (r raw) u32(v uint32) raw { return binary.LittleEndian.AppendUint32(r, v) }
func (r raw) u64(v uint64) raw { return binary.LittleEndian.AppendUint64(r, v) }
func (r raw) str(s string) raw { return append(r.u64(uint64(len(s))), s...) }

// header starts a file: magic, version, tensor and metadata counts.
func header(version uint32, tensors, kvs uint64) raw {
	return raw(Magic).u32(version).u64(tensors).u64(kvs)
}

// tinfo appends a tensor description.
func (r raw) tinfo(name string, typ Type, off uint64, dims ...uint64) raw {
	r = r.str(name).u32(uint32(len(dims)))
	for _, d := range dims {
		r = r.u64(d)
	}
	return r.u32(uint32(typ)).u64(off)
}

// data pads to 32 and appends n zero bytes.
func (r raw) data(n int) raw {
	for len(r)%32 != 0 {
		r = append(r, 0)
	}
	return append(r, make([]byte, n)...)
}

func TestMalformed(t *testing.T) {
	nested := header(3, 0, 1).str("deep")
	nested = nested.u32(uint32(Array))
	for range maxDepth {
		nested = nested.u32(uint32(Array)).u64(1)
	}
	nested = nested.u32(uint32(Uint8)).u64(0)

	tests := []struct {
		name string
		data raw
		want string
	}{
		{"empty", raw{}, "file of 0 bytes is too short to be GGUF"},
		{"magic", raw("GGML\x03\x00\x00\x00"), `not a GGUF file: starts with "GGML"`},
		{"version 1", header(1, 0, 0), "GGUF version 1 is not supported"},
		{"version 4", header(4, 0, 0), "unsupported GGUF version 4"},
		{"big-endian", raw(Magic).u32(3 << 24), "big-endian GGUF files (version 3) are not supported"},
		{"no version", raw(Magic + "\x03"), "version (4 bytes) at offset 4 runs past the end of the file (5 bytes)"},
		{"no counts", raw(Magic).u32(3).u64(0), "metadata count (8 bytes) at offset 16 runs past the end of the file (16 bytes)"},
		{"huge metadata count", header(3, 0, 1<<62), "metadata count 4611686018427387904 is more than the 0 bytes after the header could hold"},
		{"huge tensor count", header(3, 1<<40, 0).str("pad"), "tensor count 1099511627776 is more than the 11 bytes"},
		{"key length", header(3, 0, 1).u64(1 << 60).u32(0).append(0), "metadata entry 0: key (1152921504606846976 bytes) at offset 32 runs past the end"},
		{"duplicate key", header(3, 0, 2).str("k").u32(uint32(Uint8)).append(1).str("k").u32(uint32(Uint8)).append(2), `key "k" appears twice`},
		{"value type", header(3, 0, 1).str("k").u32(13).append(0), `key "k": unknown value type 13 at offset 33`},
		{"no value", header(3, 0, 1).str("k").u32(uint32(Uint64)).u32(0), `key "k": uint64 value (8 bytes) at offset 37 runs past the end`},
		{"bool", header(3, 0, 1).str("k").u32(uint32(Bool)).append(2), `key "k": bool value 2 at offset 37 is neither 0 nor 1`},
		{"string length", header(3, 0, 1).str("k").u32(uint32(String)).u64(100).append('x'), `key "k": string (100 bytes) at offset 45 runs past the end of the file (46 bytes)`},
		{"array length", header(3, 0, 1).str("k").u32(uint32(Array)).u32(uint32(Uint32)).u64(1 << 61).u64(0),
			`key "k": array of 2305843009213693952 uint32 at offset 49 runs past the end of the file (57 bytes)`},
		{"array of huge strings", header(3, 0, 1).str("k").u32(uint32(Array)).u32(uint32(String)).u64(2).str("ok").u64(1 << 62),
			`key "k": string (4611686018427387904 bytes) at offset 67 runs past the end`},
		{"array of many arrays", header(3, 0, 1).str("k").u32(uint32(Array)).u32(uint32(Array)).u64(1 << 40).u32(0).u64(0),
			`array of 1099511627776 array at offset 49 runs past the end`},
		{"array element type", header(3, 0, 1).str("k").u32(uint32(Array)).u32(99).u64(0), `key "k": unknown array element type 99 at offset 37`},
		{"array of bools", header(3, 0, 1).str("k").u32(uint32(Array)).u32(uint32(Bool)).u64(3).append(0, 1, 7), "bool value 7 at offset 51 is neither 0 nor 1"},
		{"nesting", nested, "arrays nested more than 16 deep"},
		{"alignment type", header(3, 0, 1).str(AlignmentKey).u32(uint32(String)).str("32"), `key "general.alignment" is a string, want an unsigned integer`},
		{"alignment value", header(3, 0, 1).str(AlignmentKey).u32(uint32(Uint32)).u32(24), `key "general.alignment" is 24, want a power of two`},
		{"alignment zero", header(3, 0, 1).str(AlignmentKey).u32(uint32(Uint32)).u32(0), `key "general.alignment" is 0, want a power of two`},
		{"tensor name", header(3, 1, 0).u64(1 << 50).append(make([]byte, 20)...), "tensor 0: tensor name (1125899906842624 bytes) at offset 32 runs past the end"},
		{"dimension count", header(3, 1, 0).str("w").u32(5).append(make([]byte, 60)...), `tensor 0 "w": 5 dimensions, more than 4`},
		{"truncated dims", header(3, 1, 0).str("w").u32(2).u64(1).append(make([]byte, 8)...), `tensor 0 "w": type (4 bytes) at offset`},
		{"duplicate tensor", header(3, 2, 0).tinfo("w", F32, 0, 1).tinfo("w", F32, 32, 1).data(64), `tensor "w" appears twice`},
		{"unknown type", header(3, 1, 0).tinfo("w", Type(4), 0, 1).data(32), `tensor "w": unknown tensor type 4`},
		{"unknown type 99", header(3, 1, 0).tinfo("w", Type(99), 0, 1).data(32), `tensor "w": unknown tensor type 99`},
		{"dims overflow", header(3, 1, 0).tinfo("w", F32, 0, 1<<32, 1<<32).data(32), `tensor "w": dimensions [4294967296 4294967296]: element count overflows`},
		{"dims negative", header(3, 1, 0).tinfo("w", F32, 0, 1<<63).data(32), "element count overflows"},
		{"size overflow", header(3, 1, 0).tinfo("w", F32, 0, 1<<62).data(32), "dimensions [4611686018427387904] of F32: size overflows"},
		{"partial block", header(3, 1, 0).tinfo("w", Q4_0, 0, 48, 2).data(64), `tensor "w": dimensions [48 2]: rows of 48 elements are not a whole number of Q4_0 blocks of 32`},
		{"misaligned", header(3, 1, 0).tinfo("w", F32, 4, 1).data(64), `tensor "w": data offset 4 is not a multiple of the alignment 32`},
		{"past the end", header(3, 1, 0).tinfo("blk.0.attn_q.weight", F32, 0, 64, 64).data(100),
			`tensor "blk.0.attn_q.weight": data [0, 0+16384) runs past the end of the file (100 bytes of data from offset 96)`},
		{"offset past the end", header(3, 1, 0).tinfo("w", F32, 1<<62, 1).data(100), "data [4611686018427387904, 4611686018427387904+4) runs past the end"},
		{"overlap", header(3, 2, 0).tinfo("a", F32, 0, 16).tinfo("b", F32, 32, 16).data(128), `tensor "b": data [32, 96) overlaps tensor "a"'s [0, 64)`},
		{"no data section", header(3, 1, 0).tinfo("w", F32, 0, 0), "data section at offset 64 (after padding to 32) starts past the end of the file (57 bytes)"},
	}
	for _, tt := range tests {
		f, err := Parse("model.gguf", tt.data)
		if err == nil {
			t.Errorf("%s: no error (%d keys, %d tensors)", tt.name, len(f.KV), len(f.Tensors))
			continue
		}
		if !strings.HasPrefix(err.Error(), "gguf: model.gguf: ") || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s:\n got %v\nwant gguf: model.gguf: ...%s...", tt.name, err, tt.want)
		}
	}
}

func (r raw) append(b ...byte) raw { return append(r, b...) }

// TestAccepted lists unusual files that are well formed.
func TestAccepted(t *testing.T) {
	tests := []struct {
		name string
		data raw
	}{
		{"no keys, no tensors", header(3, 0, 0)},
		{"empty tensor past the data", header(3, 1, 0).tinfo("w", F32, 0, 0, 5).data(0)},
		{"zero-size tensors share an offset", header(3, 2, 0).tinfo("a", F32, 0, 0).tinfo("b", Q4_0, 0, 0).data(0)},
		{"gap between tensors", header(3, 2, 0).tinfo("a", F32, 64, 4).tinfo("b", F32, 0, 4).data(128)},
		{"scalar", header(3, 1, 0).tinfo("s", F32, 0).data(4)},
		{"unconverted type", header(3, 1, 0).tinfo("w", IQ2_XXS, 0, 256).data(66)},
		{"empty key and name", header(3, 1, 1).str("").u32(uint32(Uint8)).append(0).tinfo("", F32, 0, 1).data(4)},
		{"alignment 1", header(3, 1, 1).str(AlignmentKey).u32(uint32(Uint32)).u32(1).tinfo("w", F32, 3, 1).append(make([]byte, 7)...)},
		{"alignment as uint64", header(3, 0, 1).str(AlignmentKey).u32(uint32(Uint64)).u64(64)},
	}
	for _, tt := range tests {
		if _, err := Parse("ok.gguf", tt.data); err != nil {
			t.Errorf("%s: %v", tt.name, err)
		}
	}
	f, err := Parse("iq.gguf", header(3, 1, 0).tinfo("w", IQ2_XXS, 0, 256).data(66))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Tensors[0].Float32s(); err == nil || !strings.Contains(err.Error(), `gguf: iq.gguf: tensor "w": cannot decode tensors of type IQ2_XXS`) {
		t.Errorf("Float32s of IQ2_XXS: %v", err)
	}
	if _, err := f.Tensors[0].Planes(); err == nil || !strings.Contains(err.Error(), "type IQ2_XXS has no quantized planes") {
		t.Errorf("Planes of IQ2_XXS: %v", err)
	}
}

// TestTruncated cuts a file of every value type and tensor type at every
// byte: every cut before the end of the last tensor's data is an error
// naming the file; none panics.
func TestTruncated(t *testing.T) {
	data := writeFile(t, sampleKV(), sampleTensors(rand.New(rand.NewPCG(2, 2))))
	f, err := Parse("full.gguf", data)
	if err != nil {
		t.Fatal(err)
	}
	end := f.DataOffset
	for _, tt := range f.Tensors {
		end = max(end, f.DataOffset+int(tt.Offset)+len(tt.Data))
	}
	for n := range len(data) {
		_, err := Parse("cut.gguf", data[:n])
		if n < end && (err == nil || !strings.HasPrefix(err.Error(), "gguf: cut.gguf: ")) {
			t.Fatalf("cut at %d of %d (data ends at %d): error %v", n, len(data), end, err)
		}
		if n >= end && err != nil {
			t.Fatalf("cut at %d, in the padding after the data: %v", n, err)
		}
	}
}

// TestCorrupted flips each header byte of a file in turn: the result is an
// error or a file whose every tensor and value can be read; never a panic.
func TestCorrupted(t *testing.T) {
	data := writeFile(t, sampleKV(), sampleTensors(rand.New(rand.NewPCG(3, 3))))
	f, _ := Parse("orig.gguf", data)
	for i := range f.DataOffset {
		for _, x := range []byte{0xff, 0x01, 0x80} {
			bad := []byte(string(data))
			bad[i] ^= x
			if g, err := Parse("bad.gguf", bad); err == nil {
				exercise(g)
			} else if !strings.HasPrefix(err.Error(), "gguf: bad.gguf: ") {
				t.Fatalf("byte %d ^ %#x: error %q does not name the file", i, x, err)
			}
		}
	}
}

// exercise reads everything a File offers, bounded for huge tensors.
func exercise(f *File) {
	for _, kv := range f.KV {
		v := kv.Value
		_ = v.String()
		v.Uint()
		v.Int()
		v.Float()
		v.Bool()
		v.Str()
		v.Uints()
		v.Ints()
		v.Int32s()
		v.Float32s()
		v.Float64s()
		v.Bools()
		v.Strings()
		v.Values()
		f.Uint(kv.Key)
	}
	for _, t := range f.Tensors {
		if len(t.Data) > 1<<20 || t.Elems() > 1<<22 {
			continue
		}
		t.Shape()
		t.Float32s()
		if p, err := t.Planes(); err == nil {
			if err := p.Check(); err != nil {
				panic(err)
			}
			p.Dequantize()
		}
	}
}

// TestTensorEdgeShapes covers tensors that are empty or have no dimension.
func TestTensorEdgeShapes(t *testing.T) {
	f, err := Parse("edge.gguf", header(3, 3, 0).
		tinfo("s", F32, 0).tinfo("e", Q8_0, 0, 0, 1<<40).tinfo("z", Q4_K, 0, 256, 0).data(4))
	if err != nil {
		t.Fatal(err)
	}
	s, _ := f.Tensor("s")
	if v, err := s.Float32s(); err != nil || len(v) != 1 || len(s.Shape()) != 0 {
		t.Errorf("scalar: %v, %v, shape %v", v, err, s.Shape())
	}
	for _, name := range []string{"e", "z"} {
		tt, _ := f.Tensor(name)
		p, err := tt.Planes()
		if err != nil || p.Rows*p.Cols != 0 || len(p.Q) != 0 {
			t.Errorf("%s: Planes %+v, %v", name, p, err)
		}
		if v, err := tt.Float32s(); err != nil || len(v) != 0 {
			t.Errorf("%s: Float32s %v, %v", name, v, err)
		}
	}
}
