package gograd

import (
	"runtime"
	"slices"
	"testing"
)

// TestCopyTo checks CopyTo on a buffer read as it is, a view that must be
// made contiguous first, and a dtype conversion, and that reading a
// realized buffer allocates no copy of its elements.
func TestCopyTo(t *testing.T) {
	m := FromSlice([]float32{1, 2, 3, 4, 5, 6}, 2, 3).Realize()
	for _, tc := range []struct {
		name string
		t    *Tensor
		want []float32
	}{
		{"contiguous", m, []float32{1, 2, 3, 4, 5, 6}},
		{"transposed", m.T(), []float32{1, 4, 2, 5, 3, 6}},
		{"int32", FromSlice([]int32{7, -8}), []float32{7, -8}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := make([]float32, len(tc.want))
			CopyTo(got, tc.t)
			if !slices.Equal(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
	big := Zeros(1 << 16).Contiguous().Realize() // 256 KiB
	dst := make([]float32, 1<<16)
	CopyTo(dst, big)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	const runs = 20
	for range runs {
		CopyTo(dst, big)
	}
	runtime.ReadMemStats(&after)
	if per := (after.TotalAlloc - before.TotalAlloc) / runs; per > 16<<10 {
		t.Errorf("CopyTo of a realized 256 KiB buffer allocates %d bytes per call", per)
	}
	defer func() {
		if recover() == nil {
			t.Error("CopyTo into 5 elements of a 6-element tensor did not panic")
		}
	}()
	CopyTo(make([]float32, 5), m)
}
