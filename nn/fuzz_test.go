package nn

import (
	"bytes"
	"encoding/binary"
	"maps"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/gograd/gograd"
)

// FuzzSafetensors feeds the parser arbitrary files. It must never panic; a
// file it rejects gives an error naming the file; a file it accepts must be
// consistent: its tensors tile the data, each tensor holds its bytes, and
// writing the tensors back gives a file that reads the same.
func FuzzSafetensors(f *testing.F) {
	seeds := [][]byte{}
	if b, err := os.ReadFile("testdata/dtypes.safetensors"); err == nil {
		seeds = append(seeds, b)
	}
	var buf bytes.Buffer
	err := WriteSafetensors(&buf, map[string]*gograd.Tensor{
		"a.weight": gograd.FromSlice([]float32{1, 2, 3, 4, 5, 6}, 2, 3),
		"a.bias":   gograd.FromSlice([]int64{-1}),
		"mask":     gograd.FromSlice([]bool{true, false, true}),
		"s":        gograd.Scalar(float64(0.5)),
		"e":        gograd.Zeros(0, 2),
	}, map[string]string{"k": "v"})
	if err != nil {
		f.Fatal(err)
	}
	seeds = append(seeds, buf.Bytes())
	for _, s := range slices.Clone(seeds) {
		for _, cut := range []int{0, 7, 8, 9, 16, len(s) / 2, len(s) - 1} {
			if cut < len(s) {
				seeds = append(seeds, s[:cut])
			}
		}
	}
	hdr := func(h string) []byte {
		return append(binary.LittleEndian.AppendUint64(nil, uint64(len(h))), h...)
	}
	seeds = append(seeds, hdr(`{}`), hdr(`{"x":{"dtype":"F32","shape":[0,99999999999],"data_offsets":[0,0]}}`),
		append(hdr(`{"x":{"dtype":"U8","shape":[2],"data_offsets":[0,2]},"__metadata__":{"a":"b"}}`), 1, 2))
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		st, err := parseSafetensors("fuzz.safetensors", data, nil)
		if err != nil {
			if st != nil || !strings.HasPrefix(err.Error(), "fuzz.safetensors: ") {
				t.Fatalf("error %q (file %v)", err, st != nil)
			}
			return
		}
		covered := 0
		for _, name := range st.Names() {
			info, _ := st.Info(name)
			n := 1
			for _, s := range info.Shape {
				n *= s
			}
			if info.End-info.Begin != n*info.DType.Size() {
				t.Fatalf("%q: %d bytes for shape %v of %s", name, info.End-info.Begin, info.Shape, info.DType)
			}
			covered += info.End - info.Begin
			x, err := st.Tensor(name)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(x.Shape(), info.Shape) || x.DType() != info.DType || !bytes.Equal(x.Bytes(), st.data[info.Begin:info.End]) {
				t.Fatalf("%q: tensor %v does not hold its bytes", name, x)
			}
		}
		if covered != len(st.data) {
			t.Fatalf("tensors cover %d of %d data bytes", covered, len(st.data))
		}
		var out bytes.Buffer
		if err := WriteSafetensors(&out, st.StateDict(), st.Metadata); err != nil {
			t.Fatal(err)
		}
		again, err := parseSafetensors("again", out.Bytes(), nil)
		if err != nil {
			t.Fatalf("rewritten file does not read: %v", err)
		}
		if !slices.Equal(again.Names(), st.Names()) || !maps.Equal(again.Metadata, st.Metadata) {
			t.Fatalf("rewritten file has names %q metadata %v, want %q %v", again.Names(), again.Metadata, st.Names(), st.Metadata)
		}
		for _, name := range st.Names() {
			a, _ := st.Info(name)
			b, _ := again.Info(name)
			x, _ := again.Tensor(name)
			if a.DType != b.DType || !slices.Equal(a.Shape, b.Shape) || !bytes.Equal(x.Bytes(), st.data[a.Begin:a.End]) {
				t.Fatalf("%q differs after a rewrite", name)
			}
		}
	})
}
