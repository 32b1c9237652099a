package dtype

import "math"

// Float16Bits rounds f to the nearest IEEE 754 half-precision value (ties to
// even, as ggml's GGML_FP32_TO_FP16) and returns its bits. Overflow gives
// ±Inf; a NaN stays a quiet NaN with the top of its payload.
func Float16Bits(f float32) uint16 {
	b := math.Float32bits(f)
	sign := uint16(b>>16) & 0x8000
	exp := int(b>>23) & 0xff
	man := b & 0x7fffff
	switch {
	case exp == 0xff: // Inf or NaN
		if man != 0 {
			return sign | 0x7e00 | uint16(man>>13)
		}
		return sign | 0x7c00
	case exp > 127+15: // overflow
		return sign | 0x7c00
	case exp >= 127-14: // normal half
		e := uint32(exp - 127 + 15)
		v := e<<10 | man>>13
		rest := man & 0x1fff
		if rest > 0x1000 || (rest == 0x1000 && v&1 == 1) {
			v++ // may carry into the exponent, which is the right result
		}
		return sign | uint16(v)
	case exp >= 127-25: // subnormal half
		man |= 0x800000
		shift := uint(127 - 14 - exp + 13)
		v := man >> shift
		rest := man & (1<<shift - 1)
		half := uint32(1) << (shift - 1)
		if rest > half || (rest == half && v&1 == 1) {
			v++
		}
		return sign | uint16(v)
	default:
		return sign
	}
}

// Float16Float returns the float32 value of half-precision bits h.
func Float16Float(h uint16) float32 {
	sign := uint32(h&0x8000) << 16
	exp := uint32(h>>10) & 0x1f
	man := uint32(h & 0x3ff)
	switch {
	case exp == 0x1f:
		return math.Float32frombits(sign | 0x7f800000 | man<<13)
	case exp == 0:
		if man == 0 {
			return math.Float32frombits(sign)
		}
		f := float32(man) * (1.0 / (1 << 24))
		if sign != 0 {
			return -f
		}
		return f
	default:
		return math.Float32frombits(sign | (exp+127-15)<<23 | man<<13)
	}
}

// BFloat16Bits rounds f to the nearest bfloat16 (ties to even) and returns its bits.
func BFloat16Bits(f float32) uint16 {
	b := math.Float32bits(f)
	if b&0x7fffffff > 0x7f800000 { // NaN: keep it quiet
		return uint16(b>>16) | 0x40
	}
	b += 0x7fff + (b>>16)&1
	return uint16(b >> 16)
}

// BFloat16Float returns the float32 value of bfloat16 bits h.
func BFloat16Float(h uint16) float32 { return math.Float32frombits(uint32(h) << 16) }

// RoundHalf rounds f to the precision of the half type d (Float16 or
// BFloat16) and returns it as a float32; other types return f unchanged.
func RoundHalf(d DType, f float32) float32 {
	switch d {
	case Float16:
		return Float16Float(Float16Bits(f))
	case BFloat16:
		return BFloat16Float(BFloat16Bits(f))
	}
	return f
}
