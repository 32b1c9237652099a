package uop

import (
	"cmp"
	"fmt"
	"math"
	"math/bits"
	"slices"
	"strconv"
	"strings"

	"github.com/gograd/gograd/dtype"
)

// RangeArg is the argument of a RANGE: which axis of the kernel it loops
// over, how far, and whether it is a reduce loop.
type RangeArg struct {
	Axis   int
	Size   int
	Reduce bool
	Vector bool // the loop a chunked backend (GO) runs as vectors
}

func (r RangeArg) Key() string {
	k := "r"
	if r.Reduce {
		k = "R"
	}
	if r.Vector {
		k += "v"
	}
	return k + itoa(r.Axis) + ":" + itoa(r.Size)
}

// VarArg is the argument of a DEFINE_VAR: a named integer in [Min, Max].
type VarArg struct {
	Name     string
	Min, Max int64
}

func (v VarArg) Key() string { return v.Name + ":" + itoa(int(v.Min)) + ":" + itoa(int(v.Max)) }

// AccArg is the argument of a DEFINE_ACC: the reduce op, its identity and a
// number that keeps two accumulators apart.
type AccArg struct {
	Op       Op
	Identity any
	N        int
}

func (a AccArg) Key() string {
	var kb strings.Builder
	writeArgKey(&kb, a.Identity)
	return itoa(int(a.Op)) + ":" + itoa(a.N) + ":" + kb.String()
}

// LocalArg is the argument of a DEFINE_LOCAL: a number that keeps two
// arrays apart and the array's length in elements.
type LocalArg struct {
	N, Size int
}

func (a LocalArg) Key() string { return itoa(a.N) + ":" + itoa(a.Size) }

func itoa(i int) string { return strconv.Itoa(i) }

// Range returns a loop variable for axis of size size.
func Range(axis, size int, reduce bool) *UOp {
	return New(RANGE, dtype.Index, nil, RangeArg{Axis: axis, Size: size, Reduce: reduce})
}

// Var returns a symbolic integer named name in [min, max].
func Var(name string, min, max int64) *UOp {
	return New(DEFINE_VAR, dtype.Index, nil, VarArg{name, min, max})
}

// VarOn returns a tensor-level (0-d) symbolic integer on device dev.
func VarOn(dev, name string, min, max int64) *UOp {
	return newWithDevice(DEFINE_VAR, dtype.Index, nil, VarArg{name, min, max}, dev)
}

// satAdd and satMul add and multiply without overflowing int64.
func satAdd(a, b int64) int64 {
	s := a + b
	if (a > 0 && b > 0 && s < 0) || (a < 0 && b < 0 && s >= 0) {
		if a > 0 {
			return math.MaxInt64
		}
		return math.MinInt64
	}
	return s
}

func satMul(a, b int64) int64 {
	if a == 0 || b == 0 {
		return 0
	}
	hi, lo := bits.Mul64(uint64(abs64(a)), uint64(abs64(b)))
	if hi != 0 || lo > math.MaxInt64 {
		if (a < 0) != (b < 0) {
			return math.MinInt64
		}
		return math.MaxInt64
	}
	return a * b
}

func abs64(a int64) int64 {
	if a < 0 {
		return -a
	}
	return a
}

func typeBounds(dt dtype.DType) (int64, int64) {
	switch {
	case dt == dtype.Bool:
		return 0, 1
	case dt == dtype.Uint64 || dt == dtype.Int64:
		if dt == dtype.Uint64 {
			return 0, math.MaxInt64
		}
		return math.MinInt64, math.MaxInt64
	}
	return int64(dt.Min()), int64(dt.Max())
}

// bounds computes the range of an integer or bool kernel-level node. A
// range that leaves the dtype's means the value may wrap around, so it
// widens to the whole dtype.
func bounds(u *UOp) (int64, int64) {
	tlo, thi := typeBounds(u.DType)
	lo, hi := opBounds(u, tlo, thi)
	if lo < tlo || hi > thi || lo > hi {
		return tlo, thi
	}
	return lo, hi
}

func satNeg(a int64) int64 {
	if a == math.MinInt64 {
		return math.MaxInt64
	}
	return -a
}

func opBounds(u *UOp, tlo, thi int64) (int64, int64) {
	s := u.Src
	switch u.Op {
	case CONST:
		v := ConstInt(u)
		return v, v
	case RANGE:
		return 0, int64(u.Arg.(RangeArg).Size - 1)
	case DEFINE_VAR:
		a := u.Arg.(VarArg)
		return a.Min, a.Max
	case ADD:
		if u.DType == dtype.Bool {
			break
		}
		return satAdd(s[0].vmin, s[1].vmin), satAdd(s[0].vmax, s[1].vmax)
	case NEG:
		if u.DType == dtype.Bool {
			break
		}
		if s[0].vmin == math.MinInt64 { // -MinInt64 wraps to itself
			return tlo, thi
		}
		return satNeg(s[0].vmax), satNeg(s[0].vmin)
	case MUL:
		if u.DType == dtype.Bool {
			break
		}
		c := []int64{satMul(s[0].vmin, s[1].vmin), satMul(s[0].vmin, s[1].vmax), satMul(s[0].vmax, s[1].vmin), satMul(s[0].vmax, s[1].vmax)}
		return slices.Min(c), slices.Max(c)
	case IDIV:
		if s[1].Op == CONST && s[1].vmin > 0 {
			c := s[1].vmin
			return s[0].vmin / c, s[0].vmax / c
		}
	case MOD:
		if s[1].Op == CONST && s[1].vmin > 0 {
			c := s[1].vmin
			if s[0].vmin >= 0 {
				if s[0].vmax < c {
					return s[0].vmin, s[0].vmax
				}
				return 0, c - 1
			}
			return -(c - 1), c - 1
		}
	case MAX:
		return max(s[0].vmin, s[1].vmin), max(s[0].vmax, s[1].vmax)
	case CMPLT:
		if s[0].DType.IsFloat() {
			break
		}
		if s[0].vmax < s[1].vmin {
			return 1, 1
		}
		if s[0].vmin >= s[1].vmax {
			return 0, 0
		}
		return 0, 1
	case CMPNE:
		if s[0].DType.IsFloat() {
			break
		}
		if s[0].vmax < s[1].vmin || s[0].vmin > s[1].vmax {
			return 1, 1
		}
		if s[0].vmin == s[0].vmax && s[1].vmin == s[1].vmax && s[0].vmin == s[1].vmin {
			return 0, 0
		}
		return 0, 1
	case AND:
		if u.DType == dtype.Bool {
			return s[0].vmin & s[1].vmin, s[0].vmax & s[1].vmax
		}
		if s[0].vmin >= 0 && s[1].vmin >= 0 {
			return 0, min(s[0].vmax, s[1].vmax)
		}
	case OR:
		if u.DType == dtype.Bool {
			return s[0].vmin | s[1].vmin, s[0].vmax | s[1].vmax
		}
	case WHERE:
		return min(s[1].vmin, s[2].vmin), max(s[1].vmax, s[2].vmax)
	case CAST:
		if !s[0].DType.IsFloat() && s[0].vmin >= tlo && s[0].vmax <= thi {
			return s[0].vmin, s[0].vmax
		}
	}
	return tlo, thi
}

// IsConst reports whether u is a CONST.
func (u *UOp) IsConst() bool { return u.Op == CONST }

func isIndexType(u *UOp) bool { return u.DType.IsInt() }

var intPat = []dtype.DType{dtype.Int8, dtype.Uint8, dtype.Int16, dtype.Uint16, dtype.Int32, dtype.Uint32, dtype.Int64, dtype.Uint64}

// Symbolic is the simplifier for kernel-level graphs: constant folding,
// algebraic identities, and the div/mod folding that keeps view indices cheap.
var Symbolic = NewMatcher(symbolicRules()...)

func symbolicRules() []Rule {
	x, y := V("x"), V("y")
	c1, c2 := C("c1"), C("c2")
	isBool := func(u *UOp) bool { return u.DType == dtype.Bool }
	return []Rule{
		// Constant folding.
		R(&Pat{Cond: foldable}, func(b *Binds) *UOp {
			u := b.U
			args := make([]any, len(u.Src))
			for i, s := range u.Src {
				args[i] = s.Arg
			}
			sdt := u.Src[0].DType
			if u.Op == WHERE {
				sdt = u.Src[1].DType
			}
			return New(CONST, u.DType, nil, EvalConst(u.Op, u.DType, sdt, args...))
		}),
		// Integer and bool nodes whose bounds pin them to one value.
		R(&Pat{DType: append(slices.Clone(intPat), dtype.Bool), Cond: func(u *UOp) bool {
			return u.vmin == u.vmax && u.Op != CONST && u.Op != LOAD && u.Op != DEFINE_ACC && u.Op != ASSIGN && u.Op != STORE && u.Device == ""
		}}, func(b *Binds) *UOp { return New(CONST, b.U.DType, nil, ConstArg(b.U.DType, b.U.vmin)) }),
		// Identities.
		// x+0 is x for integers; for floats only x+(-0.0) is (-0.0 + 0.0 is +0.0).
		R(P(ADD, x, CV(0).N("z")), func(b *Binds) *UOp {
			if z := b.Get("z"); z.DType.IsFloat() && !math.Signbit(ConstFloat(z)) {
				return nil
			}
			return b.Get("x")
		}),
		R(P(MUL, x, CV(1)), func(b *Binds) *UOp { return b.Get("x") }),
		R(P(MUL, x, CV(0)).If(isIndexType), func(b *Binds) *UOp { return KConst(b.U.DType, 0) }),
		R(P(IDIV, x, CV(1)), func(b *Binds) *UOp { return b.Get("x") }),
		R(P(MOD, x, CV(1)), func(b *Binds) *UOp { return KConst(b.U.DType, 0) }),
		R(P(MAX, x, x), func(b *Binds) *UOp { return b.Get("x") }),
		R(P(WHERE, V("c"), x, x), func(b *Binds) *UOp { return b.Get("x") }),
		R(P(WHERE, C("c"), x, y), func(b *Binds) *UOp {
			if ConstInt(b.Get("c")) != 0 {
				return b.Get("x")
			}
			return b.Get("y")
		}),
		R(P(AND, x, C("c")).If(isBool), func(b *Binds) *UOp {
			if ConstInt(b.Get("c")) != 0 {
				return b.Get("x")
			}
			return b.Get("c")
		}),
		R(P(OR, x, C("c")).If(isBool), func(b *Binds) *UOp {
			if ConstInt(b.Get("c")) == 0 {
				return b.Get("x")
			}
			return b.Get("c")
		}),
		R(P(AND, x, x), func(b *Binds) *UOp { return b.Get("x") }),
		R(P(CAST, x).If(func(u *UOp) bool { return u.DType == u.Src[0].DType }), func(b *Binds) *UOp { return b.Get("x") }),
		// Index arithmetic: distribute constants, keep sums canonical, fold div and mod.
		R(P(MUL, P(ADD, x, y), c1).If(isIndexType), func(b *Binds) *UOp {
			c := b.Get("c1")
			return b.Get("x").Alu(MUL, c).Alu(ADD, b.Get("y").Alu(MUL, c))
		}),
		R(P(MUL, P(MUL, x, c1), c2), func(b *Binds) *UOp {
			return b.Get("x").Alu(MUL, foldConst(MUL, b.Get("c1"), b.Get("c2")))
		}),
		R(&Pat{Ops: []Op{ADD}, DType: intPat}, func(b *Binds) *UOp { return canonicalSum(b.U) }),
		R(P(IDIV, x, c1).If(isIndexType), func(b *Binds) *UOp { return foldDivMod(b.Get("x"), ConstInt(b.Get("c1")), false) }),
		R(P(MOD, x, c1).If(isIndexType), func(b *Binds) *UOp { return foldDivMod(b.Get("x"), ConstInt(b.Get("c1")), true) }),
		R(P(IDIV, P(IDIV, x, c1), c2), func(b *Binds) *UOp {
			if b.Get("x").vmin < 0 || ConstInt(b.Get("c1")) <= 0 || ConstInt(b.Get("c2")) <= 0 {
				return nil
			}
			return b.Get("x").Alu(IDIV, foldConst(MUL, b.Get("c1"), b.Get("c2")))
		}),
		R(P(MOD, P(MOD, x, c1), c2), func(b *Binds) *UOp {
			a, c := ConstInt(b.Get("c1")), ConstInt(b.Get("c2"))
			if b.Get("x").vmin < 0 || c <= 0 || a%c != 0 {
				return nil
			}
			return b.Get("x").Alu(MOD, b.Get("c2"))
		}),
		// (x%c)//d is (x//d)%(c/d) when d divides c.
		R(P(IDIV, P(MOD, x, c1), c2), func(b *Binds) *UOp {
			c, d := ConstInt(b.Get("c1")), ConstInt(b.Get("c2"))
			if b.Get("x").vmin < 0 || d <= 0 || c%d != 0 {
				return nil
			}
			xx := b.Get("x")
			return xx.Alu(IDIV, b.Get("c2")).Alu(MOD, KConst(xx.DType, c/d))
		}),
		// (x//c)*c + x%c is x.
		R(P(ADD, P(MUL, P(IDIV, x, c1), c1), P(MOD, x, c1)), func(b *Binds) *UOp {
			if b.Get("x").vmin < 0 {
				return nil
			}
			return b.Get("x")
		}),
	}
}

func foldConst(op Op, a, b *UOp) *UOp {
	return New(CONST, a.DType, nil, EvalConst(op, a.DType, a.DType, a.Arg, b.Arg))
}

func foldable(u *UOp) bool {
	if !(u.Op.IsALU() || u.Op == CAST) || u.Op == MULACC || len(u.Src) == 0 || u.Device != "" {
		return false
	}
	for _, s := range u.Src {
		if s.Op != CONST {
			return false
		}
	}
	return true
}

// term is coef*base (base nil for a constant).
type term struct {
	base *UOp
	coef int64
}

// splitSum flattens an integer sum into terms with constant coefficients.
func splitSum(u *UOp, coef int64, out []term) []term {
	switch {
	case u.Op == ADD:
		out = splitSum(u.Src[0], coef, out)
		return splitSum(u.Src[1], coef, out)
	case u.Op == CONST:
		return append(out, term{nil, coef * ConstInt(u)})
	case u.Op == MUL && u.Src[1].Op == CONST:
		return append(out, term{u.Src[0], coef * ConstInt(u.Src[1])})
	case u.Op == MUL && u.Src[0].Op == CONST:
		return append(out, term{u.Src[1], coef * ConstInt(u.Src[0])})
	}
	return append(out, term{u, coef})
}

// buildSum rebuilds terms (in order, constant last) into a sum of dtype dt.
func buildSum(dt dtype.DType, ts []term) *UOp {
	var acc *UOp
	var k int64
	for _, t := range ts {
		if t.base == nil {
			k += t.coef
			continue
		}
		if t.coef == 0 {
			continue
		}
		v := t.base
		if t.coef != 1 {
			v = v.Alu(MUL, KConst(dt, t.coef))
		}
		if acc == nil {
			acc = v
		} else {
			acc = acc.Alu(ADD, v)
		}
	}
	if acc == nil {
		return KConst(dt, k)
	}
	if k != 0 {
		acc = acc.Alu(ADD, KConst(dt, k))
	}
	return acc
}

// canonicalSum merges like terms of an integer sum, orders them by node id
// with the constant last, and returns nil when u already has that form.
func canonicalSum(u *UOp) *UOp {
	merged := mergeTerms(splitSum(u, 1, nil))
	vars := merged[:len(merged)-1] // the constant stays last
	slices.SortStableFunc(vars, func(a, b term) int { return structCmp(a.base, b.base) })
	out := buildSum(u.DType, merged)
	if out == u {
		return nil
	}
	return out
}

// structCmp orders two nodes by their structure (op, type, argument, then
// sources), not by when they were made: the same expression comes out in
// the same order in every process, so rendered kernels (and the disk caches
// keyed by their source) do not depend on which nodes happen to be alive.
func structCmp(a, b *UOp) int {
	if a == b {
		return 0
	}
	if c := cmp.Compare(a.Op, b.Op); c != 0 {
		return c
	}
	if c := cmp.Compare(a.DType, b.DType); c != 0 {
		return c
	}
	if c := cmp.Compare(len(a.Src), len(b.Src)); c != 0 {
		return c
	}
	if c := argCmp(a.Arg, b.Arg); c != 0 {
		return c
	}
	for i := range a.Src {
		if c := structCmp(a.Src[i], b.Src[i]); c != 0 {
			return c
		}
	}
	return cmp.Compare(a.id, b.id)
}

func argCmp(a, b any) int {
	switch x := a.(type) {
	case nil:
		if b == nil {
			return 0
		}
	case RangeArg:
		if y, ok := b.(RangeArg); ok {
			return cmp.Or(cmp.Compare(x.Axis, y.Axis), cmp.Compare(x.Size, y.Size))
		}
	case int64:
		if y, ok := b.(int64); ok {
			return cmp.Compare(x, y)
		}
	}
	return strings.Compare(fmt.Sprint(a), fmt.Sprint(b))
}

// foldDivMod simplifies x//c or x%c for a positive constant c and a
// non-negative x by splitting x into terms whose coefficients c divides.
func foldDivMod(x *UOp, c int64, mod bool) *UOp {
	if c <= 0 || x.vmin < 0 {
		return nil
	}
	if x.vmax < c {
		if mod {
			return x
		}
		return KConst(x.DType, 0)
	}
	if x.vmin/c == x.vmax/c && !mod {
		return KConst(x.DType, x.vmin/c)
	}
	ts := splitSum(x, 1, nil)
	var quo, rem []term
	changed := false
	for _, t := range ts {
		if t.coef < 0 {
			return nil
		}
		q, r := t.coef/c, t.coef%c
		if q != 0 {
			changed = true
			quo = append(quo, term{t.base, q})
		}
		if r != 0 {
			rem = append(rem, term{t.base, r})
		}
	}
	if changed {
		r := buildSum(x.DType, rem)
		if r.vmin < 0 {
			return nil
		}
		cu := KConst(x.DType, c)
		if mod {
			return r.Alu(MOD, cu)
		}
		return buildSum(x.DType, append(quo, term{r.Alu(IDIV, cu), 1}))
	}
	// Split off a remainder too small to carry: with g dividing c and the
	// coefficients of every other term, and the terms g does not divide
	// summing to r in [0, g), x//c = (x-r)/g // (c/g) and
	// x%c = ((x-r)/g % (c/g))*g + r (an image's row inside a batch).
	for _, t := range ts {
		g := gcd(c, t.coef)
		if t.base == nil || g <= 1 || g == c {
			continue
		}
		var big, small []term
		for _, u := range ts {
			if u.coef%g == 0 {
				big = append(big, term{u.base, u.coef / g})
			} else {
				small = append(small, u)
			}
		}
		r := buildSum(x.DType, small)
		if len(small) == 0 || r.vmin < 0 || r.vmax >= g {
			continue
		}
		q, cg := buildSum(x.DType, big), KConst(x.DType, c/g)
		if mod {
			return q.Alu(MOD, cg).Alu(MUL, KConst(x.DType, g)).Alu(ADD, r)
		}
		return q.Alu(IDIV, cg)
	}
	// Divide through by a common factor of every coefficient and c.
	g := c
	for _, t := range ts {
		g = gcd(g, t.coef)
	}
	if g > 1 {
		div := make([]term, len(ts))
		for i, t := range ts {
			div[i] = term{t.base, t.coef / g}
		}
		inner := buildSum(x.DType, div)
		if mod {
			return inner.Alu(MOD, KConst(x.DType, c/g)).Alu(MUL, KConst(x.DType, g))
		}
		return inner.Alu(IDIV, KConst(x.DType, c/g))
	}
	return nil
}

func gcd(a, b int64) int64 {
	a, b = abs64(a), abs64(b)
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// Simplify runs the symbolic simplifier over the graph under u.
func Simplify(u *UOp) *UOp { return GraphRewrite(u, Symbolic) }

// AffineIn reports whether the integer expression u is affine in the
// variable v (c*v plus terms without v) and returns c.
func AffineIn(u, v *UOp) (int64, bool) {
	memo := map[*UOp]bool{}
	var has func(x *UOp) bool
	has = func(x *UOp) bool {
		if r, ok := memo[x]; ok {
			return r
		}
		r := x == v
		for _, s := range x.Src {
			r = r || has(s)
		}
		memo[x] = r
		return r
	}
	var coef func(x *UOp) (int64, bool)
	coef = func(x *UOp) (int64, bool) {
		switch {
		case x == v:
			return 1, true
		case !has(x):
			return 0, true
		case x.Op == ADD:
			a, ok1 := coef(x.Src[0])
			b, ok2 := coef(x.Src[1])
			return a + b, ok1 && ok2
		case x.Op == MUL && x.Src[1].Op == CONST:
			a, ok := coef(x.Src[0])
			return a * ConstInt(x.Src[1]), ok
		case x.Op == MUL && x.Src[0].Op == CONST:
			a, ok := coef(x.Src[1])
			return a * ConstInt(x.Src[0]), ok
		case x.Op == NEG:
			a, ok := coef(x.Src[0])
			return -a, ok
		}
		return 0, false
	}
	return coef(u)
}
