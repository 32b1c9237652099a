package codegen_test

import (
	"fmt"
	"testing"
	"time"

	g "github.com/gograd/gograd"
	"github.com/gograd/gograd/codegen"
	"github.com/gograd/gograd/schedule"
	"github.com/gograd/gograd/uop"
)

// matmulAST is the kernel AST of a small product on the GO device.
func matmulAST(t *testing.T) *uop.UOp {
	t.Helper()
	a := g.FromSliceOn("GO", make([]float32, 24*40), 24, 40)
	b := g.FromSliceOn("GO", make([]float32, 40*36), 40, 36)
	for _, it := range schedule.Create([]*uop.UOp{a.Matmul(b).UOp()}).Items {
		if it.Kind == schedule.Kernel && it.AST != nil {
			return it.AST
		}
	}
	t.Fatal("the product scheduled no kernel")
	return nil
}

// TestBeamSearchConfirmsItsWinner: a candidate that was fast once (a lucky
// timing) does not replace the hand-tuned choice, which the search times
// against it again; one that is fast every time does.
func TestBeamSearchConfirmsItsWinner(t *testing.T) {
	ast := matmulAST(t)
	hand := codegen.NewKernel(ast).Hand(codegen.Options{SIMD: 64})
	if len(hand) == 0 {
		t.Fatal("no hand-tuned optimisations for a matmul")
	}
	for _, tc := range []struct {
		name      string
		lucky     bool // the candidate is fast only the first time
		wantHand  bool
		wantTimes int // timings of the candidate, at least
	}{
		{"lucky once", true, true, 2},
		{"fast every time", false, false, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var cand string
			times := 0
			timer := func(opts []codegen.Opt) (time.Duration, error) {
				key := fmt.Sprint(opts)
				switch {
				case key == fmt.Sprint(hand):
					return 100 * time.Microsecond, nil
				case len(opts) == 0:
					return 200 * time.Microsecond, nil
				case cand == "":
					cand = key
				}
				if key != cand {
					return 200 * time.Microsecond, nil
				}
				times++
				if tc.lucky && times > 1 {
					return 150 * time.Microsecond, nil
				}
				return 50 * time.Microsecond, nil
			}
			got, _ := codegen.BeamSearch(ast, 2, 2, []int{16}, hand, timer)
			if isHand := fmt.Sprint(got) == fmt.Sprint(hand); isHand != tc.wantHand {
				t.Errorf("search chose %v (hand-tuned %v, candidate %s)", got, hand, cand)
			}
			if times < tc.wantTimes {
				t.Errorf("the candidate was timed %d times, want at least %d", times, tc.wantTimes)
			}
		})
	}
}
