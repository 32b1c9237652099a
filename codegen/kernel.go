// Package codegen turns a kernel AST from the scheduler (a SINK of STOREs
// whose loads and constants carry ShapeTrackers) into a linear program: loops
// (RANGE/ENDRANGE), accumulators, loads, ALU ops and stores in execution
// order. On the way it shapes the kernel: reduce axes last, adjacent axes
// merged where every view allows it, and the axis a chunked backend runs as
// vectors chosen.
//
// Package codegen imports uop, shape and dtype.
package codegen

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/gograd/gograd/dtype"
	"github.com/gograd/gograd/shape"
	"github.com/gograd/gograd/uop"
)

// Options are what the target backend wants from the optimiser.
type Options struct {
	// Vector marks one axis (the last global or last reduce axis, whichever
	// reads memory best) for a backend that runs it in chunks of lanes.
	Vector bool
	// SIMD is the width in bytes of the target's vector registers: with it,
	// the hand-tuned optimisations upcast and vectorize (0: none).
	SIMD int
	// GPU marks a target that runs each output on its own thread: the
	// hand-tuned optimisations keep tens of thousands of threads busy
	// instead of tiling registers (see GPUHandOpts).
	GPU bool
	// Opts, when set, are applied instead of the hand-tuned ones (BEAM search).
	Opts []Opt
}

// Kernel is a kernel AST being shaped: the views of every load, const and
// store, kept consistent while axes are permuted and merged.
type Kernel struct {
	AST      *uop.UOp
	Full     []int  // sizes: global loops, reduce loops, then upcast axes
	NGlobal  int    // how many of Full are global loops
	NLoop    int    // how many of Full are loops; Full[NLoop:] are upcast into registers
	UpReduce []bool // for each upcast axis, whether it came from a reduce axis
	VecDim   int    // the upcast axis that is a SIMD vector, or -1
	// Late marks a kernel that stores along its reduce axes: its reductions
	// (a row's maximum and sum) are broadcast back along the row, and the
	// store loops over the row again after them.
	Late   bool
	Vector int   // the loop a chunked backend (GO) runs as vectors, or -1
	Opts   []Opt // the optimisations applied
	views  []*uop.UOp
	sts    []shape.ShapeTracker

	storeView map[*uop.UOp]bool // the views of stores
	loadView  map[*uop.UOp]bool // the views of buffer loads
	loadSize  map[*uop.UOp]int  // the element size of each load view's load
	outDType  dtype.DType       // the dtype of the first store
}

// NewKernel reads the views and reduce of ast.
func NewKernel(ast *uop.UOp) *Kernel {
	k := &Kernel{AST: ast, Vector: -1, VecDim: -1, storeView: map[*uop.UOp]bool{}, loadView: map[*uop.UOp]bool{}, loadSize: map[*uop.UOp]int{}}
	var reduceAxes []int
	for _, u := range uop.Toposort(ast) {
		switch u.Op {
		case uop.VIEW:
			k.views = append(k.views, u)
			k.sts = append(k.sts, u.Arg.(shape.ShapeTracker))
		case uop.REDUCE_AXIS:
			axes := u.Arg.(uop.ReduceArg).Axes
			if reduceAxes != nil && !slices.Equal(axes, reduceAxes) {
				panic(fmt.Sprintf("codegen: reduces over axes %v and %v in one kernel", reduceAxes, axes))
			}
			reduceAxes = axes
		case uop.LOAD:
			k.loadView[u.Src[1]] = true
			k.loadSize[u.Src[1]] = u.DType.Size()
		case uop.STORE:
			k.storeView[u.Src[1]] = true
			if k.outDType == dtype.Invalid {
				k.outDType = u.Src[0].DType
			}
		}
	}
	// The full shape is the largest size seen on each axis (reduce axes are 1
	// in the output views and full in the input views).
	n := len(k.sts[0].Shape())
	full := make([]int, n)
	for i := range full {
		full[i] = 1
	}
	for _, st := range k.sts {
		for i, s := range st.Shape() {
			if s != 1 {
				full[i] = s
			}
		}
	}
	// Permute reduce axes to the end.
	var order []int
	for i := range n {
		if !slices.Contains(reduceAxes, i) {
			order = append(order, i)
		}
	}
	k.NGlobal = len(order)
	order = append(order, reduceAxes...)
	k.Full = make([]int, n)
	for i, o := range order {
		k.Full[i] = full[o]
	}
	for i := range k.sts {
		k.sts[i] = k.sts[i].Permute(order)
	}
	k.simplify()
	k.NLoop = len(k.Full)
	for v := range k.storeView {
		st := k.sts[slices.Index(k.views, v)]
		for _, s := range st.Shape()[k.NGlobal:] {
			k.Late = k.Late || s != 1
		}
	}
	return k
}

// simplify drops size-1 axes and merges adjacent axes of the same kind where
// every view stays a single strided run across them.
func (k *Kernel) simplify() {
	// Drop axes of size 1.
	for i := len(k.Full) - 1; i >= 0; i-- {
		if k.Full[i] == 1 {
			k.reshapeAll(func(s []int) []int { return slices.Delete(slices.Clone(s), i, i+1) })
			k.Full = slices.Delete(k.Full, i, i+1)
			if i < k.NGlobal {
				k.NGlobal--
			}
		}
	}
	// Merge axis i into i+1 from the right.
	for i := len(k.Full) - 2; i >= 0; i-- {
		if (i < k.NGlobal) != (i+1 < k.NGlobal) {
			continue
		}
		merge := func(s []int) []int {
			out := slices.Clone(s)
			out[i] *= out[i+1]
			return slices.Delete(out, i+1, i+2)
		}
		ok := true
		for _, st := range k.sts {
			if len(st.Reshape(merge(st.Shape())).Views) != len(st.Views) {
				ok = false
				break
			}
		}
		if !ok {
			continue
		}
		k.reshapeAll(merge)
		k.Full = merge(k.Full)
		if i+1 < k.NGlobal {
			k.NGlobal--
		}
	}
}

func (k *Kernel) reshapeAll(f func([]int) []int) {
	for i, st := range k.sts {
		k.sts[i] = st.Reshape(f(st.Shape()))
	}
}

// ChooseVector picks the axis to run as vectors: the last global axis or the
// last reduce axis, whichever more of the views read with stride 0 or 1. A
// kernel whose reduce axes have loops of several phases (see loops) runs
// only a global axis as vectors.
func (k *Kernel) ChooseVector() {
	var cands []int
	if k.NGlobal > 0 {
		cands = append(cands, k.NGlobal-1)
	}
	if len(k.Full) > k.NGlobal && !k.phased() {
		cands = append(cands, len(k.Full)-1)
	}
	best, bestScore := -1, -1
	for _, a := range cands {
		score := 0
		for _, st := range k.sts {
			strides, ok := st.RealStrides()
			if !ok {
				continue
			}
			switch s := strides[a]; {
			case s == 1 || s == -1:
				score += 4
			case s == 0:
				score += 2
			}
		}
		if k.Full[a] < 16 {
			score -= 6
		}
		if score > bestScore {
			best, bestScore = a, score
		}
	}
	if best >= 0 && k.Full[best] > 1 {
		k.Vector = best
	}
}

// phased reports whether the kernel's reduce axes are looped over more than
// once: by reductions in several phases, or by a Late kernel's store.
func (k *Kernel) phased() bool {
	if k.Late {
		return true
	}
	for _, p := range reducePhases(k.AST) {
		if p > 0 {
			return true
		}
	}
	return false
}

// Name is the kernel's shape-derived name: E_ for elementwise kernels, r_ for
// reductions, then the loop sizes; upcast axes follow an "u" (vector ones a "v").
func (k *Kernel) Name() string {
	var b strings.Builder
	if k.NLoop > k.NGlobal || slices.Contains(k.UpReduce, true) {
		b.WriteString("r")
	} else {
		b.WriteString("E")
	}
	if len(k.Full) == 0 {
		b.WriteString("_1")
	}
	for i, s := range k.Full {
		b.WriteString("_")
		switch {
		case i == k.VecDim:
			b.WriteString("v")
		case i >= k.NLoop:
			b.WriteString("u")
		}
		b.WriteString(strconv.Itoa(s))
	}
	return b.String()
}

func (k *Kernel) String() string {
	rows := ""
	if k.phased() {
		rows = " rows" // a row kernel: its reduce axes are looped over more than once
	}
	return fmt.Sprintf("%s full=%v globals=%d loops=%d vector=%d opts=%v%s", k.Name(), k.Full, k.NGlobal, k.NLoop, k.Vector, k.Opts, rows)
}
