package codegen

import (
	"github.com/gograd/gograd/dtype"
	"github.com/gograd/gograd/uop"
)

// maxScratch bounds the bytes of a row kernel's scratch rows: they live on
// the stack of the thread that runs the kernel.
const maxScratch = 32 << 10

// rowScratch keeps, in a row kernel, what the store's loop would compute
// again: a transcendental (EXP2, LOG2, SIN) over a row element that a
// phase's loop computes the same way (a softmax's exponentials, summed in
// one pass over the row and divided by that sum in the store's) is stored
// by that loop into a kernel-local array, one slot per element, and the
// store's loop loads it from there instead. The value is the same bits; the
// second pass reads a row from L1 instead of computing it. Rows whose
// scratch would pass maxScratch bytes are left as they are.
func rowScratch(sink *uop.UOp, l *loops) *uop.UOp {
	if l.late == nil {
		return sink
	}
	lateMask := l.mask(l.late)
	order := uop.Toposort(sink)
	deps := map[*uop.UOp]uint64{}
	for _, u := range order {
		if u.Op == uop.RANGE {
			deps[u] = 1 << l.index[u]
			continue
		}
		var d uint64
		for _, s := range u.Src {
			d |= deps[s]
		}
		deps[u] = d
	}
	slots := 1
	for _, r := range l.late {
		slots *= r.Arg.(uop.RangeArg).Size
	}
	// index is the element offset of the slot of one turn of rs's loops
	// (each slot a whole vector of lanes).
	index := func(rs []*uop.UOp, lanes int) *uop.UOp {
		var i *uop.UOp
		for _, r := range rs {
			if i == nil {
				i = r
				continue
			}
			i = i.Alu(uop.MUL, uop.Const("", dtype.Index, r.Arg.(uop.RangeArg).Size)).Alu(uop.ADD, r)
		}
		if lanes > 1 {
			i = i.Alu(uop.MUL, uop.Const("", dtype.Index, lanes))
		}
		return i
	}
	subs := map[*uop.UOp]*uop.UOp{}
	var stores []*uop.UOp
	bytes := 0
	for _, u := range order {
		if u.Op != uop.EXP2 && u.Op != uop.LOG2 && u.Op != uop.SIN || deps[u]&lateMask != lateMask {
			continue
		}
		for _, rs := range l.phases {
			m := map[*uop.UOp]*uop.UOp{}
			for i, r := range l.late {
				m[r] = rs[i]
			}
			c := uop.Replace(u, m)
			pm := l.mask(rs)
			if _, ok := deps[c]; !ok || deps[c]&pm != pm {
				continue
			}
			lanes := u.DType.Count()
			size := slots * lanes
			if bytes += size * u.DType.Scalar().Size(); bytes > maxScratch {
				return sink
			}
			local := uop.New(uop.DEFINE_LOCAL, u.DType.Scalar(), nil, uop.LocalArg{N: len(stores), Size: size})
			stores = append(stores, uop.New(uop.STORE, dtype.Invalid, []*uop.UOp{local, index(rs, lanes), c}, nil))
			subs[u] = uop.New(uop.LOAD, u.DType, []*uop.UOp{local, index(l.late, lanes)}, nil)
			break
		}
	}
	if len(stores) == 0 {
		return sink
	}
	sink = uop.Replace(sink, subs)
	return uop.New(uop.SINK, sink.DType, append(append([]*uop.UOp{}, sink.Src...), stores...), sink.Arg)
}
