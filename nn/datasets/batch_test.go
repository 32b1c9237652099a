package datasets

import (
	"slices"
	"testing"

	"github.com/gograd/gograd"
)

func TestPermutation(t *testing.T) {
	p := Permutation(100, 7)
	if q := Permutation(100, 7); !slices.Equal(p, q) {
		t.Error("the same seed gave two orders")
	}
	if q := Permutation(100, 8); slices.Equal(p, q) {
		t.Error("seeds 7 and 8 gave the same order")
	}
	sorted := slices.Sorted(slices.Values(p))
	for i, v := range sorted {
		if v != i {
			t.Fatalf("not a permutation of 0..99: %v", p)
		}
	}
	if slices.IsSorted(p) {
		t.Error("not shuffled")
	}
	if len(Permutation(0, 1)) != 0 {
		t.Error("Permutation(0) is not empty")
	}
}

func TestBatches(t *testing.T) {
	order := []int{5, 4, 3, 2, 1, 0, 9}
	got := Batches(order, 3)
	want := [][]int{{5, 4, 3}, {2, 1, 0}, {9}}
	if !slices.EqualFunc(got, want, slices.Equal) {
		t.Errorf("got %v, want %v", got, want)
	}
	if len(Batches(nil, 4)) != 0 {
		t.Error("batches of nothing")
	}
	defer func() {
		if recover() == nil {
			t.Error("batch size 0 did not panic")
		}
	}()
	Batches(order, 0)
}

func TestRowsTake(t *testing.T) {
	x := gograd.ArangeF(0, 24, 1).Reshape(4, 2, 3)
	r := NewRows(x.Mul(10)) // a lazy tensor is realized first
	if r.Len() != 4 {
		t.Fatalf("Len %d", r.Len())
	}
	b := r.Take([]int{3, 0, 3})
	if !slices.Equal(b.Shape(), []int{3, 2, 3}) || b.DType() != gograd.Float32 {
		t.Fatalf("got %v", b)
	}
	want := []float32{180, 190, 200, 210, 220, 230, 0, 10, 20, 30, 40, 50, 180, 190, 200, 210, 220, 230}
	if got := b.Float32s(); !slices.Equal(got, want) {
		t.Errorf("got %v", got)
	}
	// A view (a slice of rows) and an integer tensor.
	y := NewRows(gograd.Arange(10).Slice(gograd.Sl(4, 10, 2)))
	if got := y.Take([]int{2, 1}).Int64s(); !slices.Equal(got, []int64{8, 6}) {
		t.Errorf("view rows: got %v", got)
	}
	if got := y.Take(nil); !slices.Equal(got.Shape(), []int{0}) {
		t.Errorf("no rows: %v", got)
	}
	defer func() {
		if recover() == nil {
			t.Error("row 4 of 4 did not panic")
		}
	}()
	r.Take([]int{4})
}
