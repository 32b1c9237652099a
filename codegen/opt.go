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
// buffer loads' views (constants' views are neither). A view that a load
// and a store share counts as the store's, except in a Late kernel, which
// reads its input along the reduce axes it stores (a softmax's rows): there
// it is both.
func (k *Kernel) viewRoles() (stores, loads []int) {
	for i, v := range k.views {
		if k.storeView[v] {
			stores = append(stores, i)
		}
		if k.loadView[v] && (!k.storeView[v] || k.Late) {
			loads = append(loads, i)
		}
	}
	return stores, loads
}

// sizeOfScalar is the element size of the kernel's main output.
func (k *Kernel) outSize() int { return k.outDType.Size() }

// Hand applies the hand-tuned optimisations opts asks for (none without
// SIMD) and returns them.
func (k *Kernel) Hand(opts Options) []Opt {
	switch {
	case opts.GPU:
		return k.GPUHandOpts(opts.SIMD)
	case opts.SIMD > 0:
		return k.HandOpts(opts.SIMD)
	}
	return nil
}

// gpuThreads is how many threads a GPU kernel should keep after upcasting:
// enough to fill an H100's 132 SMs several times over.
const gpuThreads = 1 << 16

// GPUHandOpts picks optimisations for a GPU whose loads are vecBytes wide:
// the contiguous output axis in vectors (float4) when that still leaves
// gpuThreads threads, nothing else. Reductions with few outputs are split
// across a block by the renderer.
func (k *Kernel) GPUHandOpts(vecBytes int) []Opt {
	stores, _ := k.viewRoles()
	if len(stores) == 0 || k.outSize() == 0 || vecBytes == 0 {
		return nil
	}
	threads := 1
	for _, n := range k.Full[:k.NGlobal] {
		threads *= n
	}
	w := vecBytes / k.outSize()
	if w < 2 || threads/w < gpuThreads {
		return nil
	}
	for a := k.NGlobal - 1; a >= 0; a-- {
		if s, ok := k.strideOf(stores[0], a); ok && s == 1 {
			o := Opt{Upcast, a, w, true}
			if k.Full[a]%w == 0 && k.ApplyOpt(o) == nil {
				return []Opt{o}
			}
			break
		}
	}
	return nil
}

// HandOpts picks optimisations for a CPU with SIMD registers of vecBytes
// bytes: vectorize the axis the output (or, for a reduction over a
// contiguous axis, the input) is contiguous along, tile outputs into
// registers for matmul-like kernels, and order loops so the reused operand
// stays in cache. A reduction vectorized along a reduce axis also gets a
// two-axis tile when it reuses its data (a convolution's weight gradient),
// and one with nothing to vectorize a tile of scalars.
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
				across, n := k.transposedAxis(contiguousOut, loads), len(k.Full)
				if try(Opt{Upcast, contiguousOut, w, true}) && across >= 0 {
					if len(k.Full) == n && across > contiguousOut { // the vector took the whole axis
						across--
					}
					for _, amt := range []int{16, 8, 4} { // a 64-byte line of floats, at most
						if k.Full[across]%amt == 0 && try(Opt{Upcast, across, amt, false}) {
							break
						}
					}
				}
			}
		}
		return opts
	}
	// Two ways to vectorize a reduction: along the contiguous output axis
	// (matmul with row-major B, convolutions: each loaded vector feeds a tile
	// of accumulators), or along a reduce axis the inputs read contiguously
	// (row sums, softmax, matrix-vector and x @ W.T with row-major W: vector
	// partial sums, added up at the end). The one whose contiguous loads move
	// more data wins.
	lastRed := k.NLoop - 1
	weight := func(i int) int { // elements view i touches
		n := 1
		for a := range k.NLoop {
			if s, ok := k.strideOf(i, a); !ok || s != 0 {
				n *= k.Full[a]
			}
		}
		return n
	}
	// Bytes read in pairs or fours along the reduce axis (a quantized
	// weight and activation multiplied as int16 pairs or byte fours, their
	// products summed) are contiguous once the vectorizer turns them into
	// DOT2 or DOT4.
	redScore, redOK, pairs := 0, true, false
	for _, i := range loads {
		s, ok := k.strideOf(i, lastRed)
		switch {
		case ok && s == 1:
			redScore += weight(i)
		case ok && (s == 2 || s == 4) && k.loadSize[k.views[i]] == 1:
			redScore += weight(i)
			pairs = true
		case !ok || s != 0:
			redOK = false
		}
	}
	outScore, broadcastAlongOut := 0, false
	if contiguousOut >= 0 {
		for _, i := range loads {
			s, ok := k.strideOf(i, contiguousOut)
			if ok && s == 0 {
				broadcastAlongOut = true
			}
			if ok && s == 1 {
				outScore += weight(i)
			}
		}
	}
	redOK = redOK && redScore > 0 && (k.Full[lastRed] >= 16 || pairs && k.Full[lastRed] >= 8) && width(k.Full[lastRed]) > 0
	// A tile can also take its vectors along another output axis that a
	// load reads contiguously while every other load is broadcast along
	// it: a convolution's output channels, its weight packed channels-last,
	// where its rows are too short for vectors as wide. Each lane is then
	// stored by itself, once per output: worth it where an output sums
	// many products (not a one-channel convolution's 25).
	reduceLen := 1
	for _, n := range k.Full[k.NGlobal:k.NLoop] {
		reduceLen *= n
	}
	if alt := k.vectorAxis(contiguousOut, loads); alt >= 0 && reduceLen >= 64 {
		along := 0
		if contiguousOut >= 0 && broadcastAlongOut {
			along = width(k.Full[contiguousOut])
		}
		if redOK {
			along = max(along, width(k.Full[lastRed]))
		}
		if width(k.Full[alt]) > along && k.outputTile(alt, loads, width, try) {
			return opts
		}
	}
	if contiguousOut >= 0 && broadcastAlongOut && (!redOK || outScore >= redScore) {
		if k.outputTile(contiguousOut, loads, width, try) {
			return opts
		}
	}
	if redOK {
		// The largest input is the one streamed from memory (a weight
		// matrix). A few outputs at once along an axis it does not move
		// along (a prefill's tokens) load each of its vectors once for
		// several outputs. Outputs along its own rows only read several
		// rows at once, for the reuse of the small operand, which stays
		// in cache anyway: short rows so interleaved are streams the
		// hardware prefetchers follow badly (a matrix-vector product of
		// rows of 288 to 2048 floats ran at 55-75% of its one-row pace),
		// so only rows of longRow bytes or more get that tile (below).
		heavy, most := -1, 0
		for _, i := range loads {
			if n := weight(i); n > most {
				heavy, most = i, n
			}
		}
		if w := width(k.Full[lastRed]); try(Opt{Unroll, lastRed, w, true}) {
			first := 1
			for a := k.NGlobal - 1; a >= 0 && heavy >= 0; a-- {
				if s, ok := k.strideOf(heavy, a); ok && s == 0 {
					if amt := tileAmount(k.Full[a], maxTile); amt > 0 && try(Opt{Upcast, a, amt, false}) {
						first = amt
						break
					}
				}
			}
			switch {
			case heavy >= 0 && k.computeBound(heavy):
				k.reuseTile(heavy, loads, maxTile/first, try)
			case heavy >= 0 && first == 1 && !pairs && !k.Late && k.loadSize[k.views[heavy]] == 4 && reduceLen*k.loadSize[k.views[heavy]] >= longRow:
				// Float rows as long as a few pages each (a 7B model's
				// rows of 4096 and 11008, TinyLlama's 5632) are read
				// four at a time: one accumulator's chain over such a
				// row kept a two-thread product at 69-96% of a plain
				// read of the matrix, four rows at 89-99% (C harness,
				// cold copies, six runs). Shorter rows (288 to 2048 floats) ran
				// at the read's pace already, and slower four at once.
				// (Not row kernels: a layer norm reads its row thrice.)
				k.reuseTile(heavy, loads, 4, try)
			case heavy >= 0 && first == 1 && !pairs && k.loadSize[k.views[heavy]] == 1 && k.outDType.IsFloat():
				// A stream of byte weights summed as floats (int8
				// weights) moves so few bytes per vector (16 where
				// floats move 64) that one accumulator's chain of
				// dependent adds sets the pace, not the memory:
				// several vectors a turn, where the row is long. (Half
				// floats, 32 bytes a vector, ran slower unrolled.)
				if red := k.NLoop - 1; red >= k.NGlobal && k.Full[red] >= 16 {
					for _, amt := range []int{8, 4, 2} {
						if k.Full[red]%amt == 0 && try(Opt{Unroll, red, amt, false}) {
							break
						}
					}
				}
			}
		}
		return opts
	}
	if len(opts) == 0 {
		// Nothing to vectorize cleanly, but a long reduce axis some load
		// reads contiguously (a batch norm's statistics of a gradient
		// through a pool, whose upsampling view is no affine index): a
		// vector along it still, the other loads' lanes gathered one by one,
		// so the fused arithmetic runs on vectors.
		if w := width(k.Full[lastRed]); redScore > 0 && k.Full[lastRed] >= 16 && w > 0 && try(Opt{Unroll, lastRed, w, true}) {
			return opts
		}
		k.scalarTile(loads, try)
	}
	return opts
}

// vectorAxis is the innermost global axis other than skip along which some
// load is contiguous and every other load is broadcast (-1: none).
func (k *Kernel) vectorAxis(skip int, loads []int) int {
	for a := k.NGlobal - 1; a >= 0; a-- {
		if a == skip {
			continue
		}
		contiguous, ok := false, true
		for _, i := range loads {
			switch s, known := k.strideOf(i, a); {
			case !known || s != 0 && s != 1:
				ok = false
			case s == 1:
				contiguous = true
			}
		}
		if ok && contiguous {
			return a
		}
	}
	return -1
}

// transposedAxis is, for an elementwise kernel vectorized along the output's
// contiguous axis out, another global axis along which some load is
// contiguous while it is strided along out: a transpose (-1: none). Upcast
// as well, each of that load's cache lines is used whole in one iteration,
// instead of one float of it per vector, evicted before the next (the rows
// of a power-of-two matrix all fall into one cache set).
func (k *Kernel) transposedAxis(out int, loads []int) int {
	for _, i := range loads {
		if s, ok := k.strideOf(i, out); !ok || s == 0 || s == 1 {
			continue
		}
		for a := k.NGlobal - 1; a >= 0; a-- {
			if s, ok := k.strideOf(i, a); a != out && ok && s == 1 {
				return a
			}
		}
	}
	return -1
}

// longRow is the length in bytes from which a matrix-vector product's
// float rows are read several at a time.
const longRow = 16 << 10

// maxTile bounds the accumulators of a register tile: the product of its
// non-vector upcasts (the vectors of AVX-512's 32 registers, less a few for
// the loaded operands).
const maxTile = 24

// tileAmount is the upcast of an axis of size n in a register tile: 4 where
// it divides n, else the largest of 6, 5, 3 and 2 that does and is at most
// limit (0: none).
func tileAmount(n, limit int) int {
	for _, amt := range []int{4, 6, 5, 3, 2} {
		if amt <= limit && n%amt == 0 {
			return amt
		}
	}
	return 0
}

// computeBound reports whether the kernel's loops run over many times the
// elements of its heaviest load heavy: each is used several times (a
// convolution's weight gradient), so a tile that reuses loaded values pays,
// unlike a matrix-vector product, where every weight is used once and only
// the streaming matters.
func (k *Kernel) computeBound(heavy int) bool {
	iters, touched := 1, 1
	for a := range k.NLoop {
		iters *= k.Full[a]
		if s, ok := k.strideOf(heavy, a); !ok || s != 0 {
			touched *= k.Full[a]
		}
	}
	for a := k.NLoop; a < len(k.Full); a++ { // the upcasts so far
		iters *= k.Full[a]
		if s, ok := k.strideOf(heavy, a); !ok || s != 0 {
			touched *= k.Full[a]
		}
	}
	return iters >= 4*touched
}

// reuseTile upcasts, in a reduction vectorized along a reduce axis, one more
// global axis along which the heavy load moves but every other load is
// broadcast: each of those loads (and what is computed from it) then feeds
// several accumulators. In a convolution's weight gradient, where the
// input's windows are heavy, that is the kernel's width: the output
// gradient's vector is loaded once for the few shifted input vectors.
// Innermost axes first, where the heavy load's stride is smallest.
func (k *Kernel) reuseTile(heavy int, loads []int, limit int, try func(Opt) bool) {
	for a := k.NGlobal - 1; a >= 0; a-- {
		if s, ok := k.strideOf(heavy, a); !ok || s == 0 {
			continue
		}
		others := false
		for _, i := range loads {
			if s, ok := k.strideOf(i, a); i != heavy && ok && s == 0 {
				others = true
			} else if i != heavy {
				others = false
				break
			}
		}
		if amt := tileAmount(k.Full[a], limit); others && amt > 0 && try(Opt{Upcast, a, amt, false}) {
			return
		}
	}
}

// scalarTile gives a reduction that has no axis to vectorize (a small
// convolution, whose rows are too short for a vector) a register tile of
// scalars: two global axes, each one along which some load is broadcast, so
// every value loaded feeds the accumulators of the other axis.
func (k *Kernel) scalarTile(loads []int, try func(Opt) bool) {
	broadcast := func(a int) []int {
		var out []int
		for _, i := range loads {
			if s, ok := k.strideOf(i, a); ok && s == 0 {
				out = append(out, i)
			}
		}
		return out
	}
	limit := maxTile
	var first []int
	for a := k.NGlobal - 1; a >= 0; a-- {
		b := broadcast(a)
		if len(b) == 0 || len(b) == len(loads) || (first != nil && slices.Equal(b, first)) {
			continue
		}
		amt := tileAmount(k.Full[a], limit)
		if amt == 0 || !try(Opt{Upcast, a, amt, false}) {
			continue
		}
		if first != nil {
			return
		}
		first, limit = b, limit/amt
	}
}

// outputTile applies the register tile of a matmul-like kernel: vectors
// (and a few more) along the contiguous output axis, times a few of another
// global axis along which the vector operand does not move (matmul's rows,
// a convolution's output channels), with the contiguous axis's loop outside
// the rows' so the vector operand's panel stays in cache while the rows
// stream by.
func (k *Kernel) outputTile(col int, loads []int, width func(int) int, try func(Opt) bool) bool {
	var vecLoads []int
	for _, i := range loads {
		if s, ok := k.strideOf(i, col); !ok || s != 0 {
			vecLoads = append(vecLoads, i)
		}
	}
	// The innermost even axis, else one of 3, 5 or 9 (a small
	// convolution's rows).
	row := -1
	for _, even := range []bool{true, false} {
		for a := k.NGlobal - 1; a >= 0 && row < 0; a-- {
			if a == col || even && k.Full[a]%2 != 0 || tileAmount(k.Full[a], maxTile) == 0 {
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
	}
	w := width(k.Full[col])
	if w == 0 {
		return false
	}
	// Loops move when an upcast leaves one of size 1 (it is dropped): keep
	// track of where the column and row loops are (-1: gone).
	colLoop, rowLoop := col, row
	upcast := func(loop, amt int, vector bool) bool {
		n := len(k.Full)
		if !try(Opt{Upcast, loop, amt, vector}) {
			return false
		}
		if len(k.Full) == n { // loop reached size 1 and was dropped
			for _, p := range []*int{&colLoop, &rowLoop} {
				switch {
				case *p == loop:
					*p = -1
				case *p > loop:
					*p--
				}
			}
		}
		return true
	}
	if !upcast(colLoop, w, true) {
		return false
	}
	cols := 1
	for _, more := range []int{4, 2, 5, 3} {
		if colLoop >= 0 && k.Full[colLoop]%more == 0 && upcast(colLoop, more, false) {
			cols = more
			break
		}
	}
	// Four rows, or where the columns take a single vector (a
	// convolution's rows of 56, whose vectors of 8 are gathered lane by
	// lane at the padded edges), as many as the tile holds: each vector
	// loaded then feeds that many accumulators.
	rows := []int{4, 2}
	switch {
	case rowLoop >= 0 && k.Full[rowLoop]%4 != 0:
		// Rows of 6 or 10 (a small convolution's, with the vectors along
		// its channels): as many as the tile holds.
		rows = []int{6, 5, 3, 2}
	case cols == 1:
		rows = []int{16, 8, 4, 2}
	}
	for _, amt := range rows {
		if rowLoop >= 0 && amt*cols <= maxTile && k.Full[rowLoop]%amt == 0 && upcast(rowLoop, amt, false) {
			break
		}
	}
	if colLoop < 0 && rowLoop >= 0 {
		// The tile took the whole column axis (a product whose right
		// operand was copied into panels of the tile's width): the panel
		// axis, along which only the vector operand moves, takes its place.
		colLoop = k.panelLoop(rowLoop, vecLoads, loads)
	}
	if colLoop >= 0 && rowLoop >= 0 && rowLoop < colLoop {
		try(Opt{Swap, rowLoop, colLoop, false})
	}
	return true
}

// panelLoop is a global loop other than row along which every one of
// vecLoads moves and every other load is broadcast (-1: none).
func (k *Kernel) panelLoop(row int, vecLoads, loads []int) int {
	for a := range k.NGlobal {
		if a == row {
			continue
		}
		ok := true
		for _, i := range loads {
			s, known := k.strideOf(i, a)
			if !known || (s != 0) != slices.Contains(vecLoads, i) {
				ok = false
				break
			}
		}
		if ok {
			return a
		}
	}
	return -1
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
