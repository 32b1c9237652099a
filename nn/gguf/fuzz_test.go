package gguf

import (
	"bytes"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// FuzzParse checks that Parse never panics, that its errors name the file,
// and that a file it accepts can be read through and written back to the
// same metadata and tensors. Seeds: the writer's files, hand-made edge
// cases, the committed fixture and the shared GGUF files when present.
func FuzzParse(f *testing.F) {
	r := rand.New(rand.NewPCG(4, 4))
	f.Add(writeFile(f, sampleKV(), sampleTensors(r)))
	f.Add(writeFile(f, nil, nil))
	f.Add(writeFile(f, []KV{{AlignmentKey, ValueOf(uint32(8))}}, []WriteTensor{{"q", Q5_1, []uint64{32, 2}, make([]byte, 48)}}))
	f.Add([]byte(header(3, 2, 0).tinfo("a", F32, 0, 16).tinfo("b", Q8_0, 64, 32).data(98)))
	f.Add([]byte(header(2, 0, 1).str("k").u32(uint32(Array)).u32(uint32(Array)).u64(1).u32(uint32(String)).u64(1).str("v")))
	paths := []string{"testdata/quant.gguf"}
	if dir := sharedDir(); dir != "" {
		shared, _ := filepath.Glob(filepath.Join(dir, "gguf", "*.gguf"))
		paths = append(paths, shared...)
	}
	for _, p := range paths {
		if file, err := Open(p); err == nil {
			f.Add(shrink(f, file))
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		file, err := Parse("fuzz.gguf", data)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "gguf: fuzz.gguf: ") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		exercise(file)
		if v, ok := file.Get(AlignmentKey); ok && v.Type() != Uint32 {
			return // the writer insists on ggml's uint32
		}
		tensors := make([]WriteTensor, len(file.Tensors))
		for i, tt := range file.Tensors {
			tensors[i] = WriteTensor{tt.Name, tt.Type, tt.Dims, tt.Data}
		}
		var buf bytes.Buffer
		if err := Write(&buf, file.KV, tensors); err != nil {
			t.Fatalf("writing back what was read: %v", err)
		}
		again, err := Parse("again.gguf", buf.Bytes())
		if err != nil {
			t.Fatalf("reading back what was written: %v", err)
		}
		checkSame(t, again, file.KV, tensors)
	})
}

// shrink returns a small file with f's keys, value types and tensor names
// and types: arrays cut to their first 4 elements, tensors to one block
// (the file's first). Whole model files make slow seeds: every input the
// fuzzer finds from them is megabytes to mutate and minimize.
func shrink(tb testing.TB, f *File) []byte {
	kv := make([]KV, len(f.KV))
	for i, e := range f.KV {
		kv[i] = KV{e.Key, cut(e.Value)}
	}
	tensors := make([]WriteTensor, len(f.Tensors))
	for i, t := range f.Tensors {
		dims := make([]uint64, len(t.Dims))
		for j := range dims {
			dims[j] = 1
		}
		n := t.Type.BlockBytes()
		if len(dims) > 0 {
			dims[0] = uint64(t.Type.BlockElems())
		} else {
			n = len(t.Data)
		}
		// A copy: f's mapping goes when f does, and f is not used below.
		tensors[i] = WriteTensor{t.Name, t.Type, dims, slices.Clone(t.Data[:min(n, len(t.Data))])}
		if len(tensors[i].Data) < n {
			tensors[i].Data = make([]byte, n)
		}
	}
	return writeFile(tb, kv, tensors)
}

// cut shortens arrays, nested ones too, to 4 elements.
func cut(v Value) Value {
	if v.Type() != Array {
		return v
	}
	elems, _ := v.Values()
	elems = elems[:min(len(elems), 4)]
	for i, e := range elems {
		elems[i] = cut(e)
	}
	return ArrayOf(v.Elem(), elems...)
}

// sharedDir returns the shared data folder beside the module root, or ""
// if there is none.
func sharedDir() string {
	dir, err := os.Getwd()
	if err != nil {
		return ""
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			p := filepath.Join(dir, "..", "shared", "data")
			if _, err := os.Stat(p); err == nil {
				return p
			}
			return ""
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
}
