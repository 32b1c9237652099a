package codegen

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"time"

	"github.com/gograd/gograd/uop"
)

// Actions lists the optimisations that can be applied to k next: upcasts
// and unrolls of each loop by small factors (as a SIMD vector where the
// factor is a vector width and no vector exists yet), and loop swaps.
func (k *Kernel) Actions(vectorWidths []int) []Opt {
	var out []Opt
	for a := range k.NLoop {
		op := Upcast
		if a >= k.NGlobal {
			op = Unroll
		}
		for _, amt := range []int{2, 3, 4, 8} {
			out = append(out, Opt{op, a, amt, false})
		}
		if k.VecDim < 0 {
			for _, w := range vectorWidths {
				out = append(out, Opt{op, a, w, true})
			}
		}
	}
	for a := 1; a < k.NGlobal; a++ {
		out = append(out, Opt{Swap, 0, a, false})
	}
	return out
}

// Timer compiles and times a kernel built with the given optimisations.
type Timer func(opts []Opt) (time.Duration, error)

type beamEntry struct {
	opts []Opt
	t    time.Duration
}

// BeamSearch looks for the fastest sequence of optimisations for ast: it
// keeps the width best sequences, extends each by every applicable action,
// times the candidates and repeats while the best improves (at most depth
// rounds). The hand-tuned choice competes from the start, and a winner
// other than it must beat it again in alternating timings (confirmed).
func BeamSearch(ast *uop.UOp, width, depth int, vectorWidths []int, hand []Opt, timer Timer) ([]Opt, time.Duration) {
	seen := map[string]bool{}
	measure := func(opts []Opt) (beamEntry, bool) {
		key := optsKey(opts)
		if seen[key] {
			return beamEntry{}, false
		}
		seen[key] = true
		t, err := timer(opts)
		if err != nil {
			return beamEntry{}, false
		}
		return beamEntry{slices.Clone(opts), t}, true
	}
	var beam []beamEntry
	var handEntry beamEntry
	haveHand := false
	for _, start := range [][]Opt{{}, hand} {
		if e, ok := measure(start); ok {
			beam = append(beam, e)
			if optsKey(start) == optsKey(hand) {
				handEntry, haveHand = e, true
			}
		}
	}
	if len(beam) == 0 {
		return nil, 0
	}
	best := beam[0]
	for _, e := range beam {
		if e.t < best.t {
			best = e
		}
	}
	for range depth {
		var cands []beamEntry
		for _, e := range beam {
			k := NewKernel(ast)
			ok := true
			for _, o := range e.opts {
				if k.ApplyOpt(o) != nil {
					ok = false
					break
				}
			}
			if !ok {
				continue
			}
			for _, a := range k.Actions(vectorWidths) {
				trial := NewKernel(ast)
				for _, o := range e.opts {
					_ = trial.ApplyOpt(o)
				}
				if trial.ApplyOpt(a) != nil || trial.upcastLanes() > 256 {
					continue
				}
				if c, ok := measure(append(slices.Clone(e.opts), a)); ok {
					cands = append(cands, c)
				}
			}
		}
		if len(cands) == 0 {
			break
		}
		sort.Slice(cands, func(i, j int) bool { return cands[i].t < cands[j].t })
		if cands[0].t >= best.t {
			break
		}
		best = cands[0]
		beam = cands[:min(width, len(cands))]
	}
	if haveHand && optsKey(best.opts) != optsKey(hand) && !confirmed(best.opts, hand, timer) {
		return handEntry.opts, handEntry.t
	}
	return best.opts, best.t
}

// confirmRounds and confirmMargin decide whether a search's winner replaces
// the hand-tuned choice: the fastest of hundreds of noisy timings is partly
// the luckiest (on a busy machine, by tens of percent), so the two are
// timed again, alternately, confirmRounds times each, and the winner must
// be faster on the median by confirmMargin.
const (
	confirmRounds = 5
	confirmMargin = 0.03
)

// confirmed reports whether win beats hand in confirmRounds alternating
// timings (see confirmRounds).
func confirmed(win, hand []Opt, timer Timer) bool {
	var tw, th []time.Duration
	for range confirmRounds {
		a, err := timer(win)
		if err != nil {
			return false
		}
		b, err := timer(hand)
		if err != nil {
			return true
		}
		tw, th = append(tw, a), append(th, b)
	}
	slices.Sort(tw)
	slices.Sort(th)
	return float64(tw[len(tw)/2]) < (1-confirmMargin)*float64(th[len(th)/2])
}

// upcastLanes is how many scalar lanes the upcasts expand each loop body into.
func (k *Kernel) upcastLanes() int {
	n := 1
	for i := k.NLoop; i < len(k.Full); i++ {
		if i != k.VecDim {
			n *= k.Full[i]
		}
	}
	return n
}

// BeamCache keeps the winners of BEAM searches on disk, by kernel and target.
type BeamCache struct{ Dir string }

func (c BeamCache) path(ast *uop.UOp, target string) string {
	h := sha256.Sum256([]byte(target + "\x00" + ast.Tree()))
	return filepath.Join(c.Dir, hex.EncodeToString(h[:16])+".json")
}

// Load returns the cached optimisations for ast on target, if any.
func (c BeamCache) Load(ast *uop.UOp, target string) ([]Opt, bool) {
	b, err := os.ReadFile(c.path(ast, target))
	if err != nil {
		return nil, false
	}
	var opts []Opt
	if json.Unmarshal(b, &opts) != nil {
		return nil, false
	}
	return opts, true
}

// Store records the optimisations for ast on target.
func (c BeamCache) Store(ast *uop.UOp, target string, opts []Opt) error {
	if err := os.MkdirAll(c.Dir, 0o755); err != nil {
		return err
	}
	b, err := json.Marshal(opts)
	if err != nil {
		return err
	}
	p := c.path(ast, target)
	tmp := p + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, p)
}
