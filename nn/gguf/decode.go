package gguf

import (
	"encoding/binary"
	"fmt"
)

// maxDepth is the deepest nesting of arrays accepted.
const maxDepth = 16

// decoder reads the little-endian encoding of a GGUF header from b,
// checking every length against the bytes that remain.
type decoder struct {
	b   []byte
	off int
}

// errShort is the error for n bytes of what that the data lacks.
func (d *decoder) errShort(n uint64, what string) error {
	return fmt.Errorf("%s (%d bytes) at offset %d runs past the end of the file (%d bytes)", what, n, d.off, len(d.b))
}

// need checks that n more bytes remain.
func (d *decoder) need(n uint64, what string) error {
	if n > uint64(len(d.b)-d.off) {
		return d.errShort(n, what)
	}
	return nil
}

func (d *decoder) u32(what string) (uint32, error) {
	if err := d.need(4, what); err != nil {
		return 0, err
	}
	v := binary.LittleEndian.Uint32(d.b[d.off:])
	d.off += 4
	return v, nil
}

func (d *decoder) u64(what string) (uint64, error) {
	if err := d.need(8, what); err != nil {
		return 0, err
	}
	v := binary.LittleEndian.Uint64(d.b[d.off:])
	d.off += 8
	return v, nil
}

// str reads a string: a uint64 length and its bytes (copied).
func (d *decoder) str(what string) (string, error) {
	n, err := d.u64(what + " length")
	if err != nil {
		return "", err
	}
	if err := d.need(n, what); err != nil {
		return "", err
	}
	s := string(d.b[d.off : d.off+int(n)])
	d.off += int(n)
	return s, nil
}

// skipStr checks a string and steps over it without copying it.
func (d *decoder) skipStr(what string) error {
	n, err := d.u64(what + " length")
	if err != nil {
		return err
	}
	if err := d.need(n, what); err != nil {
		return err
	}
	d.off += int(n)
	return nil
}

// valueType reads a value type and checks that it is known.
func (d *decoder) valueType(what string) (ValueType, error) {
	at := d.off
	t, err := d.u32(what)
	if err != nil {
		return 0, err
	}
	if !ValueType(t).valid() {
		return 0, fmt.Errorf("unknown %s %d at offset %d", what, t, at)
	}
	return ValueType(t), nil
}

// scalar reads a fixed-size value of type t.
func (d *decoder) scalar(t ValueType) (uint64, error) {
	s := t.size()
	if err := d.need(uint64(s), t.String()+" value"); err != nil {
		return 0, err
	}
	b := d.b[d.off : d.off+s]
	d.off += s
	var v uint64
	switch s {
	case 1:
		v = uint64(b[0])
		if t == Bool && v > 1 {
			return 0, fmt.Errorf("bool value %d at offset %d is neither 0 nor 1", v, d.off-1)
		}
	case 2:
		v = uint64(binary.LittleEndian.Uint16(b))
	case 4:
		v = uint64(binary.LittleEndian.Uint32(b))
	default:
		v = binary.LittleEndian.Uint64(b)
	}
	return v, nil
}

// value reads a value of type t at nesting depth depth (1 for a key's
// value). An array's elements are checked and their encoding copied.
func (d *decoder) value(t ValueType, depth int) (Value, error) {
	switch t {
	case String:
		s, err := d.str("string")
		return Value{typ: String, str: s}, err
	case Array:
		elem, n, start, err := d.array(depth)
		if err != nil {
			return Value{}, err
		}
		raw := make([]byte, d.off-start)
		copy(raw, d.b[start:d.off])
		return Value{typ: Array, elem: elem, n: n, raw: raw}, nil
	}
	v, err := d.scalar(t)
	return Value{typ: t, num: v}, err
}

// array checks an array's header and elements and steps over them,
// returning the element type, the count and where the elements start.
func (d *decoder) array(depth int) (elem ValueType, n int, start int, err error) {
	if depth > maxDepth {
		return 0, 0, 0, fmt.Errorf("arrays nested more than %d deep at offset %d", maxDepth, d.off)
	}
	elem, err = d.valueType("array element type")
	if err != nil {
		return 0, 0, 0, err
	}
	count, err := d.u64("array length")
	if err != nil {
		return 0, 0, 0, err
	}
	// Every element takes at least min bytes: check the count against the
	// bytes left before anything depends on it.
	minSize := uint64(elem.size())
	switch elem {
	case String:
		minSize = 8
	case Array:
		minSize = 12
	}
	if count > uint64(len(d.b)-d.off)/minSize {
		return 0, 0, 0, fmt.Errorf("array of %d %s at offset %d runs past the end of the file (%d bytes)", count, elem, d.off, len(d.b))
	}
	start = d.off
	switch elem {
	case String:
		for range count {
			if err := d.skipStr("string"); err != nil {
				return 0, 0, 0, err
			}
		}
	case Array:
		for range count {
			if _, _, _, err := d.array(depth + 1); err != nil {
				return 0, 0, 0, err
			}
		}
	case Bool:
		for i, b := range d.b[d.off : d.off+int(count)] {
			if b > 1 {
				return 0, 0, 0, fmt.Errorf("bool value %d at offset %d is neither 0 nor 1", b, d.off+i)
			}
		}
		d.off += int(count)
	default:
		d.off += int(count * minSize)
	}
	return elem, int(count), start, nil
}
