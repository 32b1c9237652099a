package codegen

import (
	"github.com/gograd/gograd/dtype"
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
	if d := quadDot(s); d != nil {
		return d
	}
	if d := pairDot(s); d != nil {
		return d
	}
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

// pairDot rewrites a VECTORIZE whose every lane is a sum of two products
// of integers that fit in 16 bits, a*b + c*d (each factor an int32 CAST of
// a narrower integer), into DOT2 of the int16 vectors (a0, c0, a1, c1, ...)
// and (b0, d0, b1, d1, ...): one pmaddwd instead of widening every factor
// to 32 bits. A quantized matrix-vector product over int8 activations
// (x86 has no wider integer multiply-add) is made of these. The result is
// the same integers: no product pair of 16-bit values overflows int32
// except (-32768)² twice, which wraps the same way in both. Nil when the
// lanes are not of that form.
func pairDot(lanes []*uop.UOp) *uop.UOp {
	w := len(lanes)
	if w < 2 || lanes[0].Op != uop.ADD || lanes[0].DType != dtype.Int32 {
		return nil
	}
	// narrow returns x's int16 source when x is an int32 CAST of an
	// integer of at most 16 bits that fits int16.
	narrow := func(x *uop.UOp) *uop.UOp {
		if x.Op != uop.CAST || x.DType != dtype.Int32 {
			return nil
		}
		switch src := x.Src[0]; src.DType {
		case dtype.Int16:
			return src
		case dtype.Int8, dtype.Uint8:
			return src.Cast(dtype.Int16)
		}
		return nil
	}
	product := func(m *uop.UOp) (a, b *uop.UOp) {
		if m.Op != uop.MUL {
			return nil, nil
		}
		a, b = narrow(m.Src[0]), narrow(m.Src[1])
		if a == nil || b == nil {
			return nil, nil
		}
		return a, b
	}
	as := make([]*uop.UOp, 0, 2*w)
	bs := make([]*uop.UOp, 0, 2*w)
	for _, x := range lanes {
		if x.Op != uop.ADD || x.DType != dtype.Int32 {
			return nil
		}
		a, b := product(x.Src[0])
		c, d := product(x.Src[1])
		if a == nil || c == nil {
			return nil
		}
		// Pair the factors that read the same buffer (the weight with
		// the weight), so that each side's lanes load consecutively.
		if firstBuffer(a) != firstBuffer(c) && firstBuffer(a) == firstBuffer(d) {
			c, d = d, c
		}
		as, bs = append(as, a, c), append(bs, b, d)
	}
	va := uop.New(uop.VECTORIZE, dtype.Int16.Vec(2*w), as, nil)
	vb := uop.New(uop.VECTORIZE, dtype.Int16.Vec(2*w), bs, nil)
	return uop.New(uop.DOT2, dtype.Int32.Vec(w), []*uop.UOp{va, vb}, nil)
}

// quadDot rewrites a VECTORIZE whose every lane is a sum of four products
// (p0 + p1) + (p2 + p3), each an unsigned byte times a signed byte (int32
// CASTs of uint8 and int8 values, or constants in their ranges), into DOT4
// of the byte vectors (u0, u1, u2, u3 of lane 0, then lane 1, ...) and
// (s0, s1, ...): one vpdpbusd where x86 has it, instead of widening every
// byte. A 4- or 5-bit quantized weight's unsigned values times int8
// activations are made of these. The sums are the same integers (four
// products of at most 255*128 never overflow int32). Nil when the lanes
// are not of that form; a lane of two sums of two products still becomes
// DOT2 below.
func quadDot(lanes []*uop.UOp) *uop.UOp {
	w := len(lanes)
	if w < 2 || lanes[0].Op != uop.ADD || lanes[0].DType != dtype.Int32 {
		return nil
	}
	// byteOf returns x's byte source of type dt: x an int32 CAST of a dt
	// value, or an int32 constant in dt's range.
	byteOf := func(x *uop.UOp, dt dtype.DType) *uop.UOp {
		switch {
		case x.Op == uop.CAST && x.DType == dtype.Int32 && x.Src[0].DType == dt:
			return x.Src[0]
		case x.Op == uop.CONST && x.DType == dtype.Int32:
			v, ok := x.Arg.(int64)
			if ok && (dt == dtype.Uint8 && v >= 0 && v <= 255 || dt == dtype.Int8 && v >= -128 && v <= 127) {
				return uop.KConst(dt, v)
			}
		}
		return nil
	}
	product := func(m *uop.UOp) (u, s *uop.UOp) {
		if m.Op != uop.MUL {
			return nil, nil
		}
		for _, o := range [][2]*uop.UOp{{m.Src[0], m.Src[1]}, {m.Src[1], m.Src[0]}} {
			if u, s := byteOf(o[0], dtype.Uint8), byteOf(o[1], dtype.Int8); u != nil && s != nil {
				return u, s
			}
		}
		return nil, nil
	}
	us := make([]*uop.UOp, 0, 4*w)
	ss := make([]*uop.UOp, 0, 4*w)
	for _, x := range lanes {
		if x.Op != uop.ADD || x.DType != dtype.Int32 {
			return nil
		}
		for _, half := range x.Src {
			if half.Op != uop.ADD || half.DType != dtype.Int32 {
				return nil
			}
			for _, m := range half.Src {
				u, s := product(m)
				if u == nil {
					return nil
				}
				us, ss = append(us, u), append(ss, s)
			}
		}
	}
	vu := uop.New(uop.VECTORIZE, dtype.Uint8.Vec(4*w), us, nil)
	return uop.New(uop.DOT4, dtype.Int32.Vec(w), []*uop.UOp{vu, fourBroadcast(ss, dtype.Int8)}, nil)
}

// fourBroadcast is the VECTORIZE of byte lanes ls of type dt, or, where
// every lane's four bytes are the same four (an activation's bytes against
// the lanes of several weight rows), those four as one int32 broadcast to
// every lane and reinterpreted as bytes: one broadcast load instead of a
// vector built byte by byte.
func fourBroadcast(ls []*uop.UOp, dt dtype.DType) *uop.UOp {
	n := len(ls)
	periodic := n > 4
	for i := 4; i < n && periodic; i++ {
		periodic = ls[i] == ls[i%4]
	}
	if !periodic {
		return uop.New(uop.VECTORIZE, dt.Vec(n), ls, nil)
	}
	four := uop.New(uop.BITCAST, dtype.Int32, []*uop.UOp{uop.New(uop.VECTORIZE, dt.Vec(4), ls[:4], nil)}, nil)
	lanes := make([]*uop.UOp, n/4)
	for i := range lanes {
		lanes[i] = four
	}
	return uop.New(uop.BITCAST, dt.Vec(n), []*uop.UOp{uop.New(uop.VECTORIZE, dtype.Int32.Vec(n/4), lanes, nil)}, nil)
}

// firstBuffer is the buffer of the first load under x, depth first (nil
// when there is none).
func firstBuffer(x *uop.UOp) *uop.UOp {
	if x.Op == uop.LOAD {
		return x.Src[0]
	}
	for _, s := range x.Src {
		if b := firstBuffer(s); b != nil {
			return b
		}
	}
	return nil
}
