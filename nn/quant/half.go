package quant

import "math"

// halfToFloat returns the float32 value of IEEE half-precision bits h
// (exact: every half is a float32).
func halfToFloat(h uint16) float32 {
	sign := uint32(h&0x8000) << 16
	exp := uint32(h>>10) & 0x1f
	man := uint32(h & 0x3ff)
	switch {
	case exp == 0x1f: // Inf or NaN, payload kept
		return math.Float32frombits(sign | 0x7f800000 | man<<13)
	case exp == 0: // zero or subnormal: man × 2^-24
		f := float32(man) * (1.0 / (1 << 24))
		if sign != 0 {
			return -f
		}
		return f
	default:
		return math.Float32frombits(sign | (exp+127-15)<<23 | man<<13)
	}
}

// floatToHalf rounds f to the nearest half (ties to even), as ggml's
// GGML_FP32_TO_FP16 does; overflow gives ±Inf, NaN stays a quiet NaN with
// the top of its payload.
func floatToHalf(f float32) uint16 {
	b := math.Float32bits(f)
	sign := uint16(b>>16) & 0x8000
	exp := int(b>>23) & 0xff
	man := b & 0x7fffff
	switch {
	case exp == 0xff:
		if man != 0 {
			return sign | 0x7e00 | uint16(man>>13)
		}
		return sign | 0x7c00
	case exp > 127+15:
		return sign | 0x7c00
	case exp >= 127-14: // a normal half
		v := uint32(exp-127+15)<<10 | man>>13
		rest := man & 0x1fff
		if rest > 0x1000 || rest == 0x1000 && v&1 == 1 {
			v++ // a carry into the exponent is the right result, up to Inf
		}
		return sign | uint16(v)
	case exp >= 127-25: // a subnormal half
		man |= 0x800000
		shift := uint(127 - 14 - exp + 13)
		v := man >> shift
		rest := man & (1<<shift - 1)
		half := uint32(1) << (shift - 1)
		if rest > half || rest == half && v&1 == 1 {
			v++
		}
		return sign | uint16(v)
	default:
		return sign
	}
}
