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
// came for spinFor. A job's parts are claimed, not assigned: the caller
// takes parts too, so a worker the system has not scheduled delays nothing
// but the part it is already running.
type pool struct {
	n       int // workers besides the caller
	mu      sync.Mutex
	job     atomic.Pointer[job]
	gen     atomic.Uint64 // bumped for each job
	wake    []chan struct{}
	sleep   []atomic.Bool
	started bool
}

// job is one kernel launch split into parts.
type job struct {
	parts int32
	run   func(part int)
	next  atomic.Int32 // the next part to claim
	done  atomic.Int32 // parts finished
}

// work claims and runs parts until none are left.
func (j *job) work() {
	for {
		p := j.next.Add(1) - 1
		if p >= j.parts {
			return
		}
		j.run(int(p))
		j.done.Add(1)
	}
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

// run calls f(0) .. f(parts-1) on the caller and the workers, and returns
// when all have returned. One run at a time.
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
	j := &job{parts: int32(parts), run: f}
	p.job.Store(j)
	p.gen.Add(1)
	for w := range min(p.n, parts-1) {
		if p.sleep[w].Load() {
			select {
			case p.wake[w] <- struct{}{}:
			default:
			}
		}
	}
	j.work()
	for j.done.Load() < j.parts {
		runtime.Gosched()
	}
}

// worker runs parts of the jobs published after generation seen.
func (p *pool) worker(w int, seen uint64) {
	runtime.LockOSThread()
	idleSince := time.Now()
	for spins := 0; ; spins++ {
		if g := p.gen.Load(); g != seen {
			seen = g
			if j := p.job.Load(); j != nil {
				j.work()
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
