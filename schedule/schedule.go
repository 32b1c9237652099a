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
	AST  *uop.UOp         // SINK(STORE(...), ...) for a kernel
	Bufs []*device.Buffer // the outputs (one per STORE), then the inputs by DEFINE_GLOBAL number
	Outs []*uop.UOp       // the lazy nodes this item realizes, one per output
	Deps []int            // items that must finish first
}

// Device returns the device the item runs on (its output's).
func (it *Item) Device() *device.Device { return it.Bufs[0].Dev }

// Schedule is the ordered work that realizes a set of lazy nodes.
type Schedule struct {
	Items []*Item
	// Views maps each requested node to the buffer view that holds its value.
	Views map[*uop.UOp]*uop.UOp
	// VarVals are the values the symbolic variables are bound to.
	VarVals map[string]int64
	// Cached says the schedule is one made before for a graph of the same
	// structure, with this graph's buffers swapped in.
	Cached bool
}

// IsBufferView reports whether u is a realized buffer under movement ops
// (and DETACH) only.
func IsBufferView(u *uop.UOp) bool {
	for u.Op.IsMovement() || u.Op == uop.DETACH {
		u = u.Src[0]
	}
	return u.Op == uop.BUFFER
}

// ViewOf returns the buffer and tracker of a buffer view.
func ViewOf(u *uop.UOp) (*device.Buffer, shape.ShapeTracker) {
	var moves []*uop.UOp
	for u.Op.IsMovement() || u.Op == uop.DETACH {
		if u.Op != uop.DETACH {
			moves = append(moves, u)
		}
		u = u.Src[0]
	}
	buf := u.Arg.(*device.Buffer)
	st := shape.New([]int{buf.Size})
	for i := len(moves) - 1; i >= 0; i-- {
		st = st.ApplyNode(moves[i])
	}
	return buf, st
}

// Create schedules the realization of targets.
func Create(targets []*uop.UOp) *Schedule {
	bound, vals := unbind(targets)
	st := structureOf(bound)
	var s *Schedule
	if t := cached(st.key); t != nil {
		s = t.instantiate(st, bound)
	} else {
		g := newGraph(bound)
		g.findRealizes()
		s = g.build()
		if t := newTemplate(s, st, bound); t != nil {
			remember(st.key, t)
		}
	}
	s.VarVals = vals
	for i, t := range targets {
		if bound[i] != t {
			s.Views[t] = s.Views[bound[i]]
		}
	}
	return s
}

// unbind replaces every BIND by its variable and returns the values: one
// kernel then serves every value of the variable.
func unbind(targets []*uop.UOp) ([]*uop.UOp, map[string]int64) {
	vals := map[string]int64{}
	if !slices.ContainsFunc(targets, func(t *uop.UOp) bool { return t.Holds(uop.BIND) }) {
		return targets, vals
	}
	subs := map[*uop.UOp]*uop.UOp{}
	for _, u := range uop.Toposort(targets...) {
		if u.Op != uop.BIND {
			continue
		}
		name := u.Src[0].Arg.(uop.VarArg).Name
		v := uop.ConstInt(u.Src[1])
		if old, ok := vals[name]; ok && old != v {
			panic(fmt.Sprintf("schedule: variable %s bound to both %d and %d in one realize", name, old, v))
		}
		vals[name] = v
		subs[u] = u.Src[0]
	}
	if len(subs) == 0 {
		return targets, vals
	}
	out := make([]*uop.UOp, len(targets))
	for i, t := range targets {
		out[i] = uop.Replace(t, subs)
	}
	return out, vals
}

type graph struct {
	targets  []*uop.UOp
	nodes    []*uop.UOp // toposorted
	children map[*uop.UOp][]*uop.UOp
	realize  map[*uop.UOp]bool
	noRow    map[*uop.UOp]bool // broadcasts that may not fuse as row broadcasts (see rowBroadcast)
	rowMemo  map[*uop.UOp]bool // rowBroadcast's answers while addRealize changes nothing (else nil)
}

func newGraph(targets []*uop.UOp) *graph {
	g := &graph{targets: targets, children: map[*uop.UOp][]*uop.UOp{}, realize: map[*uop.UOp]bool{}, noRow: map[*uop.UOp]bool{}}
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
		src := u.Src
		if u.Op == uop.ASSIGN { // the target is written, not read
			src = src[1:]
		}
		for _, s := range src {
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

// repeatedInReduce reports whether the broadcast n feeds, through
// elementwise ops, a reduce that keeps the axes n broadcasts along: the
// reduce's loop then runs inside them, and n's source is computed again
// for each of their indices (the input of a matrix-vector product, once
// per output row). Other broadcasts of a value that does not change along
// the inner loops are hoisted out of them by the linearizer.
func (g *graph) repeatedInReduce(n *uop.UOp) bool {
	var expanded []int
	for i, d := range n.Shape() {
		if d != n.Src[0].Shape()[i] {
			expanded = append(expanded, i)
		}
	}
	seen := map[*uop.UOp]bool{}
	var walk func(u *uop.UOp) bool
	walk = func(u *uop.UOp) bool {
		for _, c := range g.children[u] {
			if seen[c] || g.realize[c] && c.Op != uop.REDUCE_AXIS {
				continue
			}
			seen[c] = true
			switch {
			case c.Op == uop.REDUCE_AXIS:
				axes := c.Arg.(uop.ReduceArg).Axes
				if !slices.ContainsFunc(expanded, func(a int) bool { return slices.Contains(axes, a) }) {
					return true
				}
			case (c.Op.IsALU() || c.Op == uop.CAST || c.Op == uop.BITCAST) && slices.Equal(c.Shape(), n.Shape()):
				if walk(c) {
					return true
				}
			}
		}
		return false
	}
	return walk(n)
}

// expensive reports whether u's in-kernel subgraph holds a transcendental
// op or a division (or more than 8 other ops): repeated, that costs more
// than computing it once into a buffer. What is broadcast below a further
// EXPAND does not count (the linearizer hoists it out of the loops).
// Cheaper chains stay fused; models realize what they reuse (a
// transformer's residual stream) with Contiguous, as in tinygrad.
func (g *graph) expensive(u *uop.UOp) bool {
	cost := 0
	seen := map[*uop.UOp]bool{}
	var walk func(u *uop.UOp)
	walk = func(u *uop.UOp) {
		if seen[u] || g.leaf(u) || u.Op == uop.EXPAND || u.Op == uop.REDUCE_AXIS || cost > 8 {
			return
		}
		seen[u] = true
		switch {
		case u.Op == uop.EXP2 || u.Op == uop.LOG2 || u.Op == uop.SIN || u.Op == uop.SQRT || u.Op == uop.RECIP || u.Op == uop.IDIV:
			cost += 8
		case u.Op == uop.CAST && u.DType.IsInt() && u.Src[0].DType.IsInt():
			// Widening an integer is free in a vector kernel: a sum of
			// byte products becomes one DOT2 or DOT4 instruction.
		case u.Op.IsALU() || u.Op == uop.CAST:
			cost++
		}
		for _, s := range u.Src {
			walk(s)
		}
	}
	walk(u)
	return cost >= 8
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
	for {
		for g.addRealize() {
		}
		if !g.separateSelfReads() {
			return
		}
	}
}

// separateSelfReads finds an ASSIGN whose kernel would read its own target
// through another view than the one it writes (x.Assign(x.T())): in place,
// it would read elements it has already overwritten. The value is then
// computed into a buffer of its own first. It reports whether it changed
// anything.
func (g *graph) separateSelfReads() bool {
	changed := false
	for _, r := range g.nodes {
		if r.Op != uop.ASSIGN || !g.realize[r] || g.realize[r.Src[1]] || g.leaf(r.Src[1]) {
			continue
		}
		target, _ := ViewOf(r.Src[0])
		ast, srcs := g.lowerKernel(r)
		if ast == nil {
			continue
		}
		for _, u := range uop.Toposort(ast) {
			if u.Op != uop.LOAD || u.Src[0].Op != uop.DEFINE_GLOBAL {
				continue
			}
			src := srcs[u.Src[0].Arg.(int)-1]
			if src.Op == uop.BUFFER && src.Arg.(*device.Buffer) == target && u.Src[1].Arg.(shape.ShapeTracker).Key() != storeView(ast).Key() {
				g.realize[r.Src[1]] = true
				changed = true
				break
			}
		}
	}
	return changed
}

// storeView returns the tracker of a single-output kernel's store.
func storeView(ast *uop.UOp) shape.ShapeTracker {
	return ast.Src[0].Src[1].Arg.(shape.ShapeTracker)
}

// addRealize finds the first node, sources first, that a fusion rule says
// must be realized, adds it and reports true; it reports false when the
// graph obeys every rule.
func (g *graph) addRealize() bool {
	candidate := func(u *uop.UOp) bool { return !g.realize[u] && !g.leaf(u) }
	// Nothing changes the realizes until this returns.
	g.rowMemo = map[*uop.UOp]bool{}
	defer func() { g.rowMemo = nil }()
	hasReduce := map[*uop.UOp]bool{}
	ownReduce := map[*uop.UOp]bool{}
	unsafe := map[*uop.UOp]bool{}
	chain := g.storeChains()
	for _, n := range g.nodes {
		if g.leaf(n) && !g.realize[n] {
			continue
		}
		for _, s := range n.Src {
			if !candidate(s) {
				continue
			}
			// A row broadcast stays in its kernel as long as no view but
			// the store's lies between it and the kernel's output: a view
			// cannot be pushed through it to the loads. What the view
			// reads is stored by a row kernel of its own instead (a
			// softmax read by a product), or, viewed right away, the
			// broadcast is an ordinary one.
			if n.Op.IsMovement() && !chain[n] && !g.rowBroadcast(n) && len(g.rowBroadcastsUnder(s)) > 0 {
				if g.rowBroadcast(s) {
					g.noRow[s] = true
				} else {
					g.realize[s] = true
				}
				return true
			}
			// A reduce's result may only be reshaped inside its kernel (or
			// permuted and flipped on its way to the kernel's output, which
			// the store's view absorbs, or broadcast along its own axes in
			// a row kernel). Its elementwise consumers are cheap to
			// recompute, so the reduce itself is what gets realized.
			if n.Op == uop.REDUCE_AXIS && g.readsReduce(s, ownReduce) ||
				n.Op.IsMovement() && n.Op != uop.RESHAPE && !chain[n] && !g.rowBroadcast(n) && g.contains(s, isReduce, hasReduce) {
				for _, r := range g.topReduces(s) {
					g.realize[g.scaled(r)] = true
				}
				return true
			}
			// A broadcast repeats its source's computation for every copy:
			// a transcendental per element (the SiLU of a feed-forward
			// block read by a matrix-vector product, once per output row)
			// is computed once into a buffer instead.
			if n.Op == uop.EXPAND && s.Numel() > 1 && n.Numel() >= 4*s.Numel() && g.repeatedInReduce(n) && g.expensive(s) {
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
			g.realize[g.scaled(n)] = true
			return true
		}
	}
	return false
}

// scaled returns what to store for the reduce r: r times a constant where
// that product is r's only use (a mean, sum*(1/n)), else r. Its readers
// then read the rounded product: fused into them, a C compiler may contract
// the product and their own subtraction (x - mean) into one multiply-add,
// and a row's centred values no longer sum to zero.
func (g *graph) scaled(r *uop.UOp) *uop.UOp {
	kids := g.children[r]
	if len(kids) != 1 || g.realize[r] || slices.Contains(g.targets, r) {
		return r
	}
	c := kids[0]
	if c.Op != uop.MUL || !c.DType.IsFloat() || g.realize[c] {
		return r
	}
	other := c.Src[0]
	if other == r {
		other = c.Src[1]
	}
	if !constant(other) {
		return r
	}
	return c
}

// constant reports whether u is computed from constants alone.
func constant(u *uop.UOp) bool {
	switch {
	case u.Op == uop.CONST:
		return true
	case u.Op == uop.CAST || u.Op.IsMovement() || u.Op.IsALU():
		for _, s := range u.Src {
			if !constant(s) {
				return false
			}
		}
		return len(u.Src) > 0
	}
	return false
}

// topReduces returns the reduces in u's in-kernel subgraph that no other
// reduce there consumes.
func (g *graph) topReduces(u *uop.UOp) []*uop.UOp {
	var out []*uop.UOp
	seen := map[*uop.UOp]bool{}
	var visit func(n *uop.UOp)
	visit = func(n *uop.UOp) {
		if seen[n] || g.leaf(n) {
			return
		}
		seen[n] = true
		if n.Op == uop.REDUCE_AXIS {
			out = append(out, n)
			return
		}
		for _, s := range n.Src {
			visit(s)
		}
	}
	visit(u)
	return out
}

// storeMoves are the movement ops a kernel's store view can take over.
func storeMove(op uop.Op) bool { return op == uop.PERMUTE || op == uop.RESHAPE || op == uop.FLIP }

// storeChains marks, for every realized node, the chain of reshapes,
// permutes and flips from it down to a reduce (each link read only by the
// one above): the kernel stores the reduce through the inverse view instead.
func (g *graph) storeChains() map[*uop.UOp]bool {
	chain := map[*uop.UOp]bool{}
	for _, r := range g.nodes {
		if !g.realize[r] || r.Op == uop.COPY || r.Op == uop.ASSIGN {
			continue
		}
		var links []*uop.UOp
		u := r
		if u.Op == uop.CONTIGUOUS {
			u = u.Src[0]
		}
		for storeMove(u.Op) && (u == r || (len(g.children[u]) == 1 && !g.leaf(u))) && !g.leaf(u.Src[0]) {
			links = append(links, u)
			u = u.Src[0]
		}
		if u.Op == uop.REDUCE_AXIS && (u == r || (len(g.children[u]) == 1 && !g.leaf(u))) {
			for _, l := range links {
				chain[l] = true
			}
		}
	}
	return chain
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

// pending is an item being built: the nodes it realizes and the leaves it reads.
type pending struct {
	kind  Kind
	ast   *uop.UOp
	outs  []*uop.UOp // realized nodes, one per output
	srcs  []*uop.UOp // the leaves behind the inputs, by DEFINE_GLOBAL number
	after map[int]bool
	gone  bool // merged into another item
}

// build makes the items, orders them (sources first, and readers of a
// buffer's old contents before an ASSIGN overwrites it), merges independent
// elementwise kernels of one shape into multi-output kernels, and plans
// buffers so that intermediates are reused once their last reader has run.
func (g *graph) build() *Schedule {
	var items []*pending
	itemOf := map[*uop.UOp]int{}
	var visit func(r *uop.UOp)
	visit = func(r *uop.UOp) {
		if _, ok := itemOf[r]; ok {
			return
		}
		itemOf[r] = -1
		p := &pending{kind: Kernel, outs: []*uop.UOp{r}, after: map[int]bool{}}
		if r.Op == uop.COPY {
			p.kind, p.srcs = Copy, []*uop.UOp{r.Src[0]}
		} else {
			p.ast, p.srcs = g.lowerKernel(r)
		}
		for _, src := range p.srcs {
			if g.realize[src] {
				visit(src)
				p.after[itemOf[src]] = true
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
	// An ASSIGN overwrites its target's buffer: whoever reads the old
	// contents runs first.
	for a, pa := range items {
		if pa.outs[0].Op != uop.ASSIGN {
			continue
		}
		target, _ := ViewOf(pa.outs[0].Src[0])
		for x, px := range items {
			if x == a {
				continue
			}
			for _, src := range px.srcs {
				if src.Op == uop.BUFFER && src.Arg.(*device.Buffer) == target {
					pa.after[x] = true
				}
			}
		}
	}
	// Updates that read each other's old values (an optimizer's parameter
	// and its moments) order each other both ways: they can only run as one
	// kernel, which reads every old value before it writes.
	for _, cycle := range cycles(items) {
		first := items[cycle[0]]
		for _, i := range cycle[1:] {
			p := items[i]
			if !slices.Equal(elementwiseShape(p), elementwiseShape(first)) || elementwiseShape(p) == nil ||
				p.outs[0].Device != first.outs[0].Device || !g.sameViewIO(first, p) {
				panic("schedule: kernels read each other's old contents of assigned buffers and cannot run as one kernel")
			}
		}
		for _, i := range cycle[1:] {
			g.merge(first, items[i])
			items[i].gone = true
		}
		for _, x := range items {
			for _, i := range cycle[1:] {
				if x.after[i] {
					delete(x.after, i)
					x.after[cycle[0]] = true
				}
			}
		}
		delete(first.after, cycle[0])
	}
	order := orderItems(items)
	order = g.mergeKernels(items, order)
	return g.planMemory(items, order)
}

// cycles returns the strongly connected components of more than one item in
// the after graph (Tarjan's algorithm).
func cycles(items []*pending) [][]int {
	index := make([]int, len(items))
	low := make([]int, len(items))
	onStack := make([]bool, len(items))
	for i := range index {
		index[i] = -1
	}
	var stack []int
	var out [][]int
	n := 0
	var visit func(v int)
	visit = func(v int) {
		index[v], low[v] = n, n
		n++
		stack = append(stack, v)
		onStack[v] = true
		for w := range items[v].after {
			if index[w] < 0 {
				visit(w)
				low[v] = min(low[v], low[w])
			} else if onStack[w] {
				low[v] = min(low[v], index[w])
			}
		}
		if low[v] == index[v] {
			var comp []int
			for {
				w := stack[len(stack)-1]
				stack = stack[:len(stack)-1]
				onStack[w] = false
				comp = append(comp, w)
				if w == v {
					break
				}
			}
			if len(comp) > 1 {
				slices.Sort(comp)
				out = append(out, comp)
			}
		}
	}
	for v := range items {
		if index[v] < 0 {
			visit(v)
		}
	}
	return out
}

// orderItems sorts items (skipping merged ones) so every item comes after
// those in its after set, keeping the discovery order otherwise.
func orderItems(items []*pending) []int {
	done := make([]bool, len(items))
	var order []int
	var visit func(i int)
	visiting := make([]bool, len(items))
	visit = func(i int) {
		if done[i] {
			return
		}
		if visiting[i] {
			panic("schedule: cyclic dependency between kernels (an ASSIGN read both before and after)")
		}
		visiting[i] = true
		preds := make([]int, 0, len(items[i].after))
		for p := range items[i].after {
			preds = append(preds, p)
		}
		slices.Sort(preds)
		for _, p := range preds {
			visit(p)
		}
		done[i] = true
		order = append(order, i)
	}
	for i := range items {
		if !items[i].gone {
			visit(i)
		}
	}
	return order
}

// elementwiseShape returns the store shape of a kernel without a reduce, or nil.
func elementwiseShape(p *pending) []int {
	if p.kind != Kernel || p.ast == nil {
		return nil
	}
	for _, u := range uop.Toposort(p.ast) {
		if u.Op == uop.REDUCE_AXIS {
			return nil
		}
	}
	return p.ast.Src[0].Src[1].Arg.(shape.ShapeTracker).Shape()
}

// writes returns the buffer nodes an item's outputs overwrite in place.
func writes(p *pending) []*uop.UOp {
	var w []*uop.UOp
	for _, o := range p.outs {
		if o.Op == uop.ASSIGN {
			w = append(w, o.Src[0])
		}
	}
	return w
}

// mergeKernels folds an elementwise kernel into an earlier one of the same
// device and shape when nothing orders one after the other and they touch
// no buffer the other writes (except in place, through the same view), so
// an optimizer step updating a parameter and its moments is one kernel.
func (g *graph) mergeKernels(items []*pending, order []int) []int {
	pos := make([]int, len(items))
	for k, i := range order {
		pos[i] = k
	}
	for kj, j := range order {
		pj := items[j]
		sj := elementwiseShape(pj)
		if sj == nil || len(pj.outs) != 1 {
			continue
		}
		for ki := 0; ki < kj; ki++ {
			i := order[ki]
			pi := items[i]
			if pi.gone || !slices.Equal(elementwiseShape(pi), sj) || pi.outs[0].Device != pj.outs[0].Device {
				continue
			}
			// Everything j waits for must be done before i runs; an order
			// between i and j themselves can only be an in-place read, which
			// sameViewIO allows when the loop reads what it writes.
			ok := true
			for p := range pj.after {
				ok = ok && (p == i || pos[p] < ki)
			}
			if ok && !g.sameViewIO(pi, pj) {
				ok = false
			}
			if !ok {
				continue
			}
			g.merge(pi, pj)
			pj.gone = true
			for _, x := range items {
				if x.after[j] {
					delete(x.after, j)
					x.after[i] = true
				}
			}
			break
		}
	}
	var out []int
	for _, i := range order {
		if !items[i].gone {
			out = append(out, i)
		}
	}
	return out
}

// sameViewIO reports whether kernels a and b can share a loop: neither reads
// a buffer the other writes, except through exactly the view it is written.
func (g *graph) sameViewIO(a, b *pending) bool {
	check := func(w, r *pending) bool {
		for _, wb := range writes(w) {
			buf, st := ViewOf(wb)
			for _, u := range uop.Toposort(r.ast) {
				if u.Op != uop.LOAD || u.Src[0].Op != uop.DEFINE_GLOBAL {
					continue
				}
				n := u.Src[0].Arg.(int) - len(r.outs)
				if n < 0 {
					continue
				}
				src := r.srcs[n]
				if src.Op == uop.BUFFER && src.Arg.(*device.Buffer) == buf && u.Src[1].Arg.(shape.ShapeTracker).Key() != st.Key() {
					return false
				}
			}
		}
		for _, o := range w.outs {
			if slices.Contains(r.srcs, o) {
				return false
			}
		}
		return true
	}
	return check(a, b) && check(b, a)
}

// merge adds b's outputs and stores to kernel a, renumbering the globals:
// outputs first, then inputs, shared inputs once.
func (g *graph) merge(a, b *pending) {
	outs := append(slices.Clone(a.outs), b.outs...)
	var srcs []*uop.UOp
	index := map[*uop.UOp]int{}
	for _, s := range append(slices.Clone(a.srcs), b.srcs...) {
		if _, ok := index[s]; !ok {
			index[s] = len(outs) + len(srcs)
			srcs = append(srcs, s)
		}
	}
	renumber := func(p *pending, firstOut int) []*uop.UOp {
		subs := map[*uop.UOp]*uop.UOp{}
		for _, u := range uop.Toposort(p.ast) {
			if u.Op != uop.DEFINE_GLOBAL {
				continue
			}
			n := u.Arg.(int)
			if n < len(p.outs) {
				n += firstOut
			} else {
				n = index[p.srcs[n-len(p.outs)]]
			}
			subs[u] = uop.New(uop.DEFINE_GLOBAL, u.DType, nil, n)
		}
		return uop.Replace(p.ast, subs).Src
	}
	stores := append(renumber(a, 0), renumber(b, len(a.outs))...)
	a.ast = uop.New(uop.SINK, dtype.Invalid, stores, nil)
	a.outs, a.srcs = outs, srcs
	for p := range b.after {
		a.after[p] = true
	}
}

// planMemory gives every output a buffer (an ASSIGN writes its target's) and
// returns the schedule.
func (g *graph) planMemory(items []*pending, order []int) *Schedule {
	s := &Schedule{Views: map[*uop.UOp]*uop.UOp{}}
	isTarget := map[*uop.UOp]bool{}
	for _, t := range g.targets {
		isTarget[t] = true
	}
	lastUse := map[*uop.UOp]int{}
	for k, i := range order {
		for _, src := range items[i].srcs {
			lastUse[src] = k
		}
	}
	releaseAt := map[int][]*uop.UOp{}
	for r, k := range lastUse {
		if g.realize[r] && !isTarget[r] && r.Op != uop.ASSIGN {
			releaseAt[k] = append(releaseAt[k], r)
		}
	}
	type key struct {
		dev  string
		dt   dtype.DType
		size int
	}
	// A freed buffer remembers who read it last: whoever reuses it waits for
	// them, since they may run on another device's queue.
	type freed struct {
		buf     *device.Buffer
		readers []int
	}
	free := map[key][]freed{}
	bufOf := map[*uop.UOp]*device.Buffer{}
	itemIndex := map[*uop.UOp]int{}
	readers := map[*uop.UOp][]int{}
	for k, i := range order {
		p := items[i]
		var bufs []*device.Buffer
		var waits []int
		for _, r := range p.outs {
			var out *device.Buffer
			switch {
			case r.Op == uop.ASSIGN:
				out, _ = ViewOf(r.Src[0])
			default:
				dev := device.MustGet(r.Device)
				kk := key{dev.Name, r.DType, r.Numel()}
				if fl := free[kk]; len(fl) > 0 && !isTarget[r] {
					f := fl[len(fl)-1]
					free[kk] = fl[:len(fl)-1]
					out = f.buf
					waits = append(waits, f.readers...)
				} else {
					out = device.NewBuffer(dev, r.DType, r.Numel())
				}
			}
			bufOf[r] = out
			itemIndex[r] = len(s.Items)
			bufs = append(bufs, out)
		}
		it := &Item{Kind: p.kind, AST: p.ast, Outs: p.outs}
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
		for d := range p.after {
			for _, o := range items[d].outs {
				if idx, ok := itemIndex[o]; ok {
					waits = append(waits, idx)
				}
			}
		}
		for _, w := range waits {
			if !slices.Contains(it.Deps, w) {
				it.Deps = append(it.Deps, w)
			}
		}
		slices.Sort(it.Deps)
		it.Bufs = bufs
		for _, src := range p.srcs {
			readers[src] = append(readers[src], len(s.Items))
		}
		s.Items = append(s.Items, it)
		for _, dead := range releaseAt[k] {
			b := bufOf[dead]
			kk := key{b.Dev.Name, b.DType, b.Size}
			free[kk] = append(free[kk], freed{b, readers[dead]})
		}
	}
	for _, t := range g.targets {
		switch {
		case t.Op == uop.ASSIGN:
			s.Views[t] = t.Src[0]
		case bufOf[t] != nil:
			s.Views[t] = uop.Buffer(bufOf[t]).Reshape(t.Shape())
		default:
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
	st := shape.New(r.Shape())
	switch r.Op {
	case uop.CONTIGUOUS:
		val = r.Src[0]
	case uop.ASSIGN:
		val = r.Src[1]
		_, st = ViewOf(r.Src[0])
	}
	// Reshapes, permutes and flips between the output and a reduce become
	// the store's view: the reduce's element i goes where the ops send it.
	if chain := g.storeChains(); chain[val] {
		for chain[val] && (val == r || !g.leaf(val)) {
			switch val.Op {
			case uop.PERMUTE:
				st = st.Permute(uop.InversePermutation(val.Arg.([]int)))
			case uop.RESHAPE:
				st = st.Reshape(val.Src[0].Shape())
			case uop.FLIP:
				st = st.Flip(val.Arg.([]bool))
			}
			val = val.Src[0]
		}
	}
	var reduced []int // the output shape of the kernel's reduce
	row, top := g.rowShape(r)
	if top != nil {
		reduced = top.Shape()
	}
	var srcs []*uop.UOp
	subs := map[*uop.UOp]*uop.UOp{}
	for _, n := range g.kernelNodes(r) {
		src := n.Src
		if n == r && r.Op == uop.ASSIGN {
			src = src[1:]
		}
		for _, s := range src {
			if _, done := subs[s]; done || !g.leaf(s) {
				continue
			}
			switch s.Op {
			case uop.CONST:
				subs[s] = uop.New(uop.CONST, s.DType, []*uop.UOp{view(shape.New(nil))}, s.Arg)
			case uop.DEFINE_VAR: // the kernel's own: no device, with its bounds
				subs[s] = shape.KernelVar(s)
			default:
				srcs = append(srcs, s)
				dg := uop.New(uop.DEFINE_GLOBAL, s.DType, nil, len(srcs))
				base := shape.New(s.Shape())
				if s.Op == uop.ASSIGN { // its value lives in the target's view
					_, base = ViewOf(s.Src[0])
				}
				subs[s] = uop.New(uop.LOAD, s.DType, []*uop.UOp{dg, view(base)}, nil)
			}
		}
	}
	root := uop.Replace(val, subs)
	if reduced != nil && !slices.Equal(reduced, val.Shape()) {
		st = st.Reshape(reduced)
		root = uop.New(uop.RESHAPE, root.DType, []*uop.UOp{root}, slices.Clone(reduced))
	}
	root = uop.GraphRewrite(root, viewPusher(reduced, row))
	for _, u := range uop.Toposort(root) {
		if u.Op.IsMovement() {
			panic(fmt.Sprintf("schedule: %v left in a kernel over %v (a fusion rule let through a view of a reduce)", u.Op, u.Src[0].Op))
		}
	}
	out := uop.New(uop.DEFINE_GLOBAL, r.DType, nil, 0)
	store := uop.New(uop.STORE, dtype.Invalid, []*uop.UOp{out, view(st), root}, nil)
	return uop.New(uop.SINK, dtype.Invalid, []*uop.UOp{store}, nil), srcs
}

var pushers sync.Map // reduce and row shapes (as a string) -> *uop.Matcher

// viewPusher returns the (cached) pushViews matcher for a reduce shape and
// a row kernel's row shape.
func viewPusher(reduced, row []int) *uop.Matcher {
	key := fmt.Sprint(reduced, row)
	if m, ok := pushers.Load(key); ok {
		return m.(*uop.Matcher)
	}
	m, _ := pushers.LoadOrStore(key, pushViews(reduced, row))
	return m.(*uop.Matcher)
}

// over matches a node whose first source is an op.
func over(op uop.Op) func(*uop.UOp) bool {
	return func(u *uop.UOp) bool { return len(u.Src) > 0 && u.Src[0].Op == op }
}

func view(st shape.ShapeTracker) *uop.UOp { return uop.New(uop.VIEW, dtype.Invalid, nil, st) }

// pushViews moves movement ops down through elementwise ops into the views
// of loads and constants. Inside a kernel a reduce may only be reshaped, and
// the kernel's root is reshaped to the reduce's shape (reduced), so the
// reshapes above the reduce cancel out; in a row kernel, it may also be
// broadcast to the row shape along its own axes, which the code generator
// does by reading the reduce's result in the loops after it. The fusion
// rules guarantee that.
func pushViews(reduced, row []int) *uop.Matcher {
	moves := []uop.Op{uop.RESHAPE, uop.PERMUTE, uop.EXPAND, uop.PAD, uop.SHRINK, uop.FLIP}
	return uop.NewMatcher(
		uop.R(uop.P(uop.EXPAND, uop.P(uop.REDUCE_AXIS).N("r")), func(b *uop.Binds) *uop.UOp {
			if row != nil && slices.Equal(b.U.Arg.([]int), row) {
				return b.Get("r")
			}
			return nil
		}),
		// A movement op (a SHRINK at a variable offset has the variable as
		// its second source) over a load or constant folds into its view.
		uop.R(&uop.Pat{Ops: moves, Cond: over(uop.LOAD)}, func(b *uop.Binds) *uop.UOp {
			ld := b.U.Src[0]
			st := ld.Src[1].Arg.(shape.ShapeTracker).ApplyNode(b.U)
			return uop.New(uop.LOAD, b.U.DType, []*uop.UOp{ld.Src[0], view(st)}, nil)
		}),
		uop.R(&uop.Pat{Ops: moves, Cond: over(uop.CONST)}, func(b *uop.Binds) *uop.UOp {
			c := b.U.Src[0]
			if len(c.Src) != 1 || c.Src[0].Op != uop.VIEW {
				return nil
			}
			st := c.Src[0].Arg.(shape.ShapeTracker).ApplyNode(b.U)
			return uop.New(uop.CONST, b.U.DType, []*uop.UOp{view(st)}, c.Arg)
		}),
		uop.R(&uop.Pat{Ops: moves, Cond: func(u *uop.UOp) bool { return elementwise(u.Src[0]) }}, func(b *uop.Binds) *uop.UOp {
			x := b.U.Src[0]
			src := make([]*uop.UOp, len(x.Src))
			for i, s := range x.Src {
				src[i] = uop.New(b.U.Op, s.DType, append([]*uop.UOp{s}, b.U.Src[1:]...), b.U.Arg)
			}
			return uop.New(x.Op, x.DType, src, x.Arg)
		}),
		uop.R(uop.P(uop.DETACH, uop.V("x")), func(b *uop.Binds) *uop.UOp { return b.Get("x") }),
		// A variable is one value everywhere: views of it are itself.
		uop.R(&uop.Pat{Ops: []uop.Op{uop.RESHAPE, uop.EXPAND, uop.PERMUTE, uop.FLIP, uop.SHRINK}, Cond: over(uop.DEFINE_VAR)}, func(b *uop.Binds) *uop.UOp {
			return b.U.Src[0]
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
