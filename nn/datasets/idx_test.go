package datasets

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gograd/gograd"
)

// idxFile builds an uncompressed IDX file from a header and element bytes.
func idxFile(typ byte, dims []uint32, data []byte) []byte {
	b := []byte{0, 0, typ, byte(len(dims))}
	for _, d := range dims {
		b = binary.BigEndian.AppendUint32(b, d)
	}
	return append(b, data...)
}

func gzipped(t testing.TB, b []byte) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestReadIDX(t *testing.T) {
	raw := idxFile(0x08, []uint32{2, 3}, []byte{1, 2, 3, 4, 5, 6})
	for name, file := range map[string][]byte{"plain": raw, "gzip": gzipped(t, raw)} {
		x, err := ReadIDX(bytes.NewReader(file))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if x.Type != IDXUint8 || !slices.Equal(x.Dims, []int{2, 3}) || !bytes.Equal(x.Data, []byte{1, 2, 3, 4, 5, 6}) {
			t.Errorf("%s: got %v %v %v", name, x.Type, x.Dims, x.Data)
		}
	}
}

// TestReadIDXTypes reads every element type into a tensor: big-endian
// elements come out as their values.
func TestReadIDXTypes(t *testing.T) {
	be := func(f func([]byte) []byte) []byte { return f(nil) }
	cases := []struct {
		typ  IDXType
		data []byte
		want []float64
	}{
		{IDXUint8, []byte{0, 255}, []float64{0, 255}},
		{IDXInt8, []byte{0x80, 0x7f}, []float64{-128, 127}},
		{IDXInt16, []byte{0xff, 0xfe, 0x01, 0x00}, []float64{-2, 256}},
		{IDXInt32, be(func(b []byte) []byte {
			return binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint32(b, 0xffffffff), 70000)
		}), []float64{-1, 70000}},
		{IDXFloat32, be(func(b []byte) []byte {
			return binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint32(b, 0x3fc00000), 0xc0200000)
		}), []float64{1.5, -2.5}},
		{IDXFloat64, be(func(b []byte) []byte {
			return binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint64(b, 0x3ff8000000000000), 0xc004000000000000)
		}), []float64{1.5, -2.5}},
	}
	for _, c := range cases {
		x, err := ReadIDX(bytes.NewReader(idxFile(byte(c.typ), []uint32{2}, c.data)))
		if err != nil {
			t.Fatalf("%s: %v", c.typ, err)
		}
		tt := x.Tensor()
		if tt.DType() != c.typ.DType() || !slices.Equal(tt.Shape(), []int{2}) {
			t.Fatalf("%s: tensor %v", c.typ, tt)
		}
		if got := tt.Float64s(); !slices.Equal(got, c.want) {
			t.Errorf("%s: got %v, want %v", c.typ, got, c.want)
		}
	}
}

// TestReadIDXMalformed: every malformed file is an error.
func TestReadIDXMalformed(t *testing.T) {
	good := idxFile(0x08, []uint32{2, 2}, []byte{1, 2, 3, 4})
	gz := gzipped(t, good)
	cases := map[string][]byte{
		"empty":           {},
		"short magic":     {0, 0, 8},
		"bad magic":       {1, 0, 8, 1, 0, 0, 0, 0},
		"unknown type":    idxFile(0x0A, []uint32{1}, []byte{0}),
		"short dims":      {0, 0, 8, 2, 0, 0, 0, 1, 0, 0},
		"short data":      good[:len(good)-1],
		"trailing data":   append(slices.Clone(good), 9),
		"huge dims":       idxFile(0x0E, []uint32{0xffffffff, 0xffffffff, 0xffffffff}, nil),
		"lying dims":      idxFile(0x08, []uint32{1 << 30}, []byte{1, 2, 3}),
		"gzip truncated":  gz[:len(gz)-6],
		"gzip corrupted":  append(slices.Clone(gz[:len(gz)-8]), 1, 2, 3, 4, 5, 6, 7, 8),
		"gzip bad header": {0x1f, 0x8b, 0, 0},
		"gzip of garbage": gzipped(t, []byte("hello, world")),
	}
	for name, file := range cases {
		x, err := ReadIDX(bytes.NewReader(file))
		if err == nil {
			t.Errorf("%s: no error (got %v %v)", name, x.Type, x.Dims)
			continue
		}
		if x != nil || !strings.HasPrefix(err.Error(), "idx: ") {
			t.Errorf("%s: error %q, result %v", name, err, x)
		}
	}
}

// TestIDXRoundTrip writes and reads back files of every type, gzip or not.
func TestIDXRoundTrip(t *testing.T) {
	dir := t.TempDir()
	for i, x := range []*IDX{
		{Type: IDXUint8, Dims: []int{3, 2, 2}, Data: []byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}},
		{Type: IDXFloat32, Dims: []int{2}, Data: []byte{0x3f, 0x80, 0, 0, 0xc0, 0, 0, 0}},
		{Type: IDXInt16, Dims: []int{0, 5}, Data: []byte{}},
		{Type: IDXFloat64, Dims: []int{}, Data: make([]byte, 8)},
	} {
		for _, gz := range []bool{false, true} {
			path := filepath.Join(dir, "x.idx")
			if err := WriteIDXFile(path, x, gz); err != nil {
				t.Fatal(err)
			}
			y, err := ReadIDXFile(path)
			if err != nil {
				t.Fatalf("%d (gzip %v): %v", i, gz, err)
			}
			if y.Type != x.Type || !slices.Equal(y.Dims, x.Dims) || !bytes.Equal(y.Data, x.Data) {
				t.Errorf("%d (gzip %v): wrote %v %v %v, read %v %v %v", i, gz, x.Type, x.Dims, x.Data, y.Type, y.Dims, y.Data)
			}
		}
	}
	bad := []*IDX{
		{Type: 0x07, Dims: []int{1}, Data: []byte{0}},
		{Type: IDXUint8, Dims: []int{2}, Data: []byte{0}},
		{Type: IDXUint8, Dims: []int{-1}, Data: nil},
		{Type: IDXUint8, Dims: make([]int, 256), Data: nil},
	}
	for i, x := range bad {
		if err := WriteIDX(io.Discard, x); err == nil {
			t.Errorf("bad %d: no error", i)
		}
	}
}

func TestIDXSlice(t *testing.T) {
	x := &IDX{Type: IDXInt16, Dims: []int{3, 2}, Data: []byte{0, 1, 0, 2, 0, 3, 0, 4, 0, 5, 0, 6}}
	y := x.Slice(1, 3)
	if !slices.Equal(y.Dims, []int{2, 2}) || !bytes.Equal(y.Data, []byte{0, 3, 0, 4, 0, 5, 0, 6}) {
		t.Errorf("got %v %v", y.Dims, y.Data)
	}
	if got := y.Tensor().Int64s(); !slices.Equal(got, []int64{3, 4, 5, 6}) {
		t.Errorf("tensor %v", got)
	}
}

func TestLoadMNIST(t *testing.T) {
	dir := t.TempDir()
	images, labels := filepath.Join(dir, "images.gz"), filepath.Join(dir, "labels")
	px := make([]byte, 2*28*28)
	px[0], px[28*28+5] = 255, 51
	if err := WriteIDXFile(images, &IDX{Type: IDXUint8, Dims: []int{2, 28, 28}, Data: px}, true); err != nil {
		t.Fatal(err)
	}
	if err := WriteIDXFile(labels, &IDX{Type: IDXUint8, Dims: []int{2}, Data: []byte{7, 3}}, false); err != nil {
		t.Fatal(err)
	}
	x, y, err := LoadMNIST(images, labels)
	if err != nil {
		t.Fatal(err)
	}
	if x.DType() != gograd.Float32 || !slices.Equal(x.Shape(), []int{2, 1, 28, 28}) || y.DType() != gograd.Int64 || !slices.Equal(y.Shape(), []int{2}) {
		t.Fatalf("got %v and %v", x, y)
	}
	v := x.Float32s()
	if v[0] != 1 || v[28*28+5] != float32(51)/255 || v[1] != 0 {
		t.Errorf("pixels %v %v %v", v[0], v[28*28+5], v[1])
	}
	if got := y.Int64s(); !slices.Equal(got, []int64{7, 3}) {
		t.Errorf("labels %v", got)
	}

	// Mismatched counts, wrong types and missing files are errors.
	if err := WriteIDXFile(labels, &IDX{Type: IDXUint8, Dims: []int{3}, Data: []byte{1, 2, 3}}, false); err != nil {
		t.Fatal(err)
	}
	if _, _, err := LoadMNIST(images, labels); err == nil {
		t.Error("3 labels for 2 images: no error")
	}
	if _, _, err := LoadMNIST(labels, labels); err == nil {
		t.Error("labels as images: no error")
	}
	if _, _, err := LoadMNIST(images, images); err == nil {
		t.Error("images as labels: no error")
	}
	if _, _, err := LoadMNIST(filepath.Join(dir, "none"), labels); !os.IsNotExist(unwrapAll(err)) {
		t.Errorf("missing file: %v", err)
	}
}

// unwrapAll returns the innermost error of a chain.
func unwrapAll(err error) error {
	for {
		u, ok := err.(interface{ Unwrap() error })
		if !ok || u.Unwrap() == nil {
			return err
		}
		err = u.Unwrap()
	}
}

// FuzzIDX feeds the reader arbitrary files, plain and gzip. It must never
// panic; a file it accepts must hold exactly its header's elements, and
// writing it back must give the same bytes.
func FuzzIDX(f *testing.F) {
	seeds := [][]byte{
		idxFile(0x08, []uint32{2, 3}, []byte{1, 2, 3, 4, 5, 6}),
		idxFile(0x0D, []uint32{1}, []byte{0x3f, 0x80, 0, 0}),
		idxFile(0x0B, []uint32{0, 7}, nil),
		idxFile(0x0E, nil, make([]byte, 8)),
		idxFile(0x0C, []uint32{0xffffffff, 0xffffffff}, []byte{1}),
		{0, 0, 8, 255},
	}
	for _, name := range []string{"train1k-labels-idx1-ubyte.gz", "test2k-labels-idx1-ubyte.gz"} {
		if b, err := os.ReadFile(filepath.Join("..", "..", "examples", "mnist", "testdata", name)); err == nil {
			seeds = append(seeds, b)
		}
	}
	for _, s := range slices.Clone(seeds[:3]) {
		seeds = append(seeds, gzipped(f, s))
	}
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, file []byte) {
		x, err := ReadIDX(bytes.NewReader(file))
		if err != nil {
			if x != nil || !strings.HasPrefix(err.Error(), "idx: ") {
				t.Fatalf("error %q with a result", err)
			}
			return
		}
		if len(x.Data) != x.Numel()*x.Type.Size() {
			t.Fatalf("%d bytes for dimensions %v of %s", len(x.Data), x.Dims, x.Type)
		}
		var buf bytes.Buffer
		if err := WriteIDX(&buf, x); err != nil {
			t.Fatalf("write back: %v", err)
		}
		plain := file
		if bytes.HasPrefix(file, gzipMagic) {
			zr, err := gzip.NewReader(bytes.NewReader(file))
			if err != nil {
				t.Fatal(err)
			}
			if plain, err = io.ReadAll(zr); err != nil {
				t.Fatal(err)
			}
		}
		if !bytes.Equal(buf.Bytes(), plain) {
			t.Fatalf("wrote back %d bytes, read %d", buf.Len(), len(plain))
		}
	})
}
