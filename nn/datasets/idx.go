// Package datasets reads training data into gograd tensors and cuts it into
// batches: the IDX file format (MNIST, Fashion-MNIST, EMNIST), LoadMNIST,
// and the helpers of a training loop (a seeded shuffle of the sample
// indices, batches of indices, and the rows of a batch gathered on the
// host).
//
// Malformed files return errors, never panic, and nothing is allocated
// beyond what the file's header declares and its bytes actually hold.
// Misuse (an index out of range, a batch size below one) panics.
//
// Package datasets imports the gograd root package and the standard
// library.
package datasets

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"

	"github.com/gograd/gograd"
)

// IDXType is the element type code of an IDX file (its third byte).
type IDXType byte

// The element types of the IDX format.
const (
	IDXUint8   IDXType = 0x08
	IDXInt8    IDXType = 0x09
	IDXInt16   IDXType = 0x0B
	IDXInt32   IDXType = 0x0C
	IDXFloat32 IDXType = 0x0D
	IDXFloat64 IDXType = 0x0E
)

// Size returns the bytes of one element, or 0 for an unknown code.
func (t IDXType) Size() int {
	switch t {
	case IDXUint8, IDXInt8:
		return 1
	case IDXInt16:
		return 2
	case IDXInt32, IDXFloat32:
		return 4
	case IDXFloat64:
		return 8
	}
	return 0
}

// DType returns the gograd dtype of the elements.
func (t IDXType) DType() gograd.DType {
	switch t {
	case IDXUint8:
		return gograd.Uint8
	case IDXInt8:
		return gograd.Int8
	case IDXInt16:
		return gograd.Int16
	case IDXInt32:
		return gograd.Int32
	case IDXFloat32:
		return gograd.Float32
	case IDXFloat64:
		return gograd.Float64
	}
	panic(fmt.Sprintf("datasets: IDX type 0x%02x is not an element type", byte(t)))
}

func (t IDXType) String() string {
	if t.Size() == 0 {
		return fmt.Sprintf("IDXType(0x%02x)", byte(t))
	}
	return t.DType().String()
}

// IDX is the content of an IDX file: the element type, the dimensions and
// the elements in row-major order, big-endian as the file stores them.
type IDX struct {
	Type IDXType
	Dims []int
	Data []byte
}

// Numel returns the number of elements the dimensions describe.
func (x *IDX) Numel() int {
	n := 1
	for _, d := range x.Dims {
		n *= d
	}
	return n
}

// maxIDXBytes bounds the bytes of elements of one file, so that a header's
// product of dimensions cannot overflow an int. (Memory is bounded by the
// bytes the file actually holds, not by this.)
const maxIDXBytes = math.MaxInt >> 1

// gzipMagic starts every gzip stream; an IDX file starts with two zeros.
var gzipMagic = []byte{0x1f, 0x8b}

// ReadIDX reads an IDX file from r, decompressing it first if it is gzip
// (as the MNIST files are distributed). The file must end where its
// elements do. Errors start with "idx: ".
func ReadIDX(r io.Reader) (*IDX, error) {
	br := bufio.NewReader(r)
	if head, err := br.Peek(2); err == nil && bytes.Equal(head, gzipMagic) {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("idx: gzip: %w", err)
		}
		defer zr.Close()
		return readIDX(zr)
	}
	return readIDX(br)
}

// readIDX parses an uncompressed IDX stream.
func readIDX(r io.Reader) (*IDX, error) {
	var magic [4]byte
	if _, err := io.ReadFull(r, magic[:]); err != nil {
		return nil, fmt.Errorf("idx: header: %w", noEOF(err))
	}
	if magic[0] != 0 || magic[1] != 0 {
		return nil, fmt.Errorf("idx: bad magic % x (want 00 00, type, rank)", magic)
	}
	x := &IDX{Type: IDXType(magic[2])}
	size := x.Type.Size()
	if size == 0 {
		return nil, fmt.Errorf("idx: unknown element type 0x%02x", magic[2])
	}
	raw := make([]byte, 4*int(magic[3])) // at most 1020 bytes
	if _, err := io.ReadFull(r, raw); err != nil {
		return nil, fmt.Errorf("idx: dimensions: %w", noEOF(err))
	}
	total := size
	x.Dims = make([]int, magic[3])
	for i := range x.Dims {
		d := binary.BigEndian.Uint32(raw[4*i:])
		x.Dims[i] = int(d)
		if d != 0 && total > maxIDXBytes/int(d) {
			return nil, fmt.Errorf("idx: dimensions %v hold more than %d bytes", readDims(raw), int64(maxIDXBytes))
		}
		total *= int(d)
	}
	// Grow the buffer as the bytes arrive (never beyond the declared size
	// plus one, which detects trailing data), so a lying header costs
	// nothing.
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(io.LimitReader(r, int64(total)+1)); err != nil {
		return nil, fmt.Errorf("idx: elements: %w", err)
	}
	switch {
	case buf.Len() < total:
		return nil, fmt.Errorf("idx: %d bytes of elements, dimensions %v of %s need %d", buf.Len(), x.Dims, x.Type, total)
	case buf.Len() > total:
		return nil, fmt.Errorf("idx: data after the %d bytes of elements of dimensions %v", total, x.Dims)
	}
	x.Data = buf.Bytes()
	return x, nil
}

// readDims formats the raw dimensions of a header for an error message.
func readDims(raw []byte) []uint32 {
	out := make([]uint32, len(raw)/4)
	for i := range out {
		out[i] = binary.BigEndian.Uint32(raw[4*i:])
	}
	return out
}

// noEOF turns a clean end of file in the middle of a header into
// io.ErrUnexpectedEOF.
func noEOF(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

// ReadIDXFile reads the IDX file at path, gzip or not. Errors name the
// file.
func ReadIDXFile(path string) (*IDX, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	x, err := ReadIDX(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return x, nil
}

// check returns an error unless x can be written as an IDX file.
func (x *IDX) check() error {
	size := x.Type.Size()
	if size == 0 {
		return fmt.Errorf("idx: unknown element type 0x%02x", byte(x.Type))
	}
	if len(x.Dims) > math.MaxUint8 {
		return fmt.Errorf("idx: %d dimensions (at most 255)", len(x.Dims))
	}
	n := 1
	for _, d := range x.Dims {
		if d < 0 || uint64(d) > math.MaxUint32 {
			return fmt.Errorf("idx: dimension %d out of range in %v", d, x.Dims)
		}
		if d != 0 && n > maxIDXBytes/d {
			return fmt.Errorf("idx: dimensions %v too large", x.Dims)
		}
		n *= d
	}
	if n*size != len(x.Data) {
		return fmt.Errorf("idx: %d bytes of elements, dimensions %v of %s need %d", len(x.Data), x.Dims, x.Type, n*size)
	}
	return nil
}

// WriteIDX writes x as an uncompressed IDX file (wrap w in a gzip.Writer
// for a .gz file).
func WriteIDX(w io.Writer, x *IDX) error {
	if err := x.check(); err != nil {
		return err
	}
	hdr := []byte{0, 0, byte(x.Type), byte(len(x.Dims))}
	for _, d := range x.Dims {
		hdr = binary.BigEndian.AppendUint32(hdr, uint32(d))
	}
	if _, err := w.Write(hdr); err != nil {
		return err
	}
	_, err := w.Write(x.Data)
	return err
}

// WriteIDXFile writes x to path, gzip-compressed if gz.
func WriteIDXFile(path string, x *IDX, gz bool) (err error) {
	if err := x.check(); err != nil {
		return err
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}()
	if !gz {
		return WriteIDX(f, x)
	}
	zw, err := gzip.NewWriterLevel(f, gzip.BestCompression)
	if err != nil {
		return err
	}
	if err := WriteIDX(zw, x); err != nil {
		return err
	}
	return zw.Close()
}

// Slice returns the samples [lo, hi) of x (along its first dimension),
// sharing x's data.
func (x *IDX) Slice(lo, hi int) *IDX {
	if len(x.Dims) == 0 || lo < 0 || hi < lo || hi > x.Dims[0] {
		panic(fmt.Sprintf("datasets: IDX.Slice: [%d, %d) out of range for dimensions %v", lo, hi, x.Dims))
	}
	row := len(x.Data)
	if x.Dims[0] > 0 {
		row /= x.Dims[0]
	}
	dims := append([]int{hi - lo}, x.Dims[1:]...)
	return &IDX{Type: x.Type, Dims: dims, Data: x.Data[lo*row : hi*row]}
}

// Tensor returns the elements as a tensor of x's dtype and dimensions on
// the default device.
func (x *IDX) Tensor() *gograd.Tensor {
	if err := x.check(); err != nil {
		panic("datasets: IDX.Tensor: " + err.Error())
	}
	size := x.Type.Size()
	le := make([]byte, len(x.Data)) // big-endian elements to little-endian
	for i := 0; i < len(le); i += size {
		for j := range size {
			le[i+j] = x.Data[i+size-1-j]
		}
	}
	return gograd.FromBytes(le, x.Type.DType(), x.Dims...)
}
