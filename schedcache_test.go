package gograd

import (
	"slices"
	"testing"
)

// TestScheduleCacheValues realizes graphs of one structure over other
// buffers (the second and third from the schedule cache) and checks their
// values, the same buffer read twice where there were two, and in-place
// updates through the cache.
func TestScheduleCacheValues(t *testing.T) {
	f := func(x, y *Tensor) *Tensor { return x.Mul(y).Add(1).T().Contiguous().Sum(0) }
	for i, tc := range []struct {
		x, y []float32
		same bool
	}{
		{[]float32{1, 2, 3, 4}, []float32{5, 6, 7, 8}, false},
		{[]float32{-1, 0, 1, 2}, []float32{2, 2, 2, 2}, false},
		{[]float32{3, 1, 4, 1}, []float32{9, 9, 9, 9}, false},
		{[]float32{3, 1, 4, 1}, nil, true},
	} {
		x := FromSlice(tc.x, 2, 2).Realize()
		y := x
		ys := tc.x
		if !tc.same {
			y, ys = FromSlice(tc.y, 2, 2).Realize(), tc.y
		}
		got := f(x, y).Float32s()
		want := make([]float32, 2)
		for r := range 2 {
			for c := range 2 {
				want[r] += tc.x[r*2+c]*ys[r*2+c] + 1
			}
		}
		if !slices.Equal(got, want) {
			t.Errorf("case %d: %v, want %v", i, got, want)
		}
	}
	for _, start := range []float32{0, 10, 20} {
		p := FromSlice([]float32{start, start + 1}).Contiguous().Realize()
		for range 3 {
			p.Assign(p.Mul(2).Add(1)).Realize()
		}
		want := []float32{(start*2+1)*2 + 1, ((start+1)*2+1)*2 + 1}
		want = []float32{want[0]*2 + 1, want[1]*2 + 1}
		if got := p.Float32s(); !slices.Equal(got, want) {
			t.Errorf("start %v: %v after three in-place updates, want %v", start, got, want)
		}
	}
}
