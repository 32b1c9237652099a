package render

import (
	"fmt"

	"github.com/gograd/gograd/dtype"
	"github.com/gograd/gograd/uop"
)

// reg holds one value of a GO program: a scalar, the lanes of a vector, the
// base of an affine index, or the lane interval of a mask.
type reg[T any] struct {
	s      T
	v      []T // the current lanes: own storage or a window of a buffer
	own    []T
	lo, hi int
}

func newReg[T any](vector bool) *reg[T] {
	r := &reg[T]{}
	if vector {
		r.own = make([]T, chunk)
		r.v = r.own
	}
	return r
}

// builder makes one instance: registers and closures for a GoKernel.
type builder struct {
	k      *GoKernel
	in     *instance
	regs   map[*uop.UOp]any
	mat    map[*uop.UOp]any // lanes of an affine or interval value
	blocks [][]func()
	haccs  []func() // lane reductions to run when the reduce loops end
	bufs   map[*uop.UOp]any
}

// regType is the Go type a dtype computes in: halves compute in float32.
func regType(dt dtype.DType) dtype.DType {
	if dt.IsHalf() {
		return dtype.Float32
	}
	return dt
}

func (k *GoKernel) newInstance() *instance {
	in := &instance{k: k}
	b := &builder{k: k, in: in, regs: map[*uop.UOp]any{}, mat: map[*uop.UOp]any{}, bufs: map[*uop.UOp]any{}, blocks: [][]func(){nil}}
	var firstReduce *uop.UOp
	for _, u := range k.uops {
		switch u.Op {
		case uop.RANGE:
			if firstReduce == nil && u.Arg.(uop.RangeArg).Reduce {
				firstReduce = u
			}
			b.regs[u] = newReg[int64](false)
			b.blocks = append(b.blocks, nil)
			b.materialize(u) // the lanes of the vector loop, when needed
		case uop.ENDRANGE:
			body := b.blocks[len(b.blocks)-1]
			b.blocks = b.blocks[:len(b.blocks)-1]
			b.emit(b.loop(u.Src[0], body))
			if u.Src[0] == firstReduce {
				b.emit(b.haccs...)
			}
		case uop.DEFINE_GLOBAL:
			b.defineGlobal(u)
		case uop.DEFINE_VAR:
			r := newReg[int64](false)
			b.regs[u] = r
			in.varSlots = append(in.varSlots, &r.s)
		default:
			if k.info[u].fused {
				continue
			}
			typedFor(b.typeOf(u)).build(b, u)
		}
	}
	in.steps = b.blocks[0]
	return in
}

// typeOf is the dtype whose builder handles u.
func (b *builder) typeOf(u *uop.UOp) dtype.DType {
	switch u.Op {
	case uop.CMPLT, uop.CMPNE:
		return regType(u.Src[0].DType)
	case uop.STORE:
		return regType(u.Src[2].DType)
	case uop.ASSIGN:
		return regType(u.Src[0].DType)
	}
	return regType(u.DType)
}

func (b *builder) emit(steps ...func()) {
	top := len(b.blocks) - 1
	b.blocks[top] = append(b.blocks[top], steps...)
}

func (b *builder) loop(r *uop.UOp, body []func()) func() {
	in := b.in
	reg := b.regs[r].(*reg[int64])
	a := r.Arg.(uop.RangeArg)
	size := int64(a.Size)
	outer := r == b.k.outer && !a.Reduce
	bounds := func() (int64, int64) {
		if outer {
			return in.lo0, in.hi0
		}
		return 0, size
	}
	if a.Vector {
		return func() {
			lo, hi := bounds()
			for v := lo; v < hi; v += chunk {
				in.n = int(min(chunk, hi-v))
				reg.s = v
				for _, s := range body {
					s()
				}
			}
		}
	}
	if len(body) == 1 {
		s0 := body[0]
		return func() {
			lo, hi := bounds()
			for i := lo; i < hi; i++ {
				reg.s = i
				s0()
			}
		}
	}
	return func() {
		lo, hi := bounds()
		for i := lo; i < hi; i++ {
			reg.s = i
			for _, s := range body {
				s()
			}
		}
	}
}

func (b *builder) defineGlobal(u *uop.UOp) {
	idx := u.Arg.(int)
	for len(b.in.setBufs) <= idx {
		b.in.setBufs = append(b.in.setBufs, nil)
	}
	switch u.DType {
	case dtype.Bool:
		slot := new([]bool)
		b.bufs[u] = slot
		b.in.setBufs[idx] = func(raw []byte) { *slot = bytesAs[bool](raw) }
	case dtype.Float16, dtype.BFloat16:
		slot := new([]uint16)
		b.bufs[u] = slot
		b.in.setBufs[idx] = func(raw []byte) { *slot = bytesAs[uint16](raw) }
	default:
		typedFor(u.DType).defineGlobal(b, u, idx)
	}
}

// typed is the part of the builder that depends on the element type.
type typed interface {
	build(b *builder, u *uop.UOp)
	defineGlobal(b *builder, u *uop.UOp, idx int)
}

func typedFor(dt dtype.DType) typed {
	switch regType(dt) {
	case dtype.Bool:
		return boolOps{}
	case dtype.Int8:
		return numOps[int8]{}
	case dtype.Uint8:
		return numOps[uint8]{}
	case dtype.Int16:
		return numOps[int16]{}
	case dtype.Uint16:
		return numOps[uint16]{}
	case dtype.Int32:
		return numOps[int32]{}
	case dtype.Uint32:
		return numOps[uint32]{}
	case dtype.Int64:
		return numOps[int64]{}
	case dtype.Uint64:
		return numOps[uint64]{}
	case dtype.Float32:
		return numOps[float32]{}
	case dtype.Float64:
		return numOps[float64]{}
	}
	panic(fmt.Sprintf("render: no GO support for %v", dt))
}

// regOf returns u's register, creating it (scalar or vector per u's kind).
func regOf[T any](b *builder, u *uop.UOp) *reg[T] {
	if r, ok := b.regs[u]; ok {
		return r.(*reg[T])
	}
	in := b.k.info[u]
	r := newReg[T](in.kind == kVector || in.hacc)
	b.regs[u] = r
	return r
}

// lanes returns u as a vector register: itself, or the lanes materialized from
// an affine or interval value, or (for a scalar) a register broadcast by a step
// emitted now.
func lanes[T any](b *builder, u *uop.UOp) *reg[T] {
	in := b.k.info[u]
	switch in.kind {
	case kVector:
		return regOf[T](b, u)
	case kAffine, kInterval:
		return b.mat[u].(*reg[T])
	}
	src := regOf[T](b, u)
	r := newReg[T](true)
	inst := b.in
	b.emit(func() { fill(r.own[:inst.n], src.s) })
	return r
}

// materialize emits the step that fills the lanes of an affine or interval value.
func (b *builder) materialize(u *uop.UOp) {
	in := b.k.info[u]
	if !in.needVec {
		return
	}
	inst := b.in
	switch in.kind {
	case kAffine:
		src := b.regs[u].(*reg[int64])
		r := newReg[int64](true)
		stride := in.stride
		b.mat[u] = r
		b.emit(func() {
			d := r.own[:inst.n]
			p := src.s
			for i := range d {
				d[i] = p
				p += stride
			}
		})
	case kInterval:
		src := b.regs[u].(*reg[bool])
		r := newReg[bool](true)
		b.mat[u] = r
		b.emit(func() {
			d := r.own[:inst.n]
			for i := range d {
				d[i] = i >= src.lo && i < src.hi
			}
		})
	}
}

// interval returns the lane interval where u (a bool) is true, as a function
// of the current chunk.
func (b *builder) intervalOf(u *uop.UOp) (lo, hi func() int) {
	inst := b.in
	r := regOf[bool](b, u)
	switch b.k.info[u].kind {
	case kInterval:
		return func() int { return r.lo }, func() int { return r.hi }
	case kScalar:
		return func() int { return 0 }, func() int {
			if r.s {
				return inst.n
			}
			return 0
		}
	}
	panic("render: not an interval")
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}

func ceilDiv(a, b int64) int64 { return -floorDiv(-a, b) }

// buildIndexCompare emits CMPLT between an affine value and a scalar as a lane interval.
func (b *builder) buildIntervalCompare(u *uop.UOp) {
	inst := b.in
	d := regOf[bool](b, u)
	a, c := u.Src[0], u.Src[1]
	affineLeft := b.k.info[a].kind == kAffine
	if !affineLeft {
		a, c = c, a
	}
	ar, cr := b.regs[a].(*reg[int64]), b.regs[c].(*reg[int64])
	s := b.k.info[a].stride
	b.emit(func() {
		n := int64(inst.n)
		lo, hi := int64(0), n
		diff := cr.s - ar.s
		switch {
		case s == 0:
			if (affineLeft && !(ar.s < cr.s)) || (!affineLeft && !(cr.s < ar.s)) {
				hi = 0
			}
		case affineLeft && s > 0: // base + i*s < c
			hi = ceilDiv(diff, s)
		case affineLeft: // s < 0
			lo = floorDiv(diff, s) + 1
		case s > 0: // c < base + i*s
			lo = floorDiv(diff, s) + 1
		default:
			hi = ceilDiv(diff, s)
		}
		lo, hi = min(max(lo, 0), n), min(hi, n) // lanes past the vector: none
		if hi < lo {
			hi = lo
		}
		d.lo, d.hi = int(lo), int(hi)
	})
}

func (b *builder) buildIntervalAnd(u *uop.UOp) {
	d := regOf[bool](b, u)
	lo0, hi0 := b.intervalOf(u.Src[0])
	lo1, hi1 := b.intervalOf(u.Src[1])
	b.emit(func() {
		lo, hi := max(lo0(), lo1()), min(hi0(), hi1())
		if hi < lo {
			hi = lo
		}
		d.lo, d.hi = lo, hi
	})
}
