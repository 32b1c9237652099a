package render

import (
	"fmt"
	"unsafe"

	"github.com/gograd/gograd/dtype"
	"github.com/gograd/gograd/uop"
)

// numOps builds the steps of numeric element type T.
type numOps[T number] struct{}

// boolOps builds the steps of bool values.
type boolOps struct{}

func constOf[T any](arg any) T {
	var z T
	switch p := any(&z).(type) {
	case *bool:
		switch v := arg.(type) {
		case bool:
			*p = v
		case int64:
			*p = v != 0
		case float64:
			*p = v != 0
		}
		return z
	}
	return numConst[T](arg)
}

func numConst[T any](arg any) T {
	var z T
	switch p := any(&z).(type) {
	case *float32:
		*p = float32(toF64(arg))
	case *float64:
		*p = toF64(arg)
	case *int8:
		*p = int8(toI64(arg))
	case *int16:
		*p = int16(toI64(arg))
	case *int32:
		*p = int32(toI64(arg))
	case *int64:
		*p = toI64(arg)
	case *uint8:
		*p = uint8(toI64(arg))
	case *uint16:
		*p = uint16(toI64(arg))
	case *uint32:
		*p = uint32(toI64(arg))
	case *uint64:
		*p = uint64(toI64(arg))
	}
	return z
}

func toF64(a any) float64 {
	switch v := a.(type) {
	case float64:
		return v
	case int64:
		return float64(v)
	case bool:
		if v {
			return 1
		}
	}
	return 0
}

func toI64(a any) int64 {
	switch v := a.(type) {
	case int64:
		return v
	case float64:
		return int64(v)
	case bool:
		if v {
			return 1
		}
	}
	return 0
}

func (numOps[T]) defineGlobal(b *builder, u *uop.UOp, idx int) {
	slot := new([]T)
	b.bufs[u] = slot
	b.in.setBufs[idx] = func(raw []byte) { *slot = bytesAs[T](raw) }
}

func (boolOps) defineGlobal(b *builder, u *uop.UOp, idx int) {}

func (numOps[T]) build(b *builder, u *uop.UOp) {
	in := b.k.info[u]
	switch {
	case u.Op == uop.CONST:
		regOf[T](b, u).s = constOf[T](u.Arg)
	case u.Op == uop.LOAD:
		if u.Src[0].DType.IsHalf() {
			loadHalf(b, u)
		} else {
			loadDirect[T](b, u)
		}
	case u.Op == uop.STORE:
		if u.Src[0].DType.IsHalf() {
			storeHalf(b, u)
		} else {
			storeDirect[T](b, u)
		}
	case u.Op == uop.DEFINE_ACC:
		defineAcc[T](b, u)
	case u.Op == uop.ASSIGN:
		accumulate[T](b, u)
	case u.Op == uop.CAST:
		castTo[T](b, u)
	case u.Op == uop.BITCAST:
		bitcastTo[T](b, u)
	case u.Op == uop.WHERE:
		where[T](b, u)
	case u.Op == uop.CMPLT && in.kind == kInterval:
		b.buildIntervalCompare(u)
	case u.Op == uop.CMPLT || u.Op == uop.CMPNE:
		compare[T](b, u)
	case in.kind == kAffine:
		affine(b, u)
	case u.Op.IsUnary():
		unaryNum[T](b, u)
	case u.Op.IsBinary():
		binaryNum[T](b, u)
	default:
		panic(fmt.Sprintf("GO backend: no rule for %v", u))
	}
	if u.DType.IsHalf() && (u.Op.IsALU() || u.Op == uop.CAST) && u.Op != uop.WHERE && u.Op != uop.MAX {
		roundHalf(b, u)
	}
	b.materialize(u)
}

func (boolOps) build(b *builder, u *uop.UOp) {
	in := b.k.info[u]
	switch {
	case u.Op == uop.CONST:
		regOf[bool](b, u).s = constOf[bool](u.Arg)
	case u.Op == uop.LOAD:
		loadDirect[bool](b, u)
	case u.Op == uop.STORE:
		storeDirect[bool](b, u)
	case u.Op == uop.DEFINE_ACC:
		defineAcc[bool](b, u)
	case u.Op == uop.ASSIGN:
		accumulate[bool](b, u)
	case u.Op == uop.CAST:
		castTo[bool](b, u)
	case u.Op == uop.BITCAST:
		bitcastTo[bool](b, u)
	case u.Op == uop.WHERE:
		where[bool](b, u)
	case u.Op == uop.AND && in.kind == kInterval:
		b.buildIntervalAnd(u)
	case u.Op == uop.NEG:
		unaryFn(b, u, func(a bool) bool { return !a })
	case u.Op.IsBinary():
		binaryFn(b, u, boolBinary(u.Op))
	default:
		panic(fmt.Sprintf("GO backend: no rule for %v", u))
	}
	b.materialize(u)
}

func roundHalf(b *builder, u *uop.UOp) {
	r := b.regs[u].(*reg[float32])
	inst := b.in
	dt := u.DType
	if b.k.info[u].kind == kVector {
		b.emit(func() { roundHalfV(dt, r.v[:inst.n]) })
	} else {
		b.emit(func() { r.s = dtype.RoundHalf(dt, r.s) })
	}
}

// affine emits the base of an affine integer value (ADD, MUL by a constant, NEG).
func affine(b *builder, u *uop.UOp) {
	d := regOf[int64](b, u)
	s0 := b.regs[u.Src[0]].(*reg[int64])
	switch u.Op {
	case uop.ADD:
		s1 := b.regs[u.Src[1]].(*reg[int64])
		b.emit(func() { d.s = s0.s + s1.s })
	case uop.MUL:
		s1 := b.regs[u.Src[1]].(*reg[int64])
		b.emit(func() { d.s = s0.s * s1.s })
	case uop.NEG:
		b.emit(func() { d.s = -s0.s })
	default:
		panic("GO backend: not affine: " + u.String())
	}
}

func isVec(b *builder, u *uop.UOp) bool { return b.k.info[u].kind != kScalar }

func loadDirect[T any](b *builder, u *uop.UOp) {
	inst := b.in
	d := regOf[T](b, u)
	buf := b.bufs[u.Src[0]].(*[]T)
	idx := u.Src[1]
	ik := b.k.info[idx].kind
	vk := kScalar
	var valid *uop.UOp
	if len(u.Src) > 2 {
		valid = u.Src[2]
		vk = b.k.info[valid].kind
	}
	var z T
	switch {
	case ik == kScalar && vk == kScalar:
		ir := b.regs[idx].(*reg[int64])
		if valid == nil {
			b.emit(func() { d.s = (*buf)[ir.s] })
			return
		}
		vr := b.regs[valid].(*reg[bool])
		b.emit(func() {
			if vr.s {
				d.s = (*buf)[ir.s]
			} else {
				d.s = z
			}
		})
	case ik == kScalar: // lanes of validity
		ir := b.regs[idx].(*reg[int64])
		if vk == kInterval {
			vr := b.regs[valid].(*reg[bool])
			b.emit(func() {
				o := d.own[:inst.n]
				v := z
				if vr.hi > vr.lo {
					v = (*buf)[ir.s]
				}
				for i := range o {
					if i >= vr.lo && i < vr.hi {
						o[i] = v
					} else {
						o[i] = z
					}
				}
			})
			return
		}
		vr := b.regs[valid].(*reg[bool])
		b.emit(func() {
			o := d.own[:inst.n]
			for i := range o {
				if vr.v[i] {
					o[i] = (*buf)[ir.s]
				} else {
					o[i] = z
				}
			}
		})
	case ik == kAffine && vk == kVector:
		ir := b.mat[idx].(*reg[int64])
		vr := b.regs[valid].(*reg[bool])
		b.emit(func() { gatherMasked(d.own[:inst.n], *buf, ir.v, vr.v) })
	case ik == kAffine:
		ir := b.regs[idx].(*reg[int64])
		stride := b.k.info[idx].stride
		var lo, hi func() int
		if valid != nil {
			lo, hi = b.intervalOf(valid)
		}
		switch {
		case valid == nil && stride == 1 && !b.k.noAlias:
			b.emit(func() { d.v = (*buf)[ir.s : ir.s+int64(inst.n)] })
		case valid == nil && stride == 1:
			b.emit(func() { copy(d.own[:inst.n], (*buf)[ir.s:ir.s+int64(inst.n)]) })
		case valid == nil:
			b.emit(func() { strided(d.own[:inst.n], *buf, ir.s, stride) })
		default:
			b.emit(func() {
				o := d.own[:inst.n]
				l, h := lo(), hi()
				clear(o[:l])
				clear(o[h:])
				if h > l {
					if stride == 1 {
						copy(o[l:h], (*buf)[ir.s+int64(l):ir.s+int64(h)])
					} else {
						strided(o[l:h], *buf, ir.s+int64(l)*stride, stride)
					}
				}
			})
		}
	default: // lanes of indices
		ir := b.regs[idx].(*reg[int64])
		switch vk {
		case kScalar:
			if valid == nil {
				b.emit(func() { gather(d.own[:inst.n], *buf, ir.v) })
				return
			}
			vr := b.regs[valid].(*reg[bool])
			b.emit(func() {
				if vr.s {
					gather(d.own[:inst.n], *buf, ir.v)
				} else {
					clear(d.own[:inst.n])
				}
			})
		case kInterval:
			vr := b.regs[valid].(*reg[bool])
			b.emit(func() {
				o := d.own[:inst.n]
				clear(o)
				for i := vr.lo; i < vr.hi; i++ {
					o[i] = (*buf)[ir.v[i]]
				}
			})
		default:
			vr := b.regs[valid].(*reg[bool])
			b.emit(func() { gatherMasked(d.own[:inst.n], *buf, ir.v, vr.v) })
		}
	}
}

// loadHalf reads float16/bfloat16 elements into float32 registers. It
// materializes indices and validity as lanes: halves are storage formats.
func loadHalf(b *builder, u *uop.UOp) {
	inst := b.in
	d := regOf[float32](b, u)
	buf := b.bufs[u.Src[0]].(*[]uint16)
	conv := halfToFloat(u.Src[0].DType)
	idx := u.Src[1]
	var vr *reg[bool]
	var vlo, vhi func() int
	vk := kScalar
	if len(u.Src) > 2 {
		vk = b.k.info[u.Src[2]].kind
		vr = regOf[bool](b, u.Src[2])
		if vk != kVector {
			vlo, vhi = b.intervalOf(u.Src[2])
		}
	}
	ok := func(i int) bool {
		switch {
		case vr == nil:
			return true
		case vk == kVector:
			return vr.v[i]
		default:
			return i >= vlo() && i < vhi()
		}
	}
	ir := b.regs[idx].(*reg[int64])
	switch b.k.info[idx].kind {
	case kScalar:
		if b.k.info[u].kind == kScalar {
			b.emit(func() {
				if vr == nil || vr.s {
					d.s = conv((*buf)[ir.s])
				} else {
					d.s = 0
				}
			})
			return
		}
		b.emit(func() {
			for i := range d.own[:inst.n] {
				if ok(i) {
					d.own[i] = conv((*buf)[ir.s])
				} else {
					d.own[i] = 0
				}
			}
		})
	case kAffine:
		stride := b.k.info[idx].stride
		b.emit(func() {
			for i := range d.own[:inst.n] {
				if ok(i) {
					d.own[i] = conv((*buf)[ir.s+int64(i)*stride])
				} else {
					d.own[i] = 0
				}
			}
		})
	default:
		b.emit(func() {
			for i := range d.own[:inst.n] {
				if ok(i) {
					d.own[i] = conv((*buf)[ir.v[i]])
				} else {
					d.own[i] = 0
				}
			}
		})
	}
}

func storeDirect[T any](b *builder, u *uop.UOp) {
	inst := b.in
	buf := b.bufs[u.Src[0]].(*[]T)
	idx, val := u.Src[1], u.Src[2]
	ir := b.regs[idx].(*reg[int64])
	vr := regOf[T](b, val)
	vvec := isVec(b, val)
	switch b.k.info[idx].kind {
	case kScalar:
		if vvec {
			panic("GO backend: lanes stored to one index")
		}
		b.emit(func() { (*buf)[ir.s] = vr.s })
	case kAffine:
		stride := b.k.info[idx].stride
		switch {
		case stride == 1 && vvec:
			b.emit(func() { copy((*buf)[ir.s:ir.s+int64(inst.n)], vr.v[:inst.n]) })
		case stride == 1:
			b.emit(func() { fill((*buf)[ir.s:ir.s+int64(inst.n)], vr.s) })
		case vvec:
			b.emit(func() { scatterStrided(*buf, ir.s, stride, vr.v[:inst.n]) })
		default:
			b.emit(func() {
				p := ir.s
				for range inst.n {
					(*buf)[p] = vr.s
					p += stride
				}
			})
		}
	default:
		vl := lanes[T](b, val)
		b.emit(func() { scatter(*buf, ir.v[:inst.n], vl.v[:inst.n]) })
	}
}

func storeHalf(b *builder, u *uop.UOp) {
	inst := b.in
	buf := b.bufs[u.Src[0]].(*[]uint16)
	conv := floatToHalf(u.Src[0].DType)
	idx, val := u.Src[1], u.Src[2]
	ir := b.regs[idx].(*reg[int64])
	vr := regOf[float32](b, val)
	switch b.k.info[idx].kind {
	case kScalar:
		b.emit(func() { (*buf)[ir.s] = conv(vr.s) })
	case kAffine:
		stride := b.k.info[idx].stride
		vl := lanes[float32](b, val)
		b.emit(func() {
			p := ir.s
			for i := range inst.n {
				(*buf)[p] = conv(vl.v[i])
				p += stride
			}
		})
	default:
		vl := lanes[float32](b, val)
		b.emit(func() {
			for i := range inst.n {
				(*buf)[ir.v[i]] = conv(vl.v[i])
			}
		})
	}
}

func defineAcc[T any](b *builder, u *uop.UOp) {
	inst := b.in
	d := regOf[T](b, u)
	arg := u.Arg.(uop.AccArg)
	id := constOf[T](arg.Identity)
	in := b.k.info[u]
	switch {
	case in.hacc:
		b.emit(func() { fill(d.own, id) })
		b.haccs = append(b.haccs, hreduceStep(d, arg.Op, id))
	case in.kind == kVector:
		b.emit(func() { fill(d.own[:inst.n], id) })
	default:
		b.emit(func() { d.s = id })
	}
}

func hreduceStep[T any](d *reg[T], op uop.Op, id T) func() {
	switch p := any(d).(type) {
	case *reg[bool]:
		return func() {
			r := op == uop.MUL
			for _, v := range p.own {
				if op == uop.MUL {
					r = r && v
				} else {
					r = r || v
				}
			}
			p.s = r
		}
	}
	return hreduceNum(d, op, id)
}

func hreduceNum[T any](d *reg[T], op uop.Op, id T) func() {
	switch p := any(d).(type) {
	case *reg[float32]:
		return hreduceTyped(p, op, any(id).(float32))
	case *reg[float64]:
		return hreduceTyped(p, op, any(id).(float64))
	case *reg[int8]:
		return hreduceTyped(p, op, any(id).(int8))
	case *reg[int16]:
		return hreduceTyped(p, op, any(id).(int16))
	case *reg[int32]:
		return hreduceTyped(p, op, any(id).(int32))
	case *reg[int64]:
		return hreduceTyped(p, op, any(id).(int64))
	case *reg[uint8]:
		return hreduceTyped(p, op, any(id).(uint8))
	case *reg[uint16]:
		return hreduceTyped(p, op, any(id).(uint16))
	case *reg[uint32]:
		return hreduceTyped(p, op, any(id).(uint32))
	case *reg[uint64]:
		return hreduceTyped(p, op, any(id).(uint64))
	}
	panic("GO backend: bad accumulator type")
}

func hreduceTyped[T number](d *reg[T], op uop.Op, id T) func() {
	switch op {
	case uop.ADD:
		return func() { d.s = hsum(d.own) }
	case uop.MUL:
		return func() { d.s = hprod(d.own) }
	default:
		return func() { d.s = hmax(d.own, id) }
	}
}

// accumulate emits acc = op(acc, val) for ASSIGN(acc, ALU(op, acc, val)).
func accumulate[T any](b *builder, u *uop.UOp) {
	inst := b.in
	acc := u.Src[0]
	upd := u.Src[1]
	op := upd.Op
	val := upd.Src[1]
	d := regOf[T](b, acc)
	lanesAcc := b.k.info[acc].kind == kVector || b.k.info[acc].hacc
	if p, ok := any(d).(*reg[bool]); ok {
		f := boolBinary(op)
		if lanesAcc {
			vl := lanes[bool](b, val)
			b.emit(func() {
				o := p.own[:inst.n]
				for i := range o {
					o[i] = f(o[i], vl.v[i])
				}
			})
			return
		}
		vr := regOf[bool](b, val)
		b.emit(func() { p.s = f(p.s, vr.s) })
		return
	}
	emitAccNum(b, d, acc, op, val, lanesAcc)
	if acc.DType.IsHalf() && op != uop.MAX {
		r := any(d).(*reg[float32])
		dt := acc.DType
		if lanesAcc {
			b.emit(func() { roundHalfV(dt, r.own[:inst.n]) })
		} else {
			b.emit(func() { r.s = dtype.RoundHalf(dt, r.s) })
		}
	}
}

func emitAccNum[T any](b *builder, d *reg[T], acc *uop.UOp, op uop.Op, val *uop.UOp, lanesAcc bool) {
	switch p := any(d).(type) {
	case *reg[float32]:
		accNum(b, p, op, val, lanesAcc)
	case *reg[float64]:
		accNum(b, p, op, val, lanesAcc)
	case *reg[int8]:
		accNum(b, p, op, val, lanesAcc)
	case *reg[int16]:
		accNum(b, p, op, val, lanesAcc)
	case *reg[int32]:
		accNum(b, p, op, val, lanesAcc)
	case *reg[int64]:
		accNum(b, p, op, val, lanesAcc)
	case *reg[uint8]:
		accNum(b, p, op, val, lanesAcc)
	case *reg[uint16]:
		accNum(b, p, op, val, lanesAcc)
	case *reg[uint32]:
		accNum(b, p, op, val, lanesAcc)
	case *reg[uint64]:
		accNum(b, p, op, val, lanesAcc)
	default:
		panic("GO backend: bad accumulator type")
	}
}

func accNum[T number](b *builder, d *reg[T], op uop.Op, val *uop.UOp, lanesAcc bool) {
	inst := b.in
	if b.k.info[val].fused { // acc += x*y
		x, y := val.Src[0], val.Src[1]
		xr, yr := regOf[T](b, x), regOf[T](b, y)
		xv, yv := isVec(b, x), isVec(b, y)
		switch {
		case !lanesAcc:
			b.emit(func() { d.s += xr.s * yr.s })
		case xv && yv:
			xl, yl := lanes[T](b, x), lanes[T](b, y)
			b.emit(func() { fmaVV(d.own[:inst.n], xl.v, yl.v) })
		case xv:
			xl := lanes[T](b, x)
			b.emit(func() { axpy(d.own[:inst.n], yr.s, xl.v) })
		case yv:
			yl := lanes[T](b, y)
			b.emit(func() { axpy(d.own[:inst.n], xr.s, yl.v) })
		default:
			b.emit(func() { accAddS(d.own[:inst.n], xr.s*yr.s) })
		}
		return
	}
	vr := regOf[T](b, val)
	if !lanesAcc {
		switch op {
		case uop.ADD:
			b.emit(func() { d.s += vr.s })
		case uop.MUL:
			b.emit(func() { d.s *= vr.s })
		default:
			b.emit(func() { d.s = maxOf(d.s, vr.s) })
		}
		return
	}
	if !isVec(b, val) {
		switch op {
		case uop.ADD:
			b.emit(func() { accAddS(d.own[:inst.n], vr.s) })
		case uop.MUL:
			b.emit(func() { mulVS(d.own[:inst.n], d.own, vr.s) })
		default:
			b.emit(func() { maxVS(d.own[:inst.n], d.own, vr.s) })
		}
		return
	}
	vl := lanes[T](b, val)
	switch op {
	case uop.ADD:
		b.emit(func() { accAddV(d.own[:inst.n], vl.v) })
	case uop.MUL:
		b.emit(func() { accMulV(d.own[:inst.n], vl.v) })
	default:
		b.emit(func() { accMaxV(d.own[:inst.n], vl.v) })
	}
}

func where[T any](b *builder, u *uop.UOp) {
	inst := b.in
	d := regOf[T](b, u)
	c, x, y := u.Src[0], u.Src[1], u.Src[2]
	if !isVec(b, u) {
		cr, xr, yr := regOf[bool](b, c), regOf[T](b, x), regOf[T](b, y)
		b.emit(func() {
			if cr.s {
				d.s = xr.s
			} else {
				d.s = yr.s
			}
		})
		return
	}
	if !isVec(b, c) {
		cr := regOf[bool](b, c)
		xl, yl := lanes[T](b, x), lanes[T](b, y)
		b.emit(func() {
			if cr.s {
				copy(d.own[:inst.n], xl.v[:inst.n])
			} else {
				copy(d.own[:inst.n], yl.v[:inst.n])
			}
		})
		return
	}
	cl := lanes[bool](b, c)
	if !isVec(b, x) && !isVec(b, y) {
		xr, yr := regOf[T](b, x), regOf[T](b, y)
		b.emit(func() { whereVSS(d.own[:inst.n], cl.v, xr.s, yr.s) })
		return
	}
	xl, yl := lanes[T](b, x), lanes[T](b, y)
	b.emit(func() { whereVVV(d.own[:inst.n], cl.v, xl.v, yl.v) })
}

// unaryFn emits d = f(a) for any element type.
func unaryFn[T any](b *builder, u *uop.UOp, f func(T) T) {
	inst := b.in
	d := regOf[T](b, u)
	a := u.Src[0]
	if !isVec(b, u) {
		ar := regOf[T](b, a)
		b.emit(func() { d.s = f(ar.s) })
		return
	}
	al := lanes[T](b, a)
	b.emit(func() { applyV(d.own[:inst.n], al.v, f) })
}

// binaryFn emits d = f(a, b) for any element type.
func binaryFn[T any](b *builder, u *uop.UOp, f func(T, T) T) {
	inst := b.in
	d := regOf[T](b, u)
	x, y := u.Src[0], u.Src[1]
	xv, yv := isVec(b, x), isVec(b, y)
	switch {
	case !xv && !yv:
		xr, yr := regOf[T](b, x), regOf[T](b, y)
		b.emit(func() { d.s = f(xr.s, yr.s) })
	case xv && yv:
		xl, yl := lanes[T](b, x), lanes[T](b, y)
		b.emit(func() { applyVV(d.own[:inst.n], xl.v, yl.v, f) })
	case xv:
		xl, yr := lanes[T](b, x), regOf[T](b, y)
		b.emit(func() { applyVS(d.own[:inst.n], xl.v, yr.s, f) })
	default:
		xr, yl := regOf[T](b, x), lanes[T](b, y)
		b.emit(func() { applySV(d.own[:inst.n], xr.s, yl.v, f) })
	}
}

func unaryNum[T number](b *builder, u *uop.UOp) {
	var z T
	_, isF32 := any(z).(float32)
	_, isF64 := any(z).(float64)
	if isF32 || isF64 {
		inst := b.in
		d := regOf[T](b, u)
		if !isVec(b, u) {
			f := floatFn[T](u.Op)
			ar := regOf[T](b, u.Src[0])
			b.emit(func() { d.s = f(ar.s) })
			return
		}
		f := floatVecFn[T](u.Op)
		al := lanes[T](b, u.Src[0])
		b.emit(func() { f(d.own[:inst.n], al.v) })
		return
	}
	switch u.Op {
	case uop.NEG:
		unaryFn(b, u, func(a T) T { return -a })
	case uop.TRUNC:
		unaryFn(b, u, func(a T) T { return a })
	default:
		panic(fmt.Sprintf("GO backend: %v on integers", u.Op))
	}
}

func floatFn[T number](op uop.Op) func(T) T {
	var z T
	switch any(z).(type) {
	case float32:
		return any(floatUnary[float32](op)).(func(T) T)
	case float64:
		return any(floatUnary[float64](op)).(func(T) T)
	}
	return nil
}

func floatVecFn[T number](op uop.Op) func(d, a []T) {
	var z T
	switch any(z).(type) {
	case float32:
		return any(floatUnaryV[float32](op)).(func(d, a []T))
	case float64:
		return any(floatUnaryV[float64](op)).(func(d, a []T))
	}
	return nil
}

func intFn[T number](op uop.Op) func(a, b T) T {
	var z T
	switch any(z).(type) {
	case int8:
		return any(intBinary[int8](op)).(func(a, b T) T)
	case int16:
		return any(intBinary[int16](op)).(func(a, b T) T)
	case int32:
		return any(intBinary[int32](op)).(func(a, b T) T)
	case int64:
		return any(intBinary[int64](op)).(func(a, b T) T)
	case uint8:
		return any(intBinary[uint8](op)).(func(a, b T) T)
	case uint16:
		return any(intBinary[uint16](op)).(func(a, b T) T)
	case uint32:
		return any(intBinary[uint32](op)).(func(a, b T) T)
	case uint64:
		return any(intBinary[uint64](op)).(func(a, b T) T)
	}
	panic(fmt.Sprintf("GO backend: %v on floats", op))
}

func binaryNum[T number](b *builder, u *uop.UOp) {
	inst := b.in
	d := regOf[T](b, u)
	x, y := u.Src[0], u.Src[1]
	xv, yv := isVec(b, x), isVec(b, y)
	op := u.Op
	if xv != yv && op.IsCommutative() && !xv {
		x, y, xv, yv = y, x, yv, xv
	}
	switch op {
	case uop.ADD, uop.MUL, uop.MAX:
		switch {
		case !xv && !yv:
			xr, yr := regOf[T](b, x), regOf[T](b, y)
			switch op {
			case uop.ADD:
				b.emit(func() { d.s = xr.s + yr.s })
			case uop.MUL:
				b.emit(func() { d.s = xr.s * yr.s })
			default:
				b.emit(func() { d.s = maxOf(xr.s, yr.s) })
			}
		case xv && yv:
			xl, yl := lanes[T](b, x), lanes[T](b, y)
			switch op {
			case uop.ADD:
				b.emit(func() { addVV(d.own[:inst.n], xl.v, yl.v) })
			case uop.MUL:
				b.emit(func() { mulVV(d.own[:inst.n], xl.v, yl.v) })
			default:
				b.emit(func() { maxVV(d.own[:inst.n], xl.v, yl.v) })
			}
		default: // x lanes, y scalar
			xl, yr := lanes[T](b, x), regOf[T](b, y)
			switch op {
			case uop.ADD:
				b.emit(func() { addVS(d.own[:inst.n], xl.v, yr.s) })
			case uop.MUL:
				b.emit(func() { mulVS(d.own[:inst.n], xl.v, yr.s) })
			default:
				b.emit(func() { maxVS(d.own[:inst.n], xl.v, yr.s) })
			}
		}
		return
	}
	binaryFn(b, u, intFn[T](op))
}

func compare[T number](b *builder, u *uop.UOp) {
	inst := b.in
	d := regOf[bool](b, u)
	x, y := u.Src[0], u.Src[1]
	xv, yv := isVec(b, x), isVec(b, y)
	lt := u.Op == uop.CMPLT
	switch {
	case !xv && !yv:
		xr, yr := regOf[T](b, x), regOf[T](b, y)
		if lt {
			b.emit(func() { d.s = xr.s < yr.s })
		} else {
			b.emit(func() { d.s = xr.s != yr.s })
		}
	case xv && yv:
		xl, yl := lanes[T](b, x), lanes[T](b, y)
		if lt {
			b.emit(func() { ltVV(d.own[:inst.n], xl.v, yl.v) })
		} else {
			b.emit(func() { neVV(d.own[:inst.n], xl.v, yl.v) })
		}
	case xv:
		xl, yr := lanes[T](b, x), regOf[T](b, y)
		if lt {
			b.emit(func() { ltVS(d.own[:inst.n], xl.v, yr.s) })
		} else {
			b.emit(func() { neVS(d.own[:inst.n], xl.v, yr.s) })
		}
	default:
		xr, yl := regOf[T](b, x), lanes[T](b, y)
		if lt {
			b.emit(func() { ltSV(d.own[:inst.n], xr.s, yl.v) })
		} else {
			b.emit(func() { neVS(d.own[:inst.n], yl.v, xr.s) })
		}
	}
}

// castTo emits the conversion of u.Src[0] to u's type D.
func castTo[D any](b *builder, u *uop.UOp) {
	src := u.Src[0]
	switch regType(src.DType) {
	case dtype.Bool:
		castFrom[bool, D](b, u)
	case dtype.Int8:
		castFrom[int8, D](b, u)
	case dtype.Uint8:
		castFrom[uint8, D](b, u)
	case dtype.Int16:
		castFrom[int16, D](b, u)
	case dtype.Uint16:
		castFrom[uint16, D](b, u)
	case dtype.Int32:
		castFrom[int32, D](b, u)
	case dtype.Uint32:
		castFrom[uint32, D](b, u)
	case dtype.Int64:
		castFrom[int64, D](b, u)
	case dtype.Uint64:
		castFrom[uint64, D](b, u)
	case dtype.Float32:
		castFrom[float32, D](b, u)
	case dtype.Float64:
		castFrom[float64, D](b, u)
	default:
		panic("GO backend: cast from " + src.DType.String())
	}
}

// convert returns the scalar conversion from S to D with gograd's semantics:
// bool is x != 0, floats to integers truncate (through int64, wrapping).
func convert[S, D any](dst dtype.DType) func(S) D {
	var s S
	var d D
	switch any(d).(type) {
	case bool:
		return func(v S) D { return any(!isZero(v)).(D) }
	}
	if _, ok := any(s).(bool); ok {
		one, zero := numConst[D](int64(1)), numConst[D](int64(0))
		return func(v S) D {
			if any(v).(bool) {
				return one
			}
			return zero
		}
	}
	srcFloat := false
	switch any(s).(type) {
	case float32, float64:
		srcFloat = true
	}
	dstInt := dst.IsInt()
	return func(v S) D {
		if srcFloat && dstInt {
			return numConst[D](uop.FloatToInt(dst, toFloat(v)))
		}
		return numConst[D](numAny(v))
	}
}

func isZero[S any](v S) bool {
	switch x := any(v).(type) {
	case bool:
		return !x
	case float32:
		return x == 0
	case float64:
		return x == 0
	}
	return numAny(v).(int64) == 0
}

func toFloat[S any](v S) float64 {
	switch x := any(v).(type) {
	case float32:
		return float64(x)
	case float64:
		return x
	}
	return 0
}

// numAny widens a number to float64 (floats) or int64 (integers; uint64 as bits).
func numAny[S any](v S) any {
	switch x := any(v).(type) {
	case float32:
		return float64(x)
	case float64:
		return x
	case int8:
		return int64(x)
	case int16:
		return int64(x)
	case int32:
		return int64(x)
	case int64:
		return x
	case uint8:
		return int64(x)
	case uint16:
		return int64(x)
	case uint32:
		return int64(x)
	case uint64:
		return int64(x)
	}
	return int64(0)
}

func castFrom[S, D any](b *builder, u *uop.UOp) {
	inst := b.in
	d := regOf[D](b, u)
	src := u.Src[0]
	f := convert[S, D](u.DType)
	if !isVec(b, u) {
		sr := regOf[S](b, src)
		b.emit(func() { d.s = f(sr.s) })
		return
	}
	sl := lanes[S](b, src)
	if fast := fastCast[S, D](u.DType); fast != nil {
		b.emit(func() { fast(d.own[:inst.n], sl.v) })
		return
	}
	b.emit(func() {
		o := d.own[:inst.n]
		for i := range o {
			o[i] = f(sl.v[i])
		}
	})
}

// fastCast returns a loop without per-element calls for the common
// conversions between floats and from integers to floats.
func fastCast[S, D any](dst dtype.DType) func(d []D, s []S) {
	var s S
	var d D
	switch sv := any(s).(type) {
	case float32:
		switch any(d).(type) {
		case float64:
			return any(castV[float32, float64]).(func([]D, []S))
		}
		_ = sv
	case float64:
		switch any(d).(type) {
		case float32:
			return any(castV[float64, float32]).(func([]D, []S))
		}
	case int32:
		switch any(d).(type) {
		case float32:
			return any(castV[int32, float32]).(func([]D, []S))
		case int64:
			return any(castV[int32, int64]).(func([]D, []S))
		}
	case int64:
		switch any(d).(type) {
		case float32:
			return any(castV[int64, float32]).(func([]D, []S))
		case int32:
			return any(castV[int64, int32]).(func([]D, []S))
		}
	case uint8:
		switch any(d).(type) {
		case float32:
			return any(castV[uint8, float32]).(func([]D, []S))
		}
	}
	return nil
}

// bitcastTo reinterprets the bits of u.Src[0] as u's type D.
func bitcastTo[D any](b *builder, u *uop.UOp) {
	inst := b.in
	d := regOf[D](b, u)
	src := u.Src[0]
	toBits := bitsFrom(src.DType)
	fromBits := bitsTo[D](u.DType)
	sr := b.regs[src]
	get := func(i int) any {
		switch r := sr.(type) {
		case *reg[float32]:
			if i < 0 {
				return r.s
			}
			return r.v[i]
		}
		return regAt(sr, i)
	}
	if !isVec(b, u) {
		b.emit(func() { d.s = fromBits(toBits(get(-1))) })
		return
	}
	if !isVec(b, src) {
		b.emit(func() { fill(d.own[:inst.n], fromBits(toBits(get(-1)))) })
		return
	}
	b.emit(func() {
		for i := range d.own[:inst.n] {
			d.own[i] = fromBits(toBits(get(i)))
		}
	})
}

func regAt(r any, i int) any {
	switch x := r.(type) {
	case *reg[bool]:
		return pick(x, i)
	case *reg[int8]:
		return pick(x, i)
	case *reg[uint8]:
		return pick(x, i)
	case *reg[int16]:
		return pick(x, i)
	case *reg[uint16]:
		return pick(x, i)
	case *reg[int32]:
		return pick(x, i)
	case *reg[uint32]:
		return pick(x, i)
	case *reg[int64]:
		return pick(x, i)
	case *reg[uint64]:
		return pick(x, i)
	case *reg[float64]:
		return pick(x, i)
	}
	panic("GO backend: bad register")
}

func pick[T any](r *reg[T], i int) any {
	if i < 0 {
		return r.s
	}
	return r.v[i]
}

// bitsFrom returns the bit pattern of a value of dtype dt held in a register.
func bitsFrom(dt dtype.DType) func(any) uint64 {
	return func(v any) uint64 {
		switch x := v.(type) {
		case bool:
			if x {
				return 1
			}
			return 0
		case int8:
			return uint64(uint8(x))
		case uint8:
			return uint64(x)
		case int16:
			return uint64(uint16(x))
		case uint16:
			return uint64(x)
		case int32:
			return uint64(uint32(x))
		case uint32:
			return uint64(x)
		case int64:
			return uint64(x)
		case uint64:
			return x
		case float32:
			switch dt {
			case dtype.Float16:
				return uint64(dtype.Float16Bits(x))
			case dtype.BFloat16:
				return uint64(dtype.BFloat16Bits(x))
			}
			return uint64(*(*uint32)(unsafe.Pointer(&x)))
		case float64:
			return *(*uint64)(unsafe.Pointer(&x))
		}
		panic("GO backend: bad bitcast source")
	}
}

// bitsTo returns the value of dtype dt (in its register type D) with the given bits.
func bitsTo[D any](dt dtype.DType) func(uint64) D {
	return func(bits uint64) D {
		var d D
		switch p := any(&d).(type) {
		case *bool:
			*p = bits != 0
		case *int8:
			*p = int8(bits)
		case *uint8:
			*p = uint8(bits)
		case *int16:
			*p = int16(bits)
		case *uint16:
			*p = uint16(bits)
		case *int32:
			*p = int32(bits)
		case *uint32:
			*p = uint32(bits)
		case *int64:
			*p = int64(bits)
		case *uint64:
			*p = bits
		case *float32:
			switch dt {
			case dtype.Float16:
				*p = dtype.Float16Float(uint16(bits))
			case dtype.BFloat16:
				*p = dtype.BFloat16Float(uint16(bits))
			default:
				b32 := uint32(bits)
				*p = *(*float32)(unsafe.Pointer(&b32))
			}
		case *float64:
			*p = *(*float64)(unsafe.Pointer(&bits))
		}
		return d
	}
}
