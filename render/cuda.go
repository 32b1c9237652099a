package render

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/gograd/gograd/dtype"
	"github.com/gograd/gograd/uop"
)

// CUDAKernel is a kernel rendered as CUDA C for NVRTC: one function
//
//	extern "C" __global__ void name(T0 *data0, const T1 *data1, ..., long long var0, ...)
//
// taking the buffers by DEFINE_GLOBAL number, then the symbolic variables in
// launch order (each 8 bytes), launched on a grid of Global blocks of Local
// threads each (x, y, z; CUDA's gridDim and blockDim). The program's global
// loops are thread indices: the innermost on x (consecutive threads,
// consecutive addresses), the next on y, the rest on z; reduce loops run in
// each thread, or in a grouped kernel across the block's threads.
type CUDAKernel struct {
	Name   string
	Src    string
	Global [3]int // blocks per grid dimension
	Local  [3]int // threads per block dimension
	NBufs  int
	NVars  int
}

func (k *CUDAKernel) String() string { return k.Src }

// Threads is the number of threads the kernel runs (blocks × threads per block).
func (k *CUDAKernel) Threads() int64 {
	n := int64(1)
	for i := range 3 {
		n *= int64(k.Global[i]) * int64(k.Local[i])
	}
	return n
}

// cudaBlockThreads is the most threads a block gets. 256 keeps several
// blocks resident on each multiprocessor while leaving every thread up to
// 255 registers (register tiles of upcast kernels need them).
const cudaBlockThreads = 256

// CUDA's limits on grid dimensions (x, y, z) and block dimensions.
var (
	cudaMaxGrid  = [3]int{math.MaxInt32, 65535, 65535}
	cudaMaxBlock = [3]int{1024, 1024, 64}
)

// CUDA renders a linear program as a CUDA C kernel.
//
// Semantics are gograd's, as in the C renderer: integer division and
// remainder by zero give 0 and MinInt/-1 wraps; shifts by negative or
// oversized amounts give 0 (arithmetic right shifts the sign); signed
// overflow wraps; MAX propagates NaN; float-to-integer casts of NaN and
// out-of-range values give MinInt64 truncated to the target; halves are
// stored as 16-bit patterns, computed in float and rounded back after every
// op. No header is included (NVRTC needs none): half conversions are PTX
// cvt instructions and bfloat16 ones bit arithmetic, so the kernels build
// for every architecture and every NVRTC version.
//
// Vectors (from UPCAST opts) are rendered as arrays of lanes, which the
// compiler keeps in registers; a vector load or store of consecutive
// elements is one 4-, 8- or 16-byte access (float4, ushort4, ...) when its
// index is provably a multiple of the width, element by element otherwise.
// Index arithmetic whose bounds fit in 32 bits is done in int. A kernel
// with few outputs and a long reduction is grouped: a block of threads
// shares each output's reduction (see chooseGroup).
func CUDA(name string, uops []*uop.UOp) (*CUDAKernel, error) {
	r := &cudaRenderer{k: &CUDAKernel{Name: name}, lanes: map[*uop.UOp][]string{}, helpers: map[string]bool{},
		global: map[*uop.UOp]string{}, bufs: map[int]dtype.DType{}, written: map[int]bool{}, update: map[*uop.UOp]*uop.UOp{}}
	if err := r.render(uops); err != nil {
		return nil, err
	}
	return r.k, nil
}

type cudaRenderer struct {
	k       *CUDAKernel
	b       strings.Builder
	lanes   map[*uop.UOp][]string // the C expression of each lane of a value
	depth   int
	n       int
	helpers map[string]bool
	global  map[*uop.UOp]string // global loop -> its index expression from the thread ids
	bufs    map[int]dtype.DType // DEFINE_GLOBAL number -> element type
	written map[int]bool        // DEFINE_GLOBALs that are stored to
	vars    []*uop.UOp

	// A grouped reduction: group threads of a block split the outermost
	// reduce loop and combine their accumulators through shared memory.
	group  int
	outer  *uop.UOp              // the outermost reduce loop
	accs   []*uop.UOp            // the accumulators, in order
	update map[*uop.UOp]*uop.UOp // accumulator -> the op that updates it
}

// cudaLaunchDims assigns the global loops (sizes, outermost first) to the
// grid: the innermost to x, the next to y, the rest flattened onto z, or
// everything flattened onto x when y or z would exceed the grid's limits.
// It returns the loops of each dimension (outermost first), the threads per
// block and the blocks of each dimension.
func cudaLaunchDims(sizes []int) (dims [3][]int, local, grid [3]int) {
	local, grid = [3]int{1, 1, 1}, [3]int{1, 1, 1}
	n := len(sizes)
	if n == 0 {
		return dims, local, grid
	}
	assign := func(flat bool) {
		dims = [3][]int{}
		if flat {
			for i := range n {
				dims[0] = append(dims[0], i)
			}
			return
		}
		dims[0] = []int{n - 1}
		if n >= 2 {
			dims[1] = []int{n - 2}
		}
		for i := 0; i < n-2; i++ {
			dims[2] = append(dims[2], i)
		}
	}
	fit := func() bool {
		budget := cudaBlockThreads
		for d := range 3 {
			s := 1
			for _, l := range dims[d] {
				s *= sizes[l]
			}
			local[d] = cudaPickLocal(s, min(budget, cudaMaxBlock[d]))
			budget /= local[d]
			grid[d] = (s + local[d] - 1) / local[d]
			if grid[d] > cudaMaxGrid[d] {
				return false
			}
		}
		return true
	}
	assign(false)
	if fit() {
		return dims, local, grid
	}
	assign(true)
	if !fit() {
		panic(fmt.Sprintf("global size %v exceeds CUDA's grid", sizes))
	}
	return dims, local, grid
}

// cudaPickLocal returns the threads per block along a dimension of size s, at
// most budget: all of s when it fits, else the largest divisor of s down to
// half the budget (no thread idle), else the budget (the last block is
// partly idle, behind a bounds check).
func cudaPickLocal(s, budget int) int {
	if s <= budget {
		return s
	}
	for d := budget; d >= budget/2 && d >= 1; d-- {
		if s%d == 0 {
			return d
		}
	}
	return budget
}

// cudaType is the CUDA type a dtype computes in (halves compute in float).
func cudaType(dt dtype.DType) string {
	switch dt {
	case dtype.Bool:
		return "bool"
	case dtype.Int8:
		return "signed char"
	case dtype.Uint8:
		return "unsigned char"
	case dtype.Int16:
		return "short"
	case dtype.Uint16:
		return "unsigned short"
	case dtype.Int32:
		return "int"
	case dtype.Uint32:
		return "unsigned int"
	case dtype.Int64:
		return "long long"
	case dtype.Uint64:
		return "unsigned long long"
	case dtype.Float16, dtype.BFloat16, dtype.Float32:
		return "float"
	case dtype.Float64:
		return "double"
	}
	panic("no CUDA type for " + dt.String())
}

// cudaStorage is the CUDA type a buffer of dtype holds (halves as their bits).
func cudaStorage(dt dtype.DType) string {
	if dt.IsHalf() {
		return "unsigned short"
	}
	return cudaType(dt)
}

// cudaUnsigned is the unsigned type of the same size, for wrapping arithmetic.
var cudaUnsigned = map[string]string{"signed char": "unsigned char", "short": "unsigned short", "int": "unsigned int", "long long": "unsigned long long"}

// cudaVecName names CUDA's built-in vector type of a storage type ("float"
// gives float4, "unsigned short" ushort4), or "" when it has none.
var cudaVecName = map[string]string{"float": "float", "double": "double", "int": "int", "unsigned int": "uint",
	"short": "short", "unsigned short": "ushort", "signed char": "char", "unsigned char": "uchar",
	"long long": "longlong", "unsigned long long": "ulonglong"}

// cudaHelpers are the device functions kernels may use, in the order they
// are emitted; each is included only when used (with what it needs).
var cudaHelpers = []struct{ name, deps, src string }{
	{"h2f", "", `__device__ __forceinline__ float h2f(unsigned short h) { float f; asm("cvt.f32.f16 %0, %1;" : "=f"(f) : "h"(h)); return f; }`},
	{"f2h", "", `__device__ __forceinline__ unsigned short f2h(float f) { unsigned short h; asm("cvt.rn.f16.f32 %0, %1;" : "=h"(h) : "f"(f)); return h; }`},
	{"bf2f", "", `__device__ __forceinline__ float bf2f(unsigned short h) { return __uint_as_float((unsigned int)h << 16); }`},
	{"f2bf", "", `__device__ __forceinline__ unsigned short f2bf(float f) { unsigned int b = __float_as_uint(f); if ((b & 0x7fffffffu) > 0x7f800000u) return (unsigned short)((b >> 16) | 0x40u); b += 0x7fffu + ((b >> 16) & 1u); return (unsigned short)(b >> 16); }`},
	{"rnd_f16", "h2f f2h", `__device__ __forceinline__ float rnd_f16(float f) { return h2f(f2h(f)); }`},
	{"rnd_bf16", "bf2f f2bf", `__device__ __forceinline__ float rnd_bf16(float f) { return bf2f(f2bf(f)); }`},
	{"maxf_", "", `__device__ __forceinline__ float maxf_(float a, float b) { return (a > b || a != a) ? a : b; }`},
	{"maxd_", "", `__device__ __forceinline__ double maxd_(double a, double b) { return (a > b || a != a) ? a : b; }`},
	{"f2i_", "", `__device__ __forceinline__ long long f2i_(double f) { return (f != f || f >= 9223372036854775808.0 || f < -9223372036854775808.0) ? (-9223372036854775807LL - 1) : (long long)f; }`},
	{"f2u_", "f2i_", `__device__ __forceinline__ unsigned long long f2u_(double f) { return (f >= 9223372036854775808.0 && f < 18446744073709551616.0) ? (unsigned long long)f : (unsigned long long)f2i_(f); }`},
	{"f2if_", "", `__device__ __forceinline__ long long f2if_(float f) { return (f != f || f >= 9223372036854775808.0f || f < -9223372036854775808.0f) ? (-9223372036854775807LL - 1) : (long long)f; }`},
	{"f2uf_", "f2if_", `__device__ __forceinline__ unsigned long long f2uf_(float f) { return (f >= 9223372036854775808.0f && f < 18446744073709551616.0f) ? (unsigned long long)f : (unsigned long long)f2if_(f); }`},
}

// use marks a helper (and what it needs) as used and returns its name.
func (r *cudaRenderer) use(name string) string {
	if r.helpers[name] {
		return name
	}
	r.helpers[name] = true
	for _, h := range cudaHelpers {
		if h.name == name {
			for _, d := range strings.Fields(h.deps) {
				r.use(d)
			}
			return name
		}
	}
	panic("no CUDA helper " + name)
}

func (r *cudaRenderer) line(format string, args ...any) {
	r.b.WriteString(strings.Repeat("  ", r.depth+1))
	fmt.Fprintf(&r.b, format, args...)
	r.b.WriteByte('\n')
}

func (r *cudaRenderer) fresh(prefix string) string {
	r.n++
	return prefix + strconv.Itoa(r.n-1)
}

func (r *cudaRenderer) render(uops []*uop.UOp) (err error) {
	defer func() {
		if e := recover(); e != nil {
			err = fmt.Errorf("render: CUDA: %s: %v", r.k.Name, e)
		}
	}()
	var globals []*uop.UOp
	for _, u := range uops {
		switch u.Op {
		case uop.RANGE:
			if !u.Arg.(uop.RangeArg).Reduce {
				globals = append(globals, u)
			}
		case uop.DEFINE_GLOBAL:
			n := u.Arg.(int)
			r.bufs[n] = u.DType
			r.k.NBufs = max(r.k.NBufs, n+1)
		case uop.DEFINE_VAR:
			r.vars = append(r.vars, u)
		case uop.STORE:
			r.written[u.Src[0].Arg.(int)] = true
		case uop.DEFINE_ACC:
			r.accs = append(r.accs, u)
		case uop.ASSIGN:
			r.update[u.Src[0]] = u.Src[1]
		}
	}
	r.k.NVars = len(r.vars)
	r.group = r.chooseGroup(uops, globals)
	prologue := r.launch(globals)
	for _, u := range uops {
		r.uop(u)
	}

	var out strings.Builder
	for _, h := range cudaHelpers {
		if r.helpers[h.name] {
			out.WriteString(h.src + "\n")
		}
	}
	// Buffers do not alias, except in a kernel with several outputs updated
	// in place (an optimizer step), where an input may be an output's old
	// contents: no __restrict__ there (as the C renderer).
	restrict := "__restrict__ "
	if len(r.written) > 1 {
		restrict = ""
	}
	params := make([]string, 0, r.k.NBufs+len(r.vars))
	for n := range r.k.NBufs {
		dt, ok := r.bufs[n]
		switch {
		case !ok: // a buffer the kernel does not touch keeps its position
			params = append(params, fmt.Sprintf("const void *data%d", n))
		case r.written[n]:
			params = append(params, fmt.Sprintf("%s *%sdata%d", cudaStorage(dt), restrict, n))
		default:
			params = append(params, fmt.Sprintf("const %s *%sdata%d", cudaStorage(dt), restrict, n))
		}
	}
	for i, v := range r.vars {
		params = append(params, fmt.Sprintf("long long var%d /* %s */", i, cudaComment(v.Arg.(uop.VarArg).Name)))
	}
	threads := r.k.Local[0] * r.k.Local[1] * r.k.Local[2]
	fmt.Fprintf(&out, "extern \"C\" __global__ void __launch_bounds__(%d) %s(%s) {\n", threads, r.k.Name, strings.Join(params, ", "))
	out.WriteString(prologue)
	out.WriteString(r.b.String())
	out.WriteString("}\n")
	r.k.Src = out.String()
	return nil
}

// cudaComment keeps the characters of s that are safe in a C comment.
func cudaComment(s string) string {
	return strings.Map(func(c rune) rune {
		if c == '_' || c == '.' || c == ':' || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') {
			return c
		}
		return '_'
	}, s)
}

// launch maps the global loops to thread indices, sets the launch dims and
// returns the kernel's first lines: the index of each grid dimension and the
// bounds checks of dimensions whose last block is partly idle.
func (r *cudaRenderer) launch(globals []*uop.UOp) string {
	sizes := make([]int, len(globals))
	for i, g := range globals {
		sizes[i] = g.Arg.(uop.RangeArg).Size
	}
	dims, local, grid := cudaLaunchDims(sizes)
	if r.group > 0 { // one block per output, all global loops on x
		dims, local, grid = [3][]int{}, [3]int{r.group, 1, 1}, [3]int{uop.Prod(sizes), 1, 1}
		for i := range sizes {
			dims[0] = append(dims[0], i)
		}
	}
	r.k.Local, r.k.Global = local, grid
	var b strings.Builder
	axis := "xyz"
	for d := range 3 {
		if len(dims[d]) == 0 {
			continue
		}
		total := 1
		for _, l := range dims[d] {
			total *= sizes[l]
		}
		g := "gidx" + strconv.Itoa(d)
		typ, cast := "int", ""
		if int64(grid[d])*int64(local[d]) > math.MaxInt32 {
			typ, cast = "long long", "(long long)"
		}
		var expr string
		switch {
		case r.group > 0:
			expr = "blockIdx.x" // the grid has exactly one block per output
		case grid[d] == 1:
			expr = fmt.Sprintf("threadIdx.%c", axis[d])
		case local[d] == 1:
			expr = fmt.Sprintf("%sblockIdx.%c", cast, axis[d])
		default:
			expr = fmt.Sprintf("%sblockIdx.%c * %d + threadIdx.%c", cast, axis[d], local[d], axis[d])
		}
		if typ == "int" && grid[d] > 1 && local[d] > 1 && r.group == 0 {
			expr = "(int)(" + expr + ")"
		} else if typ == "int" {
			expr = "(int)" + expr
		}
		fmt.Fprintf(&b, "  %s %s = %s; /* %d */\n", typ, g, expr, total)
		if grid[d]*local[d] != total && r.group == 0 {
			fmt.Fprintf(&b, "  if (%s >= %d) return;\n", g, total)
		}
		// The loops of this dimension, outermost first, by div and mod.
		stride := total
		for i, l := range dims[d] {
			stride /= sizes[l]
			e := g
			if stride > 1 {
				e = fmt.Sprintf("%s / %d", g, stride)
			}
			if i > 0 {
				if stride > 1 {
					e = "(" + e + ")"
				}
				e = fmt.Sprintf("%s %% %d", e, sizes[l])
			}
			r.global[globals[l]] = e
		}
	}
	return b.String()
}

// Grouped reductions: a kernel with few outputs and a long reduction
// (a full sum, the row statistics of a softmax) would leave the GPU all
// but idle with one thread per output. Its block's threads split the
// outermost reduce loop instead, each accumulating a strided share, and
// combine the partial accumulators in shared memory (a tree of log2(block)
// steps); thread 0 then finishes the output. This is tinygrad's GROUP
// decided here, while codegen has no GPU options of its own.
const (
	cudaGroupMaxOutputs = 2048 // above this many outputs, one thread each fills the GPU
	cudaGroupMinReduce  = 64   // below this reduction length, splitting it is not worth a combine
	cudaGroupMaxLanes   = 16   // accumulator values combined per thread
)

// chooseGroup returns the threads that split the outermost reduce loop, or 0.
func (r *cudaRenderer) chooseGroup(uops []*uop.UOp, globals []*uop.UOp) int {
	outputs := 1
	for _, g := range globals {
		outputs *= g.Arg.(uop.RangeArg).Size
	}
	for _, u := range uops {
		if u.Op == uop.RANGE && u.Arg.(uop.RangeArg).Reduce {
			r.outer = u
			break
		}
	}
	if r.outer == nil || outputs > cudaGroupMaxOutputs || len(r.accs) == 0 {
		return 0
	}
	size := r.outer.Arg.(uop.RangeArg).Size
	lanes := 0
	for _, acc := range r.accs {
		lanes += acc.DType.Count()
		if up, ok := r.update[acc]; !ok || !up.Op.IsALU() || len(up.Src) != 2 || up.Src[0] != acc {
			return 0
		}
	}
	if size < cudaGroupMinReduce || lanes > cudaGroupMaxLanes {
		return 0
	}
	t := cudaBlockThreads
	for t > size {
		t /= 2
	}
	return t
}

// combine reduces every accumulator lane across the block's threads into
// thread 0, through one shared array per C type; the other threads leave.
func (r *cudaRenderer) combine() {
	type lane struct {
		acc  *uop.UOp
		l    int
		slot int
	}
	var types []string
	byType := map[string][]lane{}
	for _, acc := range r.accs {
		t := cudaType(acc.DType.Scalar())
		if acc.DType.Count() == 1 {
			t = cudaValType(acc)
		}
		if _, ok := byType[t]; !ok {
			types = append(types, t)
		}
		for l := range acc.DType.Count() {
			byType[t] = append(byType[t], lane{acc, l, len(byType[t])})
		}
	}
	n := r.group
	red := func(k, slot int, off string) string {
		if slot == 0 {
			return fmt.Sprintf("red%d[threadIdx.x%s]", k, off)
		}
		return fmt.Sprintf("red%d[%d + threadIdx.x%s]", k, slot*n, off)
	}
	for k, t := range types {
		r.line("__shared__ %s red%d[%d];", t, k, len(byType[t])*n)
		for _, ln := range byType[t] {
			r.line("%s = %s;", red(k, ln.slot, ""), r.lane(ln.acc, ln.l))
		}
	}
	r.line("__syncthreads();")
	r.line("for (int s = %d; s > 0; s >>= 1) {", n/2)
	r.depth++
	r.line("if (threadIdx.x < s) {")
	r.depth++
	for k, t := range types {
		for _, ln := range byType[t] {
			up := r.update[ln.acc]
			r.line("%s = %s;", red(k, ln.slot, ""), r.roundHalf(up, r.expr(up, []string{red(k, ln.slot, ""), red(k, ln.slot, " + s")})))
		}
	}
	r.depth--
	r.line("}")
	r.line("__syncthreads();")
	r.depth--
	r.line("}")
	r.line("if (threadIdx.x != 0) return;")
	for k, t := range types {
		for _, ln := range byType[t] {
			r.line("%s = red%d[%d];", r.lane(ln.acc, ln.l), k, ln.slot*n)
		}
	}
}

// cudaNarrow reports whether an integer node's value always fits in 32 bits
// signed, so an index (int64) can be computed in int.
func cudaNarrow(u *uop.UOp) bool {
	lo, hi := u.Bounds()
	return lo >= math.MinInt32 && hi <= math.MaxInt32
}

// cudaNoOverflow reports whether an integer node's bounds prove that it
// does not overflow: they fit in 32 bits and are not its type's whole range
// (the bounds of a node that may overflow are its type's range).
func cudaNoOverflow(u *uop.UOp) bool {
	lo, hi := u.Bounds()
	if lo < math.MinInt32 || hi > math.MaxInt32 {
		return false
	}
	if dt := u.DType.Scalar(); dt.Size() < 8 {
		return lo != int64(dt.Min()) || hi != int64(dt.Max())
	}
	return true
}

// cudaValType is the CUDA type a scalar value of u is held in: int64 index
// arithmetic whose bounds fit in 32 bits is int.
func cudaValType(u *uop.UOp) string {
	dt := u.DType.Scalar()
	if dt == dtype.Int64 && u.DType.Count() == 1 && cudaNarrow(u) {
		return "int"
	}
	return cudaType(dt)
}

// name returns the expression of a scalar value.
func (r *cudaRenderer) name(u *uop.UOp) string {
	if u.DType.Count() > 1 {
		panic(fmt.Sprintf("vector %v used as a scalar", u))
	}
	return r.lane(u, 0)
}

// lane returns the expression of lane l of u (of u itself for a scalar).
func (r *cudaRenderer) lane(u *uop.UOp, l int) string {
	if ls, ok := r.lanes[u]; ok {
		if len(ls) == 1 {
			return ls[0]
		}
		return ls[l]
	}
	if u.Op == uop.CONST {
		return cudaConst(u.DType.Scalar(), u.Arg, cudaNarrow(u))
	}
	panic(fmt.Sprintf("no value for %v", u))
}

// declare declares a value of n lanes: a scalar variable, or an array the
// compiler keeps in registers.
func (r *cudaRenderer) declare(u *uop.UOp, prefix string, exprs []string) {
	v := r.fresh(prefix)
	t := cudaValType(u)
	if len(exprs) == 1 {
		r.line("%s %s = %s;", t, v, exprs[0])
		r.lanes[u] = []string{v}
		return
	}
	r.line("%s %s[%d] = {%s};", t, v, len(exprs), strings.Join(exprs, ", "))
	ls := make([]string, len(exprs))
	for l := range ls {
		ls[l] = fmt.Sprintf("%s[%d]", v, l)
	}
	r.lanes[u] = ls
}

func (r *cudaRenderer) uop(u *uop.UOp) {
	n := u.DType.Count()
	switch u.Op {
	case uop.DEFINE_GLOBAL:
		r.lanes[u] = []string{"data" + strconv.Itoa(u.Arg.(int))}
	case uop.DEFINE_VAR:
		for i, v := range r.vars {
			if v == u {
				r.lanes[u] = []string{"var" + strconv.Itoa(i)}
			}
		}
	case uop.CONST:
	case uop.RANGE:
		a := u.Arg.(uop.RangeArg)
		if e, ok := r.global[u]; ok {
			v := r.fresh("gl")
			r.line("%s %s = %s;", cudaValType(u), v, e)
			r.lanes[u] = []string{v}
			return
		}
		v := r.fresh("ridx")
		t := cudaValType(u)
		if u == r.outer && r.group > 0 {
			r.line("for (%s %s = threadIdx.x; %s < %d; %s += %d) {", t, v, v, a.Size, v, r.group)
		} else {
			r.line("for (%s %s = 0; %s < %d; %s++) {", t, v, v, a.Size, v)
		}
		r.lanes[u] = []string{v}
		r.depth++
	case uop.ENDRANGE:
		if _, ok := r.global[u.Src[0]]; ok {
			return
		}
		r.depth--
		r.line("}")
		if u.Src[0] == r.outer && r.group > 0 {
			r.combine()
		}
	case uop.DEFINE_ACC:
		a := u.Arg.(uop.AccArg)
		init := cudaConst(u.DType.Scalar(), a.Identity, false)
		exprs := make([]string, n)
		for l := range exprs {
			exprs[l] = init
		}
		r.declare(u, "acc", exprs)
	case uop.ASSIGN:
		for l := range n {
			r.line("%s = %s;", r.lane(u.Src[0], l), r.lane(u.Src[1], l))
		}
		r.lanes[u] = r.lanes[u.Src[0]]
	case uop.LOAD:
		r.load(u)
	case uop.STORE:
		r.store(u)
	case uop.VECTORIZE:
		ls := make([]string, len(u.Src))
		for l, x := range u.Src {
			ls[l] = r.name(x)
		}
		r.lanes[u] = ls
	case uop.GEP:
		r.lanes[u] = []string{r.lane(u.Src[0], u.Arg.(int))}
	case uop.BITCAST:
		src := u.Src[0]
		if m := src.DType.Count(); m != n {
			// Lanes of another shape of the same bytes (four bytes as an
			// int32, int32 lanes as bytes): through memory.
			in, out := r.fresh("bits"), r.fresh("alu")
			ls := make([]string, m)
			for l := range ls {
				ls[l] = r.lane(src, l)
			}
			r.line("%s %s[%d] = {%s};", cudaType(src.DType.Scalar()), in, m, strings.Join(ls, ", "))
			r.line("%s %s[%d];", cudaType(u.DType.Scalar()), out, n)
			r.line("memcpy(%s, %s, sizeof %s);", out, in, out)
			outs := make([]string, n)
			for l := range outs {
				outs[l] = fmt.Sprintf("%s[%d]", out, l)
			}
			r.lanes[u] = outs
			return
		}
		r.lanewise(u, n)
	case uop.DOT2: // lane by lane: int16 pairs multiplied, summed in int32 (wrapping)
		exprs := make([]string, n)
		for l := range n {
			a0, a1 := r.lane(u.Src[0], 2*l), r.lane(u.Src[0], 2*l+1)
			b0, b1 := r.lane(u.Src[1], 2*l), r.lane(u.Src[1], 2*l+1)
			exprs[l] = fmt.Sprintf("(int)((unsigned)((int)%s * (int)%s) + (unsigned)((int)%s * (int)%s))", a0, b0, a1, b1)
		}
		r.declare(u, "alu", exprs)
	case uop.DOT4: // lane by lane: unsigned times signed bytes, four summed in int32
		exprs := make([]string, n)
		for l := range n {
			terms := make([]string, 4)
			for k := range terms {
				terms[k] = fmt.Sprintf("(int)%s * (int)%s", r.lane(u.Src[0], 4*l+k), r.lane(u.Src[1], 4*l+k))
			}
			exprs[l] = "(" + strings.Join(terms, " + ") + ")"
		}
		r.declare(u, "alu", exprs)
	default:
		r.lanewise(u, n)
	}
}

// lanewise declares an ALU, CAST or BITCAST node of n lanes, each lane the
// op of its sources' same lane.
func (r *cudaRenderer) lanewise(u *uop.UOp, n int) {
	exprs := make([]string, n)
	for l := range n {
		s := make([]string, len(u.Src))
		for i, x := range u.Src {
			s[i] = r.lane(x, l)
		}
		exprs[l] = r.roundHalf(u, r.expr(u, s))
	}
	r.declare(u, "alu", exprs)
}

// roundHalf rounds a half-typed result back to its precision after the op.
func (r *cudaRenderer) roundHalf(u *uop.UOp, expr string) string {
	if !u.DType.IsHalf() || u.Op == uop.WHERE || u.Op == uop.MAX {
		return expr
	}
	if u.DType.Scalar() == dtype.Float16 {
		return r.use("rnd_f16") + "(" + expr + ")"
	}
	return r.use("rnd_bf16") + "(" + expr + ")"
}

// fromStorage converts an element read from a buffer of dt to its compute value.
func (r *cudaRenderer) fromStorage(dt dtype.DType, x string) string {
	switch dt {
	case dtype.Float16:
		return r.use("h2f") + "(" + x + ")"
	case dtype.BFloat16:
		return r.use("bf2f") + "(" + x + ")"
	}
	return x
}

// toStorage converts a compute value to the element a buffer of dt holds.
func (r *cudaRenderer) toStorage(dt dtype.DType, x string) string {
	switch dt {
	case dtype.Float16:
		return r.use("f2h") + "(" + x + ")"
	case dtype.BFloat16:
		return r.use("f2bf") + "(" + x + ")"
	}
	return x
}

// cudaChunk returns how many consecutive elements of a buffer of dt one access
// moves for a vector of n lanes at idx: the widest of CUDA's vector types
// (up to 16 bytes, 4 lanes) whose alignment idx provably has, else 1.
func cudaChunk(dt dtype.DType, n int, idx *uop.UOp) int {
	if dt == dtype.Bool {
		return 1
	}
	align := cudaDivisor(idx)
	for _, w := range []int{4, 2} {
		if n%w == 0 && w*dt.Size() <= 16 && align%int64(w) == 0 {
			return w
		}
	}
	return 1
}

// cudaDivisor returns a number that provably divides the value of an index
// expression (1 when nothing is known).
func cudaDivisor(u *uop.UOp) int64 {
	const big = 1 << 30
	switch u.Op {
	case uop.CONST:
		v := uop.ConstInt(u)
		if v == 0 {
			return big
		}
		if v < 0 {
			v = -v
		}
		return v
	case uop.ADD:
		return cudaGCD(cudaDivisor(u.Src[0]), cudaDivisor(u.Src[1]))
	case uop.MUL:
		return min(cudaDivisor(u.Src[0])*cudaDivisor(u.Src[1]), big)
	}
	return 1
}

func cudaGCD(a, b int64) int64 {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// offset renders the index idx + off.
func (r *cudaRenderer) offset(idx *uop.UOp, off int) string {
	if idx.Op == uop.CONST {
		return strconv.FormatInt(uop.ConstInt(idx)+int64(off), 10)
	}
	if off == 0 {
		return r.name(idx)
	}
	return fmt.Sprintf("%s + %d", r.name(idx), off)
}

var cudaVecLanes = []string{"x", "y", "z", "w"}

// load reads one element, or n consecutive ones into an array, returning
// zeros where the load's validity is false (without touching memory).
func (r *cudaRenderer) load(u *uop.UOp) {
	buf := u.Src[0]
	dt := buf.DType
	p := r.name(buf)
	valid := ""
	if len(u.Src) > 2 {
		valid = r.name(u.Src[2])
	}
	n := u.DType.Count()
	guard := func(load, zero string) string {
		if valid == "" {
			return load
		}
		return fmt.Sprintf("(%s ? %s : %s)", valid, load, zero)
	}
	st := cudaStorage(dt)
	w := 1
	if n > 1 {
		w = cudaChunk(dt, n, u.Src[1])
	}
	if w == 1 {
		zero := "0"
		if !dt.IsHalf() {
			zero = cudaConst(dt, int64(0), false)
		}
		exprs := make([]string, n)
		for l := range n {
			exprs[l] = r.fromStorage(dt, guard(fmt.Sprintf("%s[%s]", p, r.offset(u.Src[1], l)), zero))
		}
		r.declare(u, "val", exprs)
		return
	}
	vt := cudaVecName[st] + strconv.Itoa(w)
	zeros := make([]string, w)
	for l := range zeros {
		zeros[l] = "0"
	}
	exprs := make([]string, 0, n)
	for c := 0; c < n; c += w {
		v := r.fresh("ld")
		r.line("%s %s = %s;", vt, v, guard(fmt.Sprintf("*(const %s *)(%s + %s)", vt, p, r.offset(u.Src[1], c)), vt+"{"+strings.Join(zeros, ", ")+"}"))
		for l := range w {
			exprs = append(exprs, r.fromStorage(dt, v+"."+cudaVecLanes[l]))
		}
	}
	r.declare(u, "val", exprs)
}

// store writes one element, or a vector into consecutive elements.
func (r *cudaRenderer) store(u *uop.UOp) {
	buf, val := u.Src[0], u.Src[2]
	dt := buf.DType
	p := r.name(buf)
	n := val.DType.Count()
	w := 1
	if n > 1 {
		w = cudaChunk(dt, n, u.Src[1])
	}
	for c := 0; c < n; c += w {
		if w == 1 {
			r.line("%s[%s] = %s;", p, r.offset(u.Src[1], c), r.toStorage(dt, r.lane(val, c)))
			continue
		}
		vt := cudaVecName[cudaStorage(dt)] + strconv.Itoa(w)
		ls := make([]string, w)
		for l := range w {
			ls[l] = r.toStorage(dt, r.lane(val, c+l))
		}
		r.line("*(%s *)(%s + %s) = %s{%s};", vt, p, r.offset(u.Src[1], c), vt, strings.Join(ls, ", "))
	}
}

// expr renders a scalar ALU, CAST or BITCAST node with gograd's semantics,
// its sources' expressions s.
func (r *cudaRenderer) expr(u *uop.UOp, s []string) string {
	dt := u.DType.Scalar()
	src := dt
	if len(u.Src) > 0 {
		src = u.Src[0].DType.Scalar()
	}
	isF := src.IsFloat()
	ct := cudaType(dt)
	if u.DType.Count() == 1 {
		ct = cudaValType(u)
	}
	// Signed arithmetic that may overflow wraps through the unsigned type
	// (C++ leaves signed overflow undefined); index arithmetic whose bounds
	// fit in 32 bits cannot overflow and stays plain.
	wraps := !isF && !src.IsUnsigned() && src != dtype.Bool && !(u.DType.Count() == 1 && cudaNoOverflow(u))
	// conv converts an arithmetic result to the node's type (integers
	// narrower than int are promoted); float arithmetic is float already.
	conv := func(e string) string {
		if isF {
			return "(" + e + ")"
		}
		return "(" + ct + ")(" + e + ")"
	}
	switch u.Op {
	case uop.ADD:
		if dt == dtype.Bool {
			return fmt.Sprintf("(%s || %s)", s[0], s[1])
		}
		if wraps && src.Size() >= 4 {
			return fmt.Sprintf("(%s)((%s)%s + (%s)%s)", ct, cudaUnsigned[ct], s[0], cudaUnsigned[ct], s[1])
		}
		return conv(s[0] + " + " + s[1])
	case uop.MUL:
		if dt == dtype.Bool {
			return fmt.Sprintf("(%s && %s)", s[0], s[1])
		}
		if wraps && src.Size() >= 4 {
			return fmt.Sprintf("(%s)((%s)%s * (%s)%s)", ct, cudaUnsigned[ct], s[0], cudaUnsigned[ct], s[1])
		}
		return conv(s[0] + " * " + s[1])
	case uop.MULACC:
		if wraps && src.Size() >= 4 {
			uct := cudaUnsigned[ct]
			return fmt.Sprintf("(%s)((%s)%s * (%s)%s + (%s)%s)", ct, uct, s[0], uct, s[1], uct, s[2])
		}
		return conv(s[0] + " * " + s[1] + " + " + s[2])
	case uop.NEG:
		if dt == dtype.Bool {
			return "!" + s[0]
		}
		if wraps {
			return fmt.Sprintf("(%s)(0 - (%s)%s)", ct, cudaUnsigned[ct], s[0])
		}
		return conv("-" + s[0])
	case uop.RECIP:
		return conv("1 / " + s[0])
	case uop.SQRT, uop.EXP2, uop.LOG2, uop.SIN, uop.TRUNC:
		if !isF {
			return s[0] // TRUNC of an integer
		}
		fn := map[uop.Op]string{uop.SQRT: "sqrt", uop.EXP2: "exp2", uop.LOG2: "log2", uop.SIN: "sin", uop.TRUNC: "trunc"}[u.Op]
		if src != dtype.Float64 {
			fn += "f"
		}
		return fmt.Sprintf("%s(%s)", fn, s[0])
	case uop.MAX:
		switch {
		case dt == dtype.Bool:
			return fmt.Sprintf("(%s || %s)", s[0], s[1])
		case dt == dtype.Float64:
			return fmt.Sprintf("%s(%s, %s)", r.use("maxd_"), s[0], s[1])
		case isF:
			return fmt.Sprintf("%s(%s, %s)", r.use("maxf_"), s[0], s[1])
		}
		return fmt.Sprintf("(%s > %s ? %s : %s)", s[0], s[1], s[0], s[1])
	case uop.CMPLT:
		return fmt.Sprintf("(%s < %s)", s[0], s[1])
	case uop.CMPNE:
		return fmt.Sprintf("(%s != %s)", s[0], s[1])
	case uop.AND:
		return fmt.Sprintf("(%s)(%s & %s)", ct, s[0], s[1])
	case uop.OR:
		return fmt.Sprintf("(%s)(%s | %s)", ct, s[0], s[1])
	case uop.XOR:
		return fmt.Sprintf("(%s)(%s ^ %s)", ct, s[0], s[1])
	case uop.IDIV, uop.MOD:
		op := "/"
		if u.Op == uop.MOD {
			op = "%"
		}
		if d := u.Src[1]; d.Op == uop.CONST && uop.ConstInt(d) != 0 && uop.ConstInt(d) != -1 {
			return fmt.Sprintf("(%s)(%s %s %s)", ct, s[0], op, s[1])
		}
		if src.IsUnsigned() {
			return fmt.Sprintf("(%s == 0 ? 0 : (%s)(%s %s %s))", s[1], ct, s[0], op, s[1])
		}
		minus1 := fmt.Sprintf("(%s)(0 - (%s)%s)", ct, cudaUnsigned[ct], s[0])
		if u.Op == uop.MOD {
			minus1 = "0"
		}
		return fmt.Sprintf("(%s == 0 ? 0 : %s == -1 ? %s : (%s)(%s %s %s))", s[1], s[1], minus1, ct, s[0], op, s[1])
	case uop.SHL:
		if c := u.Src[1]; c.Op == uop.CONST && uop.ConstInt(c) >= 0 && uop.ConstInt(c) < 64 {
			return fmt.Sprintf("(%s)((unsigned long long)%s << %s)", ct, s[0], s[1])
		}
		return fmt.Sprintf("(%s < 0 || %s >= 64 ? (%s)0 : (%s)((unsigned long long)%s << %s))", s[1], s[1], ct, ct, s[0], s[1])
	case uop.SHR: // shifted in 64 bits: C++ leaves shifts by the width or more undefined
		if src.IsUnsigned() {
			return fmt.Sprintf("(%s < 0 || %s >= 64 ? (%s)0 : (%s)((unsigned long long)%s >> %s))", s[1], s[1], ct, ct, s[0], s[1])
		}
		return fmt.Sprintf("(%s)((long long)%s >> (%s < 0 || %s >= 64 ? 63 : %s))", ct, s[0], s[1], s[1], s[1])
	case uop.WHERE:
		return fmt.Sprintf("(%s ? %s : %s)", s[0], s[1], s[2])
	case uop.CAST:
		f := src != dtype.Float64
		switch {
		case dt == dtype.Bool:
			return fmt.Sprintf("(%s != 0)", s[0])
		case isF && dt == dtype.Uint64:
			return fmt.Sprintf("%s(%s)", r.use(map[bool]string{true: "f2uf_", false: "f2u_"}[f]), s[0])
		case isF && dt.IsInt():
			return fmt.Sprintf("(%s)%s(%s)", ct, r.use(map[bool]string{true: "f2if_", false: "f2i_"}[f]), s[0])
		}
		return fmt.Sprintf("(%s)%s", ct, s[0])
	case uop.BITCAST:
		return r.bitcast(src, dt, s[0])
	}
	panic(fmt.Sprintf("no CUDA for %v", u.Op))
}

// bitcast reinterprets the bits of a value, through an unsigned integer of
// its size.
func (r *cudaRenderer) bitcast(from, to dtype.DType, x string) string {
	var bits string
	switch from {
	case dtype.Float16, dtype.BFloat16:
		bits = r.toStorage(from, x)
	case dtype.Float32:
		bits = "__float_as_uint(" + x + ")"
	case dtype.Float64:
		bits = "(unsigned long long)__double_as_longlong(" + x + ")"
	default:
		bits = fmt.Sprintf("(%s)%s", cudaUnsignedOf(from.Size()), x)
	}
	switch to {
	case dtype.Float16, dtype.BFloat16:
		return r.fromStorage(to, "(unsigned short)"+bits)
	case dtype.Float32:
		return "__uint_as_float((unsigned int)" + bits + ")"
	case dtype.Float64:
		return "__longlong_as_double((long long)" + bits + ")"
	case dtype.Bool:
		return "(" + bits + " != 0)"
	}
	return fmt.Sprintf("(%s)%s", cudaType(to), bits)
}

func cudaUnsignedOf(size int) string {
	return map[int]string{1: "unsigned char", 2: "unsigned short", 4: "unsigned int", 8: "unsigned long long"}[size]
}

// cudaConst renders a constant of dtype dt exactly; narrow int64 constants
// are plain ints.
func cudaConst(dt dtype.DType, v any, narrowInt bool) string {
	switch {
	case dt == dtype.Bool:
		if toI64(v) != 0 {
			return "true"
		}
		return "false"
	case dt == dtype.Float64:
		f := toF64(v)
		switch {
		case math.IsNaN(f):
			return "__longlong_as_double(0x7ff8000000000000LL)"
		case math.IsInf(f, 1):
			return "__longlong_as_double(0x7ff0000000000000LL)"
		case math.IsInf(f, -1):
			return "__longlong_as_double(0xfff0000000000000LL)"
		}
		return cudaFloatLit(f, 64)
	case dt.IsFloat():
		f := toF64(v)
		switch {
		case math.IsNaN(f):
			return "__uint_as_float(0x7fc00000u)"
		case math.IsInf(f, 1):
			return "__uint_as_float(0x7f800000u)"
		case math.IsInf(f, -1):
			return "__uint_as_float(0xff800000u)"
		}
		return cudaFloatLit(float64(float32(f)), 32) + "f"
	case dt == dtype.Uint64:
		return strconv.FormatUint(uint64(toI64(v)), 10) + "ULL"
	case dt == dtype.Uint32:
		return strconv.FormatUint(uint64(uint32(toI64(v))), 10) + "u"
	case dt == dtype.Int64:
		i := toI64(v)
		switch {
		case i == math.MinInt64:
			return "(-9223372036854775807LL - 1)"
		case narrowInt && i > math.MinInt32 && i <= math.MaxInt32:
			return strconv.FormatInt(i, 10)
		}
		return strconv.FormatInt(i, 10) + "LL"
	case dt == dtype.Int32:
		i := toI64(v)
		if i == math.MinInt32 {
			return "(-2147483647 - 1)"
		}
		return strconv.FormatInt(i, 10)
	}
	return fmt.Sprintf("((%s)%d)", cudaType(dt), toI64(v))
}

// cudaFloatLit is the shortest decimal that reads back as f at the given
// precision, with a decimal point or exponent so C reads a float.
func cudaFloatLit(f float64, bits int) string {
	s := strconv.FormatFloat(f, 'g', -1, bits)
	if !strings.ContainsAny(s, ".e") {
		s += ".0"
	}
	return s
}
