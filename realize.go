package gograd

import (
	"fmt"
	"math"
	"path/filepath"
	"sync"
	"time"

	"github.com/gograd/gograd/codegen"
	"github.com/gograd/gograd/device"
	"github.com/gograd/gograd/device/cpu"
	_ "github.com/gograd/gograd/device/cuda" // registers CUDA where the driver loads
	"github.com/gograd/gograd/internal/env"
	"github.com/gograd/gograd/render"
	"github.com/gograd/gograd/schedule"
	"github.com/gograd/gograd/uop"
)

// backend pairs a device kind with its code generation: the optimiser's
// options and the renderer.
type backend struct {
	opts   codegen.Options
	render func(name string, uops []*uop.UOp) (any, error)
}

var backends = map[string]backend{
	"GO": {opts: codegen.Options{Vector: true}, render: func(name string, uops []*uop.UOp) (any, error) {
		return render.Go(name, uops)
	}},
	"CPU": {opts: codegen.Options{SIMD: cpu.VectorBytes()}, render: func(name string, uops []*uop.UOp) (any, error) {
		return render.C(name, uops)
	}},
	"CUDA": {opts: codegen.Options{SIMD: 16, GPU: true}, render: func(name string, uops []*uop.UOp) (any, error) {
		return render.CUDA(name, uops)
	}},
}

func init() {
	// The C renderer runs kernels whose reductions come in phases, each
	// with its own loops over a row (a softmax in one kernel); the GO and
	// CUDA renderers do not yet.
	schedule.AllowRowKernels("CPU")
}

// RegisterBackend connects a device kind to its optimiser options and renderer.
func RegisterBackend(kind string, opts codegen.Options, r func(name string, uops []*uop.UOp) (any, error)) {
	backends[kind] = backend{opts, r}
}

type compiled struct {
	prog device.Program
	info device.KernelInfo
	vars []string // the symbolic variables the kernel takes, in launch order
}

var (
	cacheMu sync.Mutex
	cache   = map[cacheKey]*compiled{}
)

type cacheKey struct {
	dev string
	ast *uop.UOp
}

// compile returns the program for ast on dev, compiling it on first use.
func compile(dev *device.Device, ast *uop.UOp, bufs []*device.Buffer) (*compiled, error) {
	key := cacheKey{dev.Name, ast}
	cacheMu.Lock()
	c, ok := cache[key]
	cacheMu.Unlock()
	if ok {
		return c, nil
	}
	be, ok := backends[dev.Kind]
	if !ok {
		return nil, fmt.Errorf("gograd: no code generator for device kind %s", dev.Kind)
	}
	opts := be.opts
	if env.Beam() > 0 && be.opts.SIMD > 0 {
		opts.Opts = beamOpts(dev, be, ast, bufs)
	}
	c, err := build(dev, be, ast, opts, env.Debug())
	if err != nil {
		return nil, err
	}
	cacheMu.Lock()
	cache[key] = c
	cacheMu.Unlock()
	return c, nil
}

// build generates, renders and compiles one kernel.
func build(dev *device.Device, be backend, ast *uop.UOp, opts codegen.Options, debug int) (*compiled, error) {
	prog := codegen.Compile(ast, opts)
	if debug >= 3 {
		fmt.Fprintf(device.DebugOutput, "--- kernel %s on %s: %v\n%s", prog.Name, dev.Name, prog.Kernel, ast.Tree())
	}
	if debug >= 5 {
		fmt.Fprintf(device.DebugOutput, "--- linear program %s\n%s", prog.Name, prog)
	}
	src, err := be.render(prog.Name, prog.UOps)
	if err != nil {
		return nil, err
	}
	if debug >= 4 {
		fmt.Fprintf(device.DebugOutput, "--- source %s\n%v", prog.Name, src)
	}
	p, err := dev.Compile(prog.Name, src)
	if err != nil {
		return nil, err
	}
	c := &compiled{prog: p, info: device.KernelInfo{Name: prog.Name, Global: prog.Full[:prog.NGlobal], FLOPs: prog.FLOPs}}
	if k, ok := src.(*render.CUDAKernel); ok { // blocks and threads, as launched
		c.info.Global, c.info.Local = k.Global[:], k.Local[:]
	}
	for _, v := range prog.Vars {
		c.vars = append(c.vars, v.Arg.(uop.VarArg).Name)
	}
	return c, nil
}

// beamOpts returns the optimisations BEAM search finds fastest for ast on
// dev, from the disk cache when the search ran before. Candidates run on
// scratch buffers shaped like the kernel's, never on the real ones.
func beamOpts(dev *device.Device, be backend, ast *uop.UOp, bufs []*device.Buffer) []codegen.Opt {
	target := fmt.Sprintf("%s simd=%d beam=%d", dev.Kind, be.opts.SIMD, env.Beam())
	cache := codegen.BeamCache{Dir: filepath.Join(env.CacheDir(), "beam")}
	if opts, ok := cache.Load(ast, target); ok {
		return opts
	}
	scratch, size := scratchBuffers(dev, bufs)
	cold := size >= coldBytes && scratch[0].HostBytes() != nil
	vals := make([]int64, 0)
	timer := func(opts []codegen.Opt) (time.Duration, error) {
		o := be.opts
		o.Opts = opts
		c, err := build(dev, be, ast, o, 0)
		if err != nil {
			return 0, err
		}
		if len(c.vars) > 0 {
			vals = make([]int64, len(c.vars))
		}
		best := time.Duration(math.MaxInt64)
		for range 3 {
			if cold {
				evictCaches()
			}
			start := time.Now()
			if err := dev.RunNow(c.prog, &c.info, scratch, vals, nil); err != nil {
				return 0, err
			}
			best = min(best, time.Since(start))
		}
		return best, nil
	}
	hand := codegen.NewKernel(ast).Hand(be.opts)
	widths := []int{}
	for w := be.opts.SIMD / 4; w >= 4; w /= 2 {
		widths = append(widths, w)
	}
	opts, t := codegen.BeamSearch(ast, env.Beam(), 4, widths, hand, timer)
	if env.Debug() >= 1 {
		fmt.Fprintf(device.DebugOutput, "beam: %v in %v\n", opts, t)
	}
	if opts == nil {
		opts = []codegen.Opt{}
	}
	_ = cache.Store(ast, target, opts)
	return opts
}

// scratchBuffers returns buffers on dev shaped like bufs, for BEAM's
// candidates to run on, and their total size in bytes. Host memory is
// written once per page: memory never written reads as the system's
// shared zero page, from cache, so a kernel streaming it would look free.
func scratchBuffers(dev *device.Device, bufs []*device.Buffer) ([]*device.Buffer, int) {
	scratch := make([]*device.Buffer, len(bufs))
	size := 0
	for i, b := range bufs {
		scratch[i] = device.NewBuffer(dev, b.DType, b.Size)
		size += b.Nbytes()
		hb := scratch[i].HostBytes()
		for j := 0; j < len(hb); j += 4096 {
			hb[j] = 0
		}
	}
	return scratch, size
}

// coldBytes is the size of a kernel's buffers from which BEAM times it
// with cold caches: such a kernel, a weight matrix's product in a model's
// step, reads its inputs from memory, and timed warm (its inputs left in
// cache by the previous run) a candidate that reads several rows at once
// looks fastest while it streams worst. With warm untouched scratch
// buffers BEAM=2 made a 110M-parameter LLaMA decode 30% slower than the
// hand-tuned kernels; timed cold on touched buffers it stays within a few
// percent. It matches the C renderer's prefetch threshold
// (render.prefetchMin).
const coldBytes = 256 << 10

// flush is written before each cold timed run to push the kernel's
// buffers out of the caches: twice the 32 MiB last-level cache of the
// machines this was tuned on.
var flush struct {
	once sync.Once
	b    []byte
}

const flushBytes = 64 << 20

// evictCaches writes flushBytes of memory, evicting what the caches held.
func evictCaches() {
	flush.once.Do(func() { flush.b = make([]byte, flushBytes) })
	for i := 0; i < len(flush.b); i += 64 {
		flush.b[i]++
	}
}

// Realize computes the tensors now and returns the first. Tensors that are
// already buffers (or views of them) cost nothing.
func (t *Tensor) Realize() *Tensor {
	Realize(t)
	return t
}

// Realize computes every given tensor in one schedule, so work they share
// runs once.
func Realize(ts ...*Tensor) {
	if err := realize(ts...); err != nil {
		panic(err)
	}
}

func realize(ts ...*Tensor) error {
	var targets []*uop.UOp
	for _, t := range ts {
		t.uop = resolveAssigns(t.uop)
		if !schedule.IsBufferView(t.uop) {
			targets = append(targets, t.uop)
		}
	}
	if len(targets) == 0 {
		return nil
	}
	s := schedule.Create(targets)
	if env.Debug() >= 1 {
		kernels, copies := 0, 0
		for _, it := range s.Items {
			if it.Kind == schedule.Copy {
				copies++
			} else if it.AST != nil {
				kernels++
			}
		}
		cached := ""
		if s.Cached {
			cached = " (cached)"
		}
		fmt.Fprintf(device.DebugOutput, "schedule: %d kernels, %d copies for %d tensors%s\n", kernels, copies, len(targets), cached)
	}
	if err := run(s); err != nil {
		return err
	}
	if capturing == nil {
		releaseIntermediates(s)
	}
	for _, it := range s.Items {
		for _, o := range it.Outs {
			if o.Op == uop.ASSIGN {
				o.SetDone(o.Src[0])
			}
		}
	}
	for _, t := range ts {
		if v, ok := s.Views[t.uop]; ok {
			t.uop = v
		}
	}
	return nil
}

// releaseIntermediates hands the memory of a schedule's intermediate
// buffers (outputs that no target views and no ASSIGN wrote) back to their
// devices once it has run, for the next schedule's buffers: left to the
// garbage collector, they return only as often as it runs, and a model's
// next layer or prompt would take fresh memory meanwhile.
func releaseIntermediates(s *schedule.Schedule) {
	keep := map[*device.Buffer]bool{}
	for _, v := range s.Views {
		if schedule.IsBufferView(v) {
			b, _ := schedule.ViewOf(v)
			keep[b] = true
		}
	}
	for _, it := range s.Items {
		for i, o := range it.Outs {
			if o.Op == uop.ASSIGN {
				keep[it.Bufs[i]] = true
			}
		}
	}
	for _, it := range s.Items {
		for i := range it.Outs {
			if b := it.Bufs[i]; !keep[b] {
				keep[b] = true // released once
				b.Release()
			}
		}
	}
}

// resolveAssigns replaces, in the graph under u, every ASSIGN that has
// already run by the view it wrote: a write happens once, and later readers
// see the buffer.
func resolveAssigns(u *uop.UOp) *uop.UOp {
	if !u.Holds(uop.ASSIGN) {
		return u
	}
	subs := map[*uop.UOp]*uop.UOp{}
	for _, n := range uop.Toposort(u) {
		if n.Op == uop.ASSIGN {
			if v := n.Done(); v != nil {
				subs[n] = v
			}
		}
	}
	if len(subs) == 0 {
		return u
	}
	return uop.Replace(u, subs)
}

// run launches the items of a schedule on their devices' queues and waits.
func run(s *schedule.Schedule) error {
	events := make([]*device.Event, len(s.Items))
	for i, it := range s.Items {
		deps := make([]*device.Event, 0, len(it.Deps))
		for _, d := range it.Deps {
			deps = append(deps, events[d])
		}
		dev := it.Device()
		switch it.Kind {
		case schedule.Copy:
			events[i] = dev.CopyBuffer(it.Bufs[0], it.Bufs[1], deps)
			if capturing != nil {
				capturing.add(CapturedKernel{Dev: dev, Bufs: it.Bufs})
			}
		case schedule.Kernel:
			if it.AST == nil { // an empty output
				continue
			}
			c, err := compile(dev, it.AST, it.Bufs)
			if err != nil {
				return err
			}
			info := c.info
			for _, b := range it.Bufs {
				info.Bytes += int64(b.Nbytes())
			}
			vals := make([]int64, len(c.vars))
			for k, name := range c.vars {
				vals[k] = s.VarVals[name]
			}
			events[i] = dev.Exec(c.prog, &info, it.Bufs, vals, deps)
			if capturing != nil {
				capturing.add(CapturedKernel{Dev: dev, Prog: c.prog, Info: info, Bufs: it.Bufs, Vars: c.vars, Vals: vals})
			}
		}
		recordGraph(it, c2name(it))
	}
	var first error
	for _, e := range events {
		if err := e.Wait(); err != nil && first == nil {
			first = err
		}
	}
	if env.Graph() {
		writeGraph()
	}
	return first
}

func c2name(it *schedule.Item) string {
	if it.Kind == schedule.Copy {
		return "copy"
	}
	if it.AST == nil {
		return "empty"
	}
	cacheMu.Lock()
	defer cacheMu.Unlock()
	if c, ok := cache[cacheKey{it.Device().Name, it.AST}]; ok {
		return c.info.Name
	}
	return "kernel"
}

// Stats returns the counters of device dev ("" for all): kernels run, FLOPs,
// bytes moved and time spent.
func Stats(dev string) device.Stats { return device.GetStats(dev) }

// ResetStats zeroes the counters.
func ResetStats() { device.ResetStats() }
