package codegen

import (
	"fmt"
	"math/bits"
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
	ranges := make([]*uop.UOp, k.NLoop)
	for i := range ranges {
		ranges[i] = uop.New(uop.RANGE, dtype.Index, nil, uop.RangeArg{Axis: i, Size: k.Full[i], Reduce: i >= k.NGlobal, Vector: i == k.Vector})
	}
	e := newExpander(k, ranges)
	sink := e.expandSink(k.AST)
	sink = uop.Simplify(uop.GraphRewrite(sink, vectorizer))
	lw := &lowerer{k: k, ranges: ranges}
	return lw.linearize(sink)
}

type lowerer struct {
	k      *Kernel
	ranges []*uop.UOp
}

// linearize orders the lowered graph into loops. Nodes go in the outermost
// loop they depend on; accumulators are set up inside every global loop,
// updated in the innermost reduce loop, and read after the reduce loops close.
func (lw *lowerer) linearize(sink *uop.UOp) *Program {
	k := lw.k
	n := len(lw.ranges)
	rangeIdx := map[*uop.UOp]int{}
	for i, r := range lw.ranges {
		rangeIdx[r] = i
	}
	reduceMask := uint64(0)
	for i := k.NGlobal; i < n; i++ {
		reduceMask |= 1 << i
	}

	order := uop.Toposort(sink)
	var reduces []*uop.UOp
	for _, u := range order {
		if u.Op == uop.REDUCE_AXIS {
			reduces = append(reduces, u)
		}
	}
	deps := map[*uop.UOp]uint64{}
	post := map[*uop.UOp]bool{} // depends on a reduce result
	accOf := map[*uop.UOp]*uop.UOp{}
	var vars []*uop.UOp
	for _, u := range order {
		var d uint64
		isPost := false
		switch u.Op {
		case uop.RANGE:
			d = 1 << rangeIdx[u]
		case uop.REDUCE_AXIS:
			d = deps[u.Src[0]] &^ reduceMask
			isPost = true
		case uop.DEFINE_VAR:
			vars = append(vars, u)
		default:
			for _, s := range u.Src {
				d |= deps[s]
				isPost = isPost || post[s]
			}
		}
		deps[u] = d
		post[u] = isPost
	}

	// Replace each reduce by an accumulator and its update.
	var accs, updates []*uop.UOp
	subs := map[*uop.UOp]*uop.UOp{}
	for i, r := range reduces {
		op := r.Arg.(uop.ReduceArg).Op
		acc := uop.New(uop.DEFINE_ACC, r.DType, nil, uop.AccArg{Op: op, Identity: uop.Identity(op, r.DType), N: i})
		accOf[r] = acc
		subs[r] = acc
		accs = append(accs, acc)
	}
	scope := func(u *uop.UOp) int { return 63 - bits.LeadingZeros64(deps[u]) } // -1 when none

	pre := make([][]*uop.UOp, n+1) // pre[s+1]: nodes of scope s that do not need a reduce result
	var postNodes []*uop.UOp
	for _, u := range order {
		switch u.Op {
		case uop.RANGE, uop.SINK, uop.REDUCE_AXIS:
			continue
		}
		nu := subst(u, subs)
		switch {
		case post[u]:
			postNodes = append(postNodes, nu)
		default:
			pre[scope(u)+1] = append(pre[scope(u)+1], nu)
		}
		subs[u] = nu
	}
	for _, r := range reduces {
		op := r.Arg.(uop.ReduceArg).Op
		acc := accOf[r]
		val := subs[r.Src[0]]
		updates = append(updates, uop.New(uop.ASSIGN, acc.DType, []*uop.UOp{acc, acc.Alu(op, val)}, nil))
	}

	var prog []*uop.UOp
	emit := func(us ...*uop.UOp) { prog = append(prog, us...) }
	emit(pre[0]...)
	for i := 0; i < k.NGlobal; i++ {
		emit(lw.ranges[i])
		emit(pre[i+1]...)
	}
	if len(accs) > 0 {
		emit(accs...)
		for i := k.NGlobal; i < n; i++ {
			emit(lw.ranges[i])
			emit(pre[i+1]...)
		}
		for _, up := range updates {
			emit(up.Src[1], up)
		}
		for i := n - 1; i >= k.NGlobal; i-- {
			emit(uop.New(uop.ENDRANGE, dtype.Invalid, []*uop.UOp{lw.ranges[i]}, nil))
		}
	} else if n > k.NGlobal {
		panic("codegen: reduce axes without a reduce")
	}
	emit(postNodes...)
	for i := k.NGlobal - 1; i >= 0; i-- {
		emit(uop.New(uop.ENDRANGE, dtype.Invalid, []*uop.UOp{lw.ranges[i]}, nil))
	}

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
