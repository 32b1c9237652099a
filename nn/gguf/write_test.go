package gguf

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// sampleKV is metadata of every value type, arrays of arrays included.
func sampleKV() []KV {
	return []KV{
		{"general.architecture", ValueOf("llama")},
		{"u8", ValueOf(uint8(7))}, {"i8", ValueOf(int8(-7))},
		{"u16", ValueOf(uint16(65535))}, {"i16", ValueOf(int16(-32768))},
		{"u32", ValueOf(uint32(1 << 31))}, {"i32", ValueOf(int32(-1))},
		{"u64", ValueOf(uint64(1 << 63))}, {"i64", ValueOf(int64(-1 << 63))},
		{"f32", ValueOf(float32(1.5))}, {"f64", ValueOf(-2.25)},
		{"bool", ValueOf(true)}, {"string", ValueOf("tokens ▁and bytes \xff")},
		{"empty", ValueOf("")},
		{"a.u8", ValueOf([]byte{1, 2, 3})}, {"a.f32", ValueOf([]float32{1, -1})},
		{"a.str", ValueOf([]string{"<s>", "", "</s>"})}, {"a.bool", ValueOf([]bool{false, true})},
		{"a.i64", ValueOf([]int64{-1, 1 << 40})}, {"a.empty", ValueOf([]uint32{})},
		{"a.nested", ValueOf([][]int32{{1, 2}, {}, {3}})},
		{"a.mixed", ValueOf([]Value{ValueOf([]string{"x"}), ValueOf([]float64{0.5})})},
	}
}

// sampleTensors are tensors of several types with random data.
func sampleTensors(r *rand.Rand) []WriteTensor {
	mk := func(name string, typ Type, dims ...uint64) WriteTensor {
		n := uint64(1)
		for _, d := range dims {
			n *= d
		}
		data := make([]byte, n/uint64(typ.BlockElems())*uint64(typ.BlockBytes()))
		for i := range data {
			data[i] = byte(r.Uint32())
		}
		return WriteTensor{name, typ, dims, data}
	}
	return []WriteTensor{
		mk("f32", F32, 3, 5),
		mk("scalar", F32),
		mk("q4_0", Q4_0, 64, 3),
		mk("empty", F16, 0, 7),
		mk("q4_k", Q4_K, 256, 2, 1, 2),
		mk("i8", I8, 5),
		mk("q6_k", Q6_K, 256),
	}
}

func writeFile(t testing.TB, kv []KV, tensors []WriteTensor) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := Write(&buf, kv, tensors); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestWriteRoundTrip(t *testing.T) {
	kv := sampleKV()
	tensors := sampleTensors(rand.New(rand.NewPCG(1, 1)))
	for _, align := range []uint32{0, 1, 64} {
		kv := kv
		if align != 0 {
			kv = append(slices.Clone(kv), KV{AlignmentKey, ValueOf(align)})
		}
		data := writeFile(t, kv, tensors)
		f, err := Parse("round.gguf", data)
		if err != nil {
			t.Fatal(err)
		}
		checkSame(t, f, kv, tensors)
		want := uint32(DefaultAlignment)
		if align != 0 {
			want = align
		}
		if f.Alignment != int(want) || f.DataOffset%int(want) != 0 {
			t.Errorf("alignment %d, data at %d; want %d", f.Alignment, f.DataOffset, want)
		}
		// Version 2 differs only in its number.
		data[4] = 2
		f, err = Parse("v2.gguf", data)
		if err != nil || f.Version != 2 {
			t.Fatalf("version 2: %v", err)
		}
		checkSame(t, f, kv, tensors)
	}
}

func checkSame(t *testing.T, f *File, kv []KV, tensors []WriteTensor) {
	t.Helper()
	if len(f.KV) != len(kv) {
		t.Fatalf("%d keys, wrote %d", len(f.KV), len(kv))
	}
	for i, e := range kv {
		if f.KV[i].Key != e.Key || !f.KV[i].Value.Equal(e.Value) {
			t.Errorf("key %d: read %s = %v, wrote %s = %v", i, f.KV[i].Key, f.KV[i].Value, e.Key, e.Value)
		}
	}
	if len(f.Tensors) != len(tensors) {
		t.Fatalf("%d tensors, wrote %d", len(f.Tensors), len(tensors))
	}
	for i, w := range tensors {
		g := f.Tensors[i]
		if g.Name != w.Name || g.Type != w.Type || !slices.Equal(g.Dims, w.Dims) || !bytes.Equal(g.Data, w.Data) {
			t.Errorf("tensor %d: read %s %s %v (%d bytes), wrote %s %s %v (%d bytes)", i,
				g.Name, g.Type, g.Dims, len(g.Data), w.Name, w.Type, w.Dims, len(w.Data))
		}
		if g.Offset%uint64(f.Alignment) != 0 {
			t.Errorf("tensor %s at offset %d, not aligned to %d", g.Name, g.Offset, f.Alignment)
		}
	}
}

func TestWriteErrors(t *testing.T) {
	good := WriteTensor{"t", F32, []uint64{2}, make([]byte, 8)}
	tests := []struct {
		name    string
		kv      []KV
		tensors []WriteTensor
		want    string
	}{
		{"duplicate key", []KV{{"a", ValueOf(uint8(1))}, {"a", ValueOf(uint8(2))}}, nil, `key "a" appears twice`},
		{"duplicate tensor", nil, []WriteTensor{good, good}, `tensor "t" appears twice`},
		{"data size", nil, []WriteTensor{{"t", F32, []uint64{3}, make([]byte, 8)}}, "needs 12 bytes of data, has 8"},
		{"partial block", nil, []WriteTensor{{"t", Q8_0, []uint64{16}, make([]byte, 17)}}, "not a whole number of Q8_0 blocks"},
		{"unknown type", nil, []WriteTensor{{"t", Type(4), []uint64{1}, nil}}, "unknown tensor type 4"},
		{"dims", nil, []WriteTensor{{"t", F32, []uint64{1, 1, 1, 1, 1}, make([]byte, 4)}}, "5 dimensions, more than 4"},
		{"alignment type", []KV{{AlignmentKey, ValueOf(uint64(32))}}, nil, "want a uint32 power of two"},
		{"alignment value", []KV{{AlignmentKey, ValueOf(uint32(48))}}, nil, "want a uint32 power of two"},
	}
	for _, tt := range tests {
		var buf bytes.Buffer
		err := Write(&buf, tt.kv, tt.tensors)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: Write = %v, want %q", tt.name, err, tt.want)
		}
		if buf.Len() != 0 {
			t.Errorf("%s: Write wrote %d bytes before failing", tt.name, buf.Len())
		}
	}
}

func TestValueOf(t *testing.T) {
	for _, tc := range []struct {
		v    Value
		want string
	}{
		{ValueOf(uint8(255)), "uint8 255"},
		{ValueOf(int16(-2)), "int16 -2"},
		{ValueOf(float32(0.1)), "float32 0.1"},
		{ValueOf("a\nb"), `string "a\nb"`},
		{ValueOf(strings.Repeat("x", 70)), `string "` + strings.Repeat("x", 64) + `"...`},
		{ValueOf([]int32{1, 2, 3, 4, 5, 6, 7, 8, 9}), "[9]int32{1, 2, 3, 4, 5, 6, 7, 8, ...}"},
		{ValueOf([][]bool{{true}, {}}), "[2]array{[1]bool{true}, [0]bool{}}"},
		{ArrayOf(String), "[0]string{}"},
	} {
		if got := tc.v.String(); got != tc.want {
			t.Errorf("String() = %s, want %s", got, tc.want)
		}
	}
	for _, bad := range []any{1, []int{1}, nil, struct{}{}} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("ValueOf(%#v) did not panic", bad)
				}
			}()
			ValueOf(bad)
		}()
	}
	func() {
		defer func() {
			if r := recover(); r == nil || !strings.Contains(r.(string), "element 1 is a string") {
				t.Errorf("ArrayOf of mixed types: panic %v", r)
			}
		}()
		ArrayOf(Uint8, ValueOf(uint8(1)), ValueOf("x"))
	}()
}

func TestValueAccessors(t *testing.T) {
	tests := []struct {
		v    Value
		get  func(Value) (any, error)
		want any
		err  string
	}{
		{ValueOf(uint8(200)), func(v Value) (any, error) { return v.Int() }, int64(200), ""},
		{ValueOf(int8(-1)), func(v Value) (any, error) { return v.Int() }, int64(-1), ""},
		{ValueOf(int8(-1)), func(v Value) (any, error) { return v.Uint() }, nil, "is the int8 -1, want an unsigned integer"},
		{ValueOf(int64(5)), func(v Value) (any, error) { return v.Uint() }, uint64(5), ""},
		{ValueOf(uint64(1 << 63)), func(v Value) (any, error) { return v.Int() }, nil, "too large for an int64"},
		{ValueOf(float32(2)), func(v Value) (any, error) { return v.Uint() }, nil, "is a float32, want an unsigned integer"},
		{ValueOf(uint32(2)), func(v Value) (any, error) { return v.Float() }, nil, "is a uint32, want a float"},
		{ValueOf(uint8(1)), func(v Value) (any, error) { return v.Bool() }, nil, "is a uint8, want a bool"},
		{ValueOf(true), func(v Value) (any, error) { return v.Str() }, nil, "is a bool, want a string"},
		{ValueOf([]string{"a"}), func(v Value) (any, error) { return v.Str() }, nil, "is an array of string, want a string"},
		{ValueOf([]int64{1 << 40}), func(v Value) (any, error) { return v.Int32s() }, nil, "element 0 is the int64 1099511627776, out of int32's range"},
		{ValueOf([]uint16{1, 65535}), func(v Value) (any, error) { return v.Int32s() }, []int32{1, 65535}, ""},
		{ValueOf([]float64{0.5}), func(v Value) (any, error) { return v.Float32s() }, []float32{0.5}, ""},
		{ValueOf([]float32{0.5}), func(v Value) (any, error) { return v.Float64s() }, []float64{0.5}, ""},
		{ValueOf([]bool{true}), func(v Value) (any, error) { return v.Bools() }, []bool{true}, ""},
		{ValueOf([]int8{-1}), func(v Value) (any, error) { return v.Ints() }, []int64{-1}, ""},
		{ValueOf(uint8(1)), func(v Value) (any, error) { return v.Values() }, nil, "is a uint8, want an array"},
		{ValueOf([]float32{1}), func(v Value) (any, error) { return v.Uints() }, nil, "want an array of integers"},
	}
	for i, tt := range tests {
		got, err := tt.get(tt.v)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%d (%v): error %v, want %q", i, tt.v, err, tt.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%d (%v): %v", i, tt.v, err)
			continue
		}
		if gs, ws := fmtAny(got), fmtAny(tt.want); gs != ws {
			t.Errorf("%d (%v): got %s, want %s", i, tt.v, gs, ws)
		}
	}
}

func fmtAny(x any) string { return fmt.Sprintf("%T %v", x, x) }
