// Package schedule groups a lazy tensor graph into kernels and copies. It
// decides where the graph must be realized into buffers (the fusion rules),
// turns each kernel into an AST whose loads carry the views of the movement
// ops above them, orders the work, and plans memory so intermediate buffers
// are reused as soon as no later kernel reads them.
//
// Fusion rules: elementwise ops and views fuse into their consumer; a reduce
// fuses the elementwise work before and after it; a kernel breaks at a reduce
// whose result is viewed by anything but a reshape (an expand, a permute, a
// pad...) or feeds another reduce, at a reduce read by two kernels, at a pad
// over an op that does not keep zero at zero, at COPY, CONTIGUOUS and
// realized buffers.
//
// Package schedule imports uop, shape, device and dtype.
package schedule

import (
	"fmt"
	"slices"

	"github.com/gograd/gograd/device"
	"github.com/gograd/gograd/dtype"
	"github.com/gograd/gograd/shape"
	"github.com/gograd/gograd/uop"
)

// Kind is what an Item does.
type Kind uint8

const (
	Kernel Kind = iota // run a kernel
	Copy               // copy Bufs[1] into Bufs[0]
)

// Item is one unit of work: a kernel with its AST, or a copy.
type Item struct {
	Kind Kind
	AST  *uop.UOp         // SINK(STORE(...)) for a kernel
	Bufs []*device.Buffer // the output first, then the inputs by DEFINE_GLOBAL number
	Out  *uop.UOp         // the lazy node this item realizes
	Deps []int            // items whose output this one reads
}

// Device returns the device the item runs on (its output's).
func (it *Item) Device() *device.Device { return it.Bufs[0].Dev }

// Schedule is the ordered work that realizes a set of lazy nodes.
type Schedule struct {
	Items []*Item
	// Views maps each requested node to the buffer view that holds its value.
	Views map[*uop.UOp]*uop.UOp
}

// IsBufferView reports whether u is a realized buffer under movement ops only.
func IsBufferView(u *uop.UOp) bool {
	for u.Op.IsMovement() {
		u = u.Src[0]
	}
	return u.Op == uop.BUFFER
}

// ViewOf returns the buffer and tracker of a buffer view.
func ViewOf(u *uop.UOp) (*device.Buffer, shape.ShapeTracker) {
	var moves []*uop.UOp
	for u.Op.IsMovement() {
		moves = append(moves, u)
		u = u.Src[0]
	}
	buf := u.Arg.(*device.Buffer)
	st := shape.New([]int{buf.Size})
	for i := len(moves) - 1; i >= 0; i-- {
		st = st.Apply(moves[i].Op, moves[i].Arg)
	}
	return buf, st
}

// Create schedules the realization of targets.
func Create(targets []*uop.UOp) *Schedule {
	g := newGraph(targets)
	g.findRealizes()
	return g.build()
}

type graph struct {
	targets  []*uop.UOp
	nodes    []*uop.UOp // toposorted
	children map[*uop.UOp][]*uop.UOp
	realize  map[*uop.UOp]bool
}

func newGraph(targets []*uop.UOp) *graph {
	g := &graph{targets: targets, children: map[*uop.UOp][]*uop.UOp{}, realize: map[*uop.UOp]bool{}}
	g.nodes = uop.Toposort(targets...)
	for _, n := range g.nodes {
		for _, s := range n.Src {
			if !slices.Contains(g.children[s], n) {
				g.children[s] = append(g.children[s], n)
			}
		}
	}
	return g
}

// leaf reports whether kernels read u as a buffer rather than computing it.
func (g *graph) leaf(u *uop.UOp) bool {
	return u.Op == uop.BUFFER || u.Op == uop.CONST || u.Op == uop.DEFINE_VAR || g.realize[u]
}

// kernelNodes lists the nodes computed inside the kernel of root.
func (g *graph) kernelNodes(root *uop.UOp) []*uop.UOp {
	var out []*uop.UOp
	seen := map[*uop.UOp]bool{}
	var visit func(u *uop.UOp)
	visit = func(u *uop.UOp) {
		if seen[u] {
			return
		}
		seen[u] = true
		if u != root && g.leaf(u) {
			return
		}
		out = append(out, u)
		for _, s := range u.Src {
			visit(s)
		}
	}
	visit(root)
	return out
}

// contains reports whether u's in-kernel subgraph has a node matching pred.
func (g *graph) contains(u *uop.UOp, pred func(*uop.UOp) bool, memo map[*uop.UOp]bool) bool {
	if v, ok := memo[u]; ok {
		return v
	}
	res := false
	if !g.leaf(u) {
		res = pred(u)
		for _, s := range u.Src {
			if res {
				break
			}
			res = g.contains(s, pred, memo)
		}
	}
	memo[u] = res
	return res
}

func isReduce(u *uop.UOp) bool { return u.Op == uop.REDUCE_AXIS }

// zeroUnsafe reports ops that do not map all-zero inputs to zero, which a
// pad cannot be pushed through.
func zeroUnsafe(u *uop.UOp) bool {
	switch u.Op {
	case uop.EXP2, uop.LOG2, uop.RECIP:
		return true
	case uop.NEG:
		return u.DType == dtype.Bool
	}
	return false
}

func (g *graph) findRealizes() {
	for _, t := range g.targets {
		if !IsBufferView(t) {
			g.realize[t] = true
		}
	}
	for _, n := range g.nodes {
		switch n.Op {
		case uop.CONTIGUOUS, uop.COPY, uop.ASSIGN:
			g.realize[n] = true
		}
		if n.Op == uop.COPY && !isWholeBuffer(n.Src[0]) {
			g.realize[n.Src[0]] = true
		}
	}
	for g.addRealize() {
	}
}

// addRealize finds the first node, sources first, that a fusion rule says
// must be realized, adds it and reports true; it reports false when the
// graph obeys every rule.
func (g *graph) addRealize() bool {
	candidate := func(u *uop.UOp) bool { return !g.realize[u] && !g.leaf(u) }
	hasReduce := map[*uop.UOp]bool{}
	unsafe := map[*uop.UOp]bool{}
	for _, n := range g.nodes {
		if g.leaf(n) && !g.realize[n] {
			continue
		}
		for _, s := range n.Src {
			if !candidate(s) {
				continue
			}
			// A reduce's result may only be reshaped inside its kernel.
			if (n.Op == uop.REDUCE_AXIS || (n.Op.IsMovement() && n.Op != uop.RESHAPE)) && g.contains(s, isReduce, hasReduce) {
				g.realize[s] = true
				return true
			}
			// A pad is pushed down to the loads; it must not cross an op
			// that turns zero into something else.
			if n.Op == uop.PAD && g.contains(s, zeroUnsafe, unsafe) {
				g.realize[s] = true
				return true
			}
		}
	}
	// A reduce read by two kernels is computed once, into a buffer; the
	// reduces of one kernel must share their loops.
	reach := map[*uop.UOp]int{}
	for _, r := range g.nodes {
		if !g.realize[r] {
			continue
		}
		var first *uop.UOp
		for _, n := range g.kernelNodes(r) {
			if n.Op != uop.REDUCE_AXIS {
				continue
			}
			reach[n]++
			if first == nil {
				first = n
			} else if !sameLoops(first, n) && candidate(n) {
				g.realize[n] = true
				return true
			}
		}
	}
	for _, n := range g.nodes {
		if reach[n] > 1 && candidate(n) {
			g.realize[n] = true
			return true
		}
	}
	return false
}

func sameLoops(a, b *uop.UOp) bool {
	return slices.Equal(a.Src[0].Shape(), b.Src[0].Shape()) &&
		slices.Equal(a.Arg.(uop.ReduceArg).Axes, b.Arg.(uop.ReduceArg).Axes)
}

// isWholeBuffer reports whether u is a buffer viewed contiguously in full.
func isWholeBuffer(u *uop.UOp) bool {
	if !IsBufferView(u) {
		return false
	}
	buf, st := ViewOf(u)
	return st.Contiguous() && st.Size() == buf.Size
}

// build makes the items in dependency order and plans their buffers.
func (g *graph) build() *Schedule {
	s := &Schedule{Views: map[*uop.UOp]*uop.UOp{}}
	type pending struct {
		item *Item
		srcs []*uop.UOp // the leaves behind Bufs[1:]
	}
	var items []*pending
	itemOf := map[*uop.UOp]int{}
	var visit func(r *uop.UOp)
	visit = func(r *uop.UOp) {
		if _, ok := itemOf[r]; ok {
			return
		}
		itemOf[r] = -1
		var p *pending
		if r.Op == uop.COPY {
			p = &pending{item: &Item{Kind: Copy, Out: r}, srcs: []*uop.UOp{r.Src[0]}}
		} else {
			ast, srcs := g.lowerKernel(r)
			p = &pending{item: &Item{Kind: Kernel, AST: ast, Out: r}, srcs: srcs}
		}
		for _, src := range p.srcs {
			if g.realize[src] {
				visit(src)
				p.item.Deps = append(p.item.Deps, itemOf[src])
			}
		}
		itemOf[r] = len(items)
		items = append(items, p)
	}
	for _, t := range g.targets {
		if g.realize[t] {
			visit(t)
		}
	}
	// Plan memory: a buffer whose last reader has run is free for a later
	// output of the same device, type and size.
	lastUse := map[*uop.UOp]int{}
	for i, p := range items {
		for _, src := range p.srcs {
			lastUse[src] = i
		}
	}
	isTarget := map[*uop.UOp]bool{}
	for _, t := range g.targets {
		isTarget[t] = true
	}
	type key struct {
		dev  string
		dt   dtype.DType
		size int
	}
	free := map[key][]*device.Buffer{}
	bufOf := map[*uop.UOp]*device.Buffer{}
	releaseAt := map[int][]*uop.UOp{}
	for r, i := range lastUse {
		if g.realize[r] && !isTarget[r] {
			releaseAt[i] = append(releaseAt[i], r)
		}
	}
	for i, p := range items {
		r := p.item.Out
		dev := device.MustGet(r.Device)
		k := key{dev.Name, r.DType, r.Numel()}
		var out *device.Buffer
		if fl := free[k]; len(fl) > 0 && !isTarget[r] {
			out, free[k] = fl[len(fl)-1], fl[:len(fl)-1]
		} else {
			out = device.NewBuffer(dev, r.DType, r.Numel())
		}
		bufOf[r] = out
		bufs := []*device.Buffer{out}
		for _, src := range p.srcs {
			switch {
			case src.Op == uop.BUFFER:
				bufs = append(bufs, src.Arg.(*device.Buffer))
			case g.realize[src]:
				bufs = append(bufs, bufOf[src])
			default: // a whole-buffer view read by a copy
				b, _ := ViewOf(src)
				bufs = append(bufs, b)
			}
		}
		p.item.Bufs = bufs
		s.Items = append(s.Items, p.item)
		for _, dead := range releaseAt[i] {
			b := bufOf[dead]
			kk := key{b.Dev.Name, b.DType, b.Size}
			free[kk] = append(free[kk], b)
		}
	}
	for _, t := range g.targets {
		if b, ok := bufOf[t]; ok {
			s.Views[t] = uop.Buffer(b).Reshape(t.Shape())
		} else {
			s.Views[t] = t
		}
	}
	return s
}

// move is one movement op on the path from a kernel's root down to a leaf.
type move struct {
	op  uop.Op
	arg any
	up  *move
}

type lowering struct {
	g       *graph
	root    *uop.UOp
	srcs    []*uop.UOp
	global  map[*uop.UOp]*uop.UOp
	reduced []int // the output shape of the kernel's reduce, nil without one
	memo    map[lowerKey]*uop.UOp
}

type lowerKey struct {
	u    *uop.UOp
	path *move
	post bool
}

// lowerKernel builds the AST of the kernel that computes r, and the leaves
// it reads in DEFINE_GLOBAL order (from 1).
func (g *graph) lowerKernel(r *uop.UOp) (*uop.UOp, []*uop.UOp) {
	lw := &lowering{g: g, root: r, global: map[*uop.UOp]*uop.UOp{}, memo: map[lowerKey]*uop.UOp{}}
	val := r
	if r.Op == uop.CONTIGUOUS {
		val = r.Src[0]
	}
	for _, n := range g.kernelNodes(r) {
		if n.Op == uop.REDUCE_AXIS {
			lw.reduced = n.Shape()
			break
		}
	}
	out := uop.New(uop.DEFINE_GLOBAL, r.DType, nil, 0)
	st := shape.New(r.Shape())
	if lw.reduced != nil {
		st = st.Reshape(lw.reduced)
	}
	if r.Numel() == 0 {
		return nil, nil
	}
	store := uop.New(uop.STORE, dtype.Invalid, []*uop.UOp{out, view(st), lw.lower(val, nil, true)}, nil)
	return uop.New(uop.SINK, dtype.Invalid, []*uop.UOp{store}, nil), lw.srcs
}

func view(st shape.ShapeTracker) *uop.UOp { return uop.New(uop.VIEW, dtype.Invalid, nil, st) }

func (lw *lowering) leafView(base shape.ShapeTracker, path *move, post bool) shape.ShapeTracker {
	st := base
	for m := path; m != nil; m = m.up {
		st = st.Apply(m.op, m.arg)
	}
	if post && lw.reduced != nil {
		st = st.Reshape(lw.reduced)
	}
	return st
}

func (lw *lowering) lower(u *uop.UOp, path *move, post bool) *uop.UOp {
	key := lowerKey{u, path, post}
	if r, ok := lw.memo[key]; ok {
		return r
	}
	var out *uop.UOp
	switch {
	case u.Op == uop.CONST:
		st := lw.leafView(shape.New([]int{}), path, post)
		out = uop.New(uop.CONST, u.DType, []*uop.UOp{view(st)}, u.Arg)
	case u != lw.root && lw.g.leaf(u):
		base := shape.New(u.Shape())
		dg, ok := lw.global[u]
		if !ok {
			lw.srcs = append(lw.srcs, u)
			dg = uop.New(uop.DEFINE_GLOBAL, u.DType, nil, len(lw.srcs))
			lw.global[u] = dg
		}
		out = uop.New(uop.LOAD, u.DType, []*uop.UOp{dg, view(lw.leafView(base, path, post))}, nil)
	case u.Op.IsMovement():
		out = lw.lower(u.Src[0], &move{u.Op, u.Arg, path}, post)
	case u.Op == uop.REDUCE_AXIS:
		for m := path; m != nil; m = m.up {
			if m.op != uop.RESHAPE {
				panic(fmt.Sprintf("schedule: %v between a reduce and its kernel's output", m.op))
			}
		}
		out = uop.New(uop.REDUCE_AXIS, u.DType, []*uop.UOp{lw.lower(u.Src[0], nil, false)}, u.Arg)
	case u.Op.IsALU() || u.Op == uop.CAST || u.Op == uop.BITCAST:
		src := make([]*uop.UOp, len(u.Src))
		for i, s := range u.Src {
			src[i] = lw.lower(s, path, post)
		}
		out = uop.New(u.Op, u.DType, src, u.Arg)
	default:
		panic(fmt.Sprintf("schedule: cannot put %v in a kernel", u.Op))
	}
	lw.memo[key] = out
	return out
}
