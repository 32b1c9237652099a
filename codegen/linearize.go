package codegen

import (
	"fmt"
	"math/bits"
	"slices"
	"strings"

	"github.com/gograd/gograd/dtype"
	"github.com/gograd/gograd/uop"
)

// Program is a linear program ready for a renderer.
type Program struct {
	Name    string
	UOps    []*uop.UOp // in execution order
	Full    []int      // loop sizes
	NGlobal int        // how many loops are global (parallel)
	Vector  int        // the loop run as vectors, or -1
	NBufs   int        // DEFINE_GLOBALs; 0 is the output
	Vars    []*uop.UOp // DEFINE_VARs in launch order
	FLOPs   int64      // ALU ops executed
	Kernel  *Kernel
}

// Compile shapes ast for a backend with opts and linearizes it.
func Compile(ast *uop.UOp, opts Options) *Program {
	k := NewKernel(ast)
	switch {
	case opts.Opts != nil:
		for _, o := range opts.Opts {
			if err := k.ApplyOpt(o); err != nil {
				panic(err)
			}
		}
	default:
		k.Hand(opts)
	}
	if opts.Vector {
		k.ChooseVector()
	}
	return k.Linearize()
}

// Linearize lowers the views to index arithmetic, expands the upcast axes,
// vectorizes, and orders the program.
func (k *Kernel) Linearize() *Program {
	l := newLoops(k)
	e := newExpander(k, l)
	sink := e.expandSink(k.AST)
	sink = uop.Simplify(uop.GraphRewrite(sink, vectorizer))
	sink = rowScratch(sink, l)
	lw := &lowerer{k: k, loops: l}
	return lw.linearize(sink)
}

// loops are a kernel's loop variables, in nesting order: the global loops,
// then for each phase of reductions its own loops over the reduce axes, then,
// in a kernel that stores along the reduce axes (Late), the store's loops
// over them. A phase's reductions read only the results of earlier phases
// (a softmax's maximum, then its sum of exponentials, then its quotients
// stored row by row): one kernel passes over a row several times.
type loops struct {
	all     []*uop.UOp
	globals []*uop.UOp
	phases  [][]*uop.UOp     // each phase's reduce loops
	late    []*uop.UOp       // the store's loops over the reduce axes, or nil
	phase   map[*uop.UOp]int // the phase of each reduce of the kernel's AST
	index   map[*uop.UOp]int // each loop variable's place in all
}

// mask is the set of loops rs as bits by their place in all.
func (l *loops) mask(rs []*uop.UOp) uint64 {
	var m uint64
	for _, r := range rs {
		m |= 1 << l.index[r]
	}
	return m
}

func newLoops(k *Kernel) *loops {
	l := &loops{phase: reducePhases(k.AST), index: map[*uop.UOp]int{}}
	axis := 0
	loop := func(i int, reduce bool) *uop.UOp {
		r := uop.New(uop.RANGE, dtype.Index, nil, uop.RangeArg{Axis: axis, Size: k.Full[i], Reduce: reduce, Vector: axis == k.Vector})
		axis++
		l.index[r] = len(l.all)
		l.all = append(l.all, r)
		return r
	}
	for i := range k.NGlobal {
		l.globals = append(l.globals, loop(i, false))
	}
	phases := 1
	for _, p := range l.phase {
		phases = max(phases, p+1)
	}
	for range phases {
		var rs []*uop.UOp
		for i := k.NGlobal; i < k.NLoop; i++ {
			rs = append(rs, loop(i, true))
		}
		l.phases = append(l.phases, rs)
	}
	if k.Late {
		for i := k.NGlobal; i < k.NLoop; i++ {
			l.late = append(l.late, loop(i, false))
		}
	}
	return l
}

// of returns the loop variable of each loop axis in a context: -1 the
// store's, else a phase's reduce.
func (l *loops) of(ctx int) []*uop.UOp {
	switch {
	case ctx >= 0:
		return append(slices.Clone(l.globals), l.phases[ctx]...)
	case l.late != nil:
		return append(slices.Clone(l.globals), l.late...)
	}
	return append(slices.Clone(l.globals), l.phases[0]...)
}

// reducePhases numbers the reduces of a graph by the reduces they read: 0
// for one that reads none, else one more than the latest it reads.
func reducePhases(sink *uop.UOp) map[*uop.UOp]int {
	phase := map[*uop.UOp]int{}
	below := map[*uop.UOp]int{} // one more than the latest phase under a node
	for _, u := range uop.Toposort(sink) {
		b := 0
		for _, s := range u.Src {
			b = max(b, below[s])
		}
		if u.Op == uop.REDUCE_AXIS {
			b = below[u.Src[0]]
			phase[u] = b
			b++
		}
		below[u] = b
	}
	return phase
}

type lowerer struct {
	k     *Kernel
	loops *loops
}

// linearize orders the lowered graph into loops. Nodes go in the outermost
// loop they depend on; each phase's accumulators are set up inside every
// global loop, updated in the innermost of the phase's loops, and read after
// those close (by the next phase or the store).
func (lw *lowerer) linearize(sink *uop.UOp) *Program {
	k, l := lw.k, lw.loops
	n := len(l.all)
	if n > 64 {
		panic(fmt.Sprintf("codegen: %d loops, at most 64", n))
	}
	rangeIdx := l.index
	phaseMask := make([]uint64, len(l.phases))
	for p, rs := range l.phases {
		phaseMask[p] = l.mask(rs)
	}
	globalMask := l.mask(l.globals)

	order := uop.Toposort(sink)
	phase := reducePhases(sink)
	var reduces []*uop.UOp
	deps := map[*uop.UOp]uint64{}
	after := map[*uop.UOp]int{} // one more than the latest phase whose result a node reads
	accOf := map[*uop.UOp]*uop.UOp{}
	var vars []*uop.UOp
	for _, u := range order {
		var d uint64
		a := 0
		switch u.Op {
		case uop.RANGE:
			d = 1 << rangeIdx[u]
		case uop.REDUCE_AXIS:
			d = deps[u.Src[0]] &^ phaseMask[phase[u]]
			a = phase[u] + 1
			reduces = append(reduces, u)
		case uop.DEFINE_VAR:
			vars = append(vars, u)
		default:
			for _, s := range u.Src {
				d |= deps[s]
				a = max(a, after[s])
			}
		}
		deps[u] = d
		after[u] = a
	}

	// Replace each reduce by an accumulator and its update.
	accs := make([][]*uop.UOp, len(l.phases))
	subs := map[*uop.UOp]*uop.UOp{}
	for i, r := range reduces {
		op := r.Arg.(uop.ReduceArg).Op
		acc := uop.New(uop.DEFINE_ACC, r.DType, nil, uop.AccArg{Op: op, Identity: uop.Identity(op, r.DType), N: i})
		accOf[r] = acc
		subs[r] = acc
		accs[phase[r]] = append(accs[phase[r]], acc)
	}
	scope := func(u *uop.UOp) int { return 63 - bits.LeadingZeros64(deps[u]) } // -1 when none

	// A float product computed between loops from a phase's results and
	// read in a later loop (a layer norm's mean, sum*(1/n), read by its
	// variance and output loops) is rounded as if stored, as a separate
	// kernel would read it from memory: a C compiler contracting
	// multiply-adds across statements would otherwise fold the product
	// into the later subtraction, and a row's centred values would no
	// longer sum to zero.
	betweenLoops := func(u *uop.UOp) bool { return deps[u]&^globalMask == 0 && after[u] > 0 }
	crossing := map[*uop.UOp]bool{}
	for _, u := range order {
		if u.Op == uop.REDUCE_AXIS || deps[u]&^globalMask == 0 {
			continue
		}
		for _, s := range u.Src {
			if betweenLoops(s) && contractible(s) {
				crossing[s] = true
			}
		}
	}

	at := make([][]*uop.UOp, n+1)                   // at[s+1]: nodes placed right after loop s opens
	afterPhase := make([][]*uop.UOp, len(l.phases)) // nodes of the global loops that read phase p's results
	for _, u := range order {
		switch u.Op {
		case uop.RANGE, uop.SINK, uop.REDUCE_AXIS:
			continue
		}
		nu := subst(u, subs)
		switch {
		case betweenLoops(u):
			if crossing[u] {
				afterPhase[after[u]-1] = append(afterPhase[after[u]-1], nu)
				nu = uop.New(uop.CONTIGUOUS, nu.DType, []*uop.UOp{nu}, nil)
			}
			afterPhase[after[u]-1] = append(afterPhase[after[u]-1], nu)
		default:
			at[scope(u)+1] = append(at[scope(u)+1], nu)
		}
		subs[u] = nu
	}
	updates := make([][]*uop.UOp, len(l.phases))
	for _, r := range reduces {
		op := r.Arg.(uop.ReduceArg).Op
		acc := accOf[r]
		val := subs[r.Src[0]]
		updates[phase[r]] = append(updates[phase[r]], uop.New(uop.ASSIGN, acc.DType, []*uop.UOp{acc, acc.Alu(op, val)}, nil))
	}

	var prog []*uop.UOp
	emit := func(us ...*uop.UOp) { prog = append(prog, us...) }
	open := func(rs []*uop.UOp) {
		for _, r := range rs {
			emit(r)
			emit(at[rangeIdx[r]+1]...)
		}
	}
	end := func(rs []*uop.UOp) {
		for i := len(rs) - 1; i >= 0; i-- {
			emit(uop.New(uop.ENDRANGE, dtype.Invalid, []*uop.UOp{rs[i]}, nil))
		}
	}
	emit(at[0]...)
	open(l.globals)
	if len(reduces) == 0 && k.NLoop > k.NGlobal {
		panic("codegen: reduce axes without a reduce")
	}
	for p := range l.phases {
		if len(accs[p]) == 0 {
			continue
		}
		emit(accs[p]...)
		open(l.phases[p])
		for _, up := range updates[p] {
			emit(up.Src[1], up)
		}
		end(l.phases[p])
		emit(afterPhase[p]...)
	}
	open(l.late)
	end(l.late)
	end(l.globals)

	vars = vars[:0]
	for _, u := range prog {
		if u.Op == uop.DEFINE_VAR {
			vars = append(vars, u)
		}
	}
	p := &Program{Name: k.Name(), UOps: prog, Full: k.Full, NGlobal: k.NGlobal, Vector: k.Vector, Vars: vars, Kernel: k}
	for _, u := range prog {
		if u.Op == uop.DEFINE_GLOBAL {
			p.NBufs = max(p.NBufs, u.Arg.(int)+1)
		}
	}
	p.FLOPs = countFLOPs(prog)
	return p
}

// contractible reports whether u is a float product, or its negation or
// lanes, which a multiply-add could absorb.
func contractible(u *uop.UOp) bool {
	switch u.Op {
	case uop.MUL:
		return u.DType.IsFloat()
	case uop.NEG, uop.VECTORIZE:
		for _, s := range u.Src {
			if !contractible(s) {
				return false
			}
		}
		return true
	}
	return false
}

// subst rebuilds u with its sources replaced per subs (one level: sources
// were rebuilt before u, in topological order).
func subst(u *uop.UOp, subs map[*uop.UOp]*uop.UOp) *uop.UOp {
	changed := false
	src := make([]*uop.UOp, len(u.Src))
	for i, s := range u.Src {
		if r, ok := subs[s]; ok && r != s {
			src[i], changed = r, true
		} else {
			src[i] = s
		}
	}
	if !changed {
		return u
	}
	return uop.New(u.Op, u.DType, src, u.Arg)
}

// countFLOPs counts the ALU ops the program executes on values (not index
// arithmetic), weighted by the trip counts of their enclosing loops.
func countFLOPs(prog []*uop.UOp) int64 {
	trips := int64(1)
	var stack []int64
	var flops int64
	for _, u := range prog {
		switch {
		case u.Op == uop.RANGE:
			stack = append(stack, trips)
			trips *= int64(u.Arg.(uop.RangeArg).Size)
		case u.Op == uop.ENDRANGE:
			trips = stack[len(stack)-1]
			stack = stack[:len(stack)-1]
		case u.Op.IsALU() && u.DType != dtype.Index && u.DType.Scalar() != dtype.Bool:
			w := int64(u.DType.Count()) // a vector op is one op per lane
			if u.Op == uop.MULACC {
				w *= 2
			}
			flops += w * trips
		}
	}
	return flops
}

// String renders the linear program, one uop per line, indented by loop.
func (p *Program) String() string {
	var b strings.Builder
	names := map[*uop.UOp]string{}
	depth := 0
	for i, u := range p.UOps {
		if u.Op == uop.ENDRANGE {
			depth--
		}
		names[u] = fmt.Sprintf("%%%d", i)
		var src []string
		for _, s := range u.Src {
			if nm, ok := names[s]; ok {
				src = append(src, nm)
			} else {
				src = append(src, "("+s.Op.String()+")")
			}
		}
		arg := ""
		if u.Arg != nil {
			arg = fmt.Sprintf(" %v", u.Arg)
		}
		fmt.Fprintf(&b, "%4d %s%-13s %-8s %v%s\n", i, strings.Repeat("  ", depth), u.Op, u.DType, src, arg)
		if u.Op == uop.RANGE {
			depth++
		}
	}
	return b.String()
}
