package uop

import (
	"slices"

	"github.com/gograd/gograd/dtype"
)

// Pat is a pattern over UOps. The zero Pat matches anything.
type Pat struct {
	Ops   []Op          // any of these ops; nil matches any op
	DType []dtype.DType // any of these dtypes; nil matches any
	Src   []*Pat        // the sources, in order (both orders for commutative binary ops); nil matches any sources
	Name  string        // bind the matched node under this name
	Arg   any           // the required argument; nil matches any
	Cond  func(*UOp) bool
}

// P matches op with the given source patterns.
func P(op Op, src ...*Pat) *Pat { return &Pat{Ops: []Op{op}, Src: src} }

// POps matches any of ops, with the given source patterns.
func POps(ops []Op, src ...*Pat) *Pat { return &Pat{Ops: ops, Src: src} }

// V matches any node and binds it to name.
func V(name string) *Pat { return &Pat{Name: name} }

// C matches a CONST and binds it to name.
func C(name string) *Pat { return &Pat{Ops: []Op{CONST}, Name: name} }

// CV matches a CONST whose value equals v (compared as a number).
func CV(v float64) *Pat {
	return &Pat{Ops: []Op{CONST}, Cond: func(u *UOp) bool { return ConstFloat(u) == v }}
}

// N binds the node matched by p to name.
func (p *Pat) N(name string) *Pat { q := *p; q.Name = name; return &q }

// If adds a condition on the matched node.
func (p *Pat) If(cond func(*UOp) bool) *Pat { q := *p; q.Cond = cond; return &q }

// Binds holds the matched node U and the nodes the match bound by name.
type Binds struct {
	U     *UOp
	names []string
	nodes []*UOp
}

// Get returns the node bound to name.
func (b *Binds) Get(name string) *UOp {
	for i := len(b.names) - 1; i >= 0; i-- {
		if b.names[i] == name {
			return b.nodes[i]
		}
	}
	panic("uop: pattern bound no " + name)
}

func (b *Binds) push(name string, u *UOp) {
	b.names = append(b.names, name)
	b.nodes = append(b.nodes, u)
}

func (b *Binds) truncate(n int) { b.names, b.nodes = b.names[:n], b.nodes[:n] }

func (p *Pat) match(u *UOp, b *Binds) bool {
	if p.Ops != nil && !slices.Contains(p.Ops, u.Op) {
		return false
	}
	if p.DType != nil && !slices.Contains(p.DType, u.DType) {
		return false
	}
	if p.Arg != nil && !argEqual(p.Arg, u.Arg) {
		return false
	}
	if p.Cond != nil && !p.Cond(u) {
		return false
	}
	mark := len(b.names)
	if p.Name != "" {
		// A name bound twice must bind the same node.
		for i, n := range b.names {
			if n == p.Name && b.nodes[i] != u {
				return false
			}
		}
		b.push(p.Name, u)
	}
	if p.Src == nil {
		return true
	}
	if len(p.Src) != len(u.Src) {
		b.truncate(mark)
		return false
	}
	if p.matchSrc(u.Src, b) {
		return true
	}
	if len(u.Src) == 2 && u.Op.IsCommutative() {
		if p.matchSrc([]*UOp{u.Src[1], u.Src[0]}, b) {
			return true
		}
	}
	b.truncate(mark)
	return false
}

func (p *Pat) matchSrc(src []*UOp, b *Binds) bool {
	mark := len(b.names)
	for i, s := range p.Src {
		if !s.match(src[i], b) {
			b.truncate(mark)
			return false
		}
	}
	return true
}

func argEqual(a, b any) bool {
	switch x := a.(type) {
	case []int:
		y, ok := b.([]int)
		return ok && slices.Equal(x, y)
	case Keyer:
		y, ok := b.(Keyer)
		return ok && x.Key() == y.Key()
	}
	return a == b
}

// Rule rewrites a node matching Pat into the node Fn returns; Fn returns nil
// when it declines.
type Rule struct {
	Pat *Pat
	Fn  func(b *Binds) *UOp
}

// R makes a Rule.
func R(p *Pat, fn func(b *Binds) *UOp) Rule { return Rule{p, fn} }

// Matcher is an ordered set of rules, indexed by op.
type Matcher struct {
	byOp [numOps][]int
	any  []int
	all  []Rule
}

// NewMatcher builds a matcher from rules; earlier rules are tried first.
func NewMatcher(rules ...Rule) *Matcher {
	m := &Matcher{all: rules}
	for i, r := range rules {
		if r.Pat.Ops == nil {
			m.any = append(m.any, i)
			continue
		}
		for _, op := range r.Pat.Ops {
			m.byOp[op] = append(m.byOp[op], i)
		}
	}
	return m
}

// Extend returns a matcher with m's rules followed by more.
func (m *Matcher) Extend(more ...Rule) *Matcher {
	return NewMatcher(append(slices.Clone(m.all), more...)...)
}

// Rewrite applies the first matching rule to u once, or returns nil.
func (m *Matcher) Rewrite(u *UOp) *UOp {
	var b Binds
	try := func(idx []int) *UOp {
		for _, i := range idx {
			r := m.all[i]
			b.truncate(0)
			b.U = u
			if r.Pat.match(u, &b) {
				if out := r.Fn(&b); out != nil && out != u {
					return out
				}
			}
		}
		return nil
	}
	if out := try(m.byOp[u.Op]); out != nil {
		return out
	}
	return try(m.any)
}

// GraphRewrite rewrites the graph under root bottom-up: sources first, then
// each node with m until no rule applies.
func GraphRewrite(root *UOp, m *Matcher) *UOp {
	memo := map[*UOp]*UOp{}
	var rw func(u *UOp) *UOp
	rw = func(u *UOp) *UOp {
		if r, ok := memo[u]; ok {
			return r
		}
		n := u
		var src []*UOp
		for i, s := range u.Src {
			ns := rw(s)
			if ns != s && src == nil {
				src = slices.Clone(u.Src[:i:i])
			}
			if src != nil {
				src = append(src, ns)
			}
		}
		if src != nil {
			n = New(u.Op, u.DType, src, u.Arg)
		}
		if x := m.Rewrite(n); x != nil {
			n = rw(x)
		}
		memo[u] = n
		return n
	}
	return rw(root)
}

// Replace returns the graph under root with each key of subs replaced by its value.
func Replace(root *UOp, subs map[*UOp]*UOp) *UOp {
	memo := map[*UOp]*UOp{}
	var rw func(u *UOp) *UOp
	rw = func(u *UOp) *UOp {
		if r, ok := subs[u]; ok {
			return r
		}
		if r, ok := memo[u]; ok {
			return r
		}
		var src []*UOp
		for i, s := range u.Src {
			ns := rw(s)
			if ns != s && src == nil {
				src = slices.Clone(u.Src[:i:i])
			}
			if src != nil {
				src = append(src, ns)
			}
		}
		n := u
		if src != nil {
			n = New(u.Op, u.DType, src, u.Arg)
		}
		memo[u] = n
		return n
	}
	return rw(root)
}
