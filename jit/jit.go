// Package jit captures the kernels a function launches and replays them.
//
// A training or decoding step builds the same lazy graph every time;
// scheduling it and looking its kernels up in the cache is work the step
// repeats for nothing. New(fn) returns a JIT whose first Call runs fn
// normally (compiling the kernels), whose second Call runs fn while
// capturing every kernel and copy it launches, and whose later Calls replay
// that list directly with the new inputs' buffers: no graph, no scheduling.
//
// Inputs are tensors (their buffers are swapped in on replay; they must
// keep their shape and dtype) and variables bound with gograd.Var.Bind,
// whose new values the replayed kernels take at launch, so a changing
// position does not recompile anything. The outputs of a replay live in
// the JIT's own buffers and are overwritten by the next Call; copy them
// (Contiguous, or read them out) to keep them. fn must not depend on
// anything but its inputs and the state it updates in place (parameters,
// optimizer moments): host work inside fn, reading values out, or tensors
// created from host data inside fn are not replayed.
//
// Package jit imports gograd and device.
package jit

import (
	"fmt"
	"slices"

	"github.com/gograd/gograd"
	"github.com/gograd/gograd/device"
)

// JIT is a function whose kernels are captured and replayed.
type JIT struct {
	fn      func(inputs ...*gograd.Tensor) []*gograd.Tensor
	calls   int
	kernels []gograd.CapturedKernel
	inBufs  []*device.Buffer // the tensor inputs' buffers when captured (nil for variables)
	outBufs []*device.Buffer
	outs    []outShape
	mems    [][]device.Mem // memory of each kernel's buffers, looked up once
	vals    [][]int64
}

type outShape struct {
	shape []int
}

// New returns a JIT of fn.
func New(fn func(inputs ...*gograd.Tensor) []*gograd.Tensor) *JIT { return &JIT{fn: fn} }

// Captured returns the kernels the JIT replays (nil before its second call).
func (j *JIT) Captured() []gograd.CapturedKernel { return j.kernels }

// Call runs the function: normally, then captured, then replayed.
func (j *JIT) Call(inputs ...*gograd.Tensor) []*gograd.Tensor {
	defer func() { j.calls++ }()
	switch j.calls {
	case 0:
		outs := j.fn(inputs...)
		gograd.Realize(outs...)
		return outs
	case 1:
		return j.capture(inputs)
	}
	return j.replay(inputs)
}

func (j *JIT) capture(inputs []*gograd.Tensor) []*gograd.Tensor {
	j.inBufs = make([]*device.Buffer, len(inputs))
	for i, in := range inputs {
		if _, _, ok := gograd.BoundVar(in); !ok {
			j.inBufs[i] = gograd.BufferOf(in)
		}
	}
	var outs []*gograd.Tensor
	j.kernels = gograd.Capture(func() {
		outs = j.fn(inputs...)
		gograd.Realize(outs...)
		j.outBufs = make([]*device.Buffer, len(outs))
		for i, o := range outs {
			j.outBufs[i] = gograd.BufferOf(o)
		}
	})
	for _, o := range outs {
		j.outs = append(j.outs, outShape{o.Shape()})
	}
	return outs
}

func (j *JIT) replay(inputs []*gograd.Tensor) []*gograd.Tensor {
	if len(inputs) != len(j.inBufs) {
		panic(fmt.Sprintf("jit: called with %d inputs, captured with %d", len(inputs), len(j.inBufs)))
	}
	swap := map[*device.Buffer]*device.Buffer{}
	vars := map[string]int64{}
	for i, in := range inputs {
		if name, v, ok := gograd.BoundVar(in); ok {
			vars[name] = v
			continue
		}
		old := j.inBufs[i]
		b := gograd.BufferOf(in)
		if b.DType != old.DType || b.Size != old.Size || b.Dev != old.Dev {
			panic(fmt.Sprintf("jit: input %d is %s[%d] on %s, captured as %s[%d] on %s", i, b.DType, b.Size, b.Dev.Name, old.DType, old.Size, old.Dev.Name))
		}
		if b != old {
			swap[old] = b
		}
	}
	if j.mems == nil {
		j.prepare()
	}
	for k, kern := range j.kernels {
		bufs, mems := kern.Bufs, j.mems[k]
		if len(swap) > 0 && slices.ContainsFunc(bufs, func(b *device.Buffer) bool { return swap[b] != nil }) {
			bufs = slices.Clone(bufs)
			mems = slices.Clone(mems)
			for i, b := range bufs {
				if nb := swap[b]; nb != nil {
					bufs[i] = nb
					mems[i] = nb.MustMem()
				}
			}
		}
		if kern.Prog == nil {
			if err := kern.Dev.CopyBuffer(bufs[0], bufs[1], nil).Wait(); err != nil {
				panic(err)
			}
			continue
		}
		vals := j.vals[k]
		for i, name := range kern.Vars {
			if v, ok := vars[name]; ok {
				vals[i] = v
			}
		}
		if err := kern.Dev.RunNow(kern.Prog, &kern.Info, bufs, vals, mems); err != nil {
			panic(err)
		}
	}
	outs := make([]*gograd.Tensor, len(j.outBufs))
	for i, b := range j.outBufs {
		outs[i] = gograd.FromBuffer(b, j.outs[i].shape...)
	}
	return outs
}

// prepare looks up every captured buffer's memory once.
func (j *JIT) prepare() {
	j.mems = make([][]device.Mem, len(j.kernels))
	j.vals = make([][]int64, len(j.kernels))
	for k, kern := range j.kernels {
		j.mems[k] = make([]device.Mem, len(kern.Bufs))
		for i, b := range kern.Bufs {
			j.mems[k][i] = b.MustMem()
		}
		j.vals[k] = slices.Clone(kern.Vals)
	}
}
