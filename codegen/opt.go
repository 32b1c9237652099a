package codegen

import (
	"fmt"
	"slices"
	"strconv"

	"github.com/gograd/gograd/uop"
)

// OptOp is a kernel optimisation.
type OptOp uint8

const (
	// Upcast splits Amt off a global axis into registers: the kernel computes
	// Amt outputs of that axis per loop iteration.
	Upcast OptOp = iota
	// Unroll splits Amt off a reduce axis and unrolls it.
	Unroll
	// Swap exchanges two global loops (Axis and Amt): loop order.
	Swap
)

// Opt is one optimisation. With Vector, the split-off part (Upcast or
// Unroll) becomes a SIMD vector of Amt lanes.
type Opt struct {
	Op     OptOp
	Axis   int
	Amt    int
	Vector bool
}

func (o Opt) String() string {
	v := ""
	if o.Vector {
		v = "v"
	}
	return fmt.Sprintf("%s%s(%d,%d)", [...]string{"UPCAST", "UNROLL", "SWAP"}[o.Op], v, o.Axis, o.Amt)
}

// Loops is how many of Full are loops (the rest are upcast into registers).
func (k *Kernel) Loops() int { return k.NLoop }

// ApplyOpt applies o, or returns an error (leaving k unchanged) when o does
// not fit the kernel.
func (k *Kernel) ApplyOpt(o Opt) error {
	switch o.Op {
	case Upcast, Unroll:
		lo, hi := 0, k.NGlobal
		if o.Op == Unroll {
			lo, hi = k.NGlobal, k.NLoop
		}
		if o.Axis < lo || o.Axis >= hi {
			return fmt.Errorf("codegen: %v: axis is not a %s loop", o, map[bool]string{true: "reduce", false: "global"}[o.Op == Unroll])
		}
		if o.Amt < 2 || k.Full[o.Axis]%o.Amt != 0 {
			return fmt.Errorf("codegen: %v: %d does not divide axis size %d", o, o.Amt, k.Full[o.Axis])
		}
		if o.Vector && k.VecDim >= 0 {
			return fmt.Errorf("codegen: %v: the kernel already has a vector axis", o)
		}
		k.shiftToEnd(o.Axis, o.Amt, o.Op == Unroll)
		if o.Vector {
			k.VecDim = len(k.Full) - 1
		}
	case Swap:
		a, b := o.Axis, o.Amt
		if a < 0 || b < 0 || a >= k.NGlobal || b >= k.NGlobal {
			return fmt.Errorf("codegen: %v: not two global loops", o)
		}
		order := make([]int, len(k.Full))
		for i := range order {
			order[i] = i
		}
		order[a], order[b] = b, a
		k.permute(order)
	}
	k.Opts = append(k.Opts, o)
	return nil
}

// permute reorders the kernel's axes in every view.
func (k *Kernel) permute(order []int) {
	full := make([]int, len(order))
	for i, o := range order {
		full[i] = k.Full[o]
	}
	k.Full = full
	for i, st := range k.sts {
		k.sts[i] = st.Permute(order)
	}
}

// shiftToEnd splits amt off axis and moves it to a new upcast axis at the
// end; a loop left with size 1 is dropped.
func (k *Kernel) shiftToEnd(axis, amt int, reduce bool) {
	n := len(k.Full)
	for i, st := range k.sts {
		s := st.Shape()
		split := slices.Clone(s[:axis])
		if s[axis] == 1 { // a view that does not span this axis (an output on a reduce axis)
			split = append(split, 1, 1)
		} else {
			split = append(split, s[axis]/amt, amt)
		}
		split = append(split, s[axis+1:]...)
		st = st.Reshape(split)
		order := make([]int, 0, n+1)
		for j := range n + 1 {
			if j != axis+1 {
				order = append(order, j)
			}
		}
		k.sts[i] = st.Permute(append(order, axis+1))
	}
	k.Full = append(slices.Clone(k.Full[:axis]), append([]int{k.Full[axis] / amt}, k.Full[axis+1:]...)...)
	k.Full = append(k.Full, amt)
	k.UpReduce = append(k.UpReduce, reduce)
	if k.Full[axis] == 1 {
		k.dropAxis(axis)
	}
}

// dropAxis removes a loop of size 1 from the kernel.
func (k *Kernel) dropAxis(axis int) {
	for i, st := range k.sts {
		k.sts[i] = st.Reshape(slices.Delete(slices.Clone(st.Shape()), axis, axis+1))
	}
	k.Full = slices.Delete(k.Full, axis, axis+1)
	if axis < k.NGlobal {
		k.NGlobal--
	}
	k.NLoop--
	if k.VecDim > axis {
		k.VecDim--
	}
}

// strideOf returns the element stride of view i along axis, or false when
// its index is not affine along it. A view of several layers is
// differentiated symbolically.
func (k *Kernel) strideOf(i, axis int) (int, bool) {
	st := k.sts[i]
	if s, ok := st.RealStrides(); ok {
		return s[axis], true
	}
	shp := st.Shape()
	if shp[axis] == 1 {
		return 0, true
	}
	vars := make([]*uop.UOp, len(shp))
	for d, n := range shp {
		if n == 1 {
			vars[d] = uop.Index(0)
		} else {
			vars[d] = uop.Range(d, n, false)
		}
	}
	idx, _ := st.Index(vars)
	c, ok := uop.AffineIn(idx, vars[axis])
	return int(c), ok
}

// viewRoles returns the indices of the kernel's store views and of its
// buffer loads' views (constants' views are neither).
func (k *Kernel) viewRoles() (stores, loads []int) {
	for i, v := range k.views {
		switch {
		case k.storeView[v]:
			stores = append(stores, i)
		case k.loadView[v]:
			loads = append(loads, i)
		}
	}
	return stores, loads
}

// sizeOfScalar is the element size of the kernel's main output.
func (k *Kernel) outSize() int { return k.outDType.Size() }

// HandOpts picks optimisations for a CPU with SIMD registers of vecBytes
// bytes: vectorize the axis the output (or, for a reduction over a
// contiguous axis, the input) is contiguous along, tile outputs into
// registers for matmul-like kernels, and order loops so the reused operand
// stays in cache.
func (k *Kernel) HandOpts(vecBytes int) []Opt {
	stores, loads := k.viewRoles()
	if len(stores) == 0 || k.outSize() == 0 {
		return nil
	}
	width := func(size int) int {
		for w := vecBytes / k.outSize(); w >= 4; w /= 2 {
			if size%w == 0 {
				return w
			}
		}
		return 0
	}
	var opts []Opt
	try := func(o Opt) bool {
		if err := k.ApplyOpt(o); err != nil {
			return false
		}
		opts = append(opts, o)
		return true
	}
	contiguousOut := -1
	for a := k.NGlobal - 1; a >= 0; a-- {
		if s, ok := k.strideOf(stores[0], a); ok && s == 1 {
			contiguousOut = a
			break
		}
	}
	hasReduce := k.NLoop > k.NGlobal
	if !hasReduce {
		if contiguousOut >= 0 {
			if w := width(k.Full[contiguousOut]); w > 0 {
				try(Opt{Upcast, contiguousOut, w, true})
			}
		}
		return opts
	}
	// A reduction over an axis the inputs read contiguously (row sums,
	// matrix-vector products): vector partial sums along it.
	lastRed := k.NLoop - 1
	contiguousIn, anyOne := true, false
	for _, i := range loads {
		s, ok := k.strideOf(i, lastRed)
		if !ok || (s != 1 && s != 0) {
			contiguousIn = false
		}
		anyOne = anyOne || s == 1
	}
	contiguousIn = contiguousIn && anyOne
	broadcastAlongOut := false // some input is the same for every output along contiguousOut: a matmul
	if contiguousOut >= 0 {
		for _, i := range loads {
			if s, ok := k.strideOf(i, contiguousOut); ok && s == 0 {
				broadcastAlongOut = true
			}
		}
	}
	if contiguousOut >= 0 && broadcastAlongOut {
		// Register tile: vectors along the contiguous output axis, times a
		// few of another global axis along which the vector operand does not
		// move (matmul's rows, a convolution's output channels), so each
		// loaded vector feeds several accumulators.
		var vecLoads []int
		for _, i := range loads {
			if s, ok := k.strideOf(i, contiguousOut); !ok || s != 0 {
				vecLoads = append(vecLoads, i)
			}
		}
		row := -1
		for a := k.NGlobal - 1; a >= 0 && row < 0; a-- {
			if a == contiguousOut || k.Full[a]%2 != 0 {
				continue
			}
			shared := true
			for _, i := range vecLoads {
				if s, ok := k.strideOf(i, a); !ok || s != 0 {
					shared = false
				}
			}
			if shared {
				row = a
			}
		}
		if w := width(k.Full[contiguousOut]); w > 0 && try(Opt{Upcast, contiguousOut, w, true}) {
			if k.Full[contiguousOut]%4 == 0 {
				try(Opt{Upcast, contiguousOut, 4, false})
			} else if k.Full[contiguousOut]%2 == 0 {
				try(Opt{Upcast, contiguousOut, 2, false})
			}
			if row >= 0 && row < k.NGlobal {
				for _, amt := range []int{4, 2} {
					if try(Opt{Upcast, row, amt, false}) {
						break
					}
				}
			}
			return opts
		}
	}
	if contiguousIn && k.Full[lastRed] >= 16 {
		if w := width(k.Full[lastRed]); w > 0 {
			try(Opt{Unroll, lastRed, w, true})
			for a := k.NGlobal - 1; a >= 0; a-- {
				if k.Full[a]%4 == 0 {
					try(Opt{Upcast, a, 4, false})
					break
				}
			}
		}
	}
	return opts
}

// key identifies the kernel's optimisations (for caches).
func optsKey(opts []Opt) string {
	s := ""
	for _, o := range opts {
		s += strconv.Itoa(int(o.Op)) + ":" + strconv.Itoa(o.Axis) + ":" + strconv.Itoa(o.Amt)
		if o.Vector {
			s += "v"
		}
		s += ";"
	}
	return s
}
