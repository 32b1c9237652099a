package gguf

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
)

// WriteTensor is a tensor to write: its name, type, dimensions in ggml's
// order (Dims[0] contiguous) and data, which must be exactly the size the
// type and dimensions give.
type WriteTensor struct {
	Name string
	Type Type
	Dims []uint64
	Data []byte
}

// Write writes a GGUF version 3 file to w: the metadata kv in order, then
// the tensors' descriptions and their data in order, each tensor's data
// padded with zeros to the alignment (general.alignment from kv, which
// must then be a uint32 power of two, or DefaultAlignment) as llama.cpp's
// writer does. Duplicate keys or tensor names, more than MaxDims
// dimensions, an unknown type, rows that are not whole blocks and data of
// the wrong size are errors, and nothing is written.
func Write(w io.Writer, kv []KV, tensors []WriteTensor) error {
	if err := write(w, kv, tensors); err != nil {
		return fmt.Errorf("gguf: Write: %w", err)
	}
	return nil
}

func write(w io.Writer, kv []KV, tensors []WriteTensor) error {
	align := uint64(DefaultAlignment)
	keys := make(map[string]bool, len(kv))
	for _, e := range kv {
		if keys[e.Key] {
			return fmt.Errorf("key %q appears twice", e.Key)
		}
		keys[e.Key] = true
		if !e.Value.typ.valid() || e.Value.typ == Array && !e.Value.elem.valid() {
			return fmt.Errorf("key %q has an invalid value", e.Key)
		}
		if e.Key == AlignmentKey {
			a := e.Value.num
			if e.Value.typ != Uint32 || a == 0 || a&(a-1) != 0 || a > 1<<30 {
				return fmt.Errorf("key %q is %v, want a uint32 power of two up to 2^30", AlignmentKey, e.Value)
			}
			align = a
		}
	}
	names := make(map[string]bool, len(tensors))
	offsets := make([]uint64, len(tensors))
	var at uint64
	for i, wt := range tensors {
		if names[wt.Name] {
			return fmt.Errorf("tensor %q appears twice", wt.Name)
		}
		names[wt.Name] = true
		if len(wt.Dims) > MaxDims {
			return fmt.Errorf("tensor %q has %d dimensions, more than %d", wt.Name, len(wt.Dims), MaxDims)
		}
		t := Tensor{Name: wt.Name, Type: wt.Type, Dims: wt.Dims}
		n, err := t.size()
		if err != nil {
			return fmt.Errorf("tensor %q: %w", wt.Name, err)
		}
		if n != uint64(len(wt.Data)) {
			return fmt.Errorf("tensor %q of %s %v needs %d bytes of data, has %d", wt.Name, wt.Type, wt.Dims, n, len(wt.Data))
		}
		offsets[i] = at
		at += pad(n, align)
	}

	hdr := []byte(Magic)
	hdr = binary.LittleEndian.AppendUint32(hdr, 3)
	hdr = binary.LittleEndian.AppendUint64(hdr, uint64(len(tensors)))
	hdr = binary.LittleEndian.AppendUint64(hdr, uint64(len(kv)))
	for _, e := range kv {
		hdr = ValueOf(e.Key).appendTo(hdr)
		hdr = binary.LittleEndian.AppendUint32(hdr, uint32(e.Value.typ))
		hdr = e.Value.appendTo(hdr)
	}
	for i, wt := range tensors {
		hdr = ValueOf(wt.Name).appendTo(hdr)
		hdr = binary.LittleEndian.AppendUint32(hdr, uint32(len(wt.Dims)))
		for _, d := range wt.Dims {
			hdr = binary.LittleEndian.AppendUint64(hdr, d)
		}
		hdr = binary.LittleEndian.AppendUint32(hdr, uint32(wt.Type))
		hdr = binary.LittleEndian.AppendUint64(hdr, offsets[i])
	}
	bw := bufio.NewWriterSize(w, 1<<20)
	if _, err := bw.Write(hdr); err != nil {
		return err
	}
	if len(tensors) > 0 {
		if err := zeros(bw, pad(uint64(len(hdr)), align)-uint64(len(hdr))); err != nil {
			return err
		}
	}
	for _, wt := range tensors {
		if _, err := bw.Write(wt.Data); err != nil {
			return err
		}
		n := uint64(len(wt.Data))
		if err := zeros(bw, pad(n, align)-n); err != nil {
			return err
		}
	}
	return bw.Flush()
}

var zeroBlock [4096]byte

// zeros writes n zero bytes.
func zeros(w io.Writer, n uint64) error {
	for n > 0 {
		k := min(n, uint64(len(zeroBlock)))
		if _, err := w.Write(zeroBlock[:k]); err != nil {
			return err
		}
		n -= k
	}
	return nil
}

// pad rounds n up to a multiple of align (a power of two).
func pad(n, align uint64) uint64 { return (n + align - 1) &^ (align - 1) }
