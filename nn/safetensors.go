package nn

import (
	"bufio"
	"bytes"
	"cmp"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/bits"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"unicode/utf8"
	"unsafe"

	"github.com/gograd/gograd"
	"github.com/gograd/gograd/internal/mmap"
)

// This file reads and writes the safetensors format
// (https://github.com/huggingface/safetensors): an 8-byte little-endian
// header size N, N bytes of JSON mapping each tensor's name to its dtype,
// shape and [begin, end) byte offsets in the data that follows (plus an
// optional "__metadata__" object of strings), then the data, every byte of
// it belonging to exactly one tensor.

// maxHeader is the largest header accepted, as the reference reader's.
const maxHeader = 100_000_000

// stDTypes maps the format's dtype names to gograd's.
var stDTypes = map[string]gograd.DType{
	"BOOL": gograd.Bool,
	"U8":   gograd.Uint8,
	"I8":   gograd.Int8,
	"U16":  gograd.Uint16,
	"I16":  gograd.Int16,
	"F16":  gograd.Float16,
	"BF16": gograd.BFloat16,
	"U32":  gograd.Uint32,
	"I32":  gograd.Int32,
	"F32":  gograd.Float32,
	"U64":  gograd.Uint64,
	"I64":  gograd.Int64,
	"F64":  gograd.Float64,
}

// stName returns the format's name of a gograd dtype.
func stName(dt gograd.DType) (string, bool) {
	for k, v := range stDTypes {
		if v == dt {
			return k, true
		}
	}
	return "", false
}

// TensorInfo describes one tensor of a safetensors file.
type TensorInfo struct {
	DType gograd.DType
	Shape []int
	// Begin and End are the tensor's byte offsets in the data section.
	Begin, End int
}

// SafetensorsFile is a safetensors file read by LoadSafetensors: its
// metadata, the description of its tensors, and the tensors themselves,
// made on demand over the file's memory.
//
// The file is memory-mapped privately (copy on write): a tensor made from
// it uses the mapped bytes as its buffer on a device that keeps buffers in
// host memory (GO), without copying them, and an Assign into it changes the
// process's copy of the pages, never the file. Other devices copy the bytes
// when the tensor is made. The mapping is released by the garbage collector
// once the SafetensorsFile and every tensor made from it are unreachable
// (runtime.AddCleanup); there is no Close, because a tensor may outlive the
// file. The file on disk must not be truncated while mapped (the process
// would fault reading it); SaveSafetensors replaces a file rather than
// rewriting it, so saving over a loaded file is safe.
type SafetensorsFile struct {
	// Path is the file's path.
	Path string
	// Metadata is the header's "__metadata__" (empty if none).
	Metadata map[string]string

	infos map[string]TensorInfo
	names []string // sorted
	data  []byte   // the data section
	keep  any      // what the data belongs to (a *mapping), kept by tensors

	mu      sync.Mutex
	tensors map[string]*gograd.Tensor
}

// LoadSafetensors opens and validates the safetensors file at path. A file
// that is not well formed returns an error naming the file and the problem:
// a header size past the end of the file, JSON that is malformed or not of
// the format, an unknown dtype, a shape whose size overflows or does not
// match its offsets, offsets out of range, overlapping or leaving bytes
// unused.
func LoadSafetensors(path string) (*SafetensorsFile, error) {
	fd, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("nn: LoadSafetensors: %w", err)
	}
	defer fd.Close()
	st, err := fd.Stat()
	if err != nil {
		return nil, fmt.Errorf("nn: LoadSafetensors: %w", err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("nn: LoadSafetensors: %s: not a regular file", path)
	}
	size := st.Size()
	if size < 8 {
		return nil, fmt.Errorf("nn: LoadSafetensors: %s: file of %d bytes is shorter than the 8-byte header size", path, size)
	}
	if size > math.MaxInt {
		return nil, fmt.Errorf("nn: LoadSafetensors: %s: file of %d bytes is too large to map", path, size)
	}
	raw, keep, err := mmap.File(fd, int(size))
	if err != nil {
		return nil, fmt.Errorf("nn: LoadSafetensors: %s: %w", path, err)
	}
	f, err := parseSafetensors(path, raw, keep)
	if err != nil {
		return nil, fmt.Errorf("nn: LoadSafetensors: %w", err)
	}
	return f, nil
}

// rawInfo is a tensor entry of the header as JSON has it. The shape and
// offsets are parsed by parseUints, which stops at a bound.
type rawInfo struct {
	DType       *string         `json:"dtype"`
	Shape       json.RawMessage `json:"shape"`
	DataOffsets json.RawMessage `json:"data_offsets"`
}

// maxDims is the most axes a tensor of a file may have, so that a shape's
// size in memory stays bounded by a small multiple of its size in the file.
const maxDims = 64

// parseUints reads a JSON array of at most limit non-negative integers
// (what names it in errors).
func parseUints(raw json.RawMessage, limit int, what string) ([]uint64, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, errors.New("entry needs dtype, shape and data_offsets")
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if tok, err := dec.Token(); err != nil || tok != json.Delim('[') {
		return nil, fmt.Errorf("%s %s is not an array", what, clip(raw))
	}
	out := []uint64{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("%s: %v", what, err)
		}
		num, ok := tok.(json.Number)
		if !ok {
			return nil, fmt.Errorf("%s %s holds a %T", what, clip(raw), tok)
		}
		v, err := strconv.ParseUint(num.String(), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%s %s: %s is not a size", what, clip(raw), clip(string(num)))
		}
		if len(out) == limit {
			return nil, fmt.Errorf("%s %s has more than %d values", what, clip(raw), limit)
		}
		out = append(out, v)
	}
	return out, nil
}

// parseSafetensors validates a whole file's bytes b and describes it;
// tensors will be made over b, which belongs to keep.
func parseSafetensors(path string, b []byte, keep any) (*SafetensorsFile, error) {
	fail := func(format string, args ...any) (*SafetensorsFile, error) {
		return nil, fmt.Errorf("%s: %s", path, fmt.Sprintf(format, args...))
	}
	if len(b) < 8 {
		return fail("file of %d bytes is shorter than the 8-byte header size", len(b))
	}
	n := binary.LittleEndian.Uint64(b)
	switch {
	case n > uint64(len(b)-8):
		return fail("header size %d runs past the end of the file (%d bytes)", n, len(b))
	case n > maxHeader:
		return fail("header size %d is larger than the format's limit of %d", n, maxHeader)
	case n < 2:
		return fail("header size %d is too small for a JSON object", n)
	}
	hdr := b[8 : 8+n]
	if hdr[0] != '{' {
		return fail("header does not start with '{'")
	}
	if !utf8.Valid(hdr) {
		return fail("header is not valid UTF-8")
	}
	f := &SafetensorsFile{Path: path, Metadata: map[string]string{}, infos: map[string]TensorInfo{},
		data: b[8+n:], keep: keep, tensors: map[string]*gograd.Tensor{}}
	dec := json.NewDecoder(bytes.NewReader(hdr))
	if _, err := dec.Token(); err != nil { // the '{'
		return fail("header: %v", err)
	}
	seenMeta := false
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return fail("header: %v", err)
		}
		name, ok := tok.(string)
		if !ok {
			return fail("header: key %v is not a string", tok)
		}
		if name == "__metadata__" {
			if seenMeta {
				return fail("header: __metadata__ appears twice")
			}
			seenMeta = true
			var meta map[string]string
			if err := dec.Decode(&meta); err != nil {
				return fail("header: __metadata__ is not an object of strings: %v", err)
			}
			if meta != nil {
				f.Metadata = meta
			}
			continue
		}
		if _, dup := f.infos[name]; dup {
			return fail("header: tensor %q appears twice", clip(name))
		}
		var ri rawInfo
		if err := dec.Decode(&ri); err != nil {
			return fail("header: tensor %q: %v", clip(name), err)
		}
		info, err := checkInfo(ri, len(f.data))
		if err != nil {
			return fail("tensor %q: %v", clip(name), err)
		}
		f.infos[name] = info
		f.names = append(f.names, name)
	}
	if _, err := dec.Token(); err != nil { // the '}'
		return fail("header: %v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		if err == nil {
			err = errors.New("more JSON after the header object")
		}
		return fail("header: %v", err)
	}
	slices.Sort(f.names)
	if err := checkCoverage(f); err != nil {
		return fail("%v", err)
	}
	return f, nil
}

// clip shortens a string from a file for an error message.
func clip[S string | json.RawMessage](s S) string {
	if len(s) > 64 {
		return string(s[:61]) + "..."
	}
	return string(s)
}

// checkInfo validates a tensor's entry against a data section of dataLen
// bytes.
func checkInfo(ri rawInfo, dataLen int) (TensorInfo, error) {
	var info TensorInfo
	if ri.DType == nil {
		return info, errors.New("entry needs dtype, shape and data_offsets")
	}
	shape, err := parseUints(ri.Shape, maxDims, "shape")
	if err != nil {
		return info, err
	}
	offs, err := parseUints(ri.DataOffsets, 2, "data_offsets")
	if err != nil {
		return info, err
	}
	dt, ok := stDTypes[*ri.DType]
	if !ok {
		return info, fmt.Errorf("unknown dtype %q", clip(*ri.DType))
	}
	info.DType = dt
	// The element count, and the product of the nonzero sizes (which bounds
	// the strides of any view of the tensor), must not overflow.
	elems, nonzero := uint64(1), uint64(1)
	info.Shape = make([]int, len(shape))
	for i, s := range shape {
		info.Shape[i] = int(s)
		elems *= s // cannot overflow: nonzero bounds it, checked below
		if s != 0 {
			hi, lo := bits.Mul64(nonzero, s)
			if hi != 0 || lo > math.MaxInt64/8 {
				return info, fmt.Errorf("shape %v: element count overflows", shape)
			}
			nonzero = lo
		}
	}
	if len(offs) != 2 {
		return info, fmt.Errorf("data_offsets %v: want [begin, end]", offs)
	}
	if offs[0] > offs[1] || offs[1] > uint64(dataLen) {
		return info, fmt.Errorf("data_offsets %v out of the %d bytes of data", offs, dataLen)
	}
	info.Begin, info.End = int(offs[0]), int(offs[1])
	if want := elems * uint64(dt.Size()); want != offs[1]-offs[0] {
		return info, fmt.Errorf("shape %v of %s needs %d bytes, data_offsets %v hold %d", shape, *ri.DType, want, offs, offs[1]-offs[0])
	}
	return info, nil
}

// checkCoverage checks that the tensors tile the data section: no overlap,
// no gap, nothing left over, as the reference reader requires.
func checkCoverage(f *SafetensorsFile) error {
	order := slices.Clone(f.names)
	slices.SortFunc(order, func(a, b string) int {
		x, y := f.infos[a], f.infos[b]
		if x.Begin != y.Begin {
			return x.Begin - y.Begin
		}
		return x.End - y.End
	})
	at := 0
	for _, name := range order {
		info := f.infos[name]
		if info.Begin != at {
			if info.Begin < at {
				return fmt.Errorf("tensor %q at [%d, %d) overlaps the tensor before it (ending at %d)", clip(name), info.Begin, info.End, at)
			}
			return fmt.Errorf("bytes [%d, %d) of the data belong to no tensor", at, info.Begin)
		}
		at = info.End
	}
	if at != len(f.data) {
		return fmt.Errorf("bytes [%d, %d) of the data belong to no tensor", at, len(f.data))
	}
	return nil
}

// Names returns the names of the file's tensors, sorted.
func (f *SafetensorsFile) Names() []string { return slices.Clone(f.names) }

// Info describes the tensor name, or reports false if there is none.
func (f *SafetensorsFile) Info(name string) (TensorInfo, bool) {
	info, ok := f.infos[name]
	info.Shape = slices.Clone(info.Shape)
	return info, ok
}

// Tensor returns the tensor name, made on first use over the file's bytes
// (later calls return the same tensor), or an error naming the file and the
// tensor if it has none. Bytes not aligned to the dtype's size in memory
// are copied.
func (f *SafetensorsFile) Tensor(name string) (*gograd.Tensor, error) {
	info, ok := f.infos[name]
	if !ok {
		return nil, fmt.Errorf("nn: SafetensorsFile: %s has no tensor %q", f.Path, name)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if t, ok := f.tensors[name]; ok {
		return t, nil
	}
	raw := f.data[info.Begin:info.End:info.End]
	var t *gograd.Tensor
	size := info.DType.Size()
	switch {
	case len(raw) == 0:
		t = gograd.FromBytes(raw, info.DType, info.Shape...)
	case !littleEndian:
		t = gograd.FromBytes(swapBytes(raw, size), info.DType, info.Shape...)
	case uintptr(unsafe.Pointer(&raw[0]))%uintptr(size) != 0:
		t = gograd.FromBytes(raw, info.DType, info.Shape...)
	default:
		t = gograd.FromBytesShared(raw, f.keep, info.DType, info.Shape...)
	}
	f.tensors[name] = t
	return t, nil
}

// StateDict returns every tensor of the file by name (see Tensor).
func (f *SafetensorsFile) StateDict() map[string]*gograd.Tensor {
	out := make(map[string]*gograd.Tensor, len(f.names))
	for _, name := range f.names {
		out[name], _ = f.Tensor(name)
	}
	return out
}

// littleEndian reports the host's byte order; the format is little-endian.
var littleEndian = binary.NativeEndian.Uint16([]byte{1, 0}) == 1

// swapBytes returns a copy of raw with each element of size bytes reversed.
func swapBytes(raw []byte, size int) []byte {
	out := make([]byte, len(raw))
	for i := 0; i < len(raw); i += size {
		for j := range size {
			out[i+j] = raw[i+size-1-j]
		}
	}
	return out
}

// SaveSafetensors writes tensors and metadata to the file path in the
// safetensors format (see WriteSafetensors). The file is written beside
// path and renamed over it, so path is either the old file or the whole new
// one, and a reader of the old file (a mapping) is not disturbed.
func SaveSafetensors(path string, tensors map[string]*gograd.Tensor, metadata map[string]string) error {
	order, hdr, err := planSafetensors(tensors, metadata)
	if err != nil {
		return fmt.Errorf("nn: SaveSafetensors: %s: %w", path, err)
	}
	err = writeAtomic(path, func(w io.Writer) error { return writeSafetensors(w, tensors, order, hdr) })
	if err != nil {
		return fmt.Errorf("nn: SaveSafetensors: %w", err)
	}
	return nil
}

// WriteSafetensors writes tensors (realized first) and metadata to w in the
// safetensors format: the header lists the tensors sorted by name, and the
// data holds them by decreasing dtype size, then name, after a header
// padded with spaces to a multiple of 8 bytes, so that every tensor is
// aligned to its dtype as the reference writer does. A nil tensor or the
// reserved name "__metadata__" is an error.
func WriteSafetensors(w io.Writer, tensors map[string]*gograd.Tensor, metadata map[string]string) error {
	order, hdr, err := planSafetensors(tensors, metadata)
	if err == nil {
		err = writeSafetensors(w, tensors, order, hdr)
	}
	if err != nil {
		return fmt.Errorf("nn: WriteSafetensors: %w", err)
	}
	return nil
}

// planSafetensors checks and realizes the tensors, and returns their order
// in the data and the header.
func planSafetensors(tensors map[string]*gograd.Tensor, metadata map[string]string) ([]string, []byte, error) {
	names := make([]string, 0, len(tensors))
	all := make([]*gograd.Tensor, 0, len(tensors))
	for name, t := range tensors {
		if t == nil {
			return nil, nil, fmt.Errorf("tensor %q is nil", name)
		}
		if name == "__metadata__" {
			return nil, nil, fmt.Errorf("%q is reserved for metadata", name)
		}
		if _, ok := stName(t.DType()); !ok {
			return nil, nil, fmt.Errorf("tensor %q has dtype %s, which the format lacks", name, t.DType())
		}
		names = append(names, name)
		all = append(all, t)
	}
	gograd.Realize(all...)
	// Data order: larger elements first, then by name.
	slices.SortFunc(names, func(a, b string) int {
		if sa, sb := tensors[a].DType().Size(), tensors[b].DType().Size(); sa != sb {
			return sb - sa
		}
		return cmp.Compare(a, b)
	})
	offsets := map[string][2]int{}
	at := 0
	for _, name := range names {
		t := tensors[name]
		n := t.Numel() * t.DType().Size()
		offsets[name] = [2]int{at, at + n}
		at += n
	}
	hdr, err := safetensorsHeader(tensors, offsets, metadata)
	return names, hdr, err
}

// writeSafetensors writes the header and the tensors' bytes in order.
func writeSafetensors(w io.Writer, tensors map[string]*gograd.Tensor, order []string, hdr []byte) error {
	var size [8]byte
	binary.LittleEndian.PutUint64(size[:], uint64(len(hdr)))
	if _, err := w.Write(size[:]); err != nil {
		return err
	}
	if _, err := w.Write(hdr); err != nil {
		return err
	}
	for _, name := range order {
		raw := tensors[name].Bytes()
		if !littleEndian {
			raw = swapBytes(raw, tensors[name].DType().Size())
		}
		if _, err := w.Write(raw); err != nil {
			return err
		}
	}
	return nil
}

// safetensorsHeader is the JSON header, padded with spaces to a multiple
// of 8 bytes: "__metadata__" first (if any), then the tensors by name.
func safetensorsHeader(tensors map[string]*gograd.Tensor, offsets map[string][2]int, metadata map[string]string) ([]byte, error) {
	var h bytes.Buffer
	h.WriteByte('{')
	first := true
	sep := func() {
		if !first {
			h.WriteByte(',')
		}
		first = false
	}
	if len(metadata) > 0 {
		m, err := json.Marshal(metadata) // keys sorted
		if err != nil {
			return nil, err
		}
		sep()
		h.WriteString(`"__metadata__":`)
		h.Write(m)
	}
	names := make([]string, 0, len(tensors))
	for name := range tensors {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		t := tensors[name]
		key, err := json.Marshal(name)
		if err != nil {
			return nil, err
		}
		dt, _ := stName(t.DType())
		sep()
		h.Write(key)
		h.WriteString(`:{"dtype":"` + dt + `","shape":[`)
		for i, s := range t.Shape() {
			if i > 0 {
				h.WriteByte(',')
			}
			h.WriteString(strconv.Itoa(s))
		}
		o := offsets[name]
		fmt.Fprintf(&h, `],"data_offsets":[%d,%d]}`, o[0], o[1])
	}
	h.WriteByte('}')
	for h.Len()%8 != 0 {
		h.WriteByte(' ')
	}
	if h.Len() > maxHeader {
		return nil, fmt.Errorf("header of %d bytes is larger than the format's limit of %d", h.Len(), maxHeader)
	}
	return h.Bytes(), nil
}

// writeAtomic writes a file beside path with write and renames it over
// path, so path is either the old file or the whole new one.
func writeAtomic(path string, write func(io.Writer) error) (err error) {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	bw := bufio.NewWriterSize(tmp, 1<<20)
	if err = write(bw); err != nil {
		return err
	}
	if err = bw.Flush(); err != nil {
		return err
	}
	if err = tmp.Chmod(0o644); err != nil {
		return err
	}
	if err = tmp.Sync(); err != nil {
		return err
	}
	if err = tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// SaveModel saves model's state dict (StateDict) to path as safetensors.
func SaveModel(path string, model any) error {
	return SaveSafetensors(path, StateDict(model), nil)
}

// LoadModel loads the safetensors file at path into model's tensors by name
// (LoadStateDict: every tensor must be there with its shape, and nothing
// else). The values are copied into the model's tensors. To use the mapped
// file's tensors without a copy instead, bind them:
//
//	f, err := nn.LoadSafetensors(path)
//	...
//	err = nn.BindStateDict(model, f.StateDict())
func LoadModel(path string, model any) error {
	f, err := LoadSafetensors(path)
	if err != nil {
		return err
	}
	if err := LoadStateDict(model, f.StateDict()); err != nil {
		return fmt.Errorf("%w (file %s)", err, path)
	}
	return nil
}
