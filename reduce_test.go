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
