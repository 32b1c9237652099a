package uop

import (
	"maps"
	"runtime"
	"testing"

	"github.com/gograd/gograd/dtype"
)

func TestHashConsing(t *testing.T) {
	a := Range(0, 8, false)
	b := Range(1, 4, false)
	x := a.Alu(ADD, b.Alu(MUL, Index(3)))
	y := Range(0, 8, false).Alu(ADD, Range(1, 4, false).Alu(MUL, Index(3)))
	if x != y {
		t.Fatal("equal graphs are different nodes")
	}
	if a.Alu(ADD, b) == b.Alu(ADD, a) {
		t.Fatal("operand order is part of a node's identity")
	}
	if KConst(dtype.Float32, 1.0) == KConst(dtype.Float64, 1.0) {
		t.Fatal("dtype is part of a node's identity")
	}
	if Const("GO:0", dtype.Float32, 1) == Const("GO:1", dtype.Float32, 1) {
		t.Fatal("the device is part of a node's identity")
	}
}

func TestInternTableForgetsDeadNodes(t *testing.T) {
	runtime.GC()
	before := Live()
	func() {
		for i := range 1000 {
			_ = Index(int64(1_000_000+i)).Alu(ADD, Index(1))
		}
	}()
	for range 5 {
		runtime.GC()
	}
	// Cleanups run asynchronously after collection.
	for range 100 {
		if Live() <= before+100 {
			return
		}
		runtime.GC()
		runtime.Gosched()
	}
	t.Fatalf("intern table grew from %d to %d nodes and kept dead ones", before, Live())
}

func TestDeviceMismatchPanics(t *testing.T) {
	defer func() {
		if r := recover(); r == nil {
			t.Fatal("mixing devices did not panic")
		}
	}()
	Const("GO:0", dtype.Float32, 1).Alu(ADD, Const("GO:1", dtype.Float32, 2))
}

func TestPatternMatcher(t *testing.T) {
	x := Range(0, 10, false)
	m := NewMatcher(
		R(P(ADD, V("a"), C("c")), func(b *Binds) *UOp { return b.Get("a") }),
		R(P(MUL, V("a"), V("a")), func(b *Binds) *UOp { return Index(99) }),
	)
	// Commutative ops match with their operands either way round.
	if got := m.Rewrite(Index(5).Alu(ADD, x)); got != x {
		t.Errorf("c+x did not match x+c: got %v", got)
	}
	if got := m.Rewrite(x.Alu(ADD, Index(5))); got != x {
		t.Errorf("x+c did not match: got %v", got)
	}
	// A name bound twice must bind the same node.
	if got := m.Rewrite(x.Alu(MUL, x)); got == nil || ConstInt(got) != 99 {
		t.Errorf("x*x did not match a*a: got %v", got)
	}
	if got := m.Rewrite(x.Alu(MUL, Range(1, 3, false))); got != nil {
		t.Errorf("x*y matched a*a: got %v", got)
	}
	// No rule for the op: no rewrite.
	if got := m.Rewrite(x.Alu(MAX, x)); got != nil {
		t.Errorf("unexpected rewrite %v", got)
	}
}

func TestGraphRewriteReachesFixpoint(t *testing.T) {
	x := Range(0, 10, false)
	e := x.Alu(ADD, Index(0)).Alu(MUL, Index(1)).Alu(ADD, Index(0))
	if got := Simplify(e); got != x {
		t.Fatalf("((x+0)*1)+0 simplified to %s", got.Tree())
	}
}

func TestSymbolic(t *testing.T) {
	i := Range(0, 4, false) // 0..3
	j := Range(1, 6, false) // 0..5
	k := Range(2, 8, false) // 0..7
	c := Index
	tests := []struct {
		name string
		in   *UOp
		want *UOp
	}{
		{"const fold", c(3).Alu(MUL, c(4)).Alu(ADD, c(2)), c(14)},
		{"x*0", i.Alu(MUL, c(0)), c(0)},
		{"merge like terms", i.Alu(ADD, i), i.Alu(MUL, c(2))},
		{"consts last", c(3).Alu(ADD, i).Alu(ADD, c(4)), i.Alu(ADD, c(7))},
		{"unravel div", i.Alu(MUL, c(6)).Alu(ADD, j).Alu(IDIV, c(6)), i},
		{"unravel mod", i.Alu(MUL, c(6)).Alu(ADD, j).Alu(MOD, c(6)), j},
		{"small div is zero", j.Alu(IDIV, c(6)), c(0)},
		{"small mod is itself", j.Alu(MOD, c(6)), j},
		{"div of div", k.Alu(IDIV, c(2)).Alu(IDIV, c(2)), k.Alu(IDIV, c(4))},
		{"mod of mod", k.Alu(MOD, c(4)).Alu(MOD, c(2)), k.Alu(MOD, c(2))},
		{"ravel unravel", k.Alu(IDIV, c(4)).Alu(MUL, c(4)).Alu(ADD, k.Alu(MOD, c(4))), k},
		{"three axes", i.Alu(MUL, c(48)).Alu(ADD, j.Alu(MUL, c(8))).Alu(ADD, k).Alu(IDIV, c(8)).Alu(MOD, c(6)), j},
		{"gcd", i.Alu(MUL, c(4)).Alu(ADD, c(2)).Alu(IDIV, c(2)), i.Alu(MUL, c(2)).Alu(ADD, c(1))},
		{"small remainder div", i.Alu(MUL, c(8)).Alu(ADD, j).Alu(IDIV, c(16)), i.Alu(IDIV, c(2))},
		{"small remainder mod", i.Alu(MUL, c(8)).Alu(ADD, j).Alu(MOD, c(16)), i.Alu(MOD, c(2)).Alu(MUL, c(8)).Alu(ADD, j)},
		{"compare decided", i.Alu(CMPLT, c(4)), KConst(dtype.Bool, true)},
		{"compare decided false", i.Alu(ADD, c(4)).Alu(CMPLT, c(4)), KConst(dtype.Bool, false)},
		{"and true", KConst(dtype.Bool, true).Alu(AND, i.Alu(CMPLT, c(2))), i.Alu(CMPLT, c(2))},
		{"where const", KConst(dtype.Bool, false).Alu(WHERE, i, j), j},
	}
	for _, tc := range tests {
		if got := Simplify(tc.in); got != Simplify(tc.want) {
			t.Errorf("%s: %s simplified to\n%s want\n%s", tc.name, tc.in.Tree(), got.Tree(), Simplify(tc.want).Tree())
		}
	}
}

// TestSymbolicKeepsValues checks random index expressions against direct
// evaluation: simplification must never change a value.
func TestSymbolicKeepsValues(t *testing.T) {
	i := Range(0, 5, false)
	j := Range(1, 7, false)
	exprs := []*UOp{
		i.Alu(MUL, Index(7)).Alu(ADD, j).Alu(IDIV, Index(3)),
		i.Alu(MUL, Index(7)).Alu(ADD, j).Alu(MOD, Index(3)),
		i.Alu(ADD, j).Alu(MUL, Index(5)).Alu(MOD, Index(10)).Alu(IDIV, Index(2)),
		i.Alu(MUL, Index(6)).Alu(ADD, Index(4)).Alu(IDIV, Index(4)),
		j.Alu(MOD, Index(4)).Alu(IDIV, Index(2)),
		i.Alu(MUL, Index(35)).Alu(ADD, j.Alu(MUL, Index(5))).Alu(ADD, Index(3)).Alu(IDIV, Index(5)).Alu(MOD, Index(7)),
		i.Alu(MUL, Index(12)).Alu(ADD, j).Alu(IDIV, Index(24)),
		i.Alu(MUL, Index(12)).Alu(ADD, j).Alu(MOD, Index(24)),
		i.Alu(MUL, Index(6)).Alu(ADD, j).Alu(IDIV, Index(12)), // j reaches 6: no split
		i.Alu(MUL, Index(6)).Alu(ADD, j).Alu(MOD, Index(12)),
	}
	for _, e := range exprs {
		s := Simplify(e)
		for a := range int64(5) {
			for b := range int64(7) {
				env := map[*UOp]int64{i: a, j: b}
				if EvalIndex(e, env) != EvalIndex(s, env) {
					t.Fatalf("at i=%d j=%d: %s gives %d but its simplification %s gives %d", a, b, e.Tree(), EvalIndex(e, env), s.Tree(), EvalIndex(s, env))
				}
			}
		}
	}
}

func TestEvalConstSemantics(t *testing.T) {
	tests := []struct {
		op   Op
		dt   dtype.DType
		a, b any
		want any
	}{
		{IDIV, dtype.Int32, int64(-7), int64(2), int64(-3)}, // truncates
		{MOD, dtype.Int32, int64(-7), int64(2), int64(-1)},  // sign of a
		{IDIV, dtype.Int32, int64(7), int64(0), int64(0)},   // no trap
		{ADD, dtype.Int8, int64(127), int64(1), int64(-128)},
		{ADD, dtype.Uint8, int64(255), int64(1), int64(0)},
		{SHR, dtype.Int16, int64(-8), int64(1), int64(-4)},
		{MAX, dtype.Float32, 1.0, 2.0, 2.0},
		{CMPLT, dtype.Uint64, int64(-1), int64(1), false}, // uint64 max is not < 1
		{ADD, dtype.Float16, 2048.0, 1.0, 2048.0},         // rounds to half
		{MUL, dtype.Bool, true, false, false},
	}
	for _, tc := range tests {
		if got := EvalConst(tc.op, tc.dt, tc.dt, tc.a, tc.b); got != tc.want {
			t.Errorf("%v %v(%v, %v) = %v, want %v", tc.dt, tc.op, tc.a, tc.b, got, tc.want)
		}
	}
}

// TestSimplifyGiven: the index of a load gated by a window's bounds, with a
// division that the bounds decide, loses it, and keeps its value wherever
// the gate is true; outside the gate it may differ.
func TestSimplifyGiven(t *testing.T) {
	m, p, q := Range(0, 4, false), Range(1, 4, false), Range(2, 3, false) // 0..3, 0..3, 0..2
	s, r := Range(3, 4, false), Range(4, 3, false)
	c := Index
	e1 := p.Alu(ADD, q.Alu(MUL, c(4))) // up to 11, valid below 10
	e2 := s.Alu(ADD, r.Alu(MUL, c(4)))
	valid := e1.Alu(CMPLT, c(10)).Alu(AND, e2.Alu(CMPLT, c(10)))
	// 100m + 10e1 + e2 reaches 421 in the loops but 399 in the window,
	// written out term by term as a kernel's index is.
	x := m.Alu(MUL, c(100)).Alu(ADD, p.Alu(MUL, c(10))).Alu(ADD, q.Alu(MUL, c(40))).Alu(ADD, s).Alu(ADD, r.Alu(MUL, c(4)))
	idx := Simplify(x.Alu(IDIV, c(400)).Alu(MUL, c(7)).Alu(ADD, x.Alu(MOD, c(400))))
	got := SimplifyGiven(idx, valid)
	if divisions(got) >= divisions(idx) {
		t.Fatalf("%d divisions before, %d after:\n%s", divisions(idx), divisions(got), got.Tree())
	}
	differs := false
	for _, env := range allValues(m, p, q, s, r) {
		want, have := EvalIndex(idx, env), EvalIndex(got, env)
		if EvalIndex(e1, env) < 10 && EvalIndex(e2, env) < 10 {
			if have != want {
				t.Fatalf("at %v: %d, want %d", env, have, want)
			}
		} else if have != want {
			differs = true
		}
	}
	if !differs {
		t.Errorf("no difference outside the window: the bounds were not used")
	}
	if same := SimplifyGiven(idx, KConst(dtype.Bool, true)); same != idx {
		t.Errorf("without clauses the index changed:\n%s", same.Tree())
	}
}

// allValues lists every assignment of the ranges' values.
func allValues(ranges ...*UOp) []map[*UOp]int64 {
	envs := []map[*UOp]int64{{}}
	for _, r := range ranges {
		var next []map[*UOp]int64
		for _, e := range envs {
			for v := range int64(r.Arg.(RangeArg).Size) {
				n := maps.Clone(e)
				n[r] = v
				next = append(next, n)
			}
		}
		envs = next
	}
	return envs
}

// TestHolds: a node knows whether an ASSIGN or a BIND lies under it, so
// that realizing skips the walk that looks for them.
func TestHolds(t *testing.T) {
	c := Const("GO:0", dtype.Int32, 1)
	v := New(DEFINE_VAR, dtype.Int32, nil, VarArg{Name: "holds_test_i", Min: 0, Max: 9})
	bind := New(BIND, dtype.Int32, []*UOp{v, Const("GO:0", dtype.Int32, 3)}, nil)
	sum := c.Alu(ADD, c)
	bound := sum.Alu(ADD, bind)
	for _, tc := range []struct {
		u            *UOp
		assign, bind bool
	}{{c, false, false}, {sum, false, false}, {bind, false, true}, {bound, false, true}} {
		if tc.u.Holds(ASSIGN) != tc.assign || tc.u.Holds(BIND) != tc.bind {
			t.Errorf("%v: Holds(ASSIGN) %v, Holds(BIND) %v, want %v, %v", tc.u.Op, tc.u.Holds(ASSIGN), tc.u.Holds(BIND), tc.assign, tc.bind)
		}
	}
	if !c.Holds(MUL) {
		t.Error("Holds of an untracked op must be true (it may be there)")
	}
}
