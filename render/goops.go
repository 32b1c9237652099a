package render

import (
	"math"

	"github.com/gograd/gograd/dtype"
	"github.com/gograd/gograd/uop"
)

// The element loops of the Go executor: one small generic function per op and
// operand shape (vector-vector, vector-scalar), instantiated per element type.

type integer interface {
	~int8 | ~int16 | ~int32 | ~int64 | ~uint8 | ~uint16 | ~uint32 | ~uint64
}

type float interface{ ~float32 | ~float64 }

type number interface{ integer | float }

func addVV[T number](d, a, b []T) {
	b = b[:len(d)]
	a = a[:len(d)]
	for i := range d {
		d[i] = a[i] + b[i]
	}
}

func addVS[T number](d, a []T, b T) {
	a = a[:len(d)]
	for i := range d {
		d[i] = a[i] + b
	}
}

func mulVV[T number](d, a, b []T) {
	b = b[:len(d)]
	a = a[:len(d)]
	for i := range d {
		d[i] = a[i] * b[i]
	}
}

func mulVS[T number](d, a []T, b T) {
	a = a[:len(d)]
	for i := range d {
		d[i] = a[i] * b
	}
}

// maxOf is max with NaN winning (Go's built-in max has those semantics).
func maxOf[T number](a, b T) T { return max(a, b) }

func maxVV[T number](d, a, b []T) {
	b = b[:len(d)]
	a = a[:len(d)]
	for i := range d {
		d[i] = maxOf(a[i], b[i])
	}
}

func maxVS[T number](d, a []T, b T) {
	a = a[:len(d)]
	for i := range d {
		d[i] = maxOf(a[i], b)
	}
}

func ltVV[T number](d []bool, a, b []T) {
	b = b[:len(d)]
	a = a[:len(d)]
	for i := range d {
		d[i] = a[i] < b[i]
	}
}

func ltVS[T number](d []bool, a []T, b T) {
	a = a[:len(d)]
	for i := range d {
		d[i] = a[i] < b
	}
}

func ltSV[T number](d []bool, a T, b []T) {
	b = b[:len(d)]
	for i := range d {
		d[i] = a < b[i]
	}
}

func neVV[T comparable](d []bool, a, b []T) {
	b = b[:len(d)]
	a = a[:len(d)]
	for i := range d {
		d[i] = a[i] != b[i]
	}
}

func neVS[T comparable](d []bool, a []T, b T) {
	a = a[:len(d)]
	for i := range d {
		d[i] = a[i] != b
	}
}

func idivOf[T integer](a, b T) T {
	if b == 0 {
		return 0
	}
	var m1 T
	m1--
	if m1 < 0 && b == m1 { // -1: avoid the overflow trap of MinInt / -1
		return -a
	}
	return a / b
}

func modOf[T integer](a, b T) T {
	if b == 0 {
		return 0
	}
	var m1 T
	m1--
	if m1 < 0 && b == m1 {
		return 0
	}
	return a % b
}

func shlOf[T integer](a, b T) T {
	if b < 0 || uint64(b) >= 64 {
		return 0
	}
	return a << uint64(b)
}

func shrOf[T integer](a, b T) T {
	if b < 0 || uint64(b) >= 64 {
		if a < 0 {
			return ^T(0)
		}
		return 0
	}
	return a >> uint64(b)
}

// intBinary returns the scalar function of an integer-only binary op.
func intBinary[T integer](op uop.Op) func(a, b T) T {
	switch op {
	case uop.IDIV:
		return idivOf[T]
	case uop.MOD:
		return modOf[T]
	case uop.AND:
		return func(a, b T) T { return a & b }
	case uop.OR:
		return func(a, b T) T { return a | b }
	case uop.XOR:
		return func(a, b T) T { return a ^ b }
	case uop.SHL:
		return shlOf[T]
	case uop.SHR:
		return shrOf[T]
	}
	return nil
}

func applyVV[T any](d, a, b []T, f func(a, b T) T) {
	b = b[:len(d)]
	a = a[:len(d)]
	for i := range d {
		d[i] = f(a[i], b[i])
	}
}

func applyVS[T any](d, a []T, b T, f func(a, b T) T) {
	a = a[:len(d)]
	for i := range d {
		d[i] = f(a[i], b)
	}
}

func applySV[T any](d []T, a T, b []T, f func(a, b T) T) {
	b = b[:len(d)]
	for i := range d {
		d[i] = f(a, b[i])
	}
}

func applyV[T any](d, a []T, f func(a T) T) {
	a = a[:len(d)]
	for i := range d {
		d[i] = f(a[i])
	}
}

// floatUnary returns the scalar function of a unary float op.
func floatUnary[T float](op uop.Op) func(a T) T {
	switch op {
	case uop.NEG:
		return func(a T) T { return -a }
	case uop.RECIP:
		return func(a T) T { return 1 / a }
	case uop.SQRT:
		return func(a T) T { return T(math.Sqrt(float64(a))) }
	case uop.EXP2:
		return func(a T) T { return T(math.Exp2(float64(a))) }
	case uop.LOG2:
		return func(a T) T { return T(math.Log2(float64(a))) }
	case uop.SIN:
		return func(a T) T { return T(math.Sin(float64(a))) }
	case uop.TRUNC:
		return func(a T) T { return T(math.Trunc(float64(a))) }
	}
	return nil
}

// floatUnaryV returns the lane loop of a unary float op; float32 EXP2 and
// LOG2 use fast polynomial versions accurate to 1 ulp.
func floatUnaryV[T float](op uop.Op) func(d, a []T) {
	var z T
	if _, ok := any(z).(float32); ok {
		switch op {
		case uop.EXP2:
			return any(exp2f32).(func(d, a []T))
		case uop.LOG2:
			return any(log2f32).(func(d, a []T))
		}
	}
	switch op {
	case uop.NEG:
		return negV[T]
	case uop.RECIP:
		return func(d, a []T) {
			a = a[:len(d)]
			for i := range d {
				d[i] = 1 / a[i]
			}
		}
	case uop.SQRT:
		return func(d, a []T) {
			a = a[:len(d)]
			for i := range d {
				d[i] = T(math.Sqrt(float64(a[i])))
			}
		}
	}
	f := floatUnary[T](op)
	return func(d, a []T) { applyV(d, a, f) }
}

// exp2f32 computes 2^x for float32 lanes: x = n + f with |f| <= 1/2, 2^f by a
// degree-7 polynomial in float64, 2^n added to the exponent bits. Lanes
// outside the normal range (and NaN) take math.Exp2.
func exp2f32(dst, src []float32) {
	src = src[:len(dst)]
	for i, x := range src {
		if !(x > -126) || !(x < 128) {
			dst[i] = float32(math.Exp2(float64(x)))
			continue
		}
		n := int32(x+128.5) - 128
		t := float64(x-float32(n)) * math.Ln2
		p := 1 + t*(1+t*(1.0/2+t*(1.0/6+t*(1.0/24+t*(1.0/120+t*(1.0/720+t*(1.0/5040)))))))
		dst[i] = math.Float32frombits(math.Float32bits(float32(p)) + uint32(n)<<23)
	}
}

// log2f32 computes log2(x) for float32 lanes: x = m*2^e with m in
// [sqrt(1/2), sqrt(2)), log(m) = 2*atanh((m-1)/(m+1)) by its series in
// float64. Zero, negative, subnormal, infinite and NaN lanes take math.Log2.
func log2f32(dst, src []float32) {
	src = src[:len(dst)]
	for i, x := range src {
		b := math.Float32bits(x)
		if b-0x00800000 >= 0x7f800000-0x00800000 {
			dst[i] = float32(math.Log2(float64(x)))
			continue
		}
		e := int32(b>>23) - 127
		mb := b&0x007fffff | 0x3f800000
		if mb > 0x3fb504f3 {
			mb -= 0x00800000
			e++
		}
		m := float64(math.Float32frombits(mb))
		s := (m - 1) / (m + 1)
		s2 := s * s
		p := s * (2 + s2*(2.0/3+s2*(2.0/5+s2*(2.0/7+s2*(2.0/9+s2*(2.0/11+s2*(2.0/13)))))))
		dst[i] = float32(float64(e) + p*math.Log2E)
	}
}

func negV[T number](d, a []T) {
	a = a[:len(d)]
	for i := range d {
		d[i] = -a[i]
	}
}

func boolBinary(op uop.Op) func(a, b bool) bool {
	switch op {
	case uop.ADD, uop.OR, uop.MAX:
		return func(a, b bool) bool { return a || b }
	case uop.MUL, uop.AND:
		return func(a, b bool) bool { return a && b }
	case uop.XOR, uop.CMPNE:
		return func(a, b bool) bool { return a != b }
	case uop.CMPLT:
		return func(a, b bool) bool { return !a && b }
	}
	return nil
}

func whereVVV[T any](d []T, c []bool, a, b []T) {
	c = c[:len(d)]
	a = a[:len(d)]
	b = b[:len(d)]
	for i := range d {
		if c[i] {
			d[i] = a[i]
		} else {
			d[i] = b[i]
		}
	}
}

func whereVSS[T any](d []T, c []bool, a, b T) {
	c = c[:len(d)]
	for i := range d {
		if c[i] {
			d[i] = a
		} else {
			d[i] = b
		}
	}
}

func fill[T any](d []T, v T) {
	for i := range d {
		d[i] = v
	}
}

func castV[S, D number](d []D, s []S) {
	s = s[:len(d)]
	for i := range d {
		d[i] = D(s[i])
	}
}

func floatToIntV[S float, D integer](d []D, s []S) {
	s = s[:len(d)]
	for i := range d {
		d[i] = D(uop.FloatToInt(dtypeOf[D](), float64(s[i])))
	}
}

func toBoolV[S number](d []bool, s []S) {
	s = s[:len(d)]
	for i := range d {
		d[i] = s[i] != 0
	}
}

func fromBoolV[D number](d []D, s []bool) {
	s = s[:len(d)]
	for i := range d {
		if s[i] {
			d[i] = 1
		} else {
			d[i] = 0
		}
	}
}

func dtypeOf[T any]() dtype.DType {
	var z T
	switch any(z).(type) {
	case bool:
		return dtype.Bool
	case int8:
		return dtype.Int8
	case uint8:
		return dtype.Uint8
	case int16:
		return dtype.Int16
	case uint16:
		return dtype.Uint16
	case int32:
		return dtype.Int32
	case uint32:
		return dtype.Uint32
	case int64:
		return dtype.Int64
	case uint64:
		return dtype.Uint64
	case float32:
		return dtype.Float32
	case float64:
		return dtype.Float64
	}
	return dtype.Invalid
}

// Reductions into an accumulator, in place.
func accAddV[T number](acc, x []T) {
	x = x[:len(acc)]
	for i := range acc {
		acc[i] += x[i]
	}
}

func accAddS[T number](acc []T, x T) {
	for i := range acc {
		acc[i] += x
	}
}

func accMulV[T number](acc, x []T) {
	x = x[:len(acc)]
	for i := range acc {
		acc[i] *= x[i]
	}
}

func accMaxV[T number](acc, x []T) {
	x = x[:len(acc)]
	for i := range acc {
		acc[i] = maxOf(acc[i], x[i])
	}
}

// axpy is acc += a*x, the inner loop of a matmul.
func axpy[T number](acc []T, a T, x []T) {
	x = x[:len(acc)]
	for i := range acc {
		acc[i] += a * x[i]
	}
}

func fmaVV[T number](acc, a, b []T) {
	a = a[:len(acc)]
	b = b[:len(acc)]
	for i := range acc {
		acc[i] += a[i] * b[i]
	}
}

func hsum[T number](x []T) T {
	var s T
	for _, v := range x {
		s += v
	}
	return s
}

func hprod[T number](x []T) T {
	s := T(1)
	for _, v := range x {
		s *= v
	}
	return s
}

func hmax[T number](x []T, init T) T {
	s := init
	for _, v := range x {
		s = maxOf(s, v)
	}
	return s
}

func gather[T any](d []T, buf []T, idx []int64) {
	idx = idx[:len(d)]
	for i := range d {
		d[i] = buf[idx[i]]
	}
}

func gatherMasked[T any](d []T, buf []T, idx []int64, valid []bool) {
	idx = idx[:len(d)]
	valid = valid[:len(d)]
	var z T
	for i := range d {
		if valid[i] {
			d[i] = buf[idx[i]]
		} else {
			d[i] = z
		}
	}
}

func strided[T any](d []T, buf []T, base, stride int64) {
	p := base
	for i := range d {
		d[i] = buf[p]
		p += stride
	}
}

func scatter[T any](buf []T, idx []int64, v []T) {
	idx = idx[:len(v)]
	for i := range v {
		buf[idx[i]] = v[i]
	}
}

func scatterStrided[T any](buf []T, base, stride int64, v []T) {
	p := base
	for i := range v {
		buf[p] = v[i]
		p += stride
	}
}

func roundHalfV(dt dtype.DType, d []float32) {
	if dt == dtype.Float16 {
		for i, v := range d {
			d[i] = dtype.Float16Float(dtype.Float16Bits(v))
		}
	} else {
		for i, v := range d {
			d[i] = dtype.BFloat16Float(dtype.BFloat16Bits(v))
		}
	}
}

func halfToFloat(dt dtype.DType) func(uint16) float32 {
	if dt == dtype.Float16 {
		return dtype.Float16Float
	}
	return dtype.BFloat16Float
}

func floatToHalf(dt dtype.DType) func(float32) uint16 {
	if dt == dtype.Float16 {
		return dtype.Float16Bits
	}
	return dtype.BFloat16Bits
}
