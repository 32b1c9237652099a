package gograd_test

import (
	"slices"
	"strings"
	"testing"

	g "github.com/gograd/gograd"
	"github.com/gograd/gograd/jit"
)

// TestShrinkAt reads and writes a window at a variable offset: every
// position gives its own row, one compiled kernel serves them all, and
// Assign writes through the window in place.
func TestShrinkAt(t *testing.T) {
	forEachDevice(t, func(t *testing.T) {
		x := g.Arange(24).Reshape(6, 4).Contiguous().Realize()
		pos := g.NewVar("pos", 0, 4)
		var compiles []int64
		for p := 0; p <= 4; p++ {
			g.ResetStats()
			got := x.ShrinkAt(0, pos.Bind(p), 2).Permute(1, 0).Mul(2).Float32s()
			compiles = append(compiles, g.Stats("").Compiles)
			var want []float32
			for j := range 4 {
				want = append(want, float32(2*(p*4+j)), float32(2*((p+1)*4+j)))
			}
			if !slices.Equal(got, want) {
				t.Errorf("pos=%d: rows [pos, pos+2) transposed, doubled = %v, want %v", p, got, want)
			}
		}
		if slices.Max(compiles[1:]) != 0 {
			t.Errorf("kernels compiled per position: %v; want none after the first", compiles)
		}

		cache := g.Zeros(3, 5, 2).Contiguous().Realize()
		slot := g.NewVar("slot", 0, 4)
		for p := range 5 {
			cache.ShrinkAt(1, slot.Bind(p), 1).Assign(g.Full([]int{3, 1, 2}, float32(p+1))).Realize()
		}
		want := make([]float32, 0, 30)
		for range 3 {
			for p := range 5 {
				want = append(want, float32(p+1), float32(p+1))
			}
		}
		if got := cache.Float32s(); !slices.Equal(got, want) {
			t.Errorf("cache after writes at every slot = %v, want %v", got, want)
		}
	})
}

// TestShrinkAtJIT is a decode step in miniature: write the new row of a
// cache at the position, then sum the rows up to it. The JIT replays it with
// each new position and input row without scheduling or compiling.
func TestShrinkAtJIT(t *testing.T) {
	forEachDevice(t, func(t *testing.T) {
		const n, d = 8, 3
		cache := g.Zeros(n, d).Contiguous().Realize()
		pos := g.NewVar("pos", 0, n-1)
		step := jit.New(func(in ...*g.Tensor) []*g.Tensor {
			row, p := in[0], in[1]
			cache.ShrinkAt(0, p, 1).Assign(row).Realize()
			mask := g.Arange(n).Reshape(n, 1).Cast(g.Int64).Le(p)
			return []*g.Tensor{mask.Where(cache, 0).Sum(0).Realize()}
		})
		sum := make([]float32, d)
		for p := range n {
			row := make([]float32, d)
			for j := range row {
				row[j] = float32(10*p + j)
				sum[j] += row[j]
			}
			g.ResetStats()
			out := step.Call(g.FromSlice(row, 1, d), pos.Bind(p))
			if got := out[0].Float32s(); !slices.Equal(got, sum) {
				t.Fatalf("step %d: sum of rows so far = %v, want %v", p, got, sum)
			}
			if s := g.Stats(""); p >= 2 && s.Compiles != 0 {
				t.Errorf("step %d compiled %d kernels on replay", p, s.Compiles)
			}
		}
	})
}

func TestShrinkAtMisuse(t *testing.T) {
	x := g.Zeros(4, 4)
	for _, tc := range []struct {
		name string
		f    func()
		want string
	}{
		{"window leaves the axis", func() { x.ShrinkAt(0, g.NewVar("p", 0, 3).Bind(0), 2) }, "leaves axis 0"},
		{"start is not a variable", func() { x.ShrinkAt(0, g.Scalar(int64(1)), 1) }, "bound variable"},
		{"no gradient", func() {
			w := g.Zeros(4, 4).RequiresGrad(true)
			w.ShrinkAt(1, g.NewVar("q", 0, 3).Bind(1), 1).Sum().Backward()
		}, "no gradient through ShrinkAt"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			defer func() {
				r := recover()
				if r == nil || !strings.Contains(r.(string), tc.want) {
					t.Errorf("panic %v, want one containing %q", r, tc.want)
				}
			}()
			tc.f()
		})
	}
}
