package render

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/gograd/gograd/dtype"
	"github.com/gograd/gograd/uop"
)

// CKernel is a kernel rendered as C for the CPU device: one function
//
//	void name(void **bufs, const long long *vars, long long start, long long end)
//
// whose outermost loop runs [start, end) of Split iterations (the runtime
// splits it across threads) or, when Split is 0, the whole loop nest.
type CKernel struct {
	Name  string
	Src   string
	Split int   // size of the outermost global loop, 0 if it cannot be split
	Work  int64 // operations executed (each op once per trip of its loops; bytes streamed from memory count more), to decide on threads
	NBufs int
	NVars int
}

func (k *CKernel) String() string { return k.Src }

// cType is the C type a dtype computes in (halves compute in float).
func cType(dt dtype.DType) string {
	switch dt {
	case dtype.Bool:
		return "_Bool"
	case dtype.Int8:
		return "int8_t"
	case dtype.Uint8:
		return "uint8_t"
	case dtype.Int16:
		return "int16_t"
	case dtype.Uint16:
		return "uint16_t"
	case dtype.Int32:
		return "int32_t"
	case dtype.Uint32:
		return "uint32_t"
	case dtype.Int64:
		return "int64_t"
	case dtype.Uint64:
		return "uint64_t"
	case dtype.Float16, dtype.BFloat16, dtype.Float32:
		return "float"
	case dtype.Float64:
		return "double"
	}
	panic("render: no C type for " + dt.String())
}

// cStorage is the C type a buffer of dtype holds.
func cStorage(dt dtype.DType) string {
	switch dt {
	case dtype.Float16:
		return "_Float16"
	case dtype.BFloat16:
		return "uint16_t"
	}
	return cType(dt)
}

// cPrelude holds the helpers kernels share; each is static inline so the
// compiler keeps what a kernel uses.
const cPrelude = `#include <math.h>
#include <stdint.h>
#include <string.h>
static inline float bf16_to_f(uint16_t h) { uint32_t b = (uint32_t)h << 16; float f; memcpy(&f, &b, 4); return f; }
static inline uint16_t f_to_bf16(float f) { uint32_t b; memcpy(&b, &f, 4); if ((b & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((b >> 16) | 0x40); b += 0x7fffu + ((b >> 16) & 1u); return (uint16_t)(b >> 16); }
static inline float round_bf16(float f) { return bf16_to_f(f_to_bf16(f)); }
static inline float round_f16(float f) { return (float)(_Float16)f; }
static inline float maxf_(float a, float b) { float m = a > b ? a : b; return a != a ? a : m; }
static inline double maxd_(double a, double b) { double m = a > b ? a : b; return a != a ? a : m; }
static inline int64_t f2i_(double f) { return (f != f || f >= 9223372036854775808.0 || f < -9223372036854775808.0) ? INT64_MIN : (int64_t)f; }
static inline uint64_t f2u_(double f) { return (f >= 9223372036854775808.0 && f < 18446744073709551616.0) ? (uint64_t)f : (uint64_t)f2i_(f); }
`

// C renders a linear program as a C kernel.
func C(name string, uops []*uop.UOp) (*CKernel, error) {
	r := &cRenderer{names: map[*uop.UOp]string{}, k: &CKernel{Name: name}, streamed: map[*uop.UOp]bool{}, prefetch: map[*uop.UOp]bool{}}
	if err := r.render(uops); err != nil {
		return nil, err
	}
	return r.k, nil
}

type cRenderer struct {
	k         *CKernel
	b         strings.Builder
	names     map[*uop.UOp]string
	depth     int
	nvar      int
	types     map[string]string // vector typedefs and helpers, by name
	typeOrder []string
	streamed  map[*uop.UOp]bool // vector stores that bypass the caches
	prefetch  map[*uop.UOp]bool // byte loads that prefetch ahead
}

// streamMin is the output, in bytes, from which a kernel's float vector
// stores bypass the caches (x86 non-temporal stores): an output larger
// than the last-level cache is evicted before anything reads it, and a
// normal store first reads every line it writes.
const streamMin = 64 << 20

// prefetchMin is the volume, in bytes, from which a kernel's loads of
// bytes that advance through memory with its innermost reduce loop
// prefetch ahead: more than the core's L2 keeps. A matrix-vector product
// of quantized weights does so much work per cache line that the
// hardware prefetcher, which follows the demand, stays too close behind:
// on this Zen 5 a q4_0 product (5632x2048, weights from memory) read
// 22 GB/s without and 28 GB/s with a prefetch 4 KiB ahead, while float
// weights, read four times as fast per instruction, gained nothing. The
// weights of a model's decoding step come from memory whatever their
// own size, so the bound is low: 256 KiB.
const prefetchMin = 256 << 10

// prefetchAhead is how far ahead, in bytes, those loads prefetch.
const prefetchAhead = 4096

// wholeDots are the loads among uops that only DOT4s use: bytes taken
// whole, one instruction a vector, too little work a line for the
// hardware prefetcher to fall behind. Blocked 8-bit weights (5632x2048
// from memory, the fastest of 2440 calls, two runs) took 314 and 330 us
// with a prefetch a load, 281 and 284 us without.
func wholeDots(uops []*uop.UOp) map[*uop.UOp]bool {
	whole := map[*uop.UOp]bool{}
	for _, u := range uops {
		for _, s := range u.Src {
			if s.Op != uop.LOAD {
				continue
			}
			if _, seen := whole[s]; !seen || whole[s] {
				whole[s] = u.Op == uop.DOT4
			}
		}
	}
	return whole
}

// streamsBytes reports whether u, inside the loops ranges, is a vector
// load of 1-byte integers without a mask that advances with each turn of
// the innermost loop, a reduce, and moves on with every outer loop too,
// so that the kernel sweeps trips*step bytes (at least prefetchMin) once.
// The step is the load's own width, or a larger one that divides
// prefetchAhead (the loop body then loads a run of vectors, each its own
// load), so that the line prefetched is one the same load reads some
// turns later.
func streamsBytes(u *uop.UOp, ranges []*uop.UOp, trips int64) bool {
	n := int64(u.DType.Count())
	inner := ranges[len(ranges)-1]
	if n < 16 || len(u.Src) != 2 || u.Src[0].DType.Size() != 1 || !u.Src[0].DType.IsInt() ||
		!inner.Arg.(uop.RangeArg).Reduce {
		return false
	}
	step, ok := uop.AffineIn(u.Src[1], inner)
	if !ok || step != n && (step < n || prefetchAhead%step != 0) || trips*step < prefetchMin {
		return false
	}
	for _, r := range ranges {
		if c, ok := uop.AffineIn(u.Src[1], r); !ok || c == 0 {
			return false
		}
	}
	return true
}

// streamTemplate stores a float vector of @N@ lanes around the caches
// where the target has the instruction and the address is aligned to the
// vector, else as any store.
const streamTemplate = `static inline void stream_@N@(float *p, floatx@N@ v) {
#if @ISA@
  if (((uintptr_t)p & (sizeof(v) - 1)) == 0) { @ST@(p, (@M@)v); return; }
#endif
  *(floatx@N@ *)p = v;
}
`

// stream declares (once) stream_N for float vectors of n lanes.
func (r *cRenderer) stream(n int) {
	r.declare("stream_"+strconv.Itoa(n), func() string {
		r.vecType("float", n, false)
		isa, st, m := "defined(__AVX512F__)", "_mm512_stream_ps", "__m512"
		if n == 8 {
			isa, st, m = "defined(__AVX__)", "_mm256_stream_ps", "__m256"
		}
		return strings.NewReplacer("@N@", strconv.Itoa(n), "@ISA@", isa, "@ST@", st, "@M@", m).Replace(streamTemplate)
	})
}

// vecMathTemplate is SIMD exp2 and log2 for float vectors of @N@ lanes,
// accurate to 1 ulp (exp2) and 4 ulp (log2) against libm, with libm's
// special values: exp2 as 2^n times a degree-7 polynomial of the fraction
// (subnormal results scaled in two steps), log2 as the exponent plus the
// atanh series of the mantissa in [sqrt(1/2), sqrt(2)).
//
// With AVX-512 the 16-lane versions use its exponent instructions instead
// of the masks, with the same polynomials: exp2 clamps x to [-160, 160]
// (NaN passes) and scales with vscalefps, which rounds subnormal results
// once and overflows to infinity; log2 splits x with vgetmantps into a
// mantissa in [0.75, 1.5) (NaN for x < 0) and vgetexpps's exponent. That is
// half the instructions: exp2 was a third of a softmax's time.
const vecMathTemplate = `static inline floatx@N@ sel@N@(int32x@N@ m, floatx@N@ a, floatx@N@ b) { return (floatx@N@)(((int32x@N@)a & m) | ((int32x@N@)b & ~m)); }
static inline floatx@N@ exp2_v@N@(floatx@N@ x) {
#if @AVX512@
  __m512 xs = _mm512_min_ps(_mm512_set1_ps(160.0f), _mm512_max_ps(_mm512_set1_ps(-160.0f), (__m512)x));
  __m512 n = _mm512_roundscale_ps(xs, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  floatx@N@ t = ((floatx@N@)xs - (floatx@N@)n) * 0.693147180559945309f;
  floatx@N@ p = 1.0f + t*(1.0f + t*(0.5f + t*(1.0f/6 + t*(1.0f/24 + t*(1.0f/120 + t*(1.0f/720 + t*(1.0f/5040)))))));
  return (floatx@N@)_mm512_scalef_ps((__m512)p, n);
#else
  int32x@N@ nan = x != x, hi = x >= 128.0f, lo = x < -150.0f, sub = x < -126.0f;
  floatx@N@ xs = sel@N@(sub, x + 64.0f, x);
  xs = sel@N@(hi | lo | nan, (floatx@N@){0}, xs);
  int32x@N@ n = __builtin_convertvector(xs + 128.5f, int32x@N@) - 128;
  floatx@N@ t = (xs - __builtin_convertvector(n, floatx@N@)) * 0.693147180559945309f;
  floatx@N@ p = 1.0f + t*(1.0f + t*(0.5f + t*(1.0f/6 + t*(1.0f/24 + t*(1.0f/120 + t*(1.0f/720 + t*(1.0f/5040)))))));
  floatx@N@ r = (floatx@N@)((int32x@N@)p + (n << 23));
  r = sel@N@(sub, r * 5.421010862427522e-20f, r);
  r = sel@N@(hi, (floatx@N@){0} + INFINITY, r);
  r = sel@N@(lo, (floatx@N@){0}, r);
  return sel@N@(nan, x, r);
#endif
}
static inline floatx@N@ log2_v@N@(floatx@N@ x) {
#if @AVX512@
  __m512 m = _mm512_getmant_ps((__m512)x, _MM_MANT_NORM_p75_1p5, _MM_MANT_SIGN_nan);
  __m512 e = _mm512_getexp_ps((__m512)x);
  e = _mm512_mask_add_ps(e, _mm512_cmp_ps_mask(m, _mm512_set1_ps(1.0f), _CMP_LT_OQ), e, _mm512_set1_ps(1.0f));
  floatx@N@ s = ((floatx@N@)m - 1.0f) / ((floatx@N@)m + 1.0f), s2 = s * s;
  floatx@N@ p = s * (2.0f + s2*(2.0f/3 + s2*(2.0f/5 + s2*(2.0f/7 + s2*(2.0f/9 + s2*(2.0f/11))))));
  return (floatx@N@)e + p * 1.4426950408889634f;
#else
  int32x@N@ sub = x < 1.17549435e-38f;
  floatx@N@ xs = sel@N@(sub, x * 8388608.0f, x);
  int32x@N@ b = (int32x@N@)xs;
  int32x@N@ e = ((b >> 23) & 0xff) - 127;
  int32x@N@ mb = (b & 0x007fffff) | 0x3f800000;
  int32x@N@ big = mb > 0x3fb504f3;
  mb = mb - (big & 0x00800000);
  e = e - big;
  floatx@N@ m = (floatx@N@)mb;
  floatx@N@ s = (m - 1.0f) / (m + 1.0f), s2 = s * s;
  floatx@N@ p = s * (2.0f + s2*(2.0f/3 + s2*(2.0f/5 + s2*(2.0f/7 + s2*(2.0f/9 + s2*(2.0f/11))))));
  floatx@N@ r = __builtin_convertvector(e, floatx@N@) - sel@N@(sub, (floatx@N@){0} + 23.0f, (floatx@N@){0}) + p * 1.4426950408889634f;
  r = sel@N@(x == 0.0f, (floatx@N@){0} - INFINITY, r);
  r = sel@N@(x == INFINITY, x, r);
  return sel@N@((x < 0.0f) | (x != x), (floatx@N@){0} + NAN, r);
#endif
}
`

// dot2Template is DOT2 on int16 vectors of 2*@N@ lanes: the x86
// multiply-add of pairs where the target has it at that width, else lane
// by lane.
const dot2Template = `static inline int32x@N@ dot2_@N@(int16x@2N@ a, int16x@2N@ b) {
#if @ISA@
  return (int32x@N@)@MADD@((@M@)a, (@M@)b);
#else
  int32x@N@ r;
  for (int l = 0; l < @N@; l++) r[l] = (int32_t)a[2*l] * b[2*l] + (int32_t)a[2*l+1] * b[2*l+1];
  return r;
#endif
}
`

// dot2 declares (once) dot2_N, DOT2 giving n int32 lanes.
func (r *cRenderer) dot2(n int) {
	r.declare("dot2_"+strconv.Itoa(n), func() string {
		r.vecType("int32_t", n, false)
		r.vecType("int16_t", 2*n, false)
		isa, madd, m := "0", "", ""
		switch n {
		case 16:
			isa, madd, m = "defined(__AVX512BW__)", "_mm512_madd_epi16", "__m512i"
		case 8:
			isa, madd, m = "defined(__AVX2__)", "_mm256_madd_epi16", "__m256i"
		case 4:
			isa, madd, m = "defined(__SSE2__)", "_mm_madd_epi16", "__m128i"
		}
		return strings.NewReplacer("@2N@", strconv.Itoa(2*n), "@N@", strconv.Itoa(n), "@ISA@", isa, "@MADD@", madd, "@M@", m).Replace(dot2Template)
	})
}

// dot4Template is DOT4 on byte vectors of 4*@N@ lanes: the x86 VNNI
// unsigned-by-signed byte dot product where the target has it at that
// width (AVX512-VNNI, or AVX-VNNI without AVX-512), else lane by lane.
const dot4Template = `static inline int32x@N@ dot4_@N@(uint8x@4N@ a, int8x@4N@ b) {
#if @ISA@
  return (int32x@N@)@DP@(@ZERO@, (@M@)a, (@M@)b);
#elif @ISA2@
  return (int32x@N@)@DP2@(@ZERO@, (@M@)a, (@M@)b);
#else
  int32x@N@ r;
  for (int l = 0; l < @N@; l++) r[l] = a[4*l] * b[4*l] + a[4*l+1] * b[4*l+1] + a[4*l+2] * b[4*l+2] + a[4*l+3] * b[4*l+3];
  return r;
#endif
}
`

// dot4 declares (once) dot4_N, DOT4 giving n int32 lanes.
func (r *cRenderer) dot4(n int) {
	r.declare("dot4_"+strconv.Itoa(n), func() string {
		r.vecType("int32_t", n, false)
		r.vecType("uint8_t", 4*n, false)
		r.vecType("int8_t", 4*n, false)
		isa, isa2, dp, zero, m := "0", "0", "", "", ""
		switch n {
		case 16:
			isa, dp, zero, m = "defined(__AVX512VNNI__)", "_mm512_dpbusd_epi32", "_mm512_setzero_si512()", "__m512i"
		case 8:
			isa, dp, zero, m = "defined(__AVX512VNNI__) && defined(__AVX512VL__)", "_mm256_dpbusd_epi32", "_mm256_setzero_si256()", "__m256i"
		case 4:
			isa, dp, zero, m = "defined(__AVX512VNNI__) && defined(__AVX512VL__)", "_mm_dpbusd_epi32", "_mm_setzero_si128()", "__m128i"
		}
		if n == 8 || n == 4 {
			isa2 = "defined(__AVXVNNI__)"
		}
		dp2 := strings.Replace(dp, "dpbusd_epi32", "dpbusd_avx_epi32", 1)
		return strings.NewReplacer("@4N@", strconv.Itoa(4*n), "@N@", strconv.Itoa(n), "@ISA2@", isa2, "@ISA@", isa,
			"@DP2@", dp2, "@DP@", dp, "@ZERO@", zero, "@M@", m).Replace(dot4Template)
	})
}

// halfLoadTemplate loads @N@ float16 values as floats: one F16C (or
// AVX-512) conversion where the target has it, since GCC 12 converts a
// vector of _Float16 lane by lane (16 inserts and conversions, which made
// the 16 rows' scales of a blocked 4-bit kernel cost more than its dot
// products).
const halfLoadTemplate = `static inline floatx@N@ h2f_@N@(const _Float16 *p) {
#if @ISA@
  return (floatx@N@)@CVT@(@LOAD@((const void *)p));
#else
  Float16x@N@ h;
  memcpy(&h, p, sizeof h);
  return __builtin_convertvector(h, floatx@N@);
#endif
}
`

// halfLoad declares (once) h2f_N, a load of n float16 values as floats.
func (r *cRenderer) halfLoad(n int) {
	r.declare("h2f_"+strconv.Itoa(n), func() string {
		r.vecType("float", n, false)
		r.vecType("_Float16", n, false)
		isa, cvt, load := "defined(__AVX512F__)", "_mm512_cvtph_ps", "_mm256_loadu_si256"
		switch n {
		case 8:
			isa, cvt, load = "defined(__F16C__)", "_mm256_cvtph_ps", "_mm_loadu_si128"
		case 4:
			isa, cvt, load = "defined(__F16C__)", "_mm_cvtph_ps", "_mm_loadl_epi64"
		}
		return strings.NewReplacer("@N@", strconv.Itoa(n), "@ISA@", isa, "@CVT@", cvt, "@LOAD@", load).Replace(halfLoadTemplate)
	})
}

// floatToByteTemplate converts @N@ floats to bytes with f2i_'s meaning
// (truncation toward zero, then the low byte): with AVX-512, sixteen at a
// time through int32, since GCC 12 converts lane by lane through double. The
// int32 detour gives the same bytes: a float of magnitude 2^31 or more is a
// multiple of 2^8, so the low byte of its integer value is zero, and so is
// that of 0x80000000, which the instruction gives for it and for NaN.
const floatToByteTemplate = `static inline int8x@N@ f2i8_@N@(floatx@N@ v) {
  int8x@N@ r;
#if defined(__AVX512F__)
  for (int i = 0; i < @N@; i += 16) {
    __m512 f;
    memcpy(&f, (const float *)&v + i, sizeof f);
    __m128i b = _mm512_cvtepi32_epi8(_mm512_cvttps_epi32(f));
    memcpy((int8_t *)&r + i, &b, sizeof b);
  }
#else
  for (int i = 0; i < @N@; i++) r[i] = (int8_t)f2i_(v[i]);
#endif
  return r;
}
`

// floatToByte declares (once) f2i8_N, the conversion of n floats to bytes.
func (r *cRenderer) floatToByte(n int) {
	r.declare("f2i8_"+strconv.Itoa(n), func() string {
		r.vecType("float", n, false)
		r.vecType("int8_t", n, false)
		return strings.ReplaceAll(floatToByteTemplate, "@N@", strconv.Itoa(n))
	})
}

// vecMath declares (once) exp2_vN and log2_vN for float vectors of n lanes.
func (r *cRenderer) vecMath(n int) {
	r.declare("vecmath"+strconv.Itoa(n), func() string {
		r.vecType("float", n, false)
		r.vecType("int32_t", n, false)
		avx512 := "0"
		if n == 16 {
			avx512 = "defined(__AVX512F__)"
		}
		return strings.NewReplacer("@N@", strconv.Itoa(n), "@AVX512@", avx512).Replace(vecMathTemplate)
	})
}

// declare adds, once per kernel, the helper name whose C source src
// returns, after the vector types src declares, behind the x86 intrinsics
// header (the helpers fall back to plain C elsewhere).
func (r *cRenderer) declare(name string, src func() string) {
	if _, ok := r.types[name]; ok {
		return
	}
	body := src()
	if r.types == nil {
		r.types = map[string]string{}
	}
	r.types[name] = "#if defined(__x86_64__) || defined(__i386__)\n#include <immintrin.h>\n#endif\n" + body
	r.typeOrder = append(r.typeOrder, name)
}

// tileTuning makes GCC schedule a register-tiled kernel as for a core with
// 512-bit loads to spare: GCC 12 tunes -march=native on a Zen 4 or 5 as a
// Zen 3 and then folds the tile's vector loads into its FMAs, loading each
// vector of a matmul's panel once per row of the tile (20 loads per 16 FMAs
// instead of 8: 84 against 110 GFLOP/s on one core). It is a pragma ahead
// of the whole source, headers and helpers included: GCC inlines no
// function whose target options differ from its caller's, so a tuned
// kernel alone (a function attribute) called every helper (a DOT4, a half
// load) out of line, spilling its tile around each call.
const tileTuning = "#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)\n" +
	"#pragma GCC target(\"tune=icelake-server\")\n#endif\n"

// registerTile reports whether the kernel keeps a tile of at least eight
// vector accumulators (a matmul's or a convolution's outputs).
func registerTile(uops []*uop.UOp) bool {
	n := 0
	for _, u := range uops {
		if u.Op == uop.DEFINE_ACC && u.DType.Count() > 1 {
			n++
		}
	}
	return n >= 8
}

func (r *cRenderer) line(format string, args ...any) {
	r.b.WriteString(strings.Repeat("  ", r.depth+1))
	fmt.Fprintf(&r.b, format, args...)
	r.b.WriteByte('\n')
}

func (r *cRenderer) render(uops []*uop.UOp) (err error) {
	defer func() {
		if e := recover(); e != nil {
			err = fmt.Errorf("render: C: %s: %v", r.k.Name, e)
		}
	}()
	var outer *uop.UOp
	for _, u := range uops {
		if u.Op == uop.RANGE {
			outer = u
			break
		}
	}
	if outer != nil && !outer.Arg.(uop.RangeArg).Reduce {
		r.k.Split = outer.Arg.(uop.RangeArg).Size
	}
	whole := wholeDots(uops)
	trips := int64(1)
	var stack []int64
	var ranges []*uop.UOp
	for _, u := range uops {
		switch u.Op {
		case uop.RANGE:
			stack = append(stack, trips)
			ranges = append(ranges, u)
			trips *= int64(u.Arg.(uop.RangeArg).Size)
		case uop.ENDRANGE:
			trips = stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			ranges = ranges[:len(ranges)-1]
		default:
			r.k.Work += trips
			if u.Op == uop.STORE && u.Src[0].Op == uop.DEFINE_GLOBAL && u.Src[0].DType == dtype.Float32 {
				if n := u.Src[2].DType.Count(); (n == 16 || n == 8) && trips*int64(n)*4 >= streamMin {
					r.streamed[u] = true
				}
			}
			if u.Op == uop.LOAD && len(ranges) > 0 && streamsBytes(u, ranges, trips) {
				// Bytes streamed from memory cost more than an
				// operation each: a 64-byte line takes about as long as
				// 16 operations on one core (15 GB/s), and a second
				// thread doubles the lines in flight.
				r.prefetch[u] = !whole[u]
				r.k.Work += trips * int64(u.DType.Count()) / 4
			}
		}
	}
	for _, u := range uops {
		r.uop(u, u == outer && r.k.Split > 0)
	}
	src := r.b.String()
	var out strings.Builder
	if registerTile(uops) {
		out.WriteString(tileTuning)
	}
	out.WriteString(cPrelude)
	for _, t := range r.typeOrder {
		out.WriteString(r.types[t] + "\n")
	}
	fmt.Fprintf(&out, "void %s(void **bufs, const long long *vars, long long start, long long end) {\n", r.k.Name)
	// Buffers do not alias, except in a kernel with several outputs updated
	// in place (an optimizer step), where an input may be an output's old
	// contents: no restrict there.
	restrict := "restrict "
	stores := 0
	for _, u := range uops {
		if u.Op == uop.STORE && u.Src[0].Op == uop.DEFINE_GLOBAL {
			stores++
		}
	}
	if stores > 1 {
		restrict = ""
	}
	for _, u := range uops {
		if u.Op == uop.DEFINE_GLOBAL {
			n := u.Arg.(int)
			r.k.NBufs = max(r.k.NBufs, n+1)
			fmt.Fprintf(&out, "  %s *%sdata%d = (%s *)bufs[%d];\n", cStorage(u.DType), restrict, n, cStorage(u.DType), n)
		}
	}
	out.WriteString("  (void)vars; (void)start; (void)end;\n")
	out.WriteString(src)
	if len(r.streamed) > 0 {
		// Streamed stores are weakly ordered: fence them before the
		// kernel reports that it is done.
		out.WriteString("#if defined(__SSE__)\n  _mm_sfence();\n#endif\n")
	}
	out.WriteString("}\n")
	r.k.Src = out.String()
	return nil
}

func (r *cRenderer) name(u *uop.UOp) string {
	if n, ok := r.names[u]; ok {
		return n
	}
	if u.Op == uop.CONST {
		return cConst(u.DType, u.Arg)
	}
	panic(fmt.Sprintf("no value for %v", u))
}

func (r *cRenderer) fresh(prefix string, u *uop.UOp) string {
	n := prefix + strconv.Itoa(len(r.names))
	r.names[u] = n
	return n
}

func (r *cRenderer) uop(u *uop.UOp, split bool) {
	switch u.Op {
	case uop.DEFINE_GLOBAL:
		r.names[u] = "data" + strconv.Itoa(u.Arg.(int))
	case uop.DEFINE_LOCAL:
		// On the stack, aligned for the widest vector loads.
		v := r.fresh("local", u)
		r.line("%s %s[%d] __attribute__((aligned(64)));", cStorage(u.DType), v, u.Arg.(uop.LocalArg).Size)
	case uop.DEFINE_VAR:
		r.names[u] = fmt.Sprintf("vars[%d]", r.nvar)
		r.nvar++
		r.k.NVars = r.nvar
	case uop.CONST:
	case uop.RANGE:
		a := u.Arg.(uop.RangeArg)
		v := r.fresh("ridx", u)
		if split {
			r.line("for (long long %s = start; %s < end; %s++) {", v, v, v)
		} else {
			r.line("for (long long %s = 0; %s < %d; %s++) {", v, v, a.Size, v)
		}
		r.depth++
	case uop.ENDRANGE:
		r.depth--
		r.line("}")
	case uop.DEFINE_ACC:
		a := u.Arg.(uop.AccArg)
		v := r.fresh("acc", u)
		init := cConst(u.DType.Scalar(), a.Identity)
		if u.DType.Count() > 1 {
			init = r.broadcast(u.DType, init)
		}
		r.line("%s %s = %s;", r.cType(u.DType), v, init)
	case uop.ASSIGN:
		r.line("%s = %s;", r.name(u.Src[0]), r.name(u.Src[1]))
	case uop.LOAD:
		if r.prefetch[u] {
			r.line("__builtin_prefetch(%s + %s + %d);", r.name(u.Src[0]), r.name(u.Src[1]), prefetchAhead)
		}
		v := r.fresh("val", u)
		load := r.cLoad(u.Src[0], r.name(u.Src[1]), u.DType.Count())
		if len(u.Src) > 2 {
			zero := cConst(u.DType.Scalar(), int64(0))
			if u.DType.Count() > 1 {
				zero = fmt.Sprintf("((%s){0})", r.cType(u.DType))
			}
			load = fmt.Sprintf("(%s ? %s : %s)", r.name(u.Src[2]), load, zero)
		}
		r.line("%s %s = %s;", r.cType(u.DType), v, load)
	case uop.STORE:
		r.store(u)
	case uop.VECTORIZE:
		v := r.fresh("vec", u)
		r.line("%s %s = %s;", r.cType(u.DType), v, r.vectorize(u))
	case uop.GEP:
		r.names[u] = fmt.Sprintf("%s[%d]", r.name(u.Src[0]), u.Arg.(int))
	case uop.CONTIGUOUS:
		// The value as stored: a volatile round trip, which no
		// multiply-add contraction sees through (once per row).
		v := r.fresh("row", u)
		t := r.cType(u.DType)
		r.line("%s %s = ({volatile %s s_ = %s; s_;});", t, v, t, r.name(u.Src[0]))
	default:
		v := r.fresh("alu", u)
		var expr string
		if u.Op == uop.BITCAST && u.Src[0].DType.Count() != u.DType.Count() {
			// A vector's bytes as another shape of the same size (four
			// bytes as an int32, int32 lanes as bytes).
			expr = fmt.Sprintf("({%s b_; memcpy(&b_, &%s, sizeof b_); b_;})", r.cType(u.DType), r.name(u.Src[0]))
		} else if u.DType.Count() > 1 {
			expr = r.vectorExpr(u)
		} else {
			s := make([]string, len(u.Src))
			for i, x := range u.Src {
				s[i] = r.name(x)
			}
			expr = r.cExpr(u, s)
			expr = cRoundHalf(u, expr)
		}
		r.line("%s %s = %s;", r.cType(u.DType), v, expr)
	}
}

// cRoundHalf rounds a half-typed result back to its precision after the op.
func cRoundHalf(u *uop.UOp, expr string) string {
	if !u.DType.IsHalf() || u.Op == uop.WHERE || u.Op == uop.MAX {
		return expr
	}
	if u.DType.Scalar() == dtype.Float16 {
		return "round_f16(" + expr + ")"
	}
	return "round_bf16(" + expr + ")"
}

// cType names the C type of a (vector) dtype, declaring vector types as used.
func (r *cRenderer) cType(dt dtype.DType) string {
	if dt.Count() == 1 {
		return cType(dt)
	}
	return r.vecType(cType(dt.Scalar()), dt.Count(), dt.Scalar() == dtype.Bool)
}

// vecType declares (once) and names a GCC vector of n elements of C type t.
func (r *cRenderer) vecType(t string, n int, isBool bool) string {
	elem := t
	size := map[string]int{"float": 4, "double": 8, "int8_t": 1, "uint8_t": 1, "int16_t": 2, "uint16_t": 2,
		"int32_t": 4, "uint32_t": 4, "int64_t": 8, "uint64_t": 8, "_Float16": 2}[t]
	if isBool {
		elem, size = "uint8_t", 1
	}
	name := strings.ReplaceAll(strings.TrimSuffix(elem, "_t"), "_", "") + "x" + strconv.Itoa(n)
	if isBool {
		name = "boolx" + strconv.Itoa(n)
	}
	if r.types == nil {
		r.types = map[string]string{}
	}
	if _, ok := r.types[name]; !ok {
		r.types[name] = fmt.Sprintf("typedef %s %s __attribute__((vector_size(%d), aligned(%d)));", elem, name, size*n, size)
		r.typeOrder = append(r.typeOrder, name)
	}
	return name
}

// broadcast renders x (a scalar expression) in every lane of a vector of
// dtype dt. Listing the lanes keeps -0.0 (0 + -0.0 would not).
func (r *cRenderer) broadcast(dt dtype.DType, x string) string {
	v := "b_"
	lanes := make([]string, dt.Count())
	for i := range lanes {
		lanes[i] = v
	}
	return fmt.Sprintf("({%s b_ = (%s)(%s); (%s){%s};})", r.elemType(dt), r.elemType(dt), x, r.cType(dt), strings.Join(lanes, ", "))
}

// elemType is the C type of one lane of a vector dtype.
func (r *cRenderer) elemType(dt dtype.DType) string {
	if dt.Scalar() == dtype.Bool {
		return "uint8_t"
	}
	return cType(dt.Scalar())
}

// lane returns the C expression of lane l of u (u itself for a scalar).
func (r *cRenderer) lane(u *uop.UOp, l int) string {
	if u.DType.Count() > 1 {
		return fmt.Sprintf("%s[%d]", r.name(u), l)
	}
	return r.name(u)
}

// vectorize renders a VECTORIZE: a broadcast of one scalar, or the lanes.
func (r *cRenderer) vectorize(u *uop.UOp) string {
	t := r.cType(u.DType)
	same := true
	for _, x := range u.Src[1:] {
		same = same && x == u.Src[0]
	}
	if same {
		return r.broadcast(u.DType, r.name(u.Src[0]))
	}
	lanes := make([]string, len(u.Src))
	for i, x := range u.Src {
		lanes[i] = r.name(x)
	}
	return fmt.Sprintf("((%s){%s})", t, strings.Join(lanes, ", "))
}

// vectorExpr renders an op on vectors: arithmetic as vector expressions the
// compiler maps to SIMD instructions, the rest lane by lane.
func (r *cRenderer) vectorExpr(u *uop.UOp) string {
	dt := u.DType
	n := dt.Count()
	t := r.cType(dt)
	s := make([]string, len(u.Src))
	for i, x := range u.Src {
		s[i] = r.name(x)
	}
	elem := dt.Scalar()
	arith := elem != dtype.Bool && !dt.IsHalf()
	switch {
	case u.Op == uop.ADD && arith:
		return fmt.Sprintf("(%s + %s)", s[0], s[1])
	case u.Op == uop.MUL && arith:
		return fmt.Sprintf("(%s * %s)", s[0], s[1])
	case u.Op == uop.MULACC && arith:
		return fmt.Sprintf("(%s * %s + %s)", s[0], s[1], s[2])
	case u.Op == uop.NEG && arith:
		return "(-" + s[0] + ")"
	case u.Op == uop.RECIP && elem.IsFloat() && !dt.IsHalf():
		return fmt.Sprintf("(1 / %s)", s[0])
	case (u.Op == uop.AND || u.Op == uop.OR || u.Op == uop.XOR) && !elem.IsFloat():
		op := map[uop.Op]string{uop.AND: "&", uop.OR: "|", uop.XOR: "^"}[u.Op]
		return fmt.Sprintf("(%s %s %s)", s[0], op, s[1])
	case u.Op == uop.DOT2:
		r.dot2(n)
		return fmt.Sprintf("dot2_%d(%s, %s)", n, s[0], s[1])
	case u.Op == uop.DOT4:
		r.dot4(n)
		return fmt.Sprintf("dot4_%d(%s, %s)", n, s[0], s[1])
	case u.Op == uop.CAST && u.Src[0].DType.Scalar() == dtype.Float32 && elem.Size() == 1 && elem.IsInt() && n%16 == 0:
		// Quantizing activations to bytes.
		r.floatToByte(n)
		return fmt.Sprintf("((%s)f2i8_%d(%s))", t, n, s[0])
	case u.Op == uop.CAST && castNative(u.Src[0].DType.Scalar(), elem):
		from := u.Src[0].DType.Scalar()
		if from.IsInt() && elem.IsInt() && from.Size() < elem.Size() {
			// Widening integers: listed lanes, which GCC 12 turns into one
			// sign or zero extension (a __builtin_convertvector between
			// sizes it scalarizes inside loops).
			ls := make([]string, n)
			for l := range n {
				ls[l] = fmt.Sprintf("%s[%d]", s[0], l)
			}
			return fmt.Sprintf("((%s){%s})", t, strings.Join(ls, ", "))
		}
		if from.IsInt() && elem.IsFloat() && from.Size() < elem.Size() {
			// Widen to the float's size first: GCC converts narrow
			// integers to floats lane by lane, same-size ones in one
			// instruction.
			wide := dtype.Int32
			if elem.Size() == 8 {
				wide = dtype.Int64
			}
			// (Listing the lanes: GCC 12 turns that into one widening
			// instruction inside loops, where it scalarizes a
			// __builtin_convertvector between sizes.)
			ls := make([]string, n)
			for l := range n {
				ls[l] = fmt.Sprintf("%s[%d]", s[0], l)
			}
			return fmt.Sprintf("__builtin_convertvector(((%s){%s}), %s)", r.cType(wide.Vec(n)), strings.Join(ls, ", "), t)
		}
		return fmt.Sprintf("__builtin_convertvector(%s, %s)", s[0], t)
	case (u.Op == uop.SHR || u.Op == uop.SHL) && !elem.IsFloat() && elem != dtype.Bool:
		// A constant count inside the width has C's meaning (for SHR of a
		// signed value, an arithmetic shift, as GCC does).
		if c, ok := uniformConst(u.Src[1]); ok && c >= 0 && c < int64(8*elem.Size()) {
			op := map[uop.Op]string{uop.SHR: ">>", uop.SHL: "<<"}[u.Op]
			return fmt.Sprintf("(%s %s %d)", s[0], op, c)
		}
	case u.Op == uop.WHERE && !dt.IsHalf() && elem != dtype.Bool && (elem.Size() == 4 || elem.Size() == 8):
		// A select by a mask of whole lanes, where the condition is built
		// from comparisons of lanes of the same size (ReLU and its
		// gradient): GCC turns lane-by-lane selects into scalar code.
		it := r.vecType(map[int]string{4: "int32_t", 8: "int64_t"}[elem.Size()], n, false)
		if m, ok := r.mask(u.Src[0], elem.Size(), it); ok {
			return fmt.Sprintf("((%s)(((%s)%s & (%s)%s) | (~(%s)%s & (%s)%s)))", t, it, m, it, s[1], it, m, it, s[2])
		}
	case u.Op == uop.MAX && elem.IsFloat() && !dt.IsHalf():
		// maxf_'s meaning (the larger, NaN wins) as a select by whole-lane
		// masks, which GCC keeps in vector registers.
		it := r.vecType(map[int]string{4: "int32_t", 8: "int64_t"}[elem.Size()], n, false)
		m := fmt.Sprintf("(((%s)(%s > %s)) | ((%s)(%s != %s)))", it, s[0], s[1], it, s[0], s[0])
		return fmt.Sprintf("((%s)(((%s)%s & (%s)%s) | (~(%s)%s & (%s)%s)))", t, it, m, it, s[0], it, m, it, s[1])
	case (u.Op == uop.EXP2 || u.Op == uop.LOG2) && elem == dtype.Float32:
		r.vecMath(n)
		return fmt.Sprintf("%s_v%d(%s)", map[uop.Op]string{uop.EXP2: "exp2", uop.LOG2: "log2"}[u.Op], n, s[0])
	}
	lanes := make([]string, n)
	for l := range n {
		ls := make([]string, len(u.Src))
		for i, x := range u.Src {
			ls[i] = r.lane(x, l)
		}
		lanes[l] = cRoundHalf(u, r.cExpr(u, ls))
	}
	return fmt.Sprintf("((%s){%s})", t, strings.Join(lanes, ", "))
}

// mask renders the bool vector c as a vector it of whole-lane masks (all
// ones where true) when it is a comparison of lanes of size bytes, a
// constant, or a logical combination of those; false otherwise.
func (r *cRenderer) mask(c *uop.UOp, size int, it string) (string, bool) {
	if c.DType.Scalar() != dtype.Bool || c.DType.Count() < 2 {
		return "", false
	}
	if v, ok := uniformConst(c); ok {
		if v != 0 {
			return fmt.Sprintf("(~(%s){0})", it), true
		}
		return fmt.Sprintf("((%s){0})", it), true
	}
	if len(c.Src) == 0 {
		return "", false
	}
	src := c.Src[0].DType.Scalar()
	switch c.Op {
	case uop.CMPLT, uop.CMPNE:
		if src != dtype.Bool {
			if src.IsHalf() || src.Size() != size {
				return "", false
			}
			op := map[uop.Op]string{uop.CMPLT: "<", uop.CMPNE: "!="}[c.Op]
			if n := c.DType.Count(); n*size > 64 && n*size%64 == 0 {
				return fmt.Sprintf("%s(%s, %s)", r.wideCompare(op, c.Src[0].DType, it), r.name(c.Src[0]), r.name(c.Src[1])), true
			}
			return fmt.Sprintf("((%s)(%s %s %s))", it, r.name(c.Src[0]), op, r.name(c.Src[1])), true
		}
	case uop.OR, uop.AND, uop.XOR:
	default:
		return "", false
	}
	a, ok := r.mask(c.Src[0], size, it)
	if !ok {
		return "", false
	}
	b, ok := r.mask(c.Src[1], size, it)
	if !ok {
		return "", false
	}
	switch c.Op {
	case uop.CMPLT: // a < b for bools: !a && b
		return fmt.Sprintf("(~%s & %s)", a, b), true
	case uop.CMPNE, uop.XOR:
		return fmt.Sprintf("(%s ^ %s)", a, b), true
	case uop.OR:
		return fmt.Sprintf("(%s | %s)", a, b), true
	}
	return fmt.Sprintf("(%s & %s)", a, b), true
}

// wideCompareTemplate compares vectors wider than 64 bytes 64 bytes at a
// time: GCC 12 compares a vector of two AVX-512 registers lane by lane
// (a comparison and a conditional move each), one of one register in one
// instruction. The quantization of activations to bytes works on 32 floats.
const wideCompareTemplate = `static inline @M@ @NAME@(@T@ a, @T@ b) {
  @M@ m;
  for (int i = 0; i < @N@; i += @P@) {
    @TP@ x, y;
    memcpy(&x, (const char *)&a + i * sizeof a[0], sizeof x);
    memcpy(&y, (const char *)&b + i * sizeof b[0], sizeof y);
    @MP@ k = (@MP@)(x @OP@ y);
    memcpy((char *)&m + i * sizeof m[0], &k, sizeof k);
  }
  return m;
}
`

// wideCompare declares (once) and names the comparison op ("<" or "!=")
// of two vectors of dt, wider than 64 bytes, giving a vector it of
// whole-lane masks.
func (r *cRenderer) wideCompare(op string, dt dtype.DType, it string) string {
	n, elem := dt.Count(), cType(dt.Scalar())
	part := 64 / dt.Scalar().Size()
	opName := "lt"
	if op == "!=" {
		opName = "ne"
	}
	name := fmt.Sprintf("%s_%s_%d", opName, strings.ReplaceAll(strings.TrimSuffix(elem, "_t"), "_", ""), n)
	r.declare(name, func() string {
		mElem := map[int]string{4: "int32_t", 8: "int64_t"}[dt.Scalar().Size()]
		return strings.NewReplacer("@NAME@", name, "@M@", it, "@T@", r.vecType(elem, n, false),
			"@TP@", r.vecType(elem, part, false), "@MP@", r.vecType(mElem, part, false),
			"@N@", strconv.Itoa(n), "@P@", strconv.Itoa(part),
			"@OP@", op).Replace(wideCompareTemplate)
	})
	return name
}

// uniformConst returns the value of a constant, or of a vector of one
// constant in every lane.
func uniformConst(u *uop.UOp) (int64, bool) {
	switch u.Op {
	case uop.CONST:
		return uop.ConstInt(u), true
	case uop.VECTORIZE:
		c, ok := uniformConst(u.Src[0])
		for _, x := range u.Src[1:] {
			if x != u.Src[0] {
				return 0, false
			}
		}
		return c, ok
	}
	return 0, false
}

// castNative reports whether a conversion has C's semantics, so that
// __builtin_convertvector does it (floats to integers do not: NaN and
// out-of-range values need gograd's rule).
func castNative(from, to dtype.DType) bool {
	if to == dtype.Bool || from.IsHalf() || to.IsHalf() {
		return false
	}
	return !(from.IsFloat() && !to.IsFloat())
}

// cLoad reads n consecutive elements (one, or a vector) of buf at idx.
func (r *cRenderer) cLoad(buf *uop.UOp, idx string, n int) string {
	p := r.name(buf)
	if n == 1 {
		s := fmt.Sprintf("%s[%s]", p, idx)
		switch buf.DType {
		case dtype.Float16:
			return "(float)" + s
		case dtype.BFloat16:
			return "bf16_to_f(" + s + ")"
		}
		return s
	}
	switch buf.DType {
	case dtype.Float16:
		if n == 4 || n == 8 || n == 16 {
			r.halfLoad(n)
			return fmt.Sprintf("h2f_%d(%s + %s)", n, p, idx)
		}
		st := r.vecType("_Float16", n, false)
		return fmt.Sprintf("__builtin_convertvector(*(%s *)(%s + %s), %s)", st, p, idx, r.vecType("float", n, false))
	case dtype.BFloat16:
		lanes := make([]string, n)
		for l := range n {
			lanes[l] = fmt.Sprintf("bf16_to_f(%s[%s + %d])", p, idx, l)
		}
		return fmt.Sprintf("((%s){%s})", r.vecType("float", n, false), strings.Join(lanes, ", "))
	case dtype.Bool:
		return fmt.Sprintf("(*(%s *)(%s + %s))", r.vecType("uint8_t", n, true), p, idx)
	}
	return fmt.Sprintf("(*(%s *)(%s + %s))", r.vecType(cType(buf.DType), n, false), p, idx)
}

// store writes a value (one element or a vector of consecutive ones).
func (r *cRenderer) store(u *uop.UOp) {
	buf, idx, val := u.Src[0], r.name(u.Src[1]), u.Src[2]
	p := r.name(buf)
	n := val.DType.Count()
	v := r.name(val)
	if n == 1 {
		switch buf.DType {
		case dtype.Float16:
			v = "(_Float16)" + v
		case dtype.BFloat16:
			v = "f_to_bf16(" + v + ")"
		}
		r.line("%s[%s] = %s;", p, idx, v)
		return
	}
	switch buf.DType {
	case dtype.Float16:
		st := r.vecType("_Float16", n, false)
		r.line("*(%s *)(%s + %s) = __builtin_convertvector(%s, %s);", st, p, idx, v, st)
	case dtype.BFloat16:
		for l := range n {
			r.line("%s[%s + %d] = f_to_bf16(%s[%d]);", p, idx, l, v, l)
		}
	default:
		if r.streamed[u] {
			r.stream(n)
			r.line("stream_%d(%s + %s, %s);", n, p, idx, v)
			return
		}
		r.line("*(%s *)(%s + %s) = %s;", r.cType(val.DType), p, idx, v)
	}
}

// cExpr renders a scalar ALU, CAST or BITCAST node with gograd's semantics,
// its sources named s.
func (r *cRenderer) cExpr(u *uop.UOp, s []string) string {
	dt := u.DType.Scalar()
	src := dt
	if len(u.Src) > 0 {
		src = u.Src[0].DType.Scalar()
	}
	isF := src.IsFloat()
	ct := cType(dt)
	switch u.Op {
	case uop.ADD:
		if dt == dtype.Bool {
			return fmt.Sprintf("(%s || %s)", s[0], s[1])
		}
		return fmt.Sprintf("(%s)(%s + %s)", ct, s[0], s[1])
	case uop.MUL:
		if dt == dtype.Bool {
			return fmt.Sprintf("(%s && %s)", s[0], s[1])
		}
		if !isF && src.Size() >= 4 && !src.IsUnsigned() { // signed overflow wraps, as in Go
			return fmt.Sprintf("(%s)((u%s)%s * (u%s)%s)", ct, ct, s[0], ct, s[1])
		}
		return fmt.Sprintf("(%s)(%s * %s)", ct, s[0], s[1])
	case uop.NEG:
		if dt == dtype.Bool {
			return "!" + s[0]
		}
		if !isF && !src.IsUnsigned() {
			return fmt.Sprintf("(%s)(0 - (u%s)%s)", ct, ct, s[0])
		}
		return fmt.Sprintf("(%s)(-%s)", ct, s[0])
	case uop.RECIP:
		return fmt.Sprintf("(%s)(1 / %s)", ct, s[0])
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
			return fmt.Sprintf("maxd_(%s, %s)", s[0], s[1])
		case isF:
			return fmt.Sprintf("maxf_(%s, %s)", s[0], s[1])
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
		if src.IsUnsigned() {
			return fmt.Sprintf("(%s == 0 ? 0 : (%s)(%s %s %s))", s[1], ct, s[0], op, s[1])
		}
		if d := u.Src[1]; d.Op == uop.CONST {
			// An index divided by a constant: in 32 unsigned bits where
			// both fit, a shorter multiply-high than 64 signed ones need.
			lo, hi := u.Src[0].Bounds()
			if c := uop.ConstInt(d); c > 0 && c <= math.MaxUint32 && lo >= 0 && hi <= math.MaxUint32 {
				return fmt.Sprintf("(%s)((uint32_t)%s %s %dU)", ct, s[0], op, c)
			}
		}
		minus1 := fmt.Sprintf("(%s)(0 - (u%s)%s)", ct, ct, s[0])
		if u.Op == uop.MOD {
			minus1 = "0"
		}
		return fmt.Sprintf("(%s == 0 ? 0 : %s == -1 ? %s : (%s)(%s %s %s))", s[1], s[1], minus1, ct, s[0], op, s[1])
	case uop.SHL:
		return fmt.Sprintf("(%s < 0 || %s >= 64 ? (%s)0 : (%s)((uint64_t)%s << %s))", s[1], s[1], ct, ct, s[0], s[1])
	case uop.SHR: // shifted in 64 bits: C leaves shifts by the width or more undefined
		if src.IsUnsigned() {
			return fmt.Sprintf("(%s < 0 || %s >= 64 ? (%s)0 : (%s)((uint64_t)%s >> %s))", s[1], s[1], ct, ct, s[0], s[1])
		}
		return fmt.Sprintf("(%s)((int64_t)%s >> (%s < 0 || %s >= 64 ? 63 : %s))", ct, s[0], s[1], s[1], s[1])
	case uop.WHERE:
		return fmt.Sprintf("(%s ? %s : %s)", s[0], s[1], s[2])
	case uop.MULACC:
		return fmt.Sprintf("(%s)(%s * %s + %s)", ct, s[0], s[1], s[2])
	case uop.CAST:
		switch {
		case dt == dtype.Bool:
			return fmt.Sprintf("(%s != 0)", s[0])
		case isF && dt == dtype.Uint64:
			return fmt.Sprintf("f2u_(%s)", s[0])
		case isF && dt.IsInt():
			return fmt.Sprintf("(%s)f2i_(%s)", ct, s[0])
		}
		return fmt.Sprintf("(%s)%s", ct, s[0])
	case uop.BITCAST:
		return r.bitcast(src, dt, s[0])
	}
	panic(fmt.Sprintf("no C for %v", u.Op))
}

// bitcast reinterprets the bits of a value; halves go through their 16-bit storage.
func (r *cRenderer) bitcast(from, to dtype.DType, x string) string {
	switch from {
	case dtype.Float16:
		x = fmt.Sprintf("({_Float16 h_ = (_Float16)%s; uint16_t b_; memcpy(&b_, &h_, 2); b_;})", x)
		from = dtype.Uint16
	case dtype.BFloat16:
		x = fmt.Sprintf("f_to_bf16(%s)", x)
		from = dtype.Uint16
	}
	switch to {
	case dtype.Float16:
		return fmt.Sprintf("({uint16_t b_ = (uint16_t)%s; _Float16 h_; memcpy(&h_, &b_, 2); (float)h_;})", x)
	case dtype.BFloat16:
		return fmt.Sprintf("bf16_to_f((uint16_t)%s)", x)
	}
	ct := cType(to)
	return fmt.Sprintf("({%s f_ = %s; %s t_; memcpy(&t_, &f_, sizeof t_); t_;})", cType(from), x, ct)
}

// cConst renders a constant of dtype dt exactly.
func cConst(dt dtype.DType, v any) string {
	switch {
	case dt == dtype.Bool:
		if toI64(v) != 0 {
			return "1"
		}
		return "0"
	case dt.IsFloat():
		f := toF64(v)
		suffix := "f"
		if dt == dtype.Float64 {
			suffix = ""
		}
		switch {
		case math.IsNaN(f):
			if dt == dtype.Float64 {
				return "(double)NAN"
			}
			return "NAN"
		case math.IsInf(f, 1):
			return "INFINITY"
		case math.IsInf(f, -1):
			return "(-INFINITY)"
		}
		if dt != dtype.Float64 {
			f = float64(float32(f))
		}
		return "(" + strconv.FormatFloat(f, 'x', -1, 64) + suffix + ")"
	case dt == dtype.Uint64:
		return strconv.FormatUint(uint64(toI64(v)), 10) + "ULL"
	default:
		i := toI64(v)
		if i == math.MinInt64 {
			return "(-9223372036854775807LL - 1)"
		}
		return "((" + cType(dt) + ")" + strconv.FormatInt(i, 10) + "LL)"
	}
}
