//go:build unix

package cpu_test

import (
	"math"
	"math/rand/v2"
	"testing"

	g "github.com/gograd/gograd"
)

// ulps is the distance between two float32s in representable steps (NaN
// to NaN is 0, NaN to anything else is huge).
func ulps(a, b float32) int64 {
	if a != a || b != b {
		if a != a && b != b {
			return 0
		}
		return math.MaxInt64
	}
	key := func(f float32) int64 { // monotonic in f
		b := int64(math.Float32bits(f))
		if b>>31 != 0 {
			return -(b & 0x7fffffff)
		}
		return b
	}
	d := key(a) - key(b)
	return max(d, -d)
}

// TestVectorMath checks the C kernels' SIMD exp2 and log2 against Go's
// float64 math rounded to float32: exp2 within 1 ulp and log2 within 4, over
// the whole range where results are neither 0 nor infinite, the subnormal
// results and arguments included, and libm's special values.
func TestVectorMath(t *testing.T) {
	needCompiler(t)
	r := rand.New(rand.NewPCG(3, 4))
	specials := []float32{0, float32(math.Copysign(0, -1)), float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.NaN()),
		-149, -149.5, -150, -150.01, -151, -126, -126.5, -125.99, 127.99, 128, 128.01, 1e-45, 1e-40, math.SmallestNonzeroFloat32,
		math.MaxFloat32, 1, 2, 0.5, -1}
	for _, c := range []struct {
		name   string
		lo, hi float64
		f      func(*g.Tensor) *g.Tensor
		want   func(float64) float64
		tol    int64
	}{
		{"exp2", -152, 130, (*g.Tensor).Exp2, math.Exp2, 1},
		{"log2", -130, 128, (*g.Tensor).Log2, math.Log2, 4}, // arguments 2^lo .. 2^hi
	} {
		x := append([]float32(nil), specials...)
		for len(x) < 1<<18 {
			v := c.lo + (c.hi-c.lo)*r.Float64()
			if c.name == "log2" {
				v = math.Exp2(v)
			}
			x = append(x, float32(v))
		}
		got := c.f(g.FromSliceOn("CPU", x, len(x))).Float32s()
		worst, at := int64(0), 0
		for i, v := range x {
			want := float32(c.want(float64(v)))
			if d := ulps(got[i], want); d > worst {
				worst, at = d, i
			}
		}
		if worst > c.tol {
			t.Errorf("%s(%g) = %g, want %g: %d ulps apart, want at most %d", c.name, x[at], got[at], float32(c.want(float64(x[at]))), worst, c.tol)
		}
	}
}
