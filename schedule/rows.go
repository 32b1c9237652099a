package schedule

import (
	"slices"
	"strings"
	"sync"

	"github.com/gograd/gograd/uop"
)

// Row kernels. A reduction broadcast back along the axes it reduces (a
// softmax's maximum and sum, a norm's mean and variance) normally ends its
// kernel: the statistic is stored, and the kernel that reads it reads the
// rows again from memory. On a device whose code generator runs a kernel's
// reductions in phases (codegen's loops: each phase its own loops over the
// reduce axes, then the store's), the reduction stays in its reader's
// kernel instead, which passes over each row once per phase while the row
// is in cache: a softmax is one kernel that reads its input from memory
// once, not three.

// maxRow bounds the elements of a row that a row kernel passes over several
// times: 64K of them (256 KiB of floats) stay in a core's L2 cache.
const maxRow = 1 << 16

var rowKinds sync.Map // device kind -> true

// AllowRowKernels lets kernels on devices of kind keep a reduction that is
// broadcast back along its own axes (see codegen's Late kernels). The
// kind's code generator must run such kernels.
func AllowRowKernels(kind string) { rowKinds.Store(kind, true) }

// RowKernels reports whether kernels on device dev (like "CPU:0") may be
// row kernels.
func RowKernels(dev string) bool {
	kind, _, _ := strings.Cut(dev, ":")
	_, ok := rowKinds.Load(kind)
	return ok
}

// rowBroadcast reports whether n is an EXPAND that broadcasts reductions
// back along exactly the axes they reduce, through elementwise ops only,
// on a device that runs row kernels, with rows of at most maxRow elements:
// its reductions then fuse into the kernel that reads n.
func (g *graph) rowBroadcast(n *uop.UOp) bool {
	if n.Op != uop.EXPAND || g.noRow[n] || g.leaf(n.Src[0]) || !RowKernels(n.Device) {
		return false
	}
	if v, ok := g.rowMemo[n]; ok {
		return v
	}
	v := g.isRowBroadcast(n)
	if g.rowMemo != nil {
		g.rowMemo[n] = v
	}
	return v
}

// isRowBroadcast is rowBroadcast's walk of an EXPAND's source.
func (g *graph) isRowBroadcast(n *uop.UOp) bool {
	var reduces []*uop.UOp
	ok := true
	seen := map[*uop.UOp]bool{}
	var walk func(u *uop.UOp)
	walk = func(u *uop.UOp) {
		if !ok || seen[u] || g.leaf(u) {
			return
		}
		seen[u] = true
		switch {
		case u.Op == uop.REDUCE_AXIS:
			reduces = append(reduces, u)
		case elementwise(u) || u.Op == uop.DETACH:
			for _, s := range u.Src {
				walk(s)
			}
		case u.Op.IsMovement():
			// A view of leaves (a broadcast constant) only.
			ok = !g.contains(u, isReduce, map[*uop.UOp]bool{})
		default:
			ok = false
		}
	}
	walk(n.Src[0])
	if !ok || len(reduces) == 0 {
		return false
	}
	for _, r := range reduces {
		if !slices.Equal(r.Src[0].Shape(), n.Shape()) || !sameLoops(r, reduces[0]) {
			return false
		}
	}
	row := 1
	for _, a := range reduces[0].Arg.(uop.ReduceArg).Axes {
		row *= n.Shape()[a]
	}
	return row <= maxRow
}

// rowBroadcastsUnder returns the row broadcasts a movement op over u would
// have to be pushed through: those reached from u through elementwise ops.
func (g *graph) rowBroadcastsUnder(u *uop.UOp) []*uop.UOp {
	if !RowKernels(u.Device) {
		return nil
	}
	var out []*uop.UOp
	seen := map[*uop.UOp]bool{}
	var walk func(u *uop.UOp)
	walk = func(u *uop.UOp) {
		if seen[u] || g.leaf(u) {
			return
		}
		seen[u] = true
		switch {
		case g.rowBroadcast(u):
			out = append(out, u)
		case elementwise(u) || u.Op == uop.DETACH:
			for _, s := range u.Src {
				walk(s)
			}
		}
	}
	walk(u)
	return out
}

// readsReduce reports whether u's in-kernel subgraph holds a reduce that is
// not behind a row broadcast.
func (g *graph) readsReduce(u *uop.UOp, memo map[*uop.UOp]bool) bool {
	if v, ok := memo[u]; ok {
		return v
	}
	res := false
	if !g.leaf(u) && !g.rowBroadcast(u) {
		res = u.Op == uop.REDUCE_AXIS
		for _, s := range u.Src {
			if res {
				break
			}
			res = g.readsReduce(s, memo)
		}
	}
	memo[u] = res
	return res
}

// rowShape returns the shape a row kernel's broadcasts expand to (nil for
// another kernel), and the reduce whose shape is the kernel's output, if
// any: the first reached from the root without crossing a broadcast.
func (g *graph) rowShape(root *uop.UOp) (row []int, top *uop.UOp) {
	seen := map[*uop.UOp]uint8{} // bit 1: visited in front of broadcasts, bit 2: behind one
	var visit func(u *uop.UOp, behind bool)
	visit = func(u *uop.UOp, behind bool) {
		bit := uint8(1)
		if behind {
			bit = 2
		}
		if seen[u]&bit != 0 {
			return
		}
		seen[u] |= bit
		if u != root && g.leaf(u) {
			return
		}
		if g.rowBroadcast(u) {
			row = u.Shape()
			behind = true
		}
		if u.Op == uop.REDUCE_AXIS && !behind && top == nil {
			top = u
		}
		src := u.Src
		if u.Op == uop.ASSIGN {
			src = src[1:]
		}
		for _, s := range src {
			visit(s, behind)
		}
	}
	visit(root, false)
	return row, top
}

func elementwise(u *uop.UOp) bool {
	return u.Op.IsALU() || u.Op == uop.CAST || u.Op == uop.BITCAST
}
