package device

import (
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gograd/gograd/internal/env"
)

// KernelInfo describes a kernel for timing and DEBUG output.
type KernelInfo struct {
	Name   string // shape-derived, like r_64_16_4
	Global []int  // global (parallel) sizes
	Local  []int  // local (workgroup) sizes, if any
	FLOPs  int64  // floating-point (and integer ALU) ops it performs
	Bytes  int64  // bytes it reads and writes
}

// Stats are the counters of one device (or of all, summed).
type Stats struct {
	Kernels  int64         // kernels run
	Compiles int64         // kernels compiled (a cache hit compiles nothing)
	Copies   int64         // buffer copies run
	FLOPs    int64         // ALU ops performed
	Bytes    int64         // bytes moved by kernels and copies
	Time     time.Duration // time spent in kernels and copies
}

type counters struct {
	kernels, compiles, copies, flops, bytes, ns atomic.Int64
}

// DebugOutput is where DEBUG lines go (standard error unless a test or tool
// redirects them).
var DebugOutput io.Writer = os.Stderr

var (
	statsMu     sync.Mutex
	stats       = map[string]*counters{}
	kernelCount atomic.Int64 // numbers the DEBUG lines
	printMu     sync.Mutex
)

func countersFor(dev string) *counters {
	statsMu.Lock()
	defer statsMu.Unlock()
	c, ok := stats[dev]
	if !ok {
		c = &counters{}
		stats[dev] = c
	}
	return c
}

// GetStats returns the counters of device dev ("" for all devices summed).
func GetStats(dev string) Stats {
	statsMu.Lock()
	defer statsMu.Unlock()
	var s Stats
	for name, c := range stats {
		if dev != "" && name != Canonical(dev) {
			continue
		}
		s.Kernels += c.kernels.Load()
		s.Compiles += c.compiles.Load()
		s.Copies += c.copies.Load()
		s.FLOPs += c.flops.Load()
		s.Bytes += c.bytes.Load()
		s.Time += time.Duration(c.ns.Load())
	}
	return s
}

// ResetStats zeroes every counter.
func ResetStats() {
	statsMu.Lock()
	defer statsMu.Unlock()
	stats = map[string]*counters{}
	kernelCount.Store(0)
}

// Exec queues program p on d with the given buffers and variable values,
// after deps; it times the run, counts it and prints the DEBUG=2 line.
func (d *Device) Exec(p Program, info *KernelInfo, bufs []*Buffer, vars []int64, deps []*Event) *Event {
	return d.Submit(deps, func() error { return d.RunNow(p, info, bufs, vars, nil) })
}

// RunNow runs program p on d at once, on the calling goroutine (the JIT's
// replay: nothing else must be queued on d), timing and counting it like
// Exec. mems, when given, are the buffers' memory already looked up.
func (d *Device) RunNow(p Program, info *KernelInfo, bufs []*Buffer, vars []int64, mems []Mem) error {
	if mems == nil {
		mems = make([]Mem, len(bufs))
		for i, b := range bufs {
			m, err := b.Mem()
			if err != nil {
				return err
			}
			mems[i] = m
		}
	}
	var el time.Duration
	if tp, ok := p.(TimedProgram); ok {
		t, err := tp.RunTimed(mems, vars)
		if err != nil {
			return fmt.Errorf("%s on %s: %w", info.Name, d.Name, err)
		}
		el = t
	} else {
		start := time.Now()
		if err := p.Run(mems, vars); err != nil {
			return fmt.Errorf("%s on %s: %w", info.Name, d.Name, err)
		}
		el = time.Since(start)
	}
	c := countersFor(d.Name)
	c.kernels.Add(1)
	c.flops.Add(info.FLOPs)
	c.bytes.Add(info.Bytes)
	total := c.ns.Add(int64(el))
	n := kernelCount.Add(1)
	if env.Debug() >= 2 {
		printKernelLine(d.Name, n, info, el, time.Duration(total))
	}
	return nil
}

// CopyBuffer queues a copy of src (on any device) into dst (on d).
func (d *Device) CopyBuffer(dst, src *Buffer, deps []*Event) *Event {
	return d.Submit(deps, func() error {
		start := time.Now()
		dc, sameRuntime := d.rt.(DeviceCopier)
		sameRuntime = sameRuntime && src.Dev == dst.Dev && dst.Dev == d
		if sameRuntime {
			sm, err := src.Mem()
			if err != nil {
				return err
			}
			dm, err := dst.Mem()
			if err != nil {
				return err
			}
			if err := dc.CopyDevice(dm, sm, src.Nbytes()); err != nil {
				return err
			}
		} else if hb := src.HostBytes(); hb != nil {
			dst.CopyIn(hb)
		} else if hb := dst.HostBytes(); hb != nil {
			src.CopyOut(hb)
		} else {
			tmp := make([]byte, src.Nbytes())
			src.CopyOut(tmp)
			dst.CopyIn(tmp)
		}
		el := time.Since(start)
		c := countersFor(d.Name)
		c.copies.Add(1)
		c.bytes.Add(int64(src.Nbytes()))
		total := c.ns.Add(int64(el))
		n := kernelCount.Add(1)
		if env.Debug() >= 2 {
			info := &KernelInfo{Name: fmt.Sprintf("copy %8d, %s <- %s", src.Nbytes(), dst.Dev.Name, src.Dev.Name), Bytes: int64(src.Nbytes())}
			printKernelLine(d.Name, n, info, el, time.Duration(total))
		}
		return nil
	})
}

func printKernelLine(dev string, n int64, info *KernelInfo, el, total time.Duration) {
	sec := el.Seconds()
	if sec <= 0 {
		sec = 1e-9
	}
	gflops := float64(info.FLOPs) / sec / 1e9
	gbs := float64(info.Bytes) / sec / 1e9
	sizes := fmt.Sprint(info.Global)
	if len(info.Local) > 0 {
		sizes += fmt.Sprint(info.Local)
	}
	printMu.Lock()
	defer printMu.Unlock()
	fmt.Fprintf(DebugOutput, "*** %-7s %5d %-28s %-18s tm %9.2fus/%10.2fms (%9.2f GFLOPS %8.2f GB/s)\n",
		dev, n, info.Name, sizes, float64(el.Nanoseconds())/1e3, float64(total.Nanoseconds())/1e6, gflops, gbs)
}
