package gguf

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"
)

// Value is a metadata value: a number, bool or string, or an array of
// values of one type (arrays of arrays included). Arrays keep their
// elements encoded as the file has them and decode them when asked, so a
// Value costs about the bytes of its encoding. The zero Value is a uint8 0.
//
// The typed accessors convert between integer widths and signedness where
// the value fits, and return an error that names both types otherwise.
type Value struct {
	typ  ValueType
	elem ValueType // arrays: the elements' type
	n    int       // arrays: the number of elements
	num  uint64    // numbers and bools: the bits as stored, zero-extended
	str  string    // strings
	raw  []byte    // arrays: the elements, encoded
}

// Type returns the value's type.
func (v Value) Type() ValueType { return v.typ }

// Elem returns the type of an array's elements (uint8 for other values).
func (v Value) Elem() ValueType { return v.elem }

// Len returns the number of elements of an array, 0 for other values.
func (v Value) Len() int { return v.n }

// Equal reports whether v and w are the same value of the same type.
func (v Value) Equal(w Value) bool {
	return v.typ == w.typ && v.elem == w.elem && v.n == w.n && v.num == w.num && v.str == w.str && bytes.Equal(v.raw, w.raw)
}

// describe names v's type for an error: "a uint32", "an array of float32".
func (v Value) describe() string {
	if v.typ == Array {
		return "an array of " + v.elem.String()
	}
	return article(v.typ.String())
}

// article puts "a" or "an" before a type's name ("a uint8", "an int8").
func article(s string) string {
	if strings.IndexByte("aeio", s[0]) >= 0 {
		return "an " + s
	}
	return "a " + s
}

func (v Value) wrongType(want string) error {
	return fmt.Errorf("is %s, want %s", v.describe(), want)
}

// Uint returns an integer value as uint64; a negative one is an error.
func (v Value) Uint() (uint64, error) {
	if !v.typ.isInt() {
		return 0, v.wrongType("an unsigned integer")
	}
	return scalarUint(v.typ, v.num)
}

// Int returns an integer value as int64; a uint64 above MaxInt64 is an
// error.
func (v Value) Int() (int64, error) {
	if !v.typ.isInt() {
		return 0, v.wrongType("an integer")
	}
	return scalarInt(v.typ, v.num)
}

// Float returns a float32 or float64 value as float64.
func (v Value) Float() (float64, error) {
	switch v.typ {
	case Float32:
		return float64(math.Float32frombits(uint32(v.num))), nil
	case Float64:
		return math.Float64frombits(v.num), nil
	}
	return 0, v.wrongType("a float")
}

// Bool returns a bool value.
func (v Value) Bool() (bool, error) {
	if v.typ != Bool {
		return false, v.wrongType("a bool")
	}
	return v.num != 0, nil
}

// Str returns a string value.
func (v Value) Str() (string, error) {
	if v.typ != String {
		return "", v.wrongType("a string")
	}
	return v.str, nil
}

// signExtend returns the bits of a signed integer of type t as int64.
func signExtend(t ValueType, bits uint64) int64 {
	switch t {
	case Int8:
		return int64(int8(bits))
	case Int16:
		return int64(int16(bits))
	case Int32:
		return int64(int32(bits))
	}
	return int64(bits)
}

func scalarUint(t ValueType, bits uint64) (uint64, error) {
	if t.signed() {
		i := signExtend(t, bits)
		if i < 0 {
			return 0, fmt.Errorf("is the %s %d, want an unsigned integer", t, i)
		}
		return uint64(i), nil
	}
	return bits, nil
}

func scalarInt(t ValueType, bits uint64) (int64, error) {
	if t.signed() {
		return signExtend(t, bits), nil
	}
	if bits > math.MaxInt64 {
		return 0, fmt.Errorf("is the uint64 %d, too large for an int64", bits)
	}
	return int64(bits), nil
}

// elemBits returns fixed-size element i of an array.
func (v Value) elemBits(i int) uint64 {
	s := v.elem.size()
	b := v.raw[i*s : i*s+s]
	switch s {
	case 1:
		return uint64(b[0])
	case 2:
		return uint64(binary.LittleEndian.Uint16(b))
	case 4:
		return uint64(binary.LittleEndian.Uint32(b))
	}
	return binary.LittleEndian.Uint64(b)
}

// Uints returns an array of integers as uint64s; a negative element is an
// error.
func (v Value) Uints() ([]uint64, error) {
	if v.typ != Array || !v.elem.isInt() {
		return nil, v.wrongType("an array of integers")
	}
	out := make([]uint64, v.n)
	for i := range out {
		u, err := scalarUint(v.elem, v.elemBits(i))
		if err != nil {
			return nil, fmt.Errorf("element %d %w", i, err)
		}
		out[i] = u
	}
	return out, nil
}

// Ints returns an array of integers as int64s.
func (v Value) Ints() ([]int64, error) {
	if v.typ != Array || !v.elem.isInt() {
		return nil, v.wrongType("an array of integers")
	}
	out := make([]int64, v.n)
	for i := range out {
		x, err := scalarInt(v.elem, v.elemBits(i))
		if err != nil {
			return nil, fmt.Errorf("element %d %w", i, err)
		}
		out[i] = x
	}
	return out, nil
}

// Int32s returns an array of integers as int32s; an element out of int32's
// range is an error.
func (v Value) Int32s() ([]int32, error) {
	if v.typ != Array || !v.elem.isInt() {
		return nil, v.wrongType("an array of integers")
	}
	out := make([]int32, v.n)
	for i := range out {
		x, err := scalarInt(v.elem, v.elemBits(i))
		if err == nil && (x < math.MinInt32 || x > math.MaxInt32) {
			err = fmt.Errorf("is the %s %d, out of int32's range", v.elem, x)
		}
		if err != nil {
			return nil, fmt.Errorf("element %d %w", i, err)
		}
		out[i] = int32(x)
	}
	return out, nil
}

// Float32s returns an array of float32 (or float64, rounded) as float32s.
func (v Value) Float32s() ([]float32, error) {
	if v.typ != Array || v.elem != Float32 && v.elem != Float64 {
		return nil, v.wrongType("an array of floats")
	}
	out := make([]float32, v.n)
	for i := range out {
		if v.elem == Float32 {
			out[i] = math.Float32frombits(uint32(v.elemBits(i)))
		} else {
			out[i] = float32(math.Float64frombits(v.elemBits(i)))
		}
	}
	return out, nil
}

// Float64s returns an array of float32 or float64 as float64s.
func (v Value) Float64s() ([]float64, error) {
	if v.typ != Array || v.elem != Float32 && v.elem != Float64 {
		return nil, v.wrongType("an array of floats")
	}
	out := make([]float64, v.n)
	for i := range out {
		if v.elem == Float32 {
			out[i] = float64(math.Float32frombits(uint32(v.elemBits(i))))
		} else {
			out[i] = math.Float64frombits(v.elemBits(i))
		}
	}
	return out, nil
}

// Bools returns an array of bools.
func (v Value) Bools() ([]bool, error) {
	if v.typ != Array || v.elem != Bool {
		return nil, v.wrongType("an array of bool")
	}
	out := make([]bool, v.n)
	for i := range out {
		out[i] = v.raw[i] != 0
	}
	return out, nil
}

// Strings returns an array of strings.
func (v Value) Strings() ([]string, error) {
	if v.typ != Array || v.elem != String {
		return nil, v.wrongType("an array of string")
	}
	out := make([]string, v.n)
	d := decoder{b: v.raw}
	for i := range out {
		s, err := d.str("string")
		if err != nil { // cannot happen: checked when the value was made
			return nil, err
		}
		out[i] = s
	}
	return out, nil
}

// Values returns the elements of an array of any type as Values (the way
// to read an array of arrays).
func (v Value) Values() ([]Value, error) {
	if v.typ != Array {
		return nil, v.wrongType("an array")
	}
	out := make([]Value, v.n)
	d := decoder{b: v.raw}
	for i := range out {
		e, err := d.value(v.elem, 1)
		if err != nil { // cannot happen: checked when the value was made
			return nil, err
		}
		out[i] = e
	}
	return out, nil
}

// String formats the value for debugging: `uint32 42`, `string "llama"`,
// `[32000]string{"<unk>", "<s>", ...}` (arrays show their first 8
// elements, strings their first 64 bytes).
func (v Value) String() string {
	var sb strings.Builder
	v.format(&sb, true)
	return sb.String()
}

func (v Value) format(sb *strings.Builder, typed bool) {
	if v.typ == Array {
		fmt.Fprintf(sb, "[%d]%s{", v.n, v.elem)
		elems, err := v.Values()
		if err != nil {
			sb.WriteString("?}")
			return
		}
		for i, e := range elems {
			if i == 8 {
				sb.WriteString(", ...")
				break
			}
			if i > 0 {
				sb.WriteString(", ")
			}
			e.format(sb, false)
		}
		sb.WriteByte('}')
		return
	}
	if typed {
		sb.WriteString(v.typ.String())
		sb.WriteByte(' ')
	}
	switch v.typ {
	case String:
		s := v.str
		if len(s) > 64 {
			sb.WriteString(strconv.Quote(s[:64]) + "...")
			return
		}
		sb.WriteString(strconv.Quote(s))
	case Bool:
		sb.WriteString(strconv.FormatBool(v.num != 0))
	case Float32, Float64:
		f, _ := v.Float()
		bits := 64
		if v.typ == Float32 {
			bits = 32
		}
		sb.WriteString(strconv.FormatFloat(f, 'g', -1, bits))
	default:
		if v.typ.signed() {
			sb.WriteString(strconv.FormatInt(signExtend(v.typ, v.num), 10))
		} else {
			sb.WriteString(strconv.FormatUint(v.num, 10))
		}
	}
}

// ValueOf returns the Value of a Go value: uint8, int8, uint16, int16,
// uint32, int32, uint64, int64, float32, float64, bool and string give the
// type of the same name, a Value itself, and a slice of any of these (or of
// slices, for nested arrays) an array. Go's int, whose width the format
// cannot know, and other types are misuse: ValueOf panics.
func ValueOf(x any) Value {
	if v, ok := x.(Value); ok {
		return v
	}
	rv := reflect.ValueOf(x)
	if !rv.IsValid() {
		panic("gguf: ValueOf(nil)")
	}
	if rv.Kind() == reflect.Slice {
		et, ok := goElemType(rv.Type().Elem())
		if !ok {
			panic(fmt.Sprintf("gguf: ValueOf: %s has no GGUF type (use sized integers)", rv.Type()))
		}
		elems := make([]Value, rv.Len())
		for i := range elems {
			elems[i] = ValueOf(rv.Index(i).Interface())
		}
		if et == Array && len(elems) > 0 {
			if _, isValue := x.([]Value); isValue {
				et = elems[0].typ
			}
		}
		return ArrayOf(et, elems...)
	}
	switch x := x.(type) {
	case uint8:
		return Value{typ: Uint8, num: uint64(x)}
	case int8:
		return Value{typ: Int8, num: uint64(uint8(x))}
	case uint16:
		return Value{typ: Uint16, num: uint64(x)}
	case int16:
		return Value{typ: Int16, num: uint64(uint16(x))}
	case uint32:
		return Value{typ: Uint32, num: uint64(x)}
	case int32:
		return Value{typ: Int32, num: uint64(uint32(x))}
	case uint64:
		return Value{typ: Uint64, num: x}
	case int64:
		return Value{typ: Int64, num: uint64(x)}
	case float32:
		return Value{typ: Float32, num: uint64(math.Float32bits(x))}
	case float64:
		return Value{typ: Float64, num: math.Float64bits(x)}
	case bool:
		var n uint64
		if x {
			n = 1
		}
		return Value{typ: Bool, num: n}
	case string:
		return Value{typ: String, str: x}
	}
	panic(fmt.Sprintf("gguf: ValueOf: %T has no GGUF type (use sized integers)", x))
}

// goElemType is the value type of a Go slice's elements (Array for slices
// of slices; for []Value, the elements say).
func goElemType(t reflect.Type) (ValueType, bool) {
	switch t {
	case reflect.TypeFor[Value]():
		return Array, true
	}
	switch t.Kind() {
	case reflect.Uint8:
		return Uint8, true
	case reflect.Int8:
		return Int8, true
	case reflect.Uint16:
		return Uint16, true
	case reflect.Int16:
		return Int16, true
	case reflect.Uint32:
		return Uint32, true
	case reflect.Int32:
		return Int32, true
	case reflect.Uint64:
		return Uint64, true
	case reflect.Int64:
		return Int64, true
	case reflect.Float32:
		return Float32, true
	case reflect.Float64:
		return Float64, true
	case reflect.Bool:
		return Bool, true
	case reflect.String:
		return String, true
	case reflect.Slice:
		return Array, true
	}
	return 0, false
}

// ArrayOf returns an array of elem values. Every element must be of type
// elem (misuse panics); the elements of an array of arrays may have
// different element types.
func ArrayOf(elem ValueType, elems ...Value) Value {
	if !elem.valid() {
		panic(fmt.Sprintf("gguf: ArrayOf: unknown %s", elem))
	}
	var raw []byte
	for i, e := range elems {
		if e.typ != elem {
			panic(fmt.Sprintf("gguf: ArrayOf(%s): element %d is %s", elem, i, e.describe()))
		}
		raw = e.appendTo(raw)
	}
	return Value{typ: Array, elem: elem, n: len(elems), raw: raw}
}

// appendTo appends v's encoding (without its type) to b.
func (v Value) appendTo(b []byte) []byte {
	switch v.typ {
	case String:
		b = binary.LittleEndian.AppendUint64(b, uint64(len(v.str)))
		return append(b, v.str...)
	case Array:
		b = binary.LittleEndian.AppendUint32(b, uint32(v.elem))
		b = binary.LittleEndian.AppendUint64(b, uint64(v.n))
		return append(b, v.raw...)
	}
	switch v.typ.size() {
	case 1:
		return append(b, byte(v.num))
	case 2:
		return binary.LittleEndian.AppendUint16(b, uint16(v.num))
	case 4:
		return binary.LittleEndian.AppendUint32(b, uint32(v.num))
	}
	return binary.LittleEndian.AppendUint64(b, v.num)
}
