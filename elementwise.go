package gograd

import (
	"fmt"
	"math"
	"slices"

	"github.com/gograd/gograd/dtype"
	"github.com/gograd/gograd/uop"
)

// category orders bool < integer < float for scalar promotion.
func category(dt DType) int {
	switch {
	case dt == Bool:
		return 0
	case dt.IsFloat():
		return 2
	}
	return 1
}

// BroadcastShapes returns the NumPy broadcast of shapes, panicking (naming
// op) when they are incompatible.
func BroadcastShapes(op string, shapes ...[]int) []int {
	n := 0
	for _, s := range shapes {
		n = max(n, len(s))
	}
	out := make([]int, n)
	for i := range out {
		out[i] = 1
	}
	for _, s := range shapes {
		for i, d := range s {
			j := n - len(s) + i
			switch {
			case out[j] == d || d == 1:
			case out[j] == 1:
				out[j] = d
			default:
				strs := make([]string, len(shapes))
				for k, sh := range shapes {
					strs[k] = shapeStr(sh)
				}
				panic(fmt.Sprintf("gograd: %s: shapes %v cannot broadcast", op, strs))
			}
		}
	}
	return out
}

// expandTo broadcasts t to shape (which must be a broadcast of t's shape).
func (t *Tensor) expandTo(shape []int) *Tensor {
	s := t.uop.Shape()
	if slices.Equal(s, shape) {
		return t
	}
	ones := make([]int, len(shape)-len(s))
	for i := range ones {
		ones[i] = 1
	}
	u := t.uop.Reshape(append(ones, s...))
	return fromUOp(u.Expand(shape))
}

// toTensor turns x into a tensor to combine with t: a *Tensor as it is, a Go
// number as a constant of the dtype PyTorch would give it next to t.
func (t *Tensor) toTensor(op string, x any) *Tensor {
	switch v := x.(type) {
	case *Tensor:
		if v.Device() != t.Device() {
			panic(fmt.Sprintf("gograd: %s: tensors on different devices %s and %s; move one with To()", op, t.Device(), v.Device()))
		}
		return v
	case nil:
		panic(fmt.Sprintf("gograd: %s: nil operand", op))
	}
	dt := defaultDTypeOf(x)
	if category(dt) <= category(t.DType()) {
		dt = t.DType()
	}
	return fromUOp(uop.Const(t.Device(), dt, x))
}

// resultType is PyTorch's dtype for two tensor operands: a 0-d tensor
// next to one with axes decides only when its category (bool < integer <
// float) is higher, as a Go number does; otherwise the types promote.
func resultType(a, b *Tensor) DType {
	if za, zb := a.Ndim() == 0, b.Ndim() == 0; za != zb {
		d, z := a.DType(), b.DType()
		if za {
			d, z = z, d
		}
		if category(z) > category(d) {
			return z
		}
		return d
	}
	return dtype.Promote(a.DType(), b.DType())
}

// broadcast returns t and x with a common shape and dtype.
func (t *Tensor) broadcast(op string, x any) (*Tensor, *Tensor) {
	y := t.toTensor(op, x)
	dt := resultType(t, y)
	if _, scalar := x.(*Tensor); !scalar {
		dt = y.DType()
	}
	shape := BroadcastShapes(op, t.uop.Shape(), y.uop.Shape())
	return t.Cast(dt).expandTo(shape), y.Cast(dt).expandTo(shape)
}

func (t *Tensor) alu(op uop.Op, src ...*Tensor) *Tensor {
	us := make([]*uop.UOp, len(src))
	for i, s := range src {
		us[i] = s.uop
	}
	return fromUOp(t.uop.Alu(op, us...))
}

// floaty returns t cast to the default float type if it is not a float.
func (t *Tensor) floaty() *Tensor {
	if t.DType().IsFloat() {
		return t
	}
	return t.Cast(dtype.DefaultFloat)
}

func (t *Tensor) scalar(v any) *Tensor {
	return fromUOp(uop.Const(t.Device(), t.DType(), v)).expandTo(t.uop.Shape())
}

// Cast converts the elements to dt.
func (t *Tensor) Cast(dt DType) *Tensor { return fromUOp(t.uop.Cast(dt)) }

// Bitcast reinterprets the bits of each element as dt, of the same size.
func (t *Tensor) Bitcast(dt DType) *Tensor {
	if dt.Size() != t.DType().Size() {
		panic(fmt.Sprintf("gograd: Bitcast: %s and %s differ in size", t.DType(), dt))
	}
	return fromUOp(t.uop.Bitcast(dt))
}

// Add returns t + x.
func (t *Tensor) Add(x any) *Tensor { a, b := t.broadcast("Add", x); return a.alu(uop.ADD, b) }

// Sub returns t - x.
func (t *Tensor) Sub(x any) *Tensor {
	a, b := t.broadcast("Sub", x)
	if a.DType() == Bool {
		panic("gograd: Sub: subtraction of bool tensors; use Xor")
	}
	return a.alu(uop.ADD, b.alu(uop.NEG))
}

// Mul returns t * x.
func (t *Tensor) Mul(x any) *Tensor { a, b := t.broadcast("Mul", x); return a.alu(uop.MUL, b) }

// Div returns t / x, true division: integers divide as floats.
func (t *Tensor) Div(x any) *Tensor {
	a, b := t.broadcast("Div", x)
	a, b = a.floaty(), b.floaty()
	return a.alu(uop.MUL, b.alu(uop.RECIP))
}

// FloorDiv returns floor(t / x), like Python's //.
func (t *Tensor) FloorDiv(x any) *Tensor {
	a, b := t.broadcast("FloorDiv", x)
	if a.DType().IsFloat() {
		// As PyTorch: from the exact remainder, (a - fmod(a, b)) / b is an
		// integer up to rounding; step down where the signs differ, round
		// to the nearest integer, keep the sign of a zero quotient. In
		// float64, so that float32 and the halves round once, at the end.
		// Detached: the gradient is zero, as PyTorch's (the composition's
		// own is NaN where it meets an infinity).
		x, y := a.Detach().Cast(Float64), b.Detach().Cast(Float64)
		mod := x.fmod(y)
		div := x.Sub(mod).Div(y)
		div = mod.Ne(0).And(y.Lt(0).Ne(mod.Lt(0))).Where(div.Sub(1), div)
		fl := div.Floor()
		fl = div.Sub(fl).Gt(0.5).Where(fl.Add(1), fl)
		fl = div.Eq(0).Where(x.Div(y).Mul(0), fl)
		return y.Eq(0).Where(x.Div(y), fl).Cast(a.DType())
	}
	q := a.alu(uop.IDIV, b)
	// IDIV truncates; step down when the signs differ and it was inexact.
	r := a.alu(uop.MOD, b)
	return r.Ne(0).And(r.Lt(0).Ne(b.Lt(0))).Where(q.Sub(1), q)
}

// Mod returns t mod x with the sign of x, like Python's % and torch.remainder.
func (t *Tensor) Mod(x any) *Tensor {
	a, b := t.broadcast("Mod", x)
	var r *Tensor
	if a.DType().IsFloat() {
		r = a.fmod(b)
	} else {
		r = a.alu(uop.MOD, b)
	}
	return r.Ne(0).And(r.Lt(0).Ne(b.Lt(0))).Where(r.Add(b), r)
}

// fmod is C's fmod: the remainder of a/b with the sign of a; NaN where b
// is 0 or a infinite. It computes in float64, where the truncated quotient
// times b is exact while |a/b| < 2^52 or so for float32 and the halves: the
// remainder is then exact, as PyTorch's; beyond, it is off by rounding.
func (a *Tensor) fmod(b *Tensor) *Tensor {
	x, y := a.Cast(Float64), b.Cast(Float64)
	r := x.Sub(x.Div(y).Trunc().Mul(y))
	// a*(1/b) may round across an integer: bring r back into (-|b|, |b|)
	// with the sign of a.
	ay := y.Abs()
	step := x.Lt(0).Where(ay.Neg(), ay)
	r = r.Ne(0).And(r.Lt(0).Ne(x.Lt(0))).Where(r.Add(step), r)
	r = r.Abs().Ge(ay).Where(r.Sub(step), r)
	r = y.isInf().And(x.isInf().Not()).Where(x, r)
	return r.Cast(a.DType())
}

// Pow returns t raised to x, with C's pow rules for special values: a
// negative base with a non-integer exponent gives NaN. Integers raise
// exactly by repeated squaring, wrapping on overflow as PyTorch does.
func (t *Tensor) Pow(x any) *Tensor {
	if _, ok := x.(*Tensor); !ok && t.DType().IsFloat() {
		switch toFloat64(x) {
		case 2:
			return t.Mul(t)
		case 1:
			return t
		case 0.5:
			return t.Sqrt()
		case -1:
			return t.Reciprocal()
		}
	}
	a, b := t.broadcast("Pow", x)
	orig := a.DType()
	if orig == Bool {
		return a.Cast(Float64).powFloat(b.Cast(Float64)).Cast(orig)
	}
	if !orig.IsFloat() {
		return a.powInt(b)
	}
	return a.powFloat(b)
}

func (a *Tensor) powFloat(b *Tensor) *Tensor {
	// A zero base takes exp2(b * -Inf) (0, Inf, or NaN for b = 0, which
	// becomes 1 below) without a gradient: through log2(0) the gradient
	// would be 0*Inf, NaN, where PyTorch's is b*0^(b-1) (0 for b > 1).
	zero := a.Eq(0)
	r := zero.Where(1.0, a.Abs()).Log2().Mul(b).Exp2()
	r = zero.Where(b.Detach().Mul(math.Inf(-1)).Exp2(), r)
	isInt := b.Trunc().Eq(b)
	odd := isInt.And(b.Mul(0.5).Trunc().Ne(b.Mul(0.5))) // false for ±Inf
	// A negative base (-0 too) keeps its sign for odd integer powers.
	signNeg := a.Lt(0).Or(a.Eq(0).And(a.Reciprocal().Lt(0)))
	r = signNeg.And(odd).Where(r.Neg(), r)
	r = a.Lt(0).And(a.Gt(math.Inf(-1))).And(isInt.Not()).Where(math.NaN(), r)
	one := b.Eq(0).Or(a.Eq(1)).Or(a.Eq(-1).And(b.isInf()))
	return one.Where(1, r)
}

// powInt raises integers by squaring over every bit of the exponent; a
// negative exponent gives 0 except for the bases 1 and -1.
func (a *Tensor) powInt(b *Tensor) *Tensor {
	r, base, e := a.scalar(1), a, b
	for range 8 * a.DType().Size() {
		r = e.BitAnd(1).Ne(0).Where(r.Mul(base), r)
		base = base.Mul(base)
		e = e.Shr(1)
	}
	odd := b.BitAnd(1).Ne(0)
	inv := a.Eq(1).Or(a.Eq(-1).And(odd.Not())).Where(a.scalar(1), a.Eq(-1).Where(a, a.scalar(0)))
	return b.Lt(0).Where(inv, r)
}

func toFloat64(x any) float64 {
	switch v := x.(type) {
	case float64:
		return v
	case float32:
		return float64(v)
	case int:
		return float64(v)
	case int64:
		return float64(v)
	case int32:
		return float64(v)
	case bool:
		if v {
			return 1
		}
		return 0
	}
	return math.NaN()
}

// Neg returns -t.
func (t *Tensor) Neg() *Tensor {
	if t.DType() == Bool {
		panic("gograd: Neg of a bool tensor; use Not")
	}
	return t.alu(uop.NEG)
}

// Abs returns |t|.
func (t *Tensor) Abs() *Tensor {
	if t.DType() == Bool || t.DType().IsUnsigned() {
		return t
	}
	if !t.DType().IsFloat() {
		return t.Lt(0).Where(t.Neg(), t)
	}
	// max(t, -t) keeps NaN; adding +0 turns -0 into +0.
	return t.Maximum(t.Neg()).Add(0.0)
}

// Sign returns -1, 0 or 1 (0 for NaN, as PyTorch does).
func (t *Tensor) Sign() *Tensor {
	return t.Gt(0).Cast(t.DType()).Sub(t.Lt(0).Cast(t.DType()))
}

// Exp2 returns 2^t.
func (t *Tensor) Exp2() *Tensor { return t.floaty().alu(uop.EXP2) }

// Exp returns e^t.
func (t *Tensor) Exp() *Tensor { return t.floaty().Mul(math.Log2E).alu(uop.EXP2) }

// Log2 returns log2(t).
func (t *Tensor) Log2() *Tensor { return t.floaty().alu(uop.LOG2) }

// Log returns the natural logarithm.
func (t *Tensor) Log() *Tensor { return t.floaty().alu(uop.LOG2).Mul(math.Ln2) }

// Sqrt returns the square root.
func (t *Tensor) Sqrt() *Tensor { return t.floaty().alu(uop.SQRT) }

// Rsqrt returns 1/sqrt(t).
func (t *Tensor) Rsqrt() *Tensor { return t.Sqrt().alu(uop.RECIP) }

// Reciprocal returns 1/t.
func (t *Tensor) Reciprocal() *Tensor { return t.floaty().alu(uop.RECIP) }

// Sin returns sin(t).
func (t *Tensor) Sin() *Tensor { return t.floaty().alu(uop.SIN) }

// Cos returns cos(t), as 1 - 2 sin²(t/2): halving is exact, so large
// arguments keep their precision (sin(pi/2 - t) loses it in the subtraction).
func (t *Tensor) Cos() *Tensor {
	s := t.floaty().Mul(0.5).alu(uop.SIN)
	return s.Mul(s).Mul(-2).Add(1)
}

// Tan returns tan(t).
func (t *Tensor) Tan() *Tensor { return t.Sin().Div(t.Cos()) }

// Trunc rounds toward zero.
func (t *Tensor) Trunc() *Tensor {
	if !t.DType().IsFloat() {
		return t
	}
	return t.alu(uop.TRUNC)
}

// Floor rounds down.
func (t *Tensor) Floor() *Tensor {
	if !t.DType().IsFloat() {
		return t
	}
	tr := t.Trunc()
	return t.Lt(tr).Where(tr.Sub(1), tr)
}

// Ceil rounds up.
func (t *Tensor) Ceil() *Tensor {
	if !t.DType().IsFloat() {
		return t
	}
	tr := t.Trunc()
	return tr.Lt(t).Where(tr.Add(1), tr)
}

// Round rounds to the nearest integer, ties to even (like torch.round).
func (t *Tensor) Round() *Tensor {
	if !t.DType().IsFloat() {
		return t
	}
	f := t.Add(0.5).Floor()
	tie := f.Sub(t).Eq(0.5)
	odd := f.Mul(0.5).Floor().Mul(2).Ne(f)
	r := tie.And(odd).Where(f.Sub(1), f)
	// Large values are already integers (and t+0.5 could round); Trunc
	// keeps them and gives them Round's zero gradient.
	big := 1 << 23
	if t.DType() == Float64 {
		big = 1 << 52
	}
	return t.Abs().Ge(float64(big)).Where(t.Trunc(), r)
}

// Clip limits t to [lo, hi] (like torch.clamp: hi where lo > hi, NaN where
// t or a bound is NaN). As PyTorch's, its gradient reaches t inside the
// closed interval, lo where t < lo and hi where t > hi (or lo > hi).
func (t *Tensor) Clip(lo, hi any) *Tensor {
	a, l := t.broadcast("Clip", lo)
	r := a.Lt(l).Or(l.IsNaN()).Where(l, a)
	r, h := r.broadcast("Clip", hi)
	return r.Gt(h).Or(h.IsNaN()).Where(h, r)
}

// Maximum returns the elementwise maximum (NaN if either is NaN).
func (t *Tensor) Maximum(x any) *Tensor { a, b := t.broadcast("Maximum", x); return a.alu(uop.MAX, b) }

// Minimum returns the elementwise minimum (NaN if either is NaN).
func (t *Tensor) Minimum(x any) *Tensor {
	a, b := t.broadcast("Minimum", x)
	if a.DType().IsFloat() {
		return a.Neg().alu(uop.MAX, b.Neg()).Neg()
	}
	return a.Lt(b).Where(a, b)
}

// Relu returns t where t > 0 and 0 elsewhere (NaN stays NaN). Its gradient
// at 0 is 0, as PyTorch's, which max(t, 0) would split in half.
func (t *Tensor) Relu() *Tensor { return t.Le(0).Where(0, t) }

// Relu6 returns min(max(t, 0), 6); as PyTorch's, its gradient is 0 at 0 and 6.
func (t *Tensor) Relu6() *Tensor { return t.Ge(6).Where(6, t.Relu()) }

// LeakyRelu returns t where positive and slope*t elsewhere (the gradient at
// 0 is slope, as PyTorch's).
func (t *Tensor) LeakyRelu(slope float64) *Tensor { return t.Gt(0).Where(t, t.Mul(slope)) }

// Elu returns t where positive and alpha*(e^t - 1) elsewhere. The exponential
// sees min(t, 0), so the branch not taken has no Inf to turn the gradient NaN.
func (t *Tensor) Elu(alpha float64) *Tensor {
	pos := t.Gt(0)
	return pos.Where(t, pos.Where(0.0, t).Exp().Sub(1).Mul(alpha))
}

// Sigmoid returns 1/(1+e^-t), as e^-|t| over 1 + e^-|t| for negative t:
// the exponential never overflows, so neither does the gradient.
func (t *Tensor) Sigmoid() *Tensor {
	x := t.floaty()
	neg := x.Lt(0)
	z := neg.Where(x, x.Neg()).Exp()
	r := z.Add(1).Reciprocal()
	return neg.Where(z.Mul(r), r)
}

// Tanh returns the hyperbolic tangent, as 2*sigmoid(2t) - 1.
func (t *Tensor) Tanh() *Tensor { return t.Mul(2).Sigmoid().Mul(2).Sub(1) }

// Silu returns t*sigmoid(t).
func (t *Tensor) Silu() *Tensor { return t.Mul(t.Sigmoid()) }

// Erf returns the error function (Abramowitz and Stegun 7.1.26, |error| < 1.5e-7).
func (t *Tensor) Erf() *Tensor {
	x := t.floaty()
	// |x|, with a gradient at 0 (Abs splits it), capped at 6 where the
	// result is already ±1, so that no Inf meets a zero in the gradient.
	a := x.Lt(0).Where(x.Neg(), x).Minimum(6.0)
	k := a.Mul(0.3275911).Add(1).Reciprocal()
	poly := k.Mul(1.061405429).Add(-1.453152027).Mul(k).Add(1.421413741).Mul(k).Add(-0.284496736).Mul(k).Add(0.254829592).Mul(k)
	y := x.scalar(1).Sub(poly.Mul(a.Mul(a).Neg().Exp()))
	return x.Lt(0).Where(y.Neg(), y)
}

// Gelu returns t*Phi(t) with the exact (erf) form.
func (t *Tensor) Gelu() *Tensor {
	return t.Mul(0.5).Mul(t.Mul(1 / math.Sqrt2).Erf().Add(1))
}

// GeluTanh returns the tanh approximation of Gelu.
func (t *Tensor) GeluTanh() *Tensor {
	inner := t.Add(t.Mul(t).Mul(t).Mul(0.044715)).Mul(math.Sqrt(2 / math.Pi))
	return t.Mul(0.5).Mul(inner.Tanh().Add(1))
}

// Softplus returns log(1+e^(beta*t))/beta, and t where beta*t > threshold
// (where the exponential sees 0, so the branch not taken has no Inf to turn
// the gradient NaN).
func (t *Tensor) Softplus(beta, threshold float64) *Tensor {
	bx := t.Mul(beta)
	over := bx.Gt(threshold)
	return over.Where(t, over.Where(0.0, bx).Exp().Add(1).Log().Div(beta))
}

// Mish returns t*tanh(softplus(t)).
func (t *Tensor) Mish() *Tensor { return t.Mul(t.Softplus(1, 20).Tanh()) }

// Hardsigmoid returns relu6(t+3)/6.
func (t *Tensor) Hardsigmoid() *Tensor { return t.Add(3).Relu6().Div(6) }

// Hardswish returns t*relu6(t+3)/6: t above 3, else t*((c+3)/6) for c = t
// clipped to [-3, 3] (halves do not overflow in t*6, and no Inf meets a zero
// in the gradient). Its gradient is PyTorch's: (2t+3)/6 on [-3, 3].
func (t *Tensor) Hardswish() *Tensor {
	return t.Gt(3).Where(t, t.Mul(t.Clip(-3, 3).Add(3).Div(6)))
}

// Lt returns t < x.
func (t *Tensor) Lt(x any) *Tensor { a, b := t.broadcast("Lt", x); return a.alu(uop.CMPLT, b) }

// Gt returns t > x.
func (t *Tensor) Gt(x any) *Tensor { a, b := t.broadcast("Gt", x); return b.alu(uop.CMPLT, a) }

// Ne returns t != x.
func (t *Tensor) Ne(x any) *Tensor { a, b := t.broadcast("Ne", x); return a.alu(uop.CMPNE, b) }

// Eq returns t == x.
func (t *Tensor) Eq(x any) *Tensor { return t.Ne(x).Not() }

// Le returns t <= x.
func (t *Tensor) Le(x any) *Tensor { a, b := t.broadcast("Le", x); return a.Lt(b).Or(a.Eq(b)) }

// Ge returns t >= x.
func (t *Tensor) Ge(x any) *Tensor { a, b := t.broadcast("Ge", x); return b.Lt(a).Or(a.Eq(b)) }

func (t *Tensor) asBool() *Tensor { return t.Cast(Bool) }

// Not returns the logical not of t (nonzero is true).
func (t *Tensor) Not() *Tensor { b := t.asBool(); return b.alu(uop.CMPNE, b.scalar(true)) }

// And returns the logical and of t and x.
func (t *Tensor) And(x any) *Tensor {
	a, b := t.broadcast("And", x)
	return a.asBool().alu(uop.AND, b.asBool())
}

// Or returns the logical or of t and x.
func (t *Tensor) Or(x any) *Tensor {
	a, b := t.broadcast("Or", x)
	return a.asBool().alu(uop.OR, b.asBool())
}

// Xor returns the logical exclusive or of t and x.
func (t *Tensor) Xor(x any) *Tensor {
	a, b := t.broadcast("Xor", x)
	return a.asBool().alu(uop.XOR, b.asBool())
}

func (t *Tensor) bitwise(op string, u uop.Op, x any) *Tensor {
	a, b := t.broadcast(op, x)
	if a.DType().IsFloat() {
		panic(fmt.Sprintf("gograd: %s: bitwise op on %s", op, a.DType()))
	}
	return a.alu(u, b)
}

// BitAnd returns the bitwise and of integer (or bool) tensors.
func (t *Tensor) BitAnd(x any) *Tensor { return t.bitwise("BitAnd", uop.AND, x) }

// BitOr returns the bitwise or.
func (t *Tensor) BitOr(x any) *Tensor { return t.bitwise("BitOr", uop.OR, x) }

// BitXor returns the bitwise exclusive or.
func (t *Tensor) BitXor(x any) *Tensor { return t.bitwise("BitXor", uop.XOR, x) }

// BitNot returns the bitwise complement (logical not for bool).
func (t *Tensor) BitNot() *Tensor {
	if t.DType() == Bool {
		return t.Not()
	}
	return t.bitwise("BitNot", uop.XOR, -1)
}

// Shl shifts integers left by x bits.
func (t *Tensor) Shl(x any) *Tensor { return t.bitwise("Shl", uop.SHL, x) }

// Shr shifts integers right by x bits (arithmetic for signed types).
func (t *Tensor) Shr(x any) *Tensor { return t.bitwise("Shr", uop.SHR, x) }

// Where returns a where t (the condition) is true, and b elsewhere.
func (t *Tensor) Where(a, b any) *Tensor {
	cond := t.asBool()
	var x, y *Tensor
	switch {
	case isTensor(a):
		x, y = a.(*Tensor).broadcast("Where", b)
	case isTensor(b):
		y, x = b.(*Tensor).broadcast("Where", a)
	default:
		dt := dtype.Promote(defaultDTypeOf(a), defaultDTypeOf(b))
		x = fromUOp(uop.Const(t.Device(), dt, a))
		y = fromUOp(uop.Const(t.Device(), dt, b))
	}
	shape := BroadcastShapes("Where", cond.uop.Shape(), x.uop.Shape(), y.uop.Shape())
	return cond.expandTo(shape).alu(uop.WHERE, x.expandTo(shape), y.expandTo(shape))
}

func isTensor(x any) bool { _, ok := x.(*Tensor); return ok }
