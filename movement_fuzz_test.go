package gograd_test

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	g "github.com/gograd/gograd"
)

// nd is a naive row-major array: the reference the movement ops are checked against.
type nd struct {
	shape []int
	data  []float32
}

func ndProd(s []int) int {
	p := 1
	for _, v := range s {
		p *= v
	}
	return p
}

func (a nd) at(idx []int) float32 {
	lin := 0
	for i, x := range idx {
		lin = lin*a.shape[i] + x
	}
	return a.data[lin]
}

// build makes an array of shape whose element at idx is f(idx).
func build(shape []int, f func(idx []int) float32) nd {
	out := nd{slices.Clone(shape), make([]float32, 0, ndProd(shape))}
	if ndProd(shape) == 0 {
		return out
	}
	idx := make([]int, len(shape))
	for {
		out.data = append(out.data, f(idx))
		k := len(shape) - 1
		for ; k >= 0; k-- {
			idx[k]++
			if idx[k] < shape[k] {
				break
			}
			idx[k] = 0
		}
		if k < 0 {
			return out
		}
	}
}

// move is one movement op, applied to both a tensor and the reference.
type move struct {
	name string
	t    func(*g.Tensor) *g.Tensor
	ref  func(nd) nd
}

func randomMove(rng *rand.Rand, shape []int) move {
	n := len(shape)
	for {
		switch rng.IntN(9) {
		case 0: // reshape: merge two axes, split one, or add a 1
			switch {
			case n >= 2 && rng.IntN(3) == 0:
				i := rng.IntN(n - 1)
				ns := append(slices.Clone(shape[:i]), shape[i]*shape[i+1])
				ns = append(ns, shape[i+2:]...)
				return reshapeMove(ns)
			case n > 0 && rng.IntN(2) == 0:
				i := rng.IntN(n)
				for _, f := range []int{2, 3} {
					if shape[i]%f == 0 && shape[i] > f {
						ns := slices.Clone(shape)
						ns[i] = shape[i] / f
						return reshapeMove(slices.Insert(ns, i+1, f))
					}
				}
			default:
				return reshapeMove(slices.Insert(slices.Clone(shape), rng.IntN(n+1), 1))
			}
		case 1:
			if n < 2 {
				continue
			}
			order := rng.Perm(n)
			return move{fmt.Sprintf("Permute%v", order), func(t *g.Tensor) *g.Tensor { return t.Permute(order...) }, func(a nd) nd {
				ns := make([]int, n)
				for i, o := range order {
					ns[i] = a.shape[o]
				}
				return build(ns, func(idx []int) float32 {
					src := make([]int, n)
					for i, o := range order {
						src[o] = idx[i]
					}
					return a.at(src)
				})
			}}
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
			ns[ones[rng.IntN(len(ones))]] = 2 + rng.IntN(3)
			return move{fmt.Sprintf("Expand%v", ns), func(t *g.Tensor) *g.Tensor { return t.Expand(ns...) }, func(a nd) nd {
				return build(ns, func(idx []int) float32 {
					src := slices.Clone(idx)
					for i := range src {
						if a.shape[i] == 1 {
							src[i] = 0
						}
					}
					return a.at(src)
				})
			}}
		case 3:
			if n == 0 {
				continue
			}
			p := make([][2]int, n)
			p[rng.IntN(n)] = [2]int{rng.IntN(3), rng.IntN(3)}
			return move{fmt.Sprintf("Pad%v", p), func(t *g.Tensor) *g.Tensor { return t.Pad(p) }, func(a nd) nd {
				ns := slices.Clone(a.shape)
				for i, q := range p {
					ns[i] += q[0] + q[1]
				}
				return build(ns, func(idx []int) float32 {
					src := make([]int, n)
					for i, q := range p {
						src[i] = idx[i] - q[0]
						if src[i] < 0 || src[i] >= a.shape[i] {
							return 0
						}
					}
					return a.at(src)
				})
			}}
		case 4:
			if n == 0 {
				continue
			}
			i := rng.IntN(n)
			if shape[i] < 2 {
				continue
			}
			b := make([][2]int, n)
			for k, s := range shape {
				b[k] = [2]int{0, s}
			}
			lo := rng.IntN(shape[i] - 1)
			b[i] = [2]int{lo, lo + 1 + rng.IntN(shape[i]-lo-1)}
			return move{fmt.Sprintf("Shrink%v", b), func(t *g.Tensor) *g.Tensor { return t.Shrink(b) }, func(a nd) nd {
				ns := make([]int, n)
				for k, x := range b {
					ns[k] = x[1] - x[0]
				}
				return build(ns, func(idx []int) float32 {
					src := make([]int, n)
					for k, x := range b {
						src[k] = idx[k] + x[0]
					}
					return a.at(src)
				})
			}}
		case 5:
			if n == 0 {
				continue
			}
			ax := rng.IntN(n)
			return move{fmt.Sprintf("Flip(%d)", ax), func(t *g.Tensor) *g.Tensor { return t.Flip(ax) }, func(a nd) nd {
				return build(a.shape, func(idx []int) float32 {
					src := slices.Clone(idx)
					src[ax] = a.shape[ax] - 1 - idx[ax]
					return a.at(src)
				})
			}}
		case 6: // a stepped slice on one axis
			if n == 0 {
				continue
			}
			ax := rng.IntN(n)
			step := []int{2, 3, -1, -2}[rng.IntN(4)]
			specs := make([]g.SliceSpec, ax+1)
			for k := range specs {
				specs[k] = g.All
			}
			specs[ax] = g.Sl(g.End, g.End, step)
			return move{fmt.Sprintf("Slice(axis %d step %d)", ax, step), func(t *g.Tensor) *g.Tensor { return t.Slice(specs...) }, func(a nd) nd {
				var keep []int
				if step > 0 {
					for i := 0; i < a.shape[ax]; i += step {
						keep = append(keep, i)
					}
				} else {
					for i := a.shape[ax] - 1; i >= 0; i += step {
						keep = append(keep, i)
					}
				}
				ns := slices.Clone(a.shape)
				ns[ax] = len(keep)
				return build(ns, func(idx []int) float32 {
					src := slices.Clone(idx)
					src[ax] = keep[idx[ax]]
					return a.at(src)
				})
			}}
		case 7: // repeat along every axis
			if n == 0 || ndProd(shape) > 200 {
				continue
			}
			reps := make([]int, n)
			for i := range reps {
				reps[i] = 1 + rng.IntN(2)
			}
			return move{fmt.Sprintf("Repeat%v", reps), func(t *g.Tensor) *g.Tensor { return t.Repeat(reps...) }, func(a nd) nd {
				ns := make([]int, n)
				for i := range ns {
					ns[i] = a.shape[i] * reps[i]
				}
				return build(ns, func(idx []int) float32 {
					src := slices.Clone(idx)
					for i := range src {
						src[i] %= a.shape[i]
					}
					return a.at(src)
				})
			}}
		case 8: // realize in the middle of the chain
			return move{"Contiguous", func(t *g.Tensor) *g.Tensor { return t.Contiguous() }, func(a nd) nd { return a }}
		}
	}
}

func reshapeMove(ns []int) move {
	return move{fmt.Sprintf("Reshape%v", ns), func(t *g.Tensor) *g.Tensor { return t.Reshape(ns...) }, func(a nd) nd {
		return nd{slices.Clone(ns), a.data}
	}}
}

// checkMovementChain applies a random chain of movement ops to a tensor and
// to the naive reference, reads the tensor both as a view and through a
// kernel (x+1), and compares.
func checkMovementChain(t *testing.T, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 7))
	rank := rng.IntN(4) + 1
	shape := make([]int, rank)
	for i := range shape {
		shape[i] = 1 + rng.IntN(4)
	}
	ref := build(shape, func(idx []int) float32 {
		lin := 0
		for i, x := range idx {
			lin = lin*shape[i] + x
		}
		return float32(lin + 1)
	})
	x := g.FromSlice(slices.Clone(ref.data), shape...)
	var names []string
	steps := 1 + rng.IntN(7)
	for range steps {
		if ndProd(ref.shape) > 3000 {
			break
		}
		m := randomMove(rng, ref.shape)
		names = append(names, m.name)
		x, ref = m.t(x), m.ref(ref)
	}
	if !slices.Equal(x.Shape(), ref.shape) {
		t.Fatalf("seed %d: %v: shape %v, want %v", seed, names, x.Shape(), ref.shape)
	}
	got := x.Float32s()
	plus := x.Add(1).Float32s()
	for i, w := range ref.data {
		if got[i] != w || plus[i] != w+1 {
			t.Fatalf("seed %d: start %v, ops %v: element %d is %v (and %v after +1), want %v\ngot  %v\nwant %v",
				seed, shape, names, i, got[i], plus[i], w, got, ref.data)
		}
	}
}

func TestRandomMovementChains(t *testing.T) {
	for seed := range uint64(400) {
		checkMovementChain(t, seed)
	}
}

// FuzzMovementChains explores more chains: go test -fuzz FuzzMovementChains.
func FuzzMovementChains(f *testing.F) {
	for seed := range uint64(8) {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, seed uint64) { checkMovementChain(t, seed) })
}
