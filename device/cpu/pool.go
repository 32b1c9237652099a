//go:build unix

package cpu

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// pool runs a kernel's outer loop on several OS threads. Kernels come one
// after another, each a few microseconds long when a model decodes a token,
// so the workers spin on the job counter for a while after each job (a few
// hundred nanoseconds to start the next one) and sleep only when no work
// came for spinFor.
type pool struct {
	n       int // workers besides the caller
	mu      sync.Mutex
	job     atomic.Pointer[job]
	gen     atomic.Uint64 // bumped for each job
	wake    []chan struct{}
	sleep   []atomic.Bool
	started bool
}

// job is one kernel launch split into parts: the caller runs part 0, worker
// w part w+1.
type job struct {
	parts   int
	run     func(part int)
	pending atomic.Int32
}

// spinFor is how long an idle worker keeps polling before it sleeps.
const spinFor = 200 * time.Microsecond

func newPool(workers int) *pool {
	p := &pool{n: workers, wake: make([]chan struct{}, workers), sleep: make([]atomic.Bool, workers)}
	for i := range p.wake {
		p.wake[i] = make(chan struct{}, 1)
	}
	return p
}

// run calls f(0) .. f(parts-1), parts at most 1+p.n, in parallel, and
// returns when all have returned. One run at a time.
func (p *pool) run(parts int, f func(part int)) {
	if parts <= 1 {
		f(0)
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.started {
		p.started = true
		for w := range p.n {
			go p.worker(w, p.gen.Load())
		}
	}
	j := &job{parts: parts, run: f}
	j.pending.Store(int32(parts - 1))
	p.job.Store(j)
	p.gen.Add(1)
	for w := range parts - 1 {
		if p.sleep[w].Load() {
			select {
			case p.wake[w] <- struct{}{}:
			default:
			}
		}
	}
	f(0)
	for j.pending.Load() > 0 {
		runtime.Gosched()
	}
}

// worker runs parts w+1 of the jobs published after generation seen.
func (p *pool) worker(w int, seen uint64) {
	runtime.LockOSThread()
	idleSince := time.Now()
	for spins := 0; ; spins++ {
		g := p.gen.Load()
		if g != seen {
			seen = g
			if j := p.job.Load(); j != nil && w+1 < j.parts {
				j.run(w + 1)
				j.pending.Add(-1)
			}
			idleSince, spins = time.Now(), 0
			continue
		}
		if spins&1023 == 1023 && time.Since(idleSince) > spinFor {
			p.sleep[w].Store(true)
			if p.gen.Load() == seen { // no job came in between
				<-p.wake[w]
			}
			p.sleep[w].Store(false)
			idleSince, spins = time.Now(), 0
		}
	}
}
