package codegen

import (
	"strconv"
	"strings"

	"github.com/gograd/gograd/dtype"
	"github.com/gograd/gograd/shape"
	"github.com/gograd/gograd/uop"
)

// The expander lowers a kernel AST into the graph the linearizer orders:
// views become index arithmetic and validity masks at the loop variables,
// and every upcast axis is expanded into one scalar copy of the computation
// per lane. Reductions over upcast (unrolled) lanes combine the lanes before
// accumulating. Where lanes of the vector axis meet (stores, and the partial
// sums of a vectorized reduction), they are gathered into VECTORIZE nodes,
// which the vectorizer's rules then push down into vector loads and ops.

type expander struct {
	k      *Kernel
	loops  *loops
	stOf   map[*uop.UOp]shape.ShapeTracker
	ups    []int  // sizes of the upcast axes
	upRed  []bool // which are reduce axes
	vec    int    // the vector axis among ups, or -1
	deps   map[*uop.UOp]uint64
	memo   map[expKey]*uop.UOp
	phase  map[*uop.UOp]int // the phase of each reduce of the AST
	ctx    int              // the context being expanded: -1 the store's, else a phase's
	ranges []*uop.UOp       // its loop variables
}

// expKey is a node at some lanes, in a context: the store's (-1) or a
// phase's reduce, whose loops over the reduce axes are their own.
type expKey struct {
	u     *uop.UOp
	lanes string
	ctx   int
}

func newExpander(k *Kernel, l *loops) *expander {
	e := &expander{k: k, loops: l, stOf: map[*uop.UOp]shape.ShapeTracker{}, vec: -1,
		deps: map[*uop.UOp]uint64{}, memo: map[expKey]*uop.UOp{}, phase: l.phase}
	for i, v := range k.views {
		e.stOf[v] = k.sts[i]
	}
	e.ups = k.Full[k.NLoop:]
	e.upRed = k.UpReduce
	if k.VecDim >= 0 {
		e.vec = k.VecDim - k.NLoop
	}
	return e
}

// viewDeps returns the upcast axes a view's index or mask varies along.
func (e *expander) viewDeps(st shape.ShapeTracker) uint64 {
	var m uint64
	shp := st.Shape()
	strides, single := st.RealStrides()
	mask := st.Views[len(st.Views)-1].Mask
	for d := range e.ups {
		p := e.k.NLoop + d
		if shp[p] == 1 {
			continue
		}
		if !single || strides[p] != 0 || (mask != nil && mask[p] != [2]int{0, shp[p]}) {
			m |= 1 << d
		}
	}
	return m
}

// depsOf returns the upcast axes a node varies along.
func (e *expander) depsOf(u *uop.UOp) uint64 {
	if m, ok := e.deps[u]; ok {
		return m
	}
	var m uint64
	switch u.Op {
	case uop.LOAD:
		m = e.viewDeps(e.stOf[u.Src[1]])
	case uop.CONST:
		if len(u.Src) > 0 {
			m = e.viewDeps(e.stOf[u.Src[0]])
		}
	case uop.STORE:
		m = e.viewDeps(e.stOf[u.Src[1]]) | e.depsOf(u.Src[2])
	case uop.REDUCE_AXIS:
		m = e.depsOf(u.Src[0])
		for d, r := range e.upRed {
			if r {
				m &^= 1 << d
			}
		}
	default:
		for _, s := range u.Src {
			m |= e.depsOf(s)
		}
	}
	e.deps[u] = m
	return m
}

// key encodes the lanes of the axes in mask.
func laneKey(lanes []int, mask uint64) string {
	var b strings.Builder
	for d, l := range lanes {
		if mask&(1<<d) != 0 {
			b.WriteString(strconv.Itoa(l))
		}
		b.WriteByte(',')
	}
	return b.String()
}

// index lowers a view at the loop variables of the current context and the
// given lanes.
func (e *expander) index(view *uop.UOp, lanes []int) (idx, valid *uop.UOp) {
	st := e.stOf[view]
	shp := st.Shape()
	idxs := make([]*uop.UOp, len(shp))
	for i, n := range shp {
		switch {
		case n == 1:
			idxs[i] = uop.Index(0)
		case i < e.k.NLoop:
			idxs[i] = e.ranges[i]
		default:
			idxs[i] = uop.Index(int64(lanes[i-e.k.NLoop]))
		}
	}
	return st.Index(idxs)
}

func alwaysTrue(u *uop.UOp) bool { return u.Op == uop.CONST && uop.ConstInt(u) == 1 }

// expand returns the scalar computation of u at the given lanes, in the
// current context.
func (e *expander) expand(u *uop.UOp, lanes []int) *uop.UOp {
	key := expKey{u, laneKey(lanes, e.depsOf(u)), e.ctx}
	if r, ok := e.memo[key]; ok {
		return r
	}
	var out *uop.UOp
	switch u.Op {
	case uop.LOAD:
		idx, valid := e.index(u.Src[1], lanes)
		src := []*uop.UOp{u.Src[0], idx}
		if !alwaysTrue(valid) {
			src = []*uop.UOp{u.Src[0], uop.SimplifyGiven(idx, valid), valid}
		}
		out = uop.New(uop.LOAD, u.DType, src, nil)
	case uop.CONST:
		out = uop.New(uop.CONST, u.DType, nil, u.Arg)
		if len(u.Src) > 0 {
			if _, valid := e.index(u.Src[0], lanes); !alwaysTrue(valid) {
				out = valid.Alu(uop.WHERE, out, uop.KConst(u.DType, 0))
			}
		}
	case uop.REDUCE_AXIS:
		out = e.reduce(u, lanes)
	default:
		src := make([]*uop.UOp, len(u.Src))
		for i, s := range u.Src {
			src[i] = e.expand(s, lanes)
		}
		out = uop.New(u.Op, u.DType, src, u.Arg)
	}
	e.memo[key] = out
	return out
}

// forLanes calls fn for every assignment of lanes to the upcast axes in
// mask (the others keep their value in base).
func (e *expander) forLanes(base []int, mask uint64, fn func(lanes []int)) {
	lanes := append([]int(nil), base...)
	var rec func(d int)
	rec = func(d int) {
		if d == len(e.ups) {
			fn(append([]int(nil), lanes...))
			return
		}
		if mask&(1<<d) == 0 {
			rec(d + 1)
			return
		}
		for l := range e.ups[d] {
			lanes[d] = l
			rec(d + 1)
		}
	}
	rec(0)
}

// reduce expands a reduction: the unrolled lanes are combined with the
// reduce op inside the loop, then accumulated over the reduce loops. A
// vector reduce axis keeps one accumulator per lane (gathered in a
// VECTORIZE the vectorizer turns into one vector accumulator) and combines
// them after the loops.
func (e *expander) reduce(u *uop.UOp, lanes []int) *uop.UOp {
	op := u.Arg.(uop.ReduceArg).Op
	// Every unrolled lane counts, also those the value does not vary along
	// (the memo hands back the same node): sum(x) over n lanes is n copies.
	var unrolled uint64
	for d, r := range e.upRed {
		if r && d != e.vec {
			unrolled |= 1 << d
		}
	}
	// The reduce's input is computed in its phase's loops.
	outerCtx, outer := e.ctx, e.ranges
	e.ctx = e.phase[u]
	e.ranges = e.loops.of(e.ctx)
	defer func() { e.ctx, e.ranges = outerCtx, outer }()
	accumulate := func(lanes []int) *uop.UOp {
		var val *uop.UOp
		e.forLanes(lanes, unrolled, func(l []int) {
			v := e.expand(u.Src[0], l)
			if val == nil {
				val = v
			} else {
				val = val.Alu(op, v)
			}
		})
		src := append([]*uop.UOp{val}, e.ranges[e.k.NGlobal:]...)
		return uop.New(uop.REDUCE_AXIS, u.DType, src, uop.ReduceArg{Op: op})
	}
	if e.vec < 0 || !e.upRed[e.vec] {
		return accumulate(lanes)
	}
	w := e.ups[e.vec]
	parts := make([]*uop.UOp, w)
	for l := range w {
		ll := append([]int(nil), lanes...)
		ll[e.vec] = l
		parts[l] = accumulate(ll)
	}
	return fold(op, uop.New(uop.VECTORIZE, u.DType.Vec(w), parts, nil), w)
}

// fold combines the w lanes of vec with op: for a power of two, its low and
// high halves lane by lane, then the halves of that, and so on (log2 w
// vector ops, the lanes summed in a tree), else lane after lane. A half is
// a VECTORIZE of lanes the vectorizer leaves as it is, which C compilers
// turn into one extraction.
func fold(op uop.Op, vec *uop.UOp, w int) *uop.UOp {
	elem := vec.DType.Scalar()
	lanes := func(v *uop.UOp, from, n int) *uop.UOp {
		if n == 1 {
			return uop.New(uop.GEP, elem, []*uop.UOp{v}, from)
		}
		ls := make([]*uop.UOp, n)
		for l := range ls {
			ls[l] = uop.New(uop.GEP, elem, []*uop.UOp{v}, from+l)
		}
		return uop.New(uop.VECTORIZE, elem.Vec(n), ls, nil)
	}
	if w&(w-1) != 0 {
		out := lanes(vec, 0, 1)
		for l := 1; l < w; l++ {
			out = out.Alu(op, lanes(vec, l, 1))
		}
		return out
	}
	for ; w > 1; w /= 2 {
		h := w / 2
		vec = lanes(vec, 0, h).Alu(op, lanes(vec, h, h))
	}
	return vec
}

// expandSink expands every store of the kernel for every lane combination
// of the axes it varies along; the lanes of the vector axis are gathered
// into a VECTORIZE, stored at once when their indices are consecutive and
// lane by lane otherwise.
func (e *expander) expandSink(sink *uop.UOp) *uop.UOp {
	e.ctx, e.ranges = -1, e.loops.of(-1)
	var stores []*uop.UOp
	zero := make([]int, len(e.ups))
	for _, st := range sink.Src {
		mask := e.depsOf(st)
		vecMask := uint64(0)
		if e.vec >= 0 && mask&(1<<e.vec) != 0 {
			vecMask = 1 << e.vec
		}
		e.forLanes(zero, mask&^vecMask, func(lanes []int) {
			if vecMask == 0 {
				idx, _ := e.index(st.Src[1], lanes)
				stores = append(stores, uop.New(uop.STORE, st.DType, []*uop.UOp{st.Src[0], idx, e.expand(st.Src[2], lanes)}, nil))
				return
			}
			w := e.ups[e.vec]
			idxs := make([]*uop.UOp, w)
			vals := make([]*uop.UOp, w)
			for l := range w {
				ll := append([]int(nil), lanes...)
				ll[e.vec] = l
				idxs[l], _ = e.index(st.Src[1], ll)
				vals[l] = e.expand(st.Src[2], ll)
			}
			v := uop.New(uop.VECTORIZE, vals[0].DType.Vec(w), vals, nil)
			if consecutive(idxs) {
				stores = append(stores, uop.New(uop.STORE, st.DType, []*uop.UOp{st.Src[0], idxs[0], v}, nil))
				return
			}
			// Scattered lanes (a vector along an axis the output is strided
			// along): the value is still computed as one vector, and each
			// lane stored by itself.
			for l := range w {
				lane := uop.New(uop.GEP, vals[l].DType, []*uop.UOp{v}, l)
				stores = append(stores, uop.New(uop.STORE, st.DType, []*uop.UOp{st.Src[0], idxs[l], lane}, nil))
			}
		})
	}
	return uop.New(uop.SINK, dtype.Invalid, stores, nil)
}

// consecutive reports whether idxs[l] is idxs[0] + l for every lane.
func consecutive(idxs []*uop.UOp) bool {
	for l := 1; l < len(idxs); l++ {
		if uop.Simplify(idxs[0].Alu(uop.ADD, uop.Index(int64(l)))) != idxs[l] {
			return false
		}
	}
	return true
}
