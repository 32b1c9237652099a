package gguf

import (
	"fmt"

	"github.com/gograd/gograd/nn/quant"
)

// Type is a tensor's element type, ggml's enum ggml_type.
type Type uint32

// The types of ggml (numbers 4, 5 and 31-33, 36-38 are retired). Types with
// a name but no conversion (Q2_K, IQ*, ...) can be read, their data sized
// and checked, but Float32s and Planes return an error naming them.
const (
	F32     Type = 0
	F16     Type = 1
	Q4_0    Type = 2
	Q4_1    Type = 3
	Q5_0    Type = 6
	Q5_1    Type = 7
	Q8_0    Type = 8
	Q8_1    Type = 9
	Q2_K    Type = 10
	Q3_K    Type = 11
	Q4_K    Type = 12
	Q5_K    Type = 13
	Q6_K    Type = 14
	Q8_K    Type = 15
	IQ2_XXS Type = 16
	IQ2_XS  Type = 17
	IQ3_XXS Type = 18
	IQ1_S   Type = 19
	IQ4_NL  Type = 20
	IQ3_S   Type = 21
	IQ2_S   Type = 22
	IQ4_XS  Type = 23
	I8      Type = 24
	I16     Type = 25
	I32     Type = 26
	I64     Type = 27
	F64     Type = 28
	IQ1_M   Type = 29
	BF16    Type = 30
	TQ1_0   Type = 34
	TQ2_0   Type = 35
)

// typeInfo is a type's name and block: elems elements in bytes bytes.
type typeInfo struct {
	name         string
	elems, bytes uint64
	format       quant.Format // 0 if not a quantized format of package quant
}

var types = map[Type]typeInfo{
	F32:     {"F32", 1, 4, 0},
	F16:     {"F16", 1, 2, 0},
	Q4_0:    {"Q4_0", 32, 18, quant.Q4_0},
	Q4_1:    {"Q4_1", 32, 20, quant.Q4_1},
	Q5_0:    {"Q5_0", 32, 22, quant.Q5_0},
	Q5_1:    {"Q5_1", 32, 24, quant.Q5_1},
	Q8_0:    {"Q8_0", 32, 34, quant.Q8_0},
	Q8_1:    {"Q8_1", 32, 40, 0},
	Q2_K:    {"Q2_K", 256, 84, 0},
	Q3_K:    {"Q3_K", 256, 110, 0},
	Q4_K:    {"Q4_K", 256, 144, quant.Q4_K},
	Q5_K:    {"Q5_K", 256, 176, quant.Q5_K},
	Q6_K:    {"Q6_K", 256, 210, quant.Q6_K},
	Q8_K:    {"Q8_K", 256, 292, 0},
	IQ2_XXS: {"IQ2_XXS", 256, 66, 0},
	IQ2_XS:  {"IQ2_XS", 256, 74, 0},
	IQ3_XXS: {"IQ3_XXS", 256, 98, 0},
	IQ1_S:   {"IQ1_S", 256, 50, 0},
	IQ4_NL:  {"IQ4_NL", 32, 18, 0},
	IQ3_S:   {"IQ3_S", 256, 110, 0},
	IQ2_S:   {"IQ2_S", 256, 82, 0},
	IQ4_XS:  {"IQ4_XS", 256, 136, 0},
	I8:      {"I8", 1, 1, 0},
	I16:     {"I16", 1, 2, 0},
	I32:     {"I32", 1, 4, 0},
	I64:     {"I64", 1, 8, 0},
	F64:     {"F64", 1, 8, 0},
	IQ1_M:   {"IQ1_M", 256, 56, 0},
	BF16:    {"BF16", 1, 2, 0},
	TQ1_0:   {"TQ1_0", 256, 54, 0},
	TQ2_0:   {"TQ2_0", 256, 66, 0},
}

// String returns ggml's name of the type ("Q4_K"), or "type N" for a
// number ggml does not define.
func (t Type) String() string {
	if info, ok := types[t]; ok {
		return info.name
	}
	return fmt.Sprintf("type %d", uint32(t))
}

// Known reports whether t is a type ggml defines (so its data can be sized).
func (t Type) Known() bool { _, ok := types[t]; return ok }

// BlockElems returns the number of elements in one block of the type (1
// for the plain types, 32 or 256 for the quantized ones); 0 if unknown.
func (t Type) BlockElems() int { return int(types[t].elems) }

// BlockBytes returns the size in bytes of one block of the type; 0 if
// unknown.
func (t Type) BlockBytes() int { return int(types[t].bytes) }

// Quantized reports whether t is one of the quantized formats that package
// quant converts, and which.
func (t Type) Quantized() (quant.Format, bool) {
	f := types[t].format
	return f, f != 0
}

// ValueType is the type of a metadata value, gguf_type.
type ValueType uint32

// The metadata value types.
const (
	Uint8   ValueType = 0
	Int8    ValueType = 1
	Uint16  ValueType = 2
	Int16   ValueType = 3
	Uint32  ValueType = 4
	Int32   ValueType = 5
	Float32 ValueType = 6
	Bool    ValueType = 7
	String  ValueType = 8
	Array   ValueType = 9
	Uint64  ValueType = 10
	Int64   ValueType = 11
	Float64 ValueType = 12
)

var valueTypeNames = [...]string{"uint8", "int8", "uint16", "int16", "uint32", "int32", "float32",
	"bool", "string", "array", "uint64", "int64", "float64"}

// valueSizes are the sizes of the fixed-size value types (0: variable).
var valueSizes = [...]int{1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8}

// String returns the type's name ("uint32").
func (t ValueType) String() string {
	if int(t) < len(valueTypeNames) {
		return valueTypeNames[t]
	}
	return fmt.Sprintf("value type %d", uint32(t))
}

func (t ValueType) valid() bool { return int(t) < len(valueTypeNames) }

// size is the encoded size of a fixed-size type, 0 for strings and arrays.
func (t ValueType) size() int { return valueSizes[t] }

func (t ValueType) isInt() bool {
	switch t {
	case Uint8, Int8, Uint16, Int16, Uint32, Int32, Uint64, Int64:
		return true
	}
	return false
}

func (t ValueType) signed() bool { return t == Int8 || t == Int16 || t == Int32 || t == Int64 }
