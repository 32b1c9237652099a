// Package schedule groups a lazy tensor graph into kernels and copies. It
// decides where the graph must be realized into buffers (the fusion rules),
// turns each kernel into an AST whose loads carry the views of the movement
// ops above them (rewrite rules that push views down to the loads), orders
// the work, and plans memory so intermediate buffers are reused as soon as no
// later kernel reads them.
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
	"sync"

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

// lowerKernel builds the AST of the kernel that computes r, and the leaves
// it reads in DEFINE_GLOBAL order (from 1). Leaves become loads of
// contiguous views; then rewrite rules push every movement op down into the
// views of the loads and constants under it.
func (g *graph) lowerKernel(r *uop.UOp) (*uop.UOp, []*uop.UOp) {
	if r.Numel() == 0 {
		return nil, nil
	}
	val := r
	if r.Op == uop.CONTIGUOUS {
		val = r.Src[0]
	}
	var reduced []int // the output shape of the kernel's reduce
	var srcs []*uop.UOp
	subs := map[*uop.UOp]*uop.UOp{}
	for _, n := range g.kernelNodes(r) {
		if n.Op == uop.REDUCE_AXIS && reduced == nil {
			reduced = n.Shape()
		}
		for _, s := range n.Src {
			if _, done := subs[s]; done || !g.leaf(s) {
				continue
			}
			switch s.Op {
			case uop.CONST:
				subs[s] = uop.New(uop.CONST, s.DType, []*uop.UOp{view(shape.New(nil))}, s.Arg)
			case uop.DEFINE_VAR:
				subs[s] = s
			default:
				srcs = append(srcs, s)
				dg := uop.New(uop.DEFINE_GLOBAL, s.DType, nil, len(srcs))
				subs[s] = uop.New(uop.LOAD, s.DType, []*uop.UOp{dg, view(shape.New(s.Shape()))}, nil)
			}
		}
	}
	st := shape.New(r.Shape())
	root := uop.Replace(val, subs)
	if reduced != nil && !slices.Equal(reduced, r.Shape()) {
		st = st.Reshape(reduced)
		root = uop.New(uop.RESHAPE, root.DType, []*uop.UOp{root}, slices.Clone(reduced))
	}
	root = uop.GraphRewrite(root, viewPusher(reduced))
	for _, u := range uop.Toposort(root) {
		if u.Op.IsMovement() {
			panic(fmt.Sprintf("schedule: %v left in a kernel over %v (a fusion rule let through a view of a reduce)", u.Op, u.Src[0].Op))
		}
	}
	out := uop.New(uop.DEFINE_GLOBAL, r.DType, nil, 0)
	store := uop.New(uop.STORE, dtype.Invalid, []*uop.UOp{out, view(st), root}, nil)
	return uop.New(uop.SINK, dtype.Invalid, []*uop.UOp{store}, nil), srcs
}

var pushers sync.Map // reduce shape (as a string) -> *uop.Matcher

// viewPusher returns the (cached) pushViews matcher for a reduce shape.
func viewPusher(reduced []int) *uop.Matcher {
	key := fmt.Sprint(reduced)
	if m, ok := pushers.Load(key); ok {
		return m.(*uop.Matcher)
	}
	m, _ := pushers.LoadOrStore(key, pushViews(reduced))
	return m.(*uop.Matcher)
}

func view(st shape.ShapeTracker) *uop.UOp { return uop.New(uop.VIEW, dtype.Invalid, nil, st) }

// pushViews moves movement ops down through elementwise ops into the views
// of loads and constants. Inside a kernel a reduce may only be reshaped, and
// the kernel's root is reshaped to the reduce's shape (reduced), so the
// reshapes above the reduce cancel out; the fusion rules guarantee that.
func pushViews(reduced []int) *uop.Matcher {
	moves := []uop.Op{uop.RESHAPE, uop.PERMUTE, uop.EXPAND, uop.PAD, uop.SHRINK, uop.FLIP}
	elementwise := func(u *uop.UOp) bool { return u.Op.IsALU() || u.Op == uop.CAST || u.Op == uop.BITCAST }
	return uop.NewMatcher(
		uop.R(uop.POps(moves, uop.P(uop.LOAD, uop.V("buf"), uop.P(uop.VIEW).N("view"))), func(b *uop.Binds) *uop.UOp {
			st := b.Get("view").Arg.(shape.ShapeTracker).Apply(b.U.Op, b.U.Arg)
			return uop.New(uop.LOAD, b.U.DType, []*uop.UOp{b.Get("buf"), view(st)}, nil)
		}),
		uop.R(uop.POps(moves, uop.P(uop.CONST, uop.P(uop.VIEW).N("view")).N("c")), func(b *uop.Binds) *uop.UOp {
			st := b.Get("view").Arg.(shape.ShapeTracker).Apply(b.U.Op, b.U.Arg)
			return uop.New(uop.CONST, b.U.DType, []*uop.UOp{view(st)}, b.Get("c").Arg)
		}),
		uop.R(uop.POps(moves, (&uop.Pat{Cond: elementwise}).N("x")), func(b *uop.Binds) *uop.UOp {
			x := b.Get("x")
			src := make([]*uop.UOp, len(x.Src))
			for i, s := range x.Src {
				src[i] = uop.New(b.U.Op, s.DType, []*uop.UOp{s}, b.U.Arg)
			}
			return uop.New(x.Op, x.DType, src, x.Arg)
		}),
		uop.R(uop.P(uop.RESHAPE, uop.P(uop.RESHAPE, uop.V("x"))), func(b *uop.Binds) *uop.UOp {
			return uop.New(uop.RESHAPE, b.U.DType, []*uop.UOp{b.Get("x")}, b.U.Arg)
		}),
		// Reshapes above a reduce compose (the outer one is rewritten last)
		// into the reduce's own shape, which is no reshape at all.
		uop.R(uop.P(uop.RESHAPE, uop.P(uop.REDUCE_AXIS).N("r")), func(b *uop.Binds) *uop.UOp {
			if slices.Equal(b.U.Arg.([]int), reduced) {
				return b.Get("r")
			}
			return nil
		}),
	)
}
