package schedule

import (
	"testing"

	"github.com/gograd/gograd/device"
	_ "github.com/gograd/gograd/device/godev"
	"github.com/gograd/gograd/dtype"
	"github.com/gograd/gograd/uop"
)

func buffer(shape ...int) *uop.UOp {
	b := device.NewBuffer(device.MustGet("GO"), dtype.Float32, uop.Prod(shape))
	return uop.Buffer(b).Reshape(shape)
}

func contiguous(u *uop.UOp) *uop.UOp {
	return uop.New(uop.CONTIGUOUS, u.DType, []*uop.UOp{u}, nil)
}

func TestMemoryPlannerReusesDeadBuffers(t *testing.T) {
	x := buffer(64, 64)
	two := uop.Const("GO:0", dtype.Float32, 2).Reshape([]int{1, 1}).Expand([]int{64, 64})
	// Ten kernels in a chain: each intermediate dies when the next has read it.
	u := x
	for range 10 {
		u = contiguous(u.Alu(uop.MUL, two).Permute([]int{1, 0}))
	}
	s := Create([]*uop.UOp{u})
	if len(s.Items) != 10 {
		t.Fatalf("%d items, want 10", len(s.Items))
	}
	distinct := map[*device.Buffer]bool{}
	for _, it := range s.Items {
		distinct[it.Bufs[0]] = true
		if len(it.Bufs) > 1 && it.Bufs[0] == it.Bufs[1] {
			t.Fatalf("a kernel writes the buffer it reads")
		}
	}
	// The output plus two intermediates alternating.
	if len(distinct) > 3 {
		t.Fatalf("10 chained kernels used %d output buffers, want at most 3", len(distinct))
	}
	if s.Items[len(s.Items)-1].Bufs[0] == s.Items[len(s.Items)-2].Bufs[0] {
		t.Fatalf("the requested output shares a buffer with an intermediate")
	}
}

func TestRequestedOutputsNeverShareBuffers(t *testing.T) {
	x := buffer(16)
	one := uop.Const("GO:0", dtype.Float32, 1).Reshape([]int{1}).Expand([]int{16})
	a := x.Alu(uop.ADD, one)
	b := contiguous(a).Alu(uop.MUL, one)
	s := Create([]*uop.UOp{a, b})
	seen := map[*device.Buffer]bool{}
	for _, u := range []*uop.UOp{a, b} {
		buf, _ := ViewOf(s.Views[u])
		if seen[buf] {
			t.Fatalf("two requested outputs share a buffer")
		}
		seen[buf] = true
	}
}

func TestFusionRules(t *testing.T) {
	x := buffer(8, 16)
	sum := x.Reduce(uop.ADD, 1) // (8, 1)
	tests := []struct {
		name    string
		out     *uop.UOp
		kernels int
	}{
		{"reduce then reshape and add fuse", sum.Reshape([]int{8}).Alu(uop.ADD, buffer(8)), 1},
		{"expanded reduce is realized", x.Alu(uop.ADD, sum.Expand([]int{8, 16})), 2},
		{"permuted reduce is realized", sum.Reshape([]int{1, 8}).Permute([]int{1, 0}).Alu(uop.ADD, buffer(8, 1)).Reshape([]int{8}), 2},
		{"reduce of a reduce", sum.Reduce(uop.ADD, 0), 2},
		{"pad over exp2 realizes the exp2", x.Alu(uop.EXP2).Pad([][2]int{{1, 1}, {0, 0}}), 2},
		{"pad over add fuses", x.Alu(uop.ADD, x).Pad([][2]int{{1, 1}, {0, 0}}), 1},
	}
	for _, tc := range tests {
		s := Create([]*uop.UOp{tc.out})
		if len(s.Items) != tc.kernels {
			t.Errorf("%s: %d kernels, want %d", tc.name, len(s.Items), tc.kernels)
		}
	}
}

// TestScheduleCache: a graph of the same structure over other buffers
// reuses the schedule with its buffers swapped in and fresh intermediates;
// another constant, or the same buffer read twice where there were two,
// is another structure.
func TestScheduleCache(t *testing.T) {
	chain := func(x, y *uop.UOp, k float64) *uop.UOp { // three kernels
		c := uop.Const("GO:0", dtype.Float32, k).Reshape([]int{1, 1}).Expand([]int{8, 8})
		u := x.Alu(uop.ADD, y)
		for range 3 {
			u = contiguous(u.Alu(uop.MUL, c).Permute([]int{1, 0}))
		}
		return u
	}
	a, b, c, d := buffer(8, 8), buffer(8, 8), buffer(8, 8), buffer(8, 8)
	first := Create([]*uop.UOp{chain(a, b, 3)})
	second := Create([]*uop.UOp{chain(c, d, 3)})
	if first.Cached || !second.Cached {
		t.Fatalf("cached: first %v, second %v; want false, true", first.Cached, second.Cached)
	}
	if len(second.Items) != len(first.Items) {
		t.Fatalf("%d items from the cache, %d made", len(second.Items), len(first.Items))
	}
	bufOf := func(u *uop.UOp) *device.Buffer { b, _ := ViewOf(u); return b }
	in := second.Items[0].Bufs[1:]
	if len(in) != 2 || in[0] != bufOf(c) || in[1] != bufOf(d) {
		t.Errorf("the cached schedule's first kernel reads %v, want the buffers of c and d", in)
	}
	for i, it := range second.Items {
		if it.AST != first.Items[i].AST {
			t.Errorf("item %d: another kernel", i)
		}
		if it.Bufs[0] == first.Items[i].Bufs[0] {
			t.Errorf("item %d writes the first schedule's buffer", i)
		}
	}
	for _, s := range [][]*uop.UOp{{chain(c, d, 4)}, {chain(c, c, 3)}} {
		if Create(s).Cached {
			t.Errorf("%v: taken from the cache", s[0])
		}
	}
}
