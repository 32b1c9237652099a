package nn_test

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gograd/gograd"
	"github.com/gograd/gograd/device"
	"github.com/gograd/gograd/nn"
)

// stBytes is a safetensors file of header (padded to 8 bytes) and data.
func stBytes(header string, data []byte) []byte {
	for len(header)%8 != 0 {
		header += " "
	}
	out := binary.LittleEndian.AppendUint64(nil, uint64(len(header)))
	return append(append(out, header...), data...)
}

func writeFile(t *testing.T, name string, b []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func mustTensor(t *testing.T, f *nn.SafetensorsFile, name string) *gograd.Tensor {
	t.Helper()
	x, err := f.Tensor(name)
	if err != nil {
		t.Fatal(err)
	}
	return x
}

func TestSafetensorsRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	tensors := map[string]*gograd.Tensor{}
	raws := map[string][]byte{}
	for i, dt := range []gograd.DType{gograd.Bool, gograd.Int8, gograd.Uint8, gograd.Int16, gograd.Uint16, gograd.Int32, gograd.Uint32,
		gograd.Int64, gograd.Uint64, gograd.Float16, gograd.BFloat16, gograd.Float32, gograd.Float64} {
		shape := []int{2, i%3 + 1, 3}
		raw := make([]byte, 2*(i%3+1)*3*dt.Size())
		for j := range raw {
			raw[j] = byte(rng.Uint32())
			if dt == gograd.Bool {
				raw[j] &= 1
			}
		}
		name := "layer." + dt.String()
		tensors[name] = gograd.FromBytes(raw, dt, shape...)
		raws[name] = raw
	}
	base := gograd.FromSlice([]float32{1, 2, 3, 4, 5, 6}, 2, 3)
	lazy := map[string]*gograd.Tensor{
		"lazy":       base.Mul(2).Add(1),
		"transposed": base.T(),
		"scalar":     gograd.Scalar(int64(-7)),
		"empty":      gograd.Zeros(0, 4),
		"é ünïcode":  gograd.Ones(1),
	}
	for k, v := range lazy {
		tensors[k] = v
	}
	meta := map[string]string{"format": "pt", "quote\"d": "a\nb"}
	path := filepath.Join(t.TempDir(), "all.safetensors")
	if err := nn.SaveSafetensors(path, tensors, meta); err != nil {
		t.Fatal(err)
	}
	f, err := nn.LoadSafetensors(path)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(f.Metadata) != fmt.Sprint(meta) {
		t.Errorf("metadata %v, want %v", f.Metadata, meta)
	}
	var names []string
	for k := range tensors {
		names = append(names, k)
	}
	slices.Sort(names)
	if !slices.Equal(f.Names(), names) {
		t.Errorf("names %q, want %q", f.Names(), names)
	}
	for name, want := range tensors {
		got := mustTensor(t, f, name)
		if got.DType() != want.DType() || !slices.Equal(got.Shape(), want.Shape()) {
			t.Errorf("%s: %s %v, want %s %v", name, got.DType(), got.Shape(), want.DType(), want.Shape())
			continue
		}
		wantRaw := raws[name]
		if wantRaw == nil {
			wantRaw = want.Bytes()
		}
		if !bytes.Equal(got.Bytes(), wantRaw) {
			t.Errorf("%s: bytes differ", name)
		}
		info, _ := f.Info(name)
		if info.Begin%want.DType().Size() != 0 {
			t.Errorf("%s: offset %d not aligned to %s", name, info.Begin, want.DType())
		}
		if again := mustTensor(t, f, name); again != got {
			t.Errorf("%s: a second Tensor call made a new tensor", name)
		}
	}
	if got := mustTensor(t, f, "lazy").Float32s(); !slices.Equal(got, []float32{3, 5, 7, 9, 11, 13}) {
		t.Errorf("lazy = %v", got)
	}
	if got := mustTensor(t, f, "transposed").Float32s(); !slices.Equal(got, []float32{1, 4, 2, 5, 3, 6}) {
		t.Errorf("transposed = %v", got)
	}
	if _, err := f.Tensor("nope"); err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), `"nope"`) {
		t.Errorf("missing tensor: error %v", err)
	}
	// The header is sorted by name and the data starts 8-aligned.
	raw, _ := os.ReadFile(path)
	n := binary.LittleEndian.Uint64(raw)
	hdr := string(raw[8 : 8+n])
	if n%8 != 0 || !strings.HasPrefix(hdr, `{"__metadata__":{"format":"pt",`) || strings.Index(hdr, `"layer.bfloat16"`) > strings.Index(hdr, `"layer.bool"`) {
		t.Errorf("header %q", hdr)
	}
}

// TestReadTorchFile reads the file tools/gen_safetensors.py wrote with numpy.
func TestReadTorchFile(t *testing.T) {
	f, err := nn.LoadSafetensors("testdata/dtypes.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	if f.Metadata["format"] != "pt" || f.Metadata["source"] != "tools/gen_safetensors.py" {
		t.Errorf("metadata %v", f.Metadata)
	}
	base := []float64{-3.5, -1, 0, 0.25, 1.5, 100}
	ints := []float64{-128, -1, 0, 1, 2, 127}
	cases := []struct {
		name  string
		dt    gograd.DType
		shape []int
		want  []float64
	}{
		{"f64", gograd.Float64, []int{2, 3}, base},
		{"f32", gograd.Float32, []int{3, 2}, base},
		{"f16", gograd.Float16, []int{6}, base},
		{"bf16", gograd.BFloat16, []int{1, 6}, base},
		{"i32", gograd.Int32, []int{6}, []float64{-(1 << 31), -1, 0, 1, 7, 1<<31 - 1}},
		{"i16", gograd.Int16, []int{6}, []float64{-(1 << 15), -1, 0, 1, 300, 1<<15 - 1}},
		{"i8", gograd.Int8, []int{2, 1, 3}, ints},
		{"u8", gograd.Uint8, []int{6}, []float64{0, 1, 2, 127, 128, 255}},
		{"u16", gograd.Uint16, []int{6}, []float64{0, 1, 2, 300, 40000, 65535}},
		{"u32", gograd.Uint32, []int{6}, []float64{0, 1, 2, 70000, 1 << 31, 1<<32 - 1}},
		{"bool", gograd.Bool, []int{3, 2}, []float64{1, 0, 0, 1, 1, 0}},
		{"scalar", gograd.Float32, []int{}, []float64{2.5}},
		{"empty", gograd.Float32, []int{0, 3}, []float64{}},
	}
	for _, c := range cases {
		x := mustTensor(t, f, c.name)
		if x.DType() != c.dt || !slices.Equal(x.Shape(), c.shape) {
			t.Errorf("%s: %s %v, want %s %v", c.name, x.DType(), x.Shape(), c.dt, c.shape)
			continue
		}
		if got := x.Float64s(); !slices.Equal(got, c.want) {
			t.Errorf("%s = %v, want %v", c.name, got, c.want)
		}
	}
	// 64-bit integers do not fit a float64.
	if got, want := gograd.Data[int64](mustTensor(t, f, "i64")), []int64{-(1 << 62), -1, 0, 1, 1 << 40, 1 << 62}; !slices.Equal(got, want) {
		t.Errorf("i64 = %v, want %v", got, want)
	}
	if got, want := gograd.Data[uint64](mustTensor(t, f, "u64")), []uint64{0, 1, 2, 1 << 33, 1 << 63, math.MaxUint64}; !slices.Equal(got, want) {
		t.Errorf("u64 = %v, want %v", got, want)
	}
}

func TestSafetensorsMalformed(t *testing.T) {
	f32x2 := `{"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`
	eight := make([]byte, 8)
	cases := []struct {
		name string
		file []byte
		want string
	}{
		{"empty", nil, "file of 0 bytes is shorter than the 8-byte header size"},
		{"short", []byte{1, 2, 3}, "shorter than the 8-byte header size"},
		{"header past end", binary.LittleEndian.AppendUint64(nil, 1000), "header size 1000 runs past the end of the file (8 bytes)"},
		{"huge header size", append(binary.LittleEndian.AppendUint64(nil, math.MaxUint64), "{}"...), "runs past the end"},
		{"header size 0", binary.LittleEndian.AppendUint64(nil, 0), "too small"},
		{"not an object", stBytes(`["x"]`, nil), "does not start with '{'"},
		{"bad json", stBytes(`{"x":`, nil), "header:"},
		{"bad utf8", stBytes("{\"\xff\":1}", nil), "not valid UTF-8"},
		{"trailing json", stBytes(`{}{}`, nil), "more JSON after the header object"},
		{"unknown dtype", stBytes(`{"x":{"dtype":"F8_E4M3","shape":[1],"data_offsets":[0,1]}}`, []byte{0}), `tensor "x": unknown dtype "F8_E4M3"`},
		{"size mismatch", stBytes(`{"x":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}`, make([]byte, 4)), "shape [2] of F32 needs 8 bytes, data_offsets [0 4] hold 4"},
		{"offsets past data", stBytes(f32x2, make([]byte, 4)), "data_offsets [0 8] out of the 4 bytes of data"},
		{"offsets reversed", stBytes(`{"x":{"dtype":"U8","shape":[0],"data_offsets":[4,0]}}`, make([]byte, 4)), "out of the 4 bytes"},
		{"three offsets", stBytes(`{"x":{"dtype":"U8","shape":[1],"data_offsets":[0,1,2]}}`, make([]byte, 2)), "has more than 2 values"},
		{"one offset", stBytes(`{"x":{"dtype":"U8","shape":[1],"data_offsets":[1]}}`, make([]byte, 2)), "want [begin, end]"},
		{"overlap", stBytes(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}`, make([]byte, 12)), `tensor "b" at [4, 12) overlaps`},
		{"gap", stBytes(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}}`, make([]byte, 12)), "bytes [4, 8) of the data belong to no tensor"},
		{"leftover", stBytes(f32x2, make([]byte, 12)), "bytes [8, 12) of the data belong to no tensor"},
		{"no tensors, data", stBytes(`{}`, eight), "bytes [0, 8) of the data belong to no tensor"},
		{"duplicate", stBytes(`{"x":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"x":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}}`, make([]byte, 2)), `tensor "x" appears twice`},
		{"escaped duplicate", stBytes(`{"x":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"\u0078":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}}`, make([]byte, 2)), `tensor "x" appears twice`},
		{"missing shape", stBytes(`{"x":{"dtype":"U8","data_offsets":[0,1]}}`, []byte{0}), "entry needs dtype, shape and data_offsets"},
		{"missing dtype", stBytes(`{"x":{"shape":[1],"data_offsets":[0,1]}}`, []byte{0}), "entry needs dtype, shape and data_offsets"},
		{"null offsets", stBytes(`{"x":{"dtype":"U8","shape":[1],"data_offsets":null}}`, []byte{0}), "entry needs dtype, shape and data_offsets"},
		{"entry not object", stBytes(`{"x":3}`, nil), `tensor "x"`},
		{"negative size", stBytes(`{"x":{"dtype":"U8","shape":[-1],"data_offsets":[0,0]}}`, nil), "-1 is not a size"},
		{"fractional size", stBytes(`{"x":{"dtype":"U8","shape":[1.5],"data_offsets":[0,1]}}`, []byte{0}), "1.5 is not a size"},
		{"string size", stBytes(`{"x":{"dtype":"U8","shape":["1"],"data_offsets":[0,1]}}`, []byte{0}), "holds a string"},
		{"shape not array", stBytes(`{"x":{"dtype":"U8","shape":1,"data_offsets":[0,1]}}`, []byte{0}), "shape 1 is not an array"},
		{"overflow", stBytes(`{"x":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,0]}}`, nil), "element count overflows"},
		{"overflow after zero", stBytes(`{"x":{"dtype":"F32","shape":[0,4294967296,4294967296],"data_offsets":[0,0]}}`, nil), "element count overflows"},
		{"too many axes", stBytes(`{"x":{"dtype":"U8","shape":[`+strings.Repeat("1,", 64)+`1],"data_offsets":[0,1]}}`, []byte{0}), "has more than 64 values"},
		{"metadata not strings", stBytes(`{"__metadata__":{"a":1}}`, nil), "__metadata__ is not an object of strings"},
		{"metadata twice", stBytes(`{"__metadata__":{},"__metadata__":{}}`, nil), "__metadata__ appears twice"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := writeFile(t, "bad.safetensors", c.file)
			f, err := nn.LoadSafetensors(path)
			if err == nil {
				t.Fatalf("loaded %v", f.Names())
			}
			if !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), path) {
				t.Errorf("error %q, want it to name the file and say %q", err, c.want)
			}
		})
	}
	if _, err := nn.LoadSafetensors(filepath.Join(t.TempDir(), "absent")); err == nil || !strings.Contains(err.Error(), "absent") {
		t.Errorf("absent file: error %v", err)
	}
	if _, err := nn.LoadSafetensors(t.TempDir()); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("directory: error %v", err)
	}
}

func TestSafetensorsValidEdgeCases(t *testing.T) {
	cases := []struct {
		name  string
		file  []byte
		check func(t *testing.T, f *nn.SafetensorsFile)
	}{
		{"no tensors", stBytes(`{}`, nil), func(t *testing.T, f *nn.SafetensorsFile) {
			if len(f.Names()) != 0 || len(f.Metadata) != 0 {
				t.Errorf("names %v metadata %v", f.Names(), f.Metadata)
			}
		}},
		{"null metadata, unknown fields, spaces", stBytes(`  {"__metadata__":null,"x":{"dtype":"I16","shape":[],"data_offsets":[0,2],"extra":[1]}} `[2:], []byte{0xfe, 0xff}),
			func(t *testing.T, f *nn.SafetensorsFile) {
				if got := mustTensor(t, f, "x").Float64s(); !slices.Equal(got, []float64{-2}) {
					t.Errorf("x = %v", got)
				}
			}},
		{"misaligned float32 (copied)", stBytes(`{"b":{"dtype":"U8","shape":[3],"data_offsets":[0,3]},"f":{"dtype":"F32","shape":[2],"data_offsets":[3,11]}}`,
			append([]byte{7, 8, 9}, binary.LittleEndian.AppendUint32(binary.LittleEndian.AppendUint32(nil, math.Float32bits(1.5)), math.Float32bits(-2))...)),
			func(t *testing.T, f *nn.SafetensorsFile) {
				if got := mustTensor(t, f, "f").Float32s(); !slices.Equal(got, []float32{1.5, -2}) {
					t.Errorf("f = %v", got)
				}
				if got := mustTensor(t, f, "b").Float64s(); !slices.Equal(got, []float64{7, 8, 9}) {
					t.Errorf("b = %v", got)
				}
			}},
		{"zero-size tensors anywhere", stBytes(`{"a":{"dtype":"F64","shape":[0,5],"data_offsets":[0,0]},"b":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"c":{"dtype":"F32","shape":[3,0],"data_offsets":[1,1]}}`, []byte{4}),
			func(t *testing.T, f *nn.SafetensorsFile) {
				if got := mustTensor(t, f, "c").Shape(); !slices.Equal(got, []int{3, 0}) {
					t.Errorf("c has shape %v", got)
				}
			}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f, err := nn.LoadSafetensors(writeFile(t, "ok.safetensors", c.file))
			if err != nil {
				t.Fatal(err)
			}
			c.check(t, f)
		})
	}
}

func TestSafetensorsMappedPrivately(t *testing.T) {
	path := filepath.Join(t.TempDir(), "w.safetensors")
	if err := nn.SaveSafetensors(path, map[string]*gograd.Tensor{"w": gograd.FromSlice([]float32{1, 2, 3, 4})}, nil); err != nil {
		t.Fatal(err)
	}
	onDisk, _ := os.ReadFile(path)
	f, err := nn.LoadSafetensors(path)
	if err != nil {
		t.Fatal(err)
	}
	w := mustTensor(t, f, "w")
	w.Assign(w.Mul(10)).Realize()
	if got := w.Float32s(); !slices.Equal(got, []float32{10, 20, 30, 40}) {
		t.Errorf("after Assign w = %v", got)
	}
	if now, _ := os.ReadFile(path); !bytes.Equal(now, onDisk) {
		t.Errorf("an Assign into a loaded tensor changed the file")
	}
	// Saving over the loaded file replaces it; the loaded tensor keeps the
	// old mapping.
	if err := nn.SaveSafetensors(path, map[string]*gograd.Tensor{"w": gograd.FromSlice([]float32{5, 6})}, nil); err != nil {
		t.Fatal(err)
	}
	if got := w.Float32s(); !slices.Equal(got, []float32{10, 20, 30, 40}) {
		t.Errorf("after saving over the file w = %v", got)
	}
	g, err := nn.LoadSafetensors(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := mustTensor(t, g, "w").Float32s(); !slices.Equal(got, []float32{5, 6}) {
		t.Errorf("reloaded w = %v", got)
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("temporary files left: %v", entries)
	}
}

// mapped reports whether path is mapped into the process (Linux only).
func mapped(t *testing.T, path string) bool {
	maps, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		t.Skip("no /proc/self/maps")
	}
	return strings.Contains(string(maps), path)
}

// TestSafetensorsNoCopyAndUnmap checks that a loaded tensor uses the mapped
// file without allocating device memory, that the mapping lives as long as
// a tensor made from it, and that it is unmapped once nothing uses it.
func TestSafetensorsNoCopyAndUnmap(t *testing.T) {
	path := filepath.Join(t.TempDir(), "big.safetensors")
	const n = 1 << 20
	if err := nn.SaveSafetensors(path, map[string]*gograd.Tensor{"x": gograd.Arange(n).Cast(gograd.Float32)}, nil); err != nil {
		t.Fatal(err)
	}
	runtime.GC()
	before, _ := device.MemUsed()
	x := func() *gograd.Tensor {
		f, err := nn.LoadSafetensors(path)
		if err != nil {
			t.Fatal(err)
		}
		return mustTensor(t, f, "x").Realize()
	}()
	after, _ := device.MemUsed()
	if grew := after - before; grew >= 4*n {
		t.Errorf("loading a %d-byte tensor allocated %d bytes of device memory", 4*n, grew)
	}
	if !mapped(t, path) {
		t.Fatalf("%s is not mapped", path)
	}
	for range 3 { // the file is unreachable; the tensor keeps the mapping
		runtime.GC()
	}
	if !mapped(t, path) {
		t.Fatalf("%s was unmapped while a tensor used it", path)
	}
	if got, want := x.Sum().Item(), float64(n)*(n-1)/2; math.Abs(got-want) > 1e-5*want {
		t.Errorf("sum = %v", got)
	}
	runtime.KeepAlive(x)
	x = nil
	// Cleanups run on their own goroutine after a collection: poll.
	for i := 0; mapped(t, path); i++ {
		if i == 500 {
			t.Fatalf("%s is still mapped after the tensor died", path)
		}
		runtime.GC()
		time.Sleep(time.Millisecond)
	}
}

func TestSaveSafetensorsErrors(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		name    string
		path    string
		tensors map[string]*gograd.Tensor
		want    string
	}{
		{"nil tensor", filepath.Join(dir, "a"), map[string]*gograd.Tensor{"x": nil}, `tensor "x" is nil`},
		{"reserved name", filepath.Join(dir, "b"), map[string]*gograd.Tensor{"__metadata__": gograd.Ones(1)}, `"__metadata__" is reserved`},
		{"no directory", filepath.Join(dir, "missing", "c"), map[string]*gograd.Tensor{"x": gograd.Ones(1)}, "no such file or directory"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := nn.SaveSafetensors(c.path, c.tensors, nil)
			if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "nn: SaveSafetensors") {
				t.Errorf("error %v, want %q", err, c.want)
			}
		})
	}
	var buf bytes.Buffer
	if err := nn.WriteSafetensors(&buf, map[string]*gograd.Tensor{"x": nil}, nil); err == nil || buf.Len() != 0 {
		t.Errorf("WriteSafetensors of a nil tensor: error %v, %d bytes written", err, buf.Len())
	}
}

func TestSaveLoadModel(t *testing.T) {
	path := filepath.Join(t.TempDir(), "model.safetensors")
	src := newTransformer()
	if err := nn.SaveModel(path, src); err != nil {
		t.Fatal(err)
	}
	dst := newTransformer()
	if err := nn.LoadModel(path, dst); err != nil {
		t.Fatal(err)
	}
	for name, want := range nn.StateDict(src) {
		if msg := closeTo(nn.StateDict(dst)[name], want, 0, 0); msg != "" {
			t.Errorf("%s: %s", name, msg)
		}
	}
	other := nn.Sequential{nn.NewLinear(4, 4, true)}
	err := nn.LoadModel(path, &other)
	if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), `missing "0.weight"`) || !strings.Contains(err.Error(), `unexpected "tok_embeddings.weight"`) {
		t.Errorf("loading into another model: error %v", err)
	}
	if err := nn.LoadModel(filepath.Join(t.TempDir(), "absent"), dst); err == nil {
		t.Errorf("loading an absent file: no error")
	}
}

func TestBindStateDict(t *testing.T) {
	path := filepath.Join(t.TempDir(), "model.safetensors")
	src := newTransformer()
	if err := nn.SaveModel(path, src); err != nil {
		t.Fatal(err)
	}
	f, err := nn.LoadSafetensors(path)
	if err != nil {
		t.Fatal(err)
	}
	dst := newTransformer()
	sd := f.StateDict()
	if err := nn.BindStateDict(dst, sd); err != nil {
		t.Fatal(err)
	}
	for _, n := range nn.Tensors(dst) {
		want := sd[n.Name]
		if n.Name == "heads.1.weight" { // tied to heads.0
			want = sd["heads.0.weight"]
		}
		if n.Tensor != want {
			t.Errorf("%s is not the file's tensor", n.Name)
		}
	}
	if !dst.Layers[0].FFN[0].(*nn.Linear).Weight.GradRequired() || dst.Layers[0].Scale.GradRequired() {
		t.Errorf("RequiresGrad was not passed on to the bound tensors (or was given to a buffer)")
	}
	nn.Train(src, false)
	nn.Train(dst, false)
	x := gograd.FromSlice([]int64{1, 2, 3})
	want := src.Layers[1].FFN.Forward(src.Embed.Forward(x))
	if msg := closeTo(dst.Layers[1].FFN.Forward(dst.Embed.Forward(x)), want, 0, 0); msg != "" {
		t.Errorf("forward with bound tensors: %s", msg)
	}

	delete(sd, "pos")
	type byValue struct{ L nn.Linear }
	cases := []struct {
		name  string
		model any
		state map[string]*gograd.Tensor
		want  string
	}{
		{"missing", newTransformer(), sd, `nn: BindStateDict: missing "pos" (shape (3, 4))`},
		{"by value", byValue{*nn.NewLinear(2, 2, false)}, map[string]*gograd.Tensor{"l.weight": gograd.Ones(2, 2)}, `"l.weight" cannot be set: pass the model by pointer`},
	}
	for _, c := range cases {
		before := nn.Tensors(c.model)
		err := nn.BindStateDict(c.model, c.state)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want %q", c.name, err, c.want)
		}
		for i, n := range nn.Tensors(c.model) {
			if n.Tensor != before[i].Tensor {
				t.Errorf("%s: a failed bind replaced %s", c.name, n.Name)
			}
		}
	}
}
