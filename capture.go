package gograd

import (
	"fmt"
	"sync"

	"github.com/gograd/gograd/device"
	"github.com/gograd/gograd/uop"
)

// Var is a symbolic integer: kernels take its value at launch, so one
// compiled kernel serves every value (a KV-cache position, say).
type Var struct {
	Name   string
	Lo, Hi int
}

// NewVar returns a variable that takes values in [lo, hi].
func NewVar(name string, lo, hi int) *Var {
	if lo > hi {
		panic(fmt.Sprintf("gograd: NewVar: %s has an empty range [%d, %d]", name, lo, hi))
	}
	return &Var{name, lo, hi}
}

// Bind returns a 0-d int64 tensor (on the default device) holding the
// variable bound to val.
func (v *Var) Bind(val int) *Tensor { return v.BindOn(resolveDevice(nil), val) }

// BindOn is Bind on device dev.
func (v *Var) BindOn(dev string, val int) *Tensor {
	if val < v.Lo || val > v.Hi {
		panic(fmt.Sprintf("gograd: Var.Bind: %s = %d outside [%d, %d]", v.Name, val, v.Lo, v.Hi))
	}
	dev = resolveDevice([]string{dev})
	u := uop.VarOn(dev, v.Name, int64(v.Lo), int64(v.Hi))
	return fromUOp(uop.New(uop.BIND, u.DType, []*uop.UOp{u, uop.Const(dev, u.DType, val)}, nil))
}

// BoundVar returns the variable name and value of a tensor made by Bind.
func BoundVar(t *Tensor) (string, int64, bool) {
	if t.uop.Op != uop.BIND {
		return "", 0, false
	}
	return t.uop.Src[0].Arg.(uop.VarArg).Name, uop.ConstInt(t.uop.Src[1]), true
}

// CapturedKernel is one kernel (or copy, when Prog is nil) that ran while
// capturing: what the JIT replays.
type CapturedKernel struct {
	Dev  *device.Device
	Prog device.Program
	Info device.KernelInfo
	Bufs []*device.Buffer // a copy's destination and source
	Vars []string         // the variables the kernel takes, in launch order
	Vals []int64          // their values when captured
}

type captureList struct {
	mu      sync.Mutex
	kernels []CapturedKernel
}

func (c *captureList) add(k CapturedKernel) {
	c.mu.Lock()
	c.kernels = append(c.kernels, k)
	c.mu.Unlock()
}

var (
	captureMu sync.Mutex // one capture at a time
	capturing *captureList
)

// Capture runs f and returns every kernel and copy it launched, in order.
// Only one capture runs at a time.
func Capture(f func()) []CapturedKernel {
	captureMu.Lock()
	defer captureMu.Unlock()
	c := &captureList{}
	capturing = c
	defer func() { capturing = nil }()
	f()
	return c.kernels
}

// BufferOf returns the buffer of a realized tensor that is its buffer's
// whole contiguous view, realizing a contiguous copy first if it is not.
func BufferOf(t *Tensor) *device.Buffer {
	t.Realize()
	if buf, st := viewOf(t); st {
		return buf
	}
	c := t.Contiguous().Realize()
	t.uop = c.uop
	buf, _ := viewOf(t)
	return buf
}

// FromBuffer returns a tensor of shape over the whole of buf.
func FromBuffer(buf *device.Buffer, shape ...int) *Tensor {
	return fromUOp(uop.Buffer(buf).Reshape(shape))
}
