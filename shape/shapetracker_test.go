package shape

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/gograd/gograd/uop"
)

// ref is a naive strided array of buffer indices (-1 where padding reads zero).
type ref struct {
	shape []int
	data  []int
}

func newRef(shape []int) ref {
	n := uop.Prod(shape)
	d := make([]int, n)
	for i := range d {
		d[i] = i
	}
	return ref{slices.Clone(shape), d}
}

func (r ref) at(idx []int) int {
	lin := 0
	for i, x := range idx {
		lin = lin*r.shape[i] + x
	}
	return r.data[lin]
}

func forEach(shape []int, fn func(idx []int)) {
	if uop.Prod(shape) == 0 {
		return
	}
	idx := make([]int, len(shape))
	for {
		fn(idx)
		k := len(shape) - 1
		for ; k >= 0; k-- {
			idx[k]++
			if idx[k] < shape[k] {
				break
			}
			idx[k] = 0
		}
		if k < 0 {
			return
		}
	}
}

func (r ref) build(shape []int, src func(idx []int) int) ref {
	out := ref{slices.Clone(shape), make([]int, 0, uop.Prod(shape))}
	forEach(shape, func(idx []int) { out.data = append(out.data, src(idx)) })
	return out
}

func (r ref) apply(op uop.Op, arg any) ref {
	switch op {
	case uop.RESHAPE:
		return ref{slices.Clone(arg.([]int)), r.data}
	case uop.PERMUTE:
		order := arg.([]int)
		shape := make([]int, len(order))
		for i, o := range order {
			shape[i] = r.shape[o]
		}
		return r.build(shape, func(idx []int) int {
			src := make([]int, len(idx))
			for i, o := range order {
				src[o] = idx[i]
			}
			return r.at(src)
		})
	case uop.EXPAND:
		return r.build(arg.([]int), func(idx []int) int {
			src := make([]int, len(idx))
			for i := range idx {
				if r.shape[i] != 1 {
					src[i] = idx[i]
				}
			}
			return r.at(src)
		})
	case uop.PAD:
		pads := arg.([][2]int)
		shape := slices.Clone(r.shape)
		for i, p := range pads {
			shape[i] += p[0] + p[1]
		}
		return r.build(shape, func(idx []int) int {
			src := make([]int, len(idx))
			for i, p := range pads {
				src[i] = idx[i] - p[0]
				if src[i] < 0 || src[i] >= r.shape[i] {
					return -1
				}
			}
			return r.at(src)
		})
	case uop.SHRINK:
		b := arg.([][2]int)
		shape := make([]int, len(b))
		for i, x := range b {
			shape[i] = x[1] - x[0]
		}
		return r.build(shape, func(idx []int) int {
			src := make([]int, len(idx))
			for i, x := range b {
				src[i] = idx[i] + x[0]
			}
			return r.at(src)
		})
	case uop.FLIP:
		f := arg.([]bool)
		return r.build(r.shape, func(idx []int) int {
			src := make([]int, len(idx))
			for i := range idx {
				src[i] = idx[i]
				if f[i] {
					src[i] = r.shape[i] - 1 - idx[i]
				}
			}
			return r.at(src)
		})
	}
	panic("bad op")
}

// randomMove picks a random valid movement op for shape.
func randomMove(rng *rand.Rand, shape []int) (uop.Op, any) {
	n := len(shape)
	for {
		switch rng.IntN(7) {
		case 0, 6: // reshape: split or merge axes
			if n > 0 && rng.IntN(2) == 0 {
				// merge two adjacent axes
				if n < 2 {
					continue
				}
				i := rng.IntN(n - 1)
				ns := append(slices.Clone(shape[:i]), shape[i]*shape[i+1])
				ns = append(ns, shape[i+2:]...)
				return uop.RESHAPE, ns
			}
			// split an axis or insert a 1
			if n == 0 || rng.IntN(3) == 0 {
				i := rng.IntN(n + 1)
				ns := slices.Insert(slices.Clone(shape), i, 1)
				return uop.RESHAPE, ns
			}
			i := rng.IntN(n)
			for _, f := range []int{2, 3, 5} {
				if shape[i]%f == 0 && shape[i] > f {
					ns := slices.Clone(shape)
					ns[i] = shape[i] / f
					ns = slices.Insert(ns, i+1, f)
					return uop.RESHAPE, ns
				}
			}
		case 1:
			if n < 2 {
				continue
			}
			return uop.PERMUTE, rng.Perm(n)
		case 2:
			var ones []int
			for i, s := range shape {
				if s == 1 {
					ones = append(ones, i)
				}
			}
			if len(ones) == 0 {
				continue
			}
			ns := slices.Clone(shape)
			ns[ones[rng.IntN(len(ones))]] = 1 + rng.IntN(4)
			return uop.EXPAND, ns
		case 3:
			if n == 0 {
				continue
			}
			p := make([][2]int, n)
			p[rng.IntN(n)] = [2]int{rng.IntN(3), rng.IntN(3)}
			return uop.PAD, p
		case 4:
			if n == 0 {
				continue
			}
			b := make([][2]int, n)
			for i, s := range shape {
				b[i] = [2]int{0, s}
			}
			i := rng.IntN(n)
			if shape[i] < 2 {
				continue
			}
			lo := rng.IntN(shape[i] - 1)
			b[i] = [2]int{lo, lo + 1 + rng.IntN(shape[i]-lo-1)}
			return uop.SHRINK, b
		case 5:
			if n == 0 {
				continue
			}
			f := make([]bool, n)
			f[rng.IntN(n)] = true
			return uop.FLIP, f
		}
	}
}

func checkTracker(t *testing.T, st ShapeTracker, r ref, history []string) {
	t.Helper()
	ranges := make([]*uop.UOp, len(r.shape))
	for i, s := range r.shape {
		ranges[i] = uop.Range(i, s, false)
	}
	idx, valid := st.Index(ranges)
	env := map[*uop.UOp]int64{}
	forEach(r.shape, func(ix []int) {
		for i, x := range ix {
			env[ranges[i]] = int64(x)
		}
		want := r.at(ix)
		ok := uop.EvalIndex(valid, env) != 0
		got := -1
		if ok {
			got = int(uop.EvalIndex(idx, env))
		}
		if got != want {
			t.Fatalf("at %v: got %d want %d\nops: %v\ntracker: %v\nidx: %s\nvalid: %s", ix, got, want, history, st, idx.Tree(), valid.Tree())
		}
	})
}

func TestRandomMovementChains(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	shapes := [][]int{{6}, {2, 3}, {4, 1, 3}, {2, 3, 4}, {5, 2}, {1}, {3, 1, 1, 2}}
	for trial := 0; trial < 300; trial++ {
		shape := shapes[rng.IntN(len(shapes))]
		st, r := New(shape), newRef(shape)
		var history []string
		for step := 0; step < 8; step++ {
			if uop.Prod(r.shape) > 4000 {
				break
			}
			op, arg := randomMove(rng, r.shape)
			history = append(history, op.String())
			st, r = st.Apply(op, arg), r.apply(op, arg)
			if !slices.Equal(st.Shape(), r.shape) {
				t.Fatalf("shape %v want %v after %v", st.Shape(), r.shape, history)
			}
		}
		checkTracker(t, st, r, history)
	}
}

func TestReshapeKeepsOneView(t *testing.T) {
	st := New([]int{4, 6}).Permute([]int{1, 0}).Reshape([]int{2, 3, 4})
	if len(st.Views) != 1 {
		t.Errorf("splitting a permuted axis should stay one view, got %v", st)
	}
	st = New([]int{4, 6}).Permute([]int{1, 0}).Reshape([]int{24})
	if len(st.Views) != 2 {
		t.Errorf("flattening a transpose needs two views, got %v", st)
	}
	st = New([]int{4, 6}).Pad([][2]int{{1, 1}, {0, 0}}).Reshape([]int{36})
	if len(st.Views) != 1 {
		t.Errorf("merging under an outer-axis pad should stay one view, got %v", st)
	}
}

// TestShrinkVar: a window at a variable offset reads element (p+i, j) for
// every value p of the variable, through later movement ops too.
func TestShrinkVar(t *testing.T) {
	p := uop.Var("p", 0, 3)
	st := New([]int{6, 4}).ShrinkVar([][2]int{{0, 3}, {1, 3}}, 0, p).Permute([]int{1, 0}).Reshape([]int{6})
	if st.Contiguous() {
		t.Fatalf("tracker %v with a variable offset is contiguous", st)
	}
	i := uop.Range(0, 6, false)
	idx, _ := st.Index([]*uop.UOp{i})
	for pv := range int64(4) {
		for iv := range int64(6) {
			got := uop.EvalIndex(idx, map[*uop.UOp]int64{p: pv, i: iv})
			col, row := iv/3, iv%3
			if want := (pv+row)*4 + 1 + col; got != want {
				t.Errorf("p=%d i=%d: index %d, want %d", pv, iv, got, want)
			}
		}
	}
	if a, b := st.Key(), New([]int{6, 4}).Shrink([][2]int{{0, 3}, {1, 3}}).Permute([]int{1, 0}).Reshape([]int{6}).Key(); a == b {
		t.Errorf("the key %q ignores the variable offset", a)
	}
}
