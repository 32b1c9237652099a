package codegen

import (
	"github.com/gograd/gograd/uop"
)

// The vectorizer: rewrite rules that push a VECTORIZE of lanes down the
// graph while every lane does the same thing, so W scalar copies of a
// computation become one computation on W-lane vectors. Loads of
// consecutive elements become one vector load; accumulators of a reduction
// become one vector accumulator; lanes that differ stay a VECTORIZE of
// scalars, which is still correct.
var vectorizer = uop.NewMatcher(
	// A lane of a VECTORIZE is its source.
	uop.R(uop.P(uop.GEP, uop.P(uop.VECTORIZE).N("v")), func(b *uop.Binds) *uop.UOp {
		return b.Get("v").Src[b.U.Arg.(int)]
	}),
	uop.R(uop.P(uop.VECTORIZE), func(b *uop.Binds) *uop.UOp { return pushVectorize(b.U) }),
)

// pushVectorize rewrites VECTORIZE(op(a0, b0), op(a1, b1), ...) into
// op(VECTORIZE(a0, a1, ...), VECTORIZE(b0, b1, ...)), and a VECTORIZE of
// loads of consecutive elements into a vector load.
func pushVectorize(v *uop.UOp) *uop.UOp {
	s := v.Src
	first := s[0]
	same := true
	for _, x := range s[1:] {
		if x != first {
			same = false
			break
		}
	}
	if same { // a broadcast: rendered as one scalar spread over the lanes
		return nil
	}
	for _, x := range s[1:] {
		if x.Op != first.Op || len(x.Src) != len(first.Src) || x.DType != first.DType || !sameArg(x, first) {
			return nil
		}
	}
	w := len(s)
	switch {
	case first.Op == uop.LOAD:
		idxs := make([]*uop.UOp, w)
		for l, x := range s {
			if x.Src[0] != first.Src[0] || (len(x.Src) > 2 && x.Src[2] != first.Src[2]) {
				return nil
			}
			idxs[l] = x.Src[1]
		}
		if !consecutive(idxs) {
			return nil
		}
		return uop.New(uop.LOAD, v.DType, first.Src, nil)
	case first.Op == uop.REDUCE_AXIS:
		for _, x := range s {
			for i := 1; i < len(x.Src); i++ {
				if x.Src[i] != first.Src[i] {
					return nil
				}
			}
		}
		vals := make([]*uop.UOp, w)
		for l, x := range s {
			vals[l] = x.Src[0]
		}
		src := append([]*uop.UOp{uop.New(uop.VECTORIZE, first.Src[0].DType.Vec(w), vals, nil)}, first.Src[1:]...)
		return uop.New(uop.REDUCE_AXIS, v.DType, src, first.Arg)
	case first.Op.IsALU() || first.Op == uop.CAST || first.Op == uop.BITCAST:
		src := make([]*uop.UOp, len(first.Src))
		for i := range first.Src {
			lanes := make([]*uop.UOp, w)
			for l, x := range s {
				lanes[l] = x.Src[i]
			}
			src[i] = uop.New(uop.VECTORIZE, first.Src[i].DType.Vec(w), lanes, nil)
		}
		return uop.New(first.Op, v.DType, src, first.Arg)
	}
	return nil
}

func sameArg(a, b *uop.UOp) bool {
	if a.Op == uop.CONST {
		return true // constants differ by value; a VECTORIZE of them stays
	}
	switch x := a.Arg.(type) {
	case nil:
		return b.Arg == nil
	case uop.ReduceArg:
		y, ok := b.Arg.(uop.ReduceArg)
		return ok && x.Op == y.Op
	}
	return a.Arg == b.Arg
}
