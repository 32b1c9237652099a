// Package device is the runtime layer: the registry of device kinds (GO, CPU,
// CUDA), device instances named with an index ("GO:0"), buffers, compiled
// programs, one in-order queue per device, and the timing and counters of
// every kernel that runs (DEBUG=2 prints a line per kernel).
//
// A backend registers a Runtime here; the renderer that feeds it lives in
// package render. Package device imports only dtype and internal/env.
package device

import (
	"fmt"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Mem is a backend's handle to an allocation ([]byte for host devices).
type Mem any

// Program is a compiled kernel. Run launches it on bufs with the values of
// its symbolic variables and returns when it has finished.
type Program interface {
	Run(bufs []Mem, vars []int64) error
}

// Runtime is what a backend provides for one device instance.
type Runtime interface {
	// Alloc returns nbytes of device memory (contents unspecified).
	Alloc(nbytes int) (Mem, error)
	// CopyIn copies src into m; CopyOut copies m into dst.
	CopyIn(m Mem, src []byte)
	CopyOut(dst []byte, m Mem)
	// Compile turns what the backend's renderer produced into a program.
	Compile(name string, src any) (Program, error)
}

// TimedProgram is implemented by programs that time themselves on the
// device (GPU events): RunTimed runs like Run and returns the kernel's own
// time, which DEBUG=2 and Stats then report instead of the host's.
type TimedProgram interface {
	RunTimed(bufs []Mem, vars []int64) (time.Duration, error)
}

// DeviceCopier is implemented by runtimes that copy between two of their
// own allocations without a round trip through host memory.
type DeviceCopier interface {
	CopyDevice(dst, src Mem, nbytes int) error
}

// HostMemory is implemented by runtimes whose memory the host can read in
// place; Bytes returns the allocation as a byte slice.
type HostMemory interface {
	Bytes(m Mem) []byte
}

// Factory opens instance index of a device kind.
type Factory func(index int) (Runtime, error)

type kind struct {
	name     string
	priority int // higher is preferred as the default
	open     Factory
}

var (
	regMu   sync.Mutex
	kinds   = map[string]kind{}
	devices = map[string]*Device{}
)

// Register makes a device kind available. The default device is the
// available kind with the highest priority, unless DEV names one.
func Register(name string, priority int, open Factory) {
	regMu.Lock()
	defer regMu.Unlock()
	kinds[name] = kind{name, priority, open}
}

// Kinds lists the registered kinds, preferred first. Kinds with a negative
// priority are never chosen by default, only by name.
func Kinds() []string {
	regMu.Lock()
	defer regMu.Unlock()
	var ks []kind
	for _, k := range kinds {
		if k.priority >= 0 {
			ks = append(ks, k)
		}
	}
	sort.Slice(ks, func(i, j int) bool {
		if ks[i].priority != ks[j].priority {
			return ks[i].priority > ks[j].priority
		}
		return ks[i].name < ks[j].name
	})
	out := make([]string, len(ks))
	for i, k := range ks {
		out[i] = k.name
	}
	return out
}

// Canonical returns name with an index ("GO" becomes "GO:0").
func Canonical(name string) string {
	name = strings.ToUpper(strings.TrimSpace(name))
	if !strings.Contains(name, ":") {
		return name + ":0"
	}
	return name
}

// Get returns the device called name ("GO", "GO:1"), opening it on first use.
func Get(name string) (*Device, error) {
	name = Canonical(name)
	regMu.Lock()
	defer regMu.Unlock()
	if d, ok := devices[name]; ok {
		return d, nil
	}
	kindName, idx, _ := strings.Cut(name, ":")
	k, ok := kinds[kindName]
	if !ok {
		var names []string
		for n := range kinds {
			names = append(names, n)
		}
		slices.Sort(names)
		return nil, fmt.Errorf("device: unknown device %q (known: %s)", name, strings.Join(names, ", "))
	}
	i, err := strconv.Atoi(idx)
	if err != nil || i < 0 {
		return nil, fmt.Errorf("device: bad device index in %q", name)
	}
	rt, err := k.open(i)
	if err != nil {
		return nil, fmt.Errorf("device: opening %s: %w", name, err)
	}
	d := newDevice(name, kindName, rt)
	devices[name] = d
	return d, nil
}

// MustGet is Get for device names known to be good; it panics on error.
func MustGet(name string) *Device {
	d, err := Get(name)
	if err != nil {
		panic(err)
	}
	return d
}

var (
	defaultOnce sync.Once
	defaultName string
)

// Default returns the name of the default device: DEV if set, otherwise
// the preferred kind that opens.
func Default() string {
	defaultOnce.Do(func() {
		if dev := os.Getenv("DEV"); dev != "" {
			defaultName = Canonical(dev)
			return
		}
		var skipped []string
		for _, k := range Kinds() {
			if _, err := Get(k); err != nil {
				skipped = append(skipped, err.Error())
				continue
			}
			defaultName = Canonical(k)
			if len(skipped) > 0 {
				fmt.Fprintf(os.Stderr, "gograd: using %s (%s)\n", k, strings.Join(skipped, "; "))
			}
			return
		}
		defaultName = "GO:0"
	})
	return defaultName
}

// SetDefault changes the default device and returns the old one.
func SetDefault(name string) string {
	old := Default()
	defaultName = Canonical(name)
	return old
}

// Device is one device instance with its own in-order queue.
type Device struct {
	Name string // "GO:0"
	Kind string // "GO"
	rt   Runtime

	queue chan func()

	poolMu sync.Mutex
	pool   map[int][]Mem // memory of dead buffers by size, for reuse
	pooled int
}

func newDevice(name, kind string, rt Runtime) *Device {
	d := &Device{Name: name, Kind: kind, rt: rt, queue: make(chan func(), 1024)}
	go d.loop()
	return d
}

func (d *Device) loop() {
	for job := range d.queue {
		job()
	}
}

// Runtime returns the backend runtime of the device.
func (d *Device) Runtime() Runtime { return d.rt }

// Event marks the completion of work submitted to a queue.
type Event struct {
	done chan struct{}
	err  error
}

// Wait blocks until the work is done and returns its error.
func (e *Event) Wait() error {
	if e == nil {
		return nil
	}
	<-e.done
	return e.err
}

// Submit queues fn on the device after the events in deps (from any device)
// have completed, and returns its completion event.
func (d *Device) Submit(deps []*Event, fn func() error) *Event {
	ev := &Event{done: make(chan struct{})}
	d.queue <- func() {
		defer close(ev.done)
		for _, dep := range deps {
			if err := dep.Wait(); err != nil {
				ev.err = err
				return
			}
		}
		ev.err = fn()
	}
	return ev
}

// Compile compiles a rendered kernel for this device.
func (d *Device) Compile(name string, src any) (Program, error) {
	countersFor(d.Name).compiles.Add(1)
	return d.rt.Compile(name, src)
}
