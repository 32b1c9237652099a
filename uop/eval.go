package uop

import (
	"math"

	"github.com/gograd/gograd/dtype"
)

// ConstFloat returns the value of a CONST node as a float64.
func ConstFloat(u *UOp) float64 {
	switch v := u.Arg.(type) {
	case float64:
		return v
	case int64:
		if u.DType == dtype.Uint64 {
			return float64(uint64(v))
		}
		return float64(v)
	case bool:
		if v {
			return 1
		}
		return 0
	}
	panic("uop: not a constant: " + u.String())
}

// ConstInt returns the value of an integer or bool CONST node.
func ConstInt(u *UOp) int64 {
	switch v := u.Arg.(type) {
	case int64:
		return v
	case bool:
		if v {
			return 1
		}
		return 0
	case float64:
		return int64(v)
	}
	panic("uop: not a constant: " + u.String())
}

// EvalConst computes op over constant arguments (normalised as by ConstArg)
// for the result dtype dt and source dtype sdt, with the same semantics the
// backends use. It is the one scalar evaluator constant folding relies on.
func EvalConst(op Op, dt, sdt dtype.DType, args ...any) any {
	switch {
	case op == WHERE:
		if args[0].(bool) {
			return args[1]
		}
		return args[2]
	case op == CAST:
		return castConst(dt, sdt, args[0])
	case sdt == dtype.Bool:
		return evalBool(op, args)
	case sdt.IsFloat():
		return evalFloat(op, sdt, args)
	default:
		return evalInt(op, sdt, args)
	}
}

func castConst(dt, sdt dtype.DType, v any) any {
	switch x := v.(type) {
	case bool:
		return ConstArg(dt, x)
	case float64:
		if dt.IsInt() {
			return ConstArg(dt, FloatToInt(dt, x))
		}
		return ConstArg(dt, x)
	case int64:
		if sdt == dtype.Uint64 {
			return ConstArg(dt, uint64(x))
		}
		return ConstArg(dt, x)
	}
	panic("uop: bad constant")
}

// FloatToInt converts a float to integer type dt the way x86 hardware does:
// truncation toward zero, through int64 for types narrower than 64 bits
// (wrapping), and the integer indefinite value for NaN or out of range.
func FloatToInt(dt dtype.DType, f float64) int64 {
	if dt == dtype.Uint64 {
		if f >= 0x1p63 && f < 0x1p64 {
			return int64(uint64(f))
		}
	}
	if math.IsNaN(f) || f >= 0x1p63 || f < -0x1p63 {
		return math.MinInt64
	}
	return int64(f)
}

func evalBool(op Op, args []any) any {
	a := args[0].(bool)
	if op == NEG {
		return !a
	}
	b := args[1].(bool)
	switch op {
	case ADD, OR, MAX:
		return a || b
	case MUL, AND:
		return a && b
	case XOR, CMPNE:
		return a != b
	case CMPLT:
		return !a && b
	}
	panic("uop: " + op.String() + " on bool")
}

func evalFloat(op Op, dt dtype.DType, args []any) any {
	a := args[0].(float64)
	var b float64
	if len(args) > 1 {
		b = args[1].(float64)
	}
	switch op {
	case CMPLT:
		return a < b
	case CMPNE:
		return a != b
	}
	var r float64
	if dt == dtype.Float64 {
		r = FloatOp64(op, a, b)
	} else {
		r = float64(dtype.RoundHalf(dt, FloatOp32(op, float32(a), float32(b))))
	}
	return r
}

// FloatOp64 is one float64 ALU op (unary ops ignore b).
func FloatOp64(op Op, a, b float64) float64 {
	switch op {
	case EXP2:
		return math.Exp2(a)
	case LOG2:
		return math.Log2(a)
	case SIN:
		return math.Sin(a)
	case SQRT:
		return math.Sqrt(a)
	case RECIP:
		return 1 / a
	case NEG:
		return -a
	case TRUNC:
		return math.Trunc(a)
	case ADD:
		return a + b
	case MUL:
		return a * b
	case MAX:
		if a > b || a != a {
			return a
		}
		return b
	}
	panic("uop: " + op.String() + " on float")
}

// FloatOp32 is one float32 ALU op (unary ops ignore b).
func FloatOp32(op Op, a, b float32) float32 {
	switch op {
	case ADD:
		return a + b
	case MUL:
		return a * b
	case NEG:
		return -a
	case RECIP:
		return 1 / a
	case MAX:
		if a > b || a != a {
			return a
		}
		return b
	}
	return float32(FloatOp64(op, float64(a), float64(b)))
}

func evalInt(op Op, dt dtype.DType, args []any) any {
	a := args[0].(int64)
	var b int64
	if len(args) > 1 {
		b = args[1].(int64)
	}
	if op == CMPLT {
		if dt == dtype.Uint64 {
			return uint64(a) < uint64(b)
		}
		return a < b
	}
	if op == CMPNE {
		return a != b
	}
	return wrapInt(dt, IntOp(op, dt, a, b))
}

// IntOp is one integer ALU op on values held in int64 (uint64 as its bits);
// the caller wraps the result to dt. Division by zero gives 0.
func IntOp(op Op, dt dtype.DType, a, b int64) int64 {
	u := dt == dtype.Uint64
	switch op {
	case NEG:
		return -a
	case ADD:
		return a + b
	case MUL:
		return a * b
	case IDIV:
		if b == 0 {
			return 0
		}
		if u {
			return int64(uint64(a) / uint64(b))
		}
		if b == -1 {
			return -a
		}
		return a / b
	case MOD:
		if b == 0 {
			return 0
		}
		if u {
			return int64(uint64(a) % uint64(b))
		}
		if b == -1 {
			return 0
		}
		return a % b
	case MAX:
		if u {
			if uint64(a) > uint64(b) {
				return a
			}
			return b
		}
		return max(a, b)
	case AND:
		return a & b
	case OR:
		return a | b
	case XOR:
		return a ^ b
	case SHL:
		if b < 0 || b >= 64 {
			return 0
		}
		return a << uint(b)
	case SHR:
		if b < 0 || b >= 64 {
			b = 63
		}
		if u || dt.IsUnsigned() {
			return int64(uint64(a) >> uint(b))
		}
		return a >> uint(b)
	case TRUNC:
		return a
	}
	panic("uop: " + op.String() + " on integers")
}

// EvalIndex evaluates an integer or bool kernel-level expression, with the
// values of RANGE and DEFINE_VAR nodes given by env. It is a reference for
// tests, not a fast path.
func EvalIndex(u *UOp, env map[*UOp]int64) int64 {
	switch u.Op {
	case CONST:
		return ConstInt(u)
	case RANGE, DEFINE_VAR:
		v, ok := env[u]
		if !ok {
			panic("uop: no value for " + u.String())
		}
		return v
	case WHERE:
		if EvalIndex(u.Src[0], env) != 0 {
			return EvalIndex(u.Src[1], env)
		}
		return EvalIndex(u.Src[2], env)
	case CAST:
		return EvalIndex(u.Src[0], env)
	}
	args := make([]any, len(u.Src))
	for i, s := range u.Src {
		if s.DType == dtype.Bool {
			args[i] = EvalIndex(s, env) != 0
		} else {
			args[i] = EvalIndex(s, env)
		}
	}
	r := EvalConst(u.Op, u.DType, u.Src[0].DType, args...)
	switch v := r.(type) {
	case bool:
		if v {
			return 1
		}
		return 0
	case int64:
		return v
	}
	panic("uop: not an index expression: " + u.String())
}
