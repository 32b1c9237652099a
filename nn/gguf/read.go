package gguf

import (
	"fmt"
	"math"
	"math/bits"
	"os"
	"slices"

	"github.com/gograd/gograd/internal/mmap"
)

// Magic is the first four bytes of every GGUF file.
const Magic = "GGUF"

// DefaultAlignment is the alignment of tensor data when general.alignment
// is absent.
const DefaultAlignment = 32

// AlignmentKey is the metadata key that sets the alignment of tensor data.
const AlignmentKey = "general.alignment"

// MaxDims is the most dimensions a tensor may have (ggml's GGML_MAX_DIMS).
const MaxDims = 4

// File is a GGUF file read by Open or Parse.
//
// A File from Open holds the file memory-mapped (privately: writes to the
// bytes never reach the file). The mapping is released by the garbage
// collector once the File, all its Tensors and the value Owner returns are
// unreachable; there is no Close, because tensors built over the bytes may
// outlive the File. A slice of Tensor.Data alone does NOT keep the mapping
// (the collector does not see pointers into it): keep the Tensor, the File
// or Owner's value reachable as long as the bytes are used (pass Owner's
// value to gograd.FromBytesShared; copy bytes that must outlive them; use
// runtime.KeepAlive at the end of a function that uses only Data). Data
// used after the mapping is released faults, or silently reads whatever
// the address space was reused for.
type File struct {
	// Path is the name given to Open or Parse; errors name it.
	Path string
	// Version is the format version, 2 or 3.
	Version uint32
	// Alignment is the alignment of the data section and of every tensor's
	// data in it: general.alignment, or DefaultAlignment.
	Alignment int
	// KV is the metadata in file order.
	KV []KV
	// Tensors are the tensors in file order.
	Tensors []*Tensor
	// DataOffset is where the data section starts in the file.
	DataOffset int

	keys    map[string]int
	tensors map[string]*Tensor
	owner   any // keeps the mapping alive
}

// KV is one metadata entry.
type KV struct {
	Key   string
	Value Value
}

// Tensor is a tensor of a GGUF file.
type Tensor struct {
	// Name is the tensor's name ("blk.0.attn_q.weight").
	Name string
	// Type is the element type.
	Type Type
	// Dims are the sizes in ggml's order: Dims[0] is the contiguous
	// dimension (a row's length), so a matrix of R rows of C columns has
	// Dims [C, R]; Shape gives the usual row-major order.
	Dims []uint64
	// Offset is where the data starts in the data section.
	Offset uint64
	// Data is exactly the tensor's bytes, in the file's memory.
	Data []byte

	file *File
}

// Open memory-maps the GGUF file at path and reads it (see Parse). Tensor
// data stays in the mapping.
func Open(path string) (*File, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("gguf: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("gguf: %s: not a regular file", path)
	}
	data, keep, err := mmap.Open(path)
	if err != nil {
		return nil, fmt.Errorf("gguf: %s: %w", path, err)
	}
	f, err := parse(path, data)
	if err != nil {
		return nil, err
	}
	f.owner = keep
	return f, nil
}

// Parse reads a GGUF file from data; name is used in errors and as the
// File's Path. Tensor data are slices of data, which must not change while
// the File is used. Every malformed file gives an error naming the file and
// the problem.
func Parse(name string, data []byte) (*File, error) {
	return parse(name, data)
}

func parse(name string, data []byte) (*File, error) {
	f := &File{Path: name}
	if err := f.parse(data); err != nil {
		return nil, fmt.Errorf("gguf: %s: %w", name, err)
	}
	return f, nil
}

// parse reads the header and checks the tensors against the data.
func (f *File) parse(b []byte) error {
	d := &decoder{b: b}
	if len(b) < 4 || string(b[:4]) != Magic {
		if len(b) < 4 {
			return fmt.Errorf("file of %d bytes is too short to be GGUF", len(b))
		}
		return fmt.Errorf("not a GGUF file: starts with %q, not %q", b[:4], Magic)
	}
	d.off = 4
	v, err := d.u32("version")
	if err != nil {
		return err
	}
	switch {
	case v == 1:
		return fmt.Errorf("GGUF version 1 is not supported (convert the file again with a current llama.cpp)")
	case v != 0 && v&0xffff == 0 && bits.ReverseBytes32(v) <= 3:
		return fmt.Errorf("big-endian GGUF files (version %d) are not supported", bits.ReverseBytes32(v))
	case v != 2 && v != 3:
		return fmt.Errorf("unsupported GGUF version %d (want 2 or 3)", v)
	}
	f.Version = v
	nTensors, err := d.u64("tensor count")
	if err != nil {
		return err
	}
	nKV, err := d.u64("metadata count")
	if err != nil {
		return err
	}
	// A key and value take at least 13 bytes, a tensor's description 24.
	rest := uint64(len(b) - d.off)
	if nKV > rest/13 {
		return fmt.Errorf("metadata count %d is more than the %d bytes after the header could hold", nKV, rest)
	}
	if nTensors > rest/24 {
		return fmt.Errorf("tensor count %d is more than the %d bytes after the header could hold", nTensors, rest)
	}
	f.KV = make([]KV, 0, capHint(nKV, len(b)))
	f.keys = make(map[string]int, capHint(nKV, len(b)))
	for i := range nKV {
		key, err := d.str("key")
		if err != nil {
			return fmt.Errorf("metadata entry %d: %w", i, err)
		}
		if _, dup := f.keys[key]; dup {
			return fmt.Errorf("key %q appears twice", clip(key))
		}
		t, err := d.valueType("value type")
		if err != nil {
			return fmt.Errorf("key %q: %w", clip(key), err)
		}
		val, err := d.value(t, 1)
		if err != nil {
			return fmt.Errorf("key %q: %w", clip(key), err)
		}
		f.keys[key] = len(f.KV)
		f.KV = append(f.KV, KV{key, val})
	}
	f.Alignment = DefaultAlignment
	if val, ok := f.Get(AlignmentKey); ok {
		a, err := val.Uint()
		if err != nil {
			return fmt.Errorf("key %q %w", AlignmentKey, err)
		}
		if a == 0 || a&(a-1) != 0 || a > 1<<30 {
			return fmt.Errorf("key %q is %d, want a power of two up to 2^30", AlignmentKey, a)
		}
		f.Alignment = int(a)
	}
	f.Tensors = make([]*Tensor, 0, capHint(nTensors, len(b)))
	f.tensors = make(map[string]*Tensor, capHint(nTensors, len(b)))
	for i := range nTensors {
		t, err := d.tensorInfo()
		if err != nil {
			if t != nil {
				return fmt.Errorf("tensor %d %q: %w", i, clip(t.Name), err)
			}
			return fmt.Errorf("tensor %d: %w", i, err)
		}
		if _, dup := f.tensors[t.Name]; dup {
			return fmt.Errorf("tensor %q appears twice", clip(t.Name))
		}
		t.file = f
		f.tensors[t.Name] = t
		f.Tensors = append(f.Tensors, t)
	}
	// The data section starts at the next multiple of the alignment.
	start := uint64(d.off)
	if r := start % uint64(f.Alignment); r != 0 {
		start += uint64(f.Alignment) - r
	}
	if len(f.Tensors) == 0 {
		f.DataOffset = int(min(start, uint64(len(b))))
		return nil
	}
	if start > uint64(len(b)) {
		return fmt.Errorf("data section at offset %d (after padding to %d) starts past the end of the file (%d bytes)", start, f.Alignment, len(b))
	}
	f.DataOffset = int(start)
	return f.placeTensors(b[start:])
}

// tensorInfo reads a tensor's description: name, dimensions, type, offset.
// It returns the tensor read so far with an error after the name.
func (d *decoder) tensorInfo() (*Tensor, error) {
	name, err := d.str("tensor name")
	if err != nil {
		return nil, err
	}
	t := &Tensor{Name: name}
	n, err := d.u32("dimension count")
	if err != nil {
		return t, err
	}
	if n > MaxDims {
		return t, fmt.Errorf("%d dimensions, more than %d", n, MaxDims)
	}
	t.Dims = make([]uint64, n)
	for i := range t.Dims {
		if t.Dims[i], err = d.u64("dimension"); err != nil {
			return t, err
		}
	}
	typ, err := d.u32("type")
	if err != nil {
		return t, err
	}
	t.Type = Type(typ)
	if t.Offset, err = d.u64("data offset"); err != nil {
		return t, err
	}
	return t, nil
}

// size checks t's dimensions and type and returns the size of its data.
func (t *Tensor) size() (uint64, error) {
	info, ok := types[t.Type]
	if !ok {
		return 0, fmt.Errorf("unknown tensor type %d", uint32(t.Type))
	}
	// The number of elements, and the product of the nonzero sizes (which
	// bounds anything computed from the sizes), must fit an int64, as ggml
	// requires.
	elems, nonzero := uint64(1), uint64(1)
	for _, s := range t.Dims {
		elems *= s // bounded by nonzero, checked below
		if s != 0 {
			hi, lo := bits.Mul64(nonzero, s)
			if hi != 0 || lo > math.MaxInt64 {
				return 0, fmt.Errorf("dimensions %v: element count overflows", t.Dims)
			}
			nonzero = lo
		}
	}
	cols := uint64(1)
	if len(t.Dims) > 0 {
		cols = t.Dims[0]
	}
	if cols%info.elems != 0 {
		return 0, fmt.Errorf("dimensions %v: rows of %d elements are not a whole number of %s blocks of %d", t.Dims, cols, t.Type, info.elems)
	}
	hi, n := bits.Mul64(elems/info.elems, info.bytes)
	if hi != 0 || n > math.MaxInt64 {
		return 0, fmt.Errorf("dimensions %v of %s: size overflows", t.Dims, t.Type)
	}
	return n, nil
}

// placeTensors checks every tensor's type, size and offset against the
// data section and sets its Data: each aligned, inside the data, and no
// two overlapping.
func (f *File) placeTensors(data []byte) error {
	align := uint64(f.Alignment)
	for _, t := range f.Tensors {
		n, err := t.size()
		if err != nil {
			return fmt.Errorf("tensor %q: %w", clip(t.Name), err)
		}
		if t.Offset%align != 0 {
			return fmt.Errorf("tensor %q: data offset %d is not a multiple of the alignment %d", clip(t.Name), t.Offset, align)
		}
		if t.Offset > uint64(len(data)) || n > uint64(len(data))-t.Offset {
			return fmt.Errorf("tensor %q: data [%d, %d+%d) runs past the end of the file (%d bytes of data from offset %d)",
				clip(t.Name), t.Offset, t.Offset, n, len(data), f.DataOffset)
		}
		t.Data = data[t.Offset : t.Offset+n : t.Offset+n]
	}
	order := slices.Clone(f.Tensors)
	slices.SortFunc(order, func(a, b *Tensor) int {
		if a.Offset != b.Offset {
			if a.Offset < b.Offset {
				return -1
			}
			return 1
		}
		return len(a.Data) - len(b.Data)
	})
	var end uint64
	var last *Tensor
	for _, t := range order {
		if len(t.Data) == 0 {
			continue
		}
		if t.Offset < end {
			return fmt.Errorf("tensor %q: data [%d, %d) overlaps tensor %q's [%d, %d)",
				clip(t.Name), t.Offset, t.Offset+uint64(len(t.Data)), clip(last.Name), last.Offset, end)
		}
		end, last = t.Offset+uint64(len(t.Data)), t
	}
	return nil
}

// capHint is the capacity to reserve for n entries of a file of size
// bytes: n (already checked against the bytes left) up to a bound that
// keeps the reservation, at under 128 bytes an entry, below the file's
// size; past it, slices and maps grow only as entries are read.
func capHint(n uint64, size int) int {
	return int(min(n, uint64(size/128)))
}

// clip shortens a string from a file for an error message.
func clip(s string) string {
	if len(s) > 64 {
		return s[:61] + "..."
	}
	return s
}

// Tensor returns the tensor called name.
func (f *File) Tensor(name string) (*Tensor, bool) {
	t, ok := f.tensors[name]
	return t, ok
}

// Owner returns the value that keeps the File's bytes mapped (nil for a
// File from Parse): hold it, or pass it to gograd.FromBytesShared with a
// tensor's Data, as long as the Data is used.
func (f *File) Owner() any { return f.owner }

// Owner returns the value that keeps the tensor's Data mapped; see
// File.Owner.
func (t *Tensor) Owner() any {
	if t.file == nil {
		return nil
	}
	return t.file.owner
}
