package uop

import "strconv"

// SimplifyGiven simplifies the integer expression idx where the boolean
// valid is true, as the index of a load gated by valid: each clause of
// valid (a conjunction) that bounds an expression e by a constant, e < c or
// c < e, makes e one variable with those bounds wherever idx holds e or a
// constant multiple of all of e's terms; the divisions and remainders the
// tighter bounds decide then fold away, and e is put back. A window of a
// padded convolution's gradient, whose index divides by the padded row
// length, loses most of its divisions: inside the window they are 0.
//
// The result equals idx wherever valid is true. idx is returned when
// nothing simplifies (no fewer divisions and remainders).
func SimplifyGiven(idx, valid *UOp) *UOp {
	type clause struct {
		e      *UOp
		lo, hi int64
	}
	var clauses []*clause
	bound := func(e *UOp, lo, hi int64) {
		if e.Op == CONST || !e.DType.IsInt() {
			return
		}
		for _, c := range clauses {
			if c.e == e {
				c.lo, c.hi = max(c.lo, lo), min(c.hi, hi)
				return
			}
		}
		elo, ehi := e.Bounds()
		clauses = append(clauses, &clause{e, max(elo, lo), min(ehi, hi)})
	}
	var walk func(v *UOp)
	walk = func(v *UOp) {
		switch {
		case v.Op == AND:
			walk(v.Src[0])
			walk(v.Src[1])
		case v.Op == CMPLT && v.Src[1].Op == CONST: // e < c
			bound(v.Src[0], minInt64, ConstInt(v.Src[1])-1)
		case v.Op == CMPLT && v.Src[0].Op == CONST: // c < e
			bound(v.Src[1], ConstInt(v.Src[0])+1, maxInt64)
		}
	}
	walk(valid)
	before := divisions(idx)
	if len(clauses) == 0 || before == 0 {
		return idx
	}
	subs, back := map[*UOp]*UOp{}, map[*UOp]*UOp{}
	var sums [][]term // each clause's terms, for multiples inside sums
	var vars []*UOp
	for i, c := range clauses {
		if c.lo > c.hi { // never valid: any index does
			return idx
		}
		v := Var("\x00valid"+strconv.Itoa(i), c.lo, c.hi)
		subs[c.e], back[v] = v, c.e
		vars = append(vars, v)
		sums = append(sums, mergeTerms(splitSum(c.e, 1, nil)))
	}
	memo := map[*UOp]*UOp{}
	var sub func(u *UOp) *UOp
	sub = func(u *UOp) *UOp {
		if r, ok := subs[u]; ok {
			return r
		}
		if r, ok := memo[u]; ok {
			return r
		}
		n := u
		if len(u.Src) > 0 {
			src := make([]*UOp, len(u.Src))
			changed := false
			for i, s := range u.Src {
				src[i] = sub(s)
				changed = changed || src[i] != s
			}
			if changed {
				n = New(u.Op, u.DType, src, u.Arg)
				if r, ok := subs[n]; ok {
					n = r
				}
			}
		}
		if n.Op == ADD && n.DType.IsInt() {
			ts := mergeTerms(splitSum(n, 1, nil))
			replaced := false
			for i, e := range sums {
				if k, ok := multipleOf(ts, e); ok {
					ts = replaceMultiple(ts, e, k, vars[i])
					replaced = true
				}
			}
			if replaced {
				n = buildSum(n.DType, ts)
			}
		}
		memo[u] = n
		return n
	}
	out := Simplify(sub(idx))
	out = Simplify(Replace(out, back))
	if divisions(out) >= before {
		return idx
	}
	return out
}

const (
	minInt64 = -1 << 63
	maxInt64 = 1<<63 - 1
)

// divisions counts the IDIV and MOD nodes under u.
func divisions(u *UOp) int {
	n := 0
	for _, x := range Toposort(u) {
		if x.Op == IDIV || x.Op == MOD {
			n++
		}
	}
	return n
}

// mergeTerms adds up the coefficients of like terms (the constant too,
// last).
func mergeTerms(ts []term) []term {
	var out []term
	var k int64
	for _, t := range ts {
		if t.base == nil {
			k += t.coef
			continue
		}
		found := false
		for i := range out {
			if out[i].base == t.base {
				out[i].coef += t.coef
				found = true
				break
			}
		}
		if !found {
			out = append(out, t)
		}
	}
	return append(out, term{nil, k})
}

// multipleOf reports whether the sum ts holds k times every variable term
// of e (two or more), for one nonzero k, and returns k.
func multipleOf(ts, e []term) (int64, bool) {
	coef := func(base *UOp) int64 {
		for _, t := range ts {
			if t.base == base {
				return t.coef
			}
		}
		return 0
	}
	var k int64
	n := 0
	for _, t := range e {
		if t.base == nil {
			continue
		}
		n++
		c := coef(t.base)
		if c == 0 || c%t.coef != 0 {
			return 0, false
		}
		if k == 0 {
			k = c / t.coef
		} else if c != k*t.coef {
			return 0, false
		}
	}
	return k, n >= 2
}

// replaceMultiple rewrites the sum ts, holding k times e's variable terms,
// as ts - k*e + k*v.
func replaceMultiple(ts, e []term, k int64, v *UOp) []term {
	var out []term
	for _, t := range ts {
		if t.base == nil {
			continue
		}
		inE := false
		for _, x := range e {
			if x.base == t.base {
				inE = true
			}
		}
		if !inE {
			out = append(out, t)
		}
	}
	var c, ec int64
	for _, t := range ts {
		if t.base == nil {
			c += t.coef
		}
	}
	for _, t := range e {
		if t.base == nil {
			ec += t.coef
		}
	}
	return append(out, term{v, k}, term{nil, c - k*ec})
}
