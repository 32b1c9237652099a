package gguf

import (
	"math"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gograd/gograd/nn/quant"
)

// The fixture testdata/quant.gguf is written by llama.cpp's gguf-py (see
// tools/gguf_quant_fixtures.py): its metadata, its quantized tensors, and
// gguf-py's dequantization ("T.expect") and quantization ("T" from
// "T.source") of them.

func openFixture(t *testing.T) *File {
	t.Helper()
	f, err := Open("testdata/quant.gguf")
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func tensorFloats(t *testing.T, f *File, name string) []float32 {
	t.Helper()
	tt, ok := f.Tensor(name)
	if !ok {
		t.Fatalf("fixture has no tensor %q", name)
	}
	v, err := tt.Float32s()
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// firstDiff returns the first index where a and b differ in bits (-1 if
// none; a length mismatch is index len).
func firstDiff(a, b []float32) int {
	for i := range min(len(a), len(b)) {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			return i
		}
	}
	if len(a) != len(b) {
		return min(len(a), len(b))
	}
	return -1
}

func TestFixtureMetadata(t *testing.T) {
	f := openFixture(t)
	if f.Version != 3 || f.Alignment != 64 {
		t.Errorf("version %d alignment %d, want 3 and 64", f.Version, f.Alignment)
	}
	str := func(key string) string {
		v, ok := f.Get(key)
		if !ok {
			t.Fatalf("no key %q", key)
		}
		return v.String()
	}
	want := map[string]string{
		"general.architecture": `string "gograd-fixture"`,
		"general.alignment":    "uint32 64",
		"test.uint8":           "uint8 200",
		"test.int8":            "int8 -5",
		"test.uint16":          "uint16 60000",
		"test.int16":           "int16 -300",
		"test.uint32":          "uint32 4000000000",
		"test.int32":           "int32 -70000",
		"test.float32":         "float32 0.1",
		"test.bool":            "bool true",
		"test.string":          `string "héllo, gguf"`,
		"test.uint64":          "uint64 9223372036854775813",
		"test.int64":           "int64 -1099511627776",
		"test.float64":         "float64 1e+300",
		"test.array.uint8":     "[3]uint8{0, 1, 255}",
		"test.array.int32":     "[3]int32{1, -2, 3}",
		"test.array.float32":   "[3]float32{0.5, -1.5, 3.25}",
		"test.array.bool":      "[3]bool{true, false, true}",
		"test.array.string":    `[3]string{"a", "", "ünï"}`,
		"test.array.nested":    "[2]array{[2]int32{1, 2}, [1]int32{3}}",
		"test.array.mixed":     `[2]array{[2]int32{1, 2}, [2]string{"x", "y"}}`,
		"test.array.deep":      "[2]array{[1]array{[1]float32{0.5}}, [1]array{[2]float32{1.5, 2.5}}}",
	}
	for key, w := range want {
		if got := str(key); got != w {
			t.Errorf("%s = %s, want %s", key, got, w)
		}
	}
	if len(f.KV) != len(want) {
		t.Errorf("%d keys, want %d", len(f.KV), len(want))
	}

	// Typed accessors convert between widths.
	if v, err := f.Uint("test.uint8"); err != nil || v != 200 {
		t.Errorf("Uint(test.uint8) = %d, %v", v, err)
	}
	if v, err := f.Int("test.int16"); err != nil || v != -300 {
		t.Errorf("Int(test.int16) = %d, %v", v, err)
	}
	if v, err := f.Uint("test.uint64"); err != nil || v != 1<<63+5 {
		t.Errorf("Uint(test.uint64) = %d, %v", v, err)
	}
	if v, err := f.Float("test.float32"); err != nil || v != float64(float32(0.1)) {
		t.Errorf("Float(test.float32) = %v, %v", v, err)
	}
	if v, err := f.Int32s("test.array.int32"); err != nil || !slices.Equal(v, []int32{1, -2, 3}) {
		t.Errorf("Int32s = %v, %v", v, err)
	}
	if v, err := f.Uints("test.array.uint8"); err != nil || !slices.Equal(v, []uint64{0, 1, 255}) {
		t.Errorf("Uints = %v, %v", v, err)
	}
	if v, err := f.Float32s("test.array.float32"); err != nil || !slices.Equal(v, []float32{0.5, -1.5, 3.25}) {
		t.Errorf("Float32s = %v, %v", v, err)
	}
	if v, err := f.Strings("test.array.string"); err != nil || !slices.Equal(v, []string{"a", "", "ünï"}) {
		t.Errorf("Strings = %q, %v", v, err)
	}
	nested, _ := f.Get("test.array.mixed")
	elems, err := nested.Values()
	if err != nil || len(elems) != 2 {
		t.Fatalf("Values = %v, %v", elems, err)
	}
	if s, err := elems[1].Strings(); err != nil || !slices.Equal(s, []string{"x", "y"}) {
		t.Errorf("mixed[1].Strings() = %q, %v", s, err)
	}
}

func TestFixtureTensors(t *testing.T) {
	f := openFixture(t)
	for _, tt := range f.Tensors {
		if tt.Offset%64 != 0 {
			t.Errorf("%s: offset %d not aligned to 64", tt.Name, tt.Offset)
		}
	}
	for _, name := range []string{"q8_0", "q4_0", "q4_1", "q5_0", "q5_1", "q4_k", "q5_k", "q6_k", "f16", "bf16"} {
		tt, ok := f.Tensor(name)
		if !ok {
			t.Fatalf("no tensor %q", name)
		}
		want := tensorFloats(t, f, name+".expect")
		got, err := tt.Float32s()
		if err != nil {
			t.Fatal(err)
		}
		if i := firstDiff(got, want); i >= 0 {
			t.Errorf("%s: Float32s differs from gguf-py at element %d of %d", name, i, len(want))
			continue
		}
		if _, q := tt.Type.Quantized(); !q {
			continue
		}
		p, err := tt.Planes()
		if err != nil {
			t.Fatal(err)
		}
		if rows, cols := p.Rows, p.Cols; cols != int(tt.Dims[0]) || rows*cols != len(want) {
			t.Errorf("%s: Planes of %d x %d for dims %v", name, rows, cols, tt.Dims)
		}
		if i := firstDiff(p.Dequantize(), want); i >= 0 {
			t.Errorf("%s: Planes.Dequantize differs from gguf-py at element %d", name, i)
		}
	}
	if tt, _ := f.Tensor("q4_1"); !slices.Equal(tt.Dims, []uint64{256, 2, 2}) || !slices.Equal(tt.Shape(), []int{2, 2, 256}) {
		t.Errorf("q4_1: dims %v shape %v, want [256 2 2] and [2 2 256]", tt.Dims, tt.Shape())
	}
}

// TestFixtureQuantizers checks QuantizeQ8_0 and QuantizeQ4_0 against the
// bytes gguf-py's quantizers made from the same floats.
func TestFixtureQuantizers(t *testing.T) {
	f := openFixture(t)
	for _, tc := range []struct {
		name string
		f    quant.Format
		q    func(rows, cols int, w []float32) (*quant.Planes, error)
	}{
		{"q8_0", quant.Q8_0, quant.QuantizeQ8_0},
		{"q4_0", quant.Q4_0, quant.QuantizeQ4_0},
	} {
		tt, _ := f.Tensor(tc.name)
		src := tensorFloats(t, f, tc.name+".source")
		p, err := tc.q(int(tt.Dims[1]), int(tt.Dims[0]), src)
		if err != nil {
			t.Fatal(err)
		}
		got, err := p.Blocks(tc.f)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != string(tt.Data) {
			for i := range got {
				if got[i] != tt.Data[i] {
					t.Errorf("%s: quantized byte %d (block %d) = %#x, gguf-py %#x", tc.name, i, i/tc.f.BlockBytes(), got[i], tt.Data[i])
					break
				}
			}
		}
	}
}

func TestFixtureErrorsName(t *testing.T) {
	f := openFixture(t)
	for _, tc := range []struct {
		err  error
		want string
	}{
		{func() error { _, err := f.Uint("test.string"); return err }(), `gguf: testdata/quant.gguf: key "test.string" is a string, want an unsigned integer`},
		{func() error { _, err := f.Uint("test.int8"); return err }(), `key "test.int8" is the int8 -5, want an unsigned integer`},
		{func() error { _, err := f.Int("test.uint64"); return err }(), `key "test.uint64" is the uint64 9223372036854775813, too large for an int64`},
		{func() error { _, err := f.Strings("test.array.int32"); return err }(), `key "test.array.int32" is an array of int32, want an array of string`},
		{func() error { _, err := f.Uints("test.array.int32"); return err }(), `key "test.array.int32" element 1 is the int32 -2, want an unsigned integer`},
		{func() error { _, err := f.Float("test.missing"); return err }(), `key "test.missing": no such key`},
		{func() error { tt, _ := f.Tensor("q8_0"); _, err := tt.Planes(); return err }(), ""},
		{func() error { tt, _ := f.Tensor("f16"); _, err := tt.Planes(); return err }(), `tensor "f16": type F16 has no quantized planes`},
	} {
		switch {
		case tc.want == "" && tc.err != nil:
			t.Errorf("unexpected error %v", tc.err)
		case tc.want != "" && (tc.err == nil || !strings.Contains(tc.err.Error(), tc.want)):
			t.Errorf("error %v, want %q", tc.err, tc.want)
		}
	}
}

// TestTensorKeepsMapping drops the File of a tensor and collects garbage:
// the tensor alone must keep the mapping its Data points into.
func TestTensorKeepsMapping(t *testing.T) {
	tt := fixtureTensor(t, "q4_k")
	for range 3 {
		runtime.GC()
		time.Sleep(10 * time.Millisecond) // cleanups run on their own goroutine
	}
	// Allocate, so that freed address space would be reused and read back
	// as other bytes rather than fault.
	junk := make([][]byte, 64)
	for i := range junk {
		junk[i] = make([]byte, 64<<10)
	}
	got, err := tt.Float32s()
	if err != nil {
		t.Fatal(err)
	}
	if i := firstDiff(got, tensorFloats(t, openFixture(t), "q4_k.expect")); i >= 0 {
		t.Errorf("element %d changed after the File was collected", i)
	}
	runtime.KeepAlive(junk)
}

// fixtureTensor opens the fixture and returns one tensor; the File is
// unreachable once it returns.
//
//go:noinline
func fixtureTensor(t *testing.T, name string) *Tensor {
	tt, ok := openFixture(t).Tensor(name)
	if !ok {
		t.Fatalf("no tensor %q", name)
	}
	return tt
}
