package gograd_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	g "github.com/gograd/gograd"
)

// nnUnravel splits a flat index into the indices of shape.
func nnUnravel(i int, shape []int) []int {
	out := make([]int, len(shape))
	for a := len(shape) - 1; a >= 0; a-- {
		out[a] = i % shape[a]
		i /= shape[a]
	}
	return out
}

// nnRavel is the flat index of idx in shape.
func nnRavel(idx, shape []int) int {
	f := 0
	for a, s := range shape {
		f = f*s + idx[a]
	}
	return f
}

// nnRandIndex is a realized int64 tensor of shape with values in [0, n).
func nnRandIndex(n int, shape ...int) (*g.Tensor, []int64) {
	t := g.RandInt(0, n, shape...).Realize()
	return t, t.Int64s()
}

func TestGather(t *testing.T) {
	g.Seed(20)
	tests := []struct {
		x, idx []int
		axis   int
	}{
		{[]int{4, 5}, []int{3, 5}, 0},
		{[]int{4, 5}, []int{4, 7}, 1},
		{[]int{3, 4, 5}, []int{2, 6, 3}, 1},
		{[]int{3, 4, 5}, []int{3, 4, 2}, -1},
		{[]int{6}, []int{10}, 0},
		{[]int{2, 3, 4}, []int{1, 1, 1}, 0},
	}
	for _, tc := range tests {
		x, xd := nnRandn(tc.x...)
		ax := (tc.axis + len(tc.x)) % len(tc.x)
		index, id := nnRandIndex(tc.x[ax], tc.idx...)
		want := make([]float32, len(id))
		for i := range want {
			p := nnUnravel(i, tc.idx)
			p[ax] = int(id[i])
			want[i] = xd[nnRavel(p, tc.x)]
		}
		nnCheck(t, fmt.Sprint("Gather ", tc.x, tc.idx, tc.axis), x.Gather(tc.axis, index), tc.idx, want)
	}
	// Integer inputs keep their dtype and values; Inf and NaN elsewhere stay out.
	xi := g.FromSlice([]int32{10, 20, 30, 40, 50, 60}, 2, 3)
	gi := xi.Gather(1, g.FromSlice([]int64{2, 0, 1, 1}, 2, 2))
	if gi.DType() != g.Int32 || !slices.Equal(gi.Int32s(), []int32{30, 10, 50, 50}) {
		t.Errorf("Gather int32: %v %v, want int32 [30 10 50 50]", gi.DType(), gi.Int32s())
	}
	inf := float32(math.Inf(1))
	xf := g.FromSlice([]float32{inf, 1, float32(math.NaN()), 2}, 1, 4)
	if got := xf.Gather(1, g.FromSlice([]int32{1, 3}, 1, 2)).Float32s(); !slices.Equal(got, []float32{1, 2}) {
		t.Errorf("Gather next to Inf/NaN: %v, want [1 2]", got)
	}
}

func TestScatter(t *testing.T) {
	g.Seed(21)
	rng := rand.New(rand.NewPCG(1, 2))
	tests := []struct {
		x, idx, src []int
		axis        int
	}{
		{[]int{5, 4}, []int{3, 4}, []int{3, 4}, 0},
		{[]int{5, 4}, []int{2, 3}, []int{3, 4}, 0},
		{[]int{3, 6}, []int{3, 4}, []int{4, 5}, 1},
		{[]int{2, 5, 3}, []int{2, 5, 2}, []int{2, 5, 3}, 1},
		{[]int{2, 3, 7}, []int{1, 2, 3}, []int{2, 3, 4}, -1},
		{[]int{8}, []int{5}, []int{6}, 0},
	}
	for _, tc := range tests {
		x, xd := nnRandn(tc.x...)
		src, sd := nnRandn(tc.src...)
		ax := (tc.axis + len(tc.x)) % len(tc.x)
		index, id := nnUniqueIndex(rng, tc.x[ax], tc.idx, ax)
		want := slices.Clone(xd)
		for i := range id {
			p := nnUnravel(i, tc.idx)
			sp := nnRavel(p, tc.src)
			p[ax] = int(id[i])
			want[nnRavel(p, tc.x)] = sd[sp]
		}
		nnCheck(t, fmt.Sprint("Scatter ", tc.x, tc.idx, tc.src, tc.axis), x.Scatter(tc.axis, index, src), tc.x, want)
	}
}

// nnUniqueIndex makes an index of shape whose values along axis ax are
// distinct in [0, n) on every line: the start of a random permutation.
func nnUniqueIndex(rng *rand.Rand, n int, shape []int, ax int) (*g.Tensor, []int64) {
	id := make([]int64, nnProd(shape))
	perms := map[int][]int{}
	for i := range id {
		p := nnUnravel(i, shape)
		k := p[ax]
		p[ax] = 0
		line := nnRavel(p, shape)
		if perms[line] == nil {
			perms[line] = rng.Perm(n)
		}
		id[i] = int64(perms[line][k])
	}
	return g.FromSlice(id, shape...), id
}

func TestIndexSelect(t *testing.T) {
	g.Seed(22)
	tests := []struct {
		x    []int
		axis int
		m    int
	}{
		{[]int{5, 3}, 0, 4},
		{[]int{5, 3}, 1, 6},
		{[]int{2, 7, 3}, 1, 2},
		{[]int{2, 3, 4}, -1, 5},
		{[]int{9}, 0, 9},
	}
	for _, tc := range tests {
		x, xd := nnRandn(tc.x...)
		ax := (tc.axis + len(tc.x)) % len(tc.x)
		index, id := nnRandIndex(tc.x[ax], tc.m)
		shape := slices.Clone(tc.x)
		shape[ax] = tc.m
		want := make([]float32, nnProd(shape))
		for i := range want {
			p := nnUnravel(i, shape)
			p[ax] = int(id[p[ax]])
			want[i] = xd[nnRavel(p, tc.x)]
		}
		nnCheck(t, fmt.Sprint("IndexSelect ", tc.x, tc.axis, id), x.IndexSelect(tc.axis, index), shape, want)
	}
	// Bool inputs stay bool.
	b := g.FromSlice([]bool{true, false, true}).IndexSelect(0, g.FromSlice([]int32{1, 2, 2, 0}))
	if b.DType() != g.Bool || !slices.Equal(b.Bools(), []bool{false, true, true, true}) {
		t.Errorf("IndexSelect of bool: %v %v", b.DType(), b.Bools())
	}
}

func TestTrilTriu(t *testing.T) {
	g.Seed(23)
	for _, shape := range [][]int{{4, 4}, {3, 5}, {5, 2}, {2, 3, 4}} {
		x, xd := nnRandn(shape...)
		r, c := shape[len(shape)-2], shape[len(shape)-1]
		for _, k := range []int{-2, -1, 0, 1, 3} {
			lo := make([]float32, len(xd))
			up := make([]float32, len(xd))
			for i, v := range xd {
				row, col := (i/c)%r, i%c
				if col-row <= k {
					lo[i] = v
				}
				if col-row >= k {
					up[i] = v
				}
			}
			nnCheck(t, fmt.Sprint("Tril ", shape, k), x.Tril(k), shape, lo)
			nnCheck(t, fmt.Sprint("Triu ", shape, k), x.Triu(k), shape, up)
		}
	}
	// The dtype is kept, and Inf/NaN in the dropped half do not leak.
	b := g.Ones(3, 3).Gt(0).Tril(0)
	if b.DType() != g.Bool || !slices.Equal(b.Bools(), []bool{true, false, false, true, true, false, true, true, true}) {
		t.Errorf("Tril of bool: %v %v", b.DType(), b.Bools())
	}
	inf := float32(math.Inf(1))
	if got := g.FromSlice([]float32{1, inf, 2, 3}, 2, 2).Tril(0).Float32s(); !slices.Equal(got, []float32{1, 0, 2, 3}) {
		t.Errorf("Tril with Inf above the diagonal: %v, want [1 0 2 3]", got)
	}
	if got := g.FromSlice([]float32{1, 2, float32(math.NaN()), 3}, 2, 2).Triu(0).Float32s(); !slices.Equal(got, []float32{1, 2, 0, 3}) {
		t.Errorf("Triu with NaN below the diagonal: %v, want [1 2 0 3]", got)
	}
}

func TestOneHot(t *testing.T) {
	for _, tc := range []struct {
		x     *g.Tensor
		n     int
		shape []int
	}{
		{g.FromSlice([]int64{0, 2, 1, 4}), 5, []int{4, 5}},
		{g.FromSlice([]int32{3, 0, 1, 3, 2, 2}, 2, 3), 4, []int{2, 3, 4}},
		{g.FromSlice([]int64{1, 3, 0}), -1, []int{3, 4}},
	} {
		vals := tc.x.Int64s()
		n := tc.shape[len(tc.shape)-1]
		want := make([]int64, len(vals)*n)
		for i, v := range vals {
			want[i*n+int(v)] = 1
		}
		got := tc.x.OneHot(tc.n)
		if got.DType() != g.Int64 || !slices.Equal(got.Shape(), tc.shape) || !slices.Equal(got.Int64s(), want) {
			t.Errorf("OneHot(%v, %d): %v %v %v, want int64 %v %v", vals, tc.n, got.DType(), got.Shape(), got.Int64s(), tc.shape, want)
		}
	}
}

func TestIndexKernelCounts(t *testing.T) {
	g.Seed(24)
	x, _ := nnRandn(6, 5)
	idx, _ := nnRandIndex(6, 4, 5)
	src, _ := nnRandn(4, 5)
	perm, _ := nnUniqueIndex(rand.New(rand.NewPCG(3, 4)), 6, []int{4, 5}, 0)
	sel, _ := nnRandIndex(6, 3)
	for _, tc := range []struct {
		name string
		y    *g.Tensor
	}{
		{"Gather", x.Gather(0, idx).Mul(2)},
		{"Scatter", x.Scatter(0, perm, src)},
		{"IndexSelect", x.IndexSelect(0, sel).Relu()},
		{"Tril", x.Tril(0).Add(1)},
		{"OneHot", idx.OneHot(6)},
	} {
		if n := nnKernels(tc.y); n != 1 {
			t.Errorf("%s: %d kernels, want 1", tc.name, n)
		}
	}
}

func TestIndexPanics(t *testing.T) {
	x := g.Zeros(3, 4)
	tests := []struct {
		name string
		f    func()
		msg  string
	}{
		{"gather float index", func() { x.Gather(0, g.Zeros(3, 4)) }, "Gather: index (3, 4) of float32 must be integers"},
		{"gather rank", func() { x.Gather(0, g.FromSlice([]int64{1})) }, "Gather: index (1) and input (3, 4) differ in rank"},
		{"gather size", func() { x.Gather(0, g.Full([]int{2, 5}, 0)) }, "larger than input (3, 4)"},
		{"gather axis", func() { x.Gather(2, g.Full([]int{2, 2}, 0)) }, "axis 2 out of range"},
		{"scatter src", func() { x.Scatter(1, g.Full([]int{3, 2}, 0), g.Zeros(3, 1)) }, "Scatter: index (3, 2) larger than src (3, 1)"},
		{"index select 2-D", func() { x.IndexSelect(0, g.Full([]int{2, 2}, 0)) }, "IndexSelect: index (2, 2) must be 1-D"},
		{"tril 1-D", func() { g.Zeros(3).Tril(0) }, "Tril: input (3) has fewer than 2 axes"},
		{"one hot float", func() { x.OneHot(3) }, "OneHot: input (3, 4) of float32 must be integers"},
		{"one hot classes", func() { g.Full([]int{2}, 1).OneHot(0) }, "OneHot: 0 classes"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			defer func() {
				r := recover()
				if r == nil {
					t.Fatalf("no panic, want %q", tc.msg)
				}
				if s := fmt.Sprint(r); !strings.Contains(s, tc.msg) || !strings.HasPrefix(s, "gograd: ") {
					t.Errorf("panic %q, want it to contain %q", s, tc.msg)
				}
			}()
			tc.f()
		})
	}
}
