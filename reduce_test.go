package gograd_test

import (
	"slices"
	"strings"
	"testing"

	g "github.com/gograd/gograd"
)

// TestSumDType checks Sum's and Prod's dtype option (PyTorch's dtype=):
// the input is cast to it and reduced in it, so int32 sums stay int32 and
// wrap as int32 arithmetic does, where the default sums integers in int64.
func TestSumDType(t *testing.T) {
	x := g.FromSlice([]int32{1 << 30, 1 << 30, 5, -2}).Reshape(2, 2)
	if s := x.Sum(1); s.DType() != g.Int64 || !slices.Equal(s.Int64s(), []int64{1<<30 + 1<<30, 3}) {
		t.Errorf("Sum(1) = %v %v, want int64 [2147483648 3]", s.DType(), s.Int64s())
	}
	s := x.Sum(1, g.Int32)
	if s.DType() != g.Int32 || !slices.Equal(s.Int32s(), []int32{-1 << 31, 3}) {
		t.Errorf("Sum(1, Int32) = %v %v, want int32 [-2147483648 3]", s.DType(), s.Int32s())
	}
	if p := x.Prod(0, g.Float64); p.DType() != g.Float64 || !slices.Equal(p.Float64s(), []float64{5 << 30, -2 << 30}) {
		t.Errorf("Prod(0, Float64) = %v %v", p.DType(), p.Float64s())
	}
	defer func() {
		if r := recover(); r == nil || !strings.Contains(r.(string), "for Sum and Prod") {
			t.Errorf("Max with a dtype: %v, want a panic", r)
		}
	}()
	x.Max(0, g.Int32)
}

// TestVarMean checks VarMean against exact values (PyTorch's var_mean),
// with and without kept axes, and that a row's values less its mean sum to
// exactly zero when the mean is exact (a large offset, as LayerNorm sees).
func TestVarMean(t *testing.T) {
	x := g.FromSlice([]float32{1000, 1001, 1002, 1003, 1004, 1005, 1, 2, 3, 4, 5, 9}).Reshape(2, 6)
	tests := []struct {
		opts      []any
		shape     []int
		vars, mus []float32
	}{
		{[]any{1}, []int{2}, []float32{3.5, 8}, []float32{1002.5, 4}},
		{[]any{1, g.KeepDim, g.Correction(0)}, []int{2, 1}, []float32{17.5 / 6, 40.0 / 6}, []float32{1002.5, 4}},
	}
	for _, tc := range tests {
		v, m := x.VarMean(tc.opts...)
		if !slices.Equal(v.Shape(), tc.shape) || !slices.Equal(m.Shape(), tc.shape) {
			t.Errorf("VarMean(%v): shapes %v %v, want %v", tc.opts, v.Shape(), m.Shape(), tc.shape)
			continue
		}
		if got := m.Float32s(); !slices.Equal(got, tc.mus) {
			t.Errorf("VarMean(%v): mean %v, want %v", tc.opts, got, tc.mus)
		}
		for i, got := range v.Float32s() {
			if d := got - tc.vars[i]; d > 1e-5 || d < -1e-5 {
				t.Errorf("VarMean(%v): variance %v, want %v", tc.opts, v.Float32s(), tc.vars)
				break
			}
		}
	}
	_, m := x.VarMean(1, g.KeepDim)
	if s := x.Sub(m).Sum(1).Float32s(); !slices.Equal(s, []float32{0, 0}) {
		t.Errorf("rows less their VarMean mean sum to %v, want [0 0]", s)
	}
}
