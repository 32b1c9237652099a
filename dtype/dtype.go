// Package dtype defines the element types gograd computes with: their sizes,
// names, limits, the promotion lattice used when two types meet in one op, and
// conversions for the 16-bit float formats Go lacks.
//
// It imports nothing from gograd; every other package may import it.
package dtype

import (
	"fmt"
	"math"
)

// DType is an element type: a scalar type, or a vector of 2 to 256 of one
// (made by Vec, used only inside kernels for SIMD code).
type DType uint16

// The element types. The order is the promotion order within a kind.
const (
	Invalid DType = iota
	Bool
	Int8
	Uint8
	Int16
	Uint16
	Int32
	Uint32
	Int64
	Uint64
	Float16
	BFloat16
	Float32
	Float64
	numDTypes
)

// Index is the integer type used for index arithmetic inside kernels.
const Index = Int64

// Default types, as in PyTorch: a Go float becomes Float32, a Go int Int32 is
// not used; integers default to Int32 like tinygrad (compact, fast), and a
// Go bool becomes Bool.
const (
	DefaultFloat = Float32
	DefaultInt   = Int32
)

type info struct {
	name     string
	size     int
	float    bool
	unsigned bool
	prio     int // position in the promotion lattice
}

var infos = [numDTypes]info{
	Invalid:  {"invalid", 0, false, false, -1},
	Bool:     {"bool", 1, false, false, 0},
	Int8:     {"int8", 1, false, false, 2},
	Uint8:    {"uint8", 1, false, true, 1},
	Int16:    {"int16", 2, false, false, 3},
	Uint16:   {"uint16", 2, false, true, 3},
	Int32:    {"int32", 4, false, false, 4},
	Uint32:   {"uint32", 4, false, true, 4},
	Int64:    {"int64", 8, false, false, 5},
	Uint64:   {"uint64", 8, false, true, 5},
	Float16:  {"float16", 2, true, false, 6},
	BFloat16: {"bfloat16", 2, true, false, 6},
	Float32:  {"float32", 4, true, false, 7},
	Float64:  {"float64", 8, true, false, 8},
}

// All lists every valid type.
var All = []DType{Bool, Int8, Uint8, Int16, Uint16, Int32, Uint32, Int64, Uint64, Float16, BFloat16, Float32, Float64}

func (d DType) String() string {
	s := d.Scalar()
	if s >= numDTypes {
		return fmt.Sprintf("dtype(%d)", uint16(d))
	}
	if n := d.Count(); n > 1 {
		return fmt.Sprintf("%sx%d", infos[s].name, n)
	}
	return infos[s].name
}

// Vec returns the vector of n elements of d's scalar type (d's scalar type
// itself for n = 1).
func (d DType) Vec(n int) DType {
	if n < 1 || n > 256 {
		panic(fmt.Sprintf("dtype: vector of %d", n))
	}
	return d.Scalar() | DType(n-1)<<8
}

// Scalar returns the element type of a vector (d itself for a scalar).
func (d DType) Scalar() DType { return d & 0xff }

// Count returns the number of elements of a vector (1 for a scalar).
func (d DType) Count() int { return int(d>>8) + 1 }

// Size is the number of bytes of one element (of a whole vector).
func (d DType) Size() int { return infos[d.Scalar()].size * d.Count() }

// IsFloat reports whether d is (a vector of) a floating-point type.
func (d DType) IsFloat() bool { return infos[d.Scalar()].float }

// IsInt reports whether d is (a vector of) a signed or unsigned integer type.
func (d DType) IsInt() bool {
	s := d.Scalar()
	return s != Bool && s != Invalid && !infos[s].float
}

// IsUnsigned reports whether d is (a vector of) an unsigned integer type.
func (d DType) IsUnsigned() bool { return infos[d.Scalar()].unsigned }

// IsHalf reports whether d is one of the 16-bit float types, which kernels
// compute in float32 and round after every op.
func (d DType) IsHalf() bool { s := d.Scalar(); return s == Float16 || s == BFloat16 }

// Parse returns the type with the given name ("float32", "int8", ...).
func Parse(name string) (DType, error) {
	for _, d := range All {
		if d.String() == name {
			return d, nil
		}
	}
	return Invalid, fmt.Errorf("dtype: unknown type %q", name)
}

// Promote returns the type two operands are computed in, following PyTorch:
// bool < integers < floats; a signed and an unsigned integer of the same size
// meet in the next larger signed type; float16 and bfloat16 meet in float32.
func Promote(a, b DType) DType {
	if a == b {
		return a
	}
	ia, ib := infos[a], infos[b]
	if ia.float != ib.float {
		if ia.float {
			return a
		}
		return b
	}
	if ia.float { // both floats
		if ia.prio == ib.prio { // float16 with bfloat16
			return Float32
		}
		if ia.prio > ib.prio {
			return a
		}
		return b
	}
	if a == Bool {
		return b
	}
	if b == Bool {
		return a
	}
	// both integers
	if ia.unsigned == ib.unsigned {
		if ia.size >= ib.size {
			return a
		}
		return b
	}
	u, s := a, b
	if ib.unsigned {
		u, s = b, a
	}
	if s.Size() > u.Size() {
		return s
	}
	switch u.Size() {
	case 1:
		return Int16
	case 2:
		return Int32
	default:
		return Int64
	}
}

// Min returns the smallest value of d as a float64 (-Inf for floats).
func (d DType) Min() float64 {
	d = d.Scalar()
	switch {
	case d.IsFloat():
		return math.Inf(-1)
	case d == Bool || d.IsUnsigned():
		return 0
	default:
		return -math.Ldexp(1, 8*d.Size()-1)
	}
}

// Max returns the largest value of d as a float64 (+Inf for floats).
func (d DType) Max() float64 {
	d = d.Scalar()
	switch {
	case d.IsFloat():
		return math.Inf(1)
	case d == Bool:
		return 1
	case d.IsUnsigned():
		return math.Ldexp(1, 8*d.Size()) - 1
	default:
		return math.Ldexp(1, 8*d.Size()-1) - 1
	}
}
