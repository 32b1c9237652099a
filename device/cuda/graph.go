//go:build linux

package cuda

import (
	"errors"
	"fmt"
	"runtime"
	"time"
	"unsafe"

	"github.com/gograd/gograd/device"
)

// Launch is one kernel launch of a sequence the JIT replays: a program this
// runtime compiled, its buffers' memory and its variables' values.
type Launch struct {
	Prog device.Program
	Mems []device.Mem
	Vars []int64
}

// timing returns the runtime's pair of events for timing a sequence
// (called inside do).
func (r *Runtime) timing() (start, end uintptr, err error) {
	if r.seqStart == 0 {
		if err := check("cuEventCreate", r.drv.eventCreate(&r.seqStart, 0)); err != nil {
			return 0, 0, err
		}
		if err := check("cuEventCreate", r.drv.eventCreate(&r.seqEnd, 0)); err != nil {
			return 0, 0, err
		}
	}
	return r.seqStart, r.seqEnd, nil
}

// timed records the start event, runs queue (which queues work on the
// stream), records the end event, waits for it and returns the GPU time
// between the two (called inside do).
func (r *Runtime) timed(queue func() error) (time.Duration, error) {
	start, end, err := r.timing()
	if err != nil {
		return 0, err
	}
	if err := check("cuEventRecord", r.drv.eventRecord(start, r.stream)); err != nil {
		return 0, err
	}
	if err := queue(); err != nil {
		// Whatever was queued must finish before its buffers can change.
		_ = r.drv.streamSync(r.stream)
		return 0, err
	}
	if err := check("cuEventRecord", r.drv.eventRecord(end, r.stream)); err != nil {
		return 0, err
	}
	if err := check("cuEventSynchronize", r.drv.eventSync(end)); err != nil {
		return 0, err
	}
	var ms float32
	err = check("cuEventElapsedTime", r.drv.eventElapsed(&ms, start, end))
	return time.Duration(float64(ms) * 1e6), err
}

// program returns l's program, which must have been compiled by r.
func (r *Runtime) program(l Launch) (*program, []uint64, error) {
	p, ok := l.Prog.(*program)
	if !ok || p.r != r {
		return nil, nil, fmt.Errorf("cuda: a launch of a program not compiled by CUDA:%d (%T)", r.index, l.Prog)
	}
	vals, err := p.args(l.Mems, l.Vars)
	return p, vals, err
}

// RunAll launches the sequence back to back on the stream and waits once:
// the JIT's replay where graphs are unavailable. It returns the GPU time
// from the first launch to the end of the last.
func (r *Runtime) RunAll(ls []Launch) (time.Duration, error) {
	progs := make([]*program, len(ls))
	vals := make([][]uint64, len(ls))
	for i, l := range ls {
		p, v, err := r.program(l)
		if err != nil {
			return 0, err
		}
		progs[i], vals[i] = p, v
	}
	var el time.Duration
	err := r.do(func() error {
		var err error
		el, err = r.timed(func() error {
			for i, p := range progs {
				if err := p.launch(vals[i]); err != nil {
					return err
				}
			}
			return nil
		})
		return err
	})
	return el, err
}

// kernelNodeParams is CUDA_KERNEL_NODE_PARAMS_v2 (CUDA 12); the v1 struct
// is its first eight fields, so one layout serves both function versions.
type kernelNodeParams struct {
	fn                     uintptr
	gridX, gridY, gridZ    uint32
	blockX, blockY, blockZ uint32
	shared                 uint32
	params                 unsafe.Pointer
	extra                  unsafe.Pointer
	kern                   uintptr // v2: 0, the function is fn
	ctx                    uintptr // v2: 0, the current context
}

func nodeParams(p *program, ptrs []unsafe.Pointer) kernelNodeParams {
	g, l := p.k.Global, p.k.Local
	return kernelNodeParams{fn: p.fn, gridX: uint32(g[0]), gridY: uint32(g[1]), gridZ: uint32(g[2]),
		blockX: uint32(l[0]), blockY: uint32(l[1]), blockZ: uint32(l[2]), params: unsafe.Pointer(&ptrs[0])}
}

// Graph is a fixed sequence of kernel launches instantiated as one CUDA
// graph: a replay is one launch however many kernels it holds. The
// launches' buffers and variables can change between replays (Update)
// without rebuilding it.
type Graph struct {
	r     *Runtime
	graph uintptr
	exec  uintptr
	nodes []uintptr
	progs []*program
}

// ErrNoGraphs reports a driver without the CUDA graph API.
var ErrNoGraphs = errors.New("cuda: the driver has no CUDA graphs")

// NewGraph builds and instantiates the graph of a sequence, each kernel
// depending on the one before.
func (r *Runtime) NewGraph(ls []Launch) (*Graph, error) {
	d := r.drv
	if d.graphCreate == nil {
		return nil, ErrNoGraphs
	}
	g := &Graph{r: r}
	err := r.do(func() error {
		if err := check("cuGraphCreate", d.graphCreate(&g.graph, 0)); err != nil {
			return err
		}
		var prev uintptr
		for i, l := range ls {
			p, vals, err := r.program(l)
			if err != nil {
				return err
			}
			ptrs := paramPtrs(vals)
			params := nodeParams(p, ptrs)
			var deps *uintptr
			ndeps := uint64(0)
			if i > 0 {
				deps, ndeps = &prev, 1
			}
			var node uintptr
			r := d.graphAddKernel(&node, g.graph, deps, ndeps, unsafe.Pointer(&params)) // copies the parameter values
			runtime.KeepAlive(vals)
			runtime.KeepAlive(ptrs)
			if err := check("cuGraphAddKernelNode", r); err != nil {
				return fmt.Errorf("%w (kernel %d, %s)", err, i, p.k.Name)
			}
			g.nodes = append(g.nodes, node)
			g.progs = append(g.progs, p)
			prev = node
		}
		return check("cuGraphInstantiateWithFlags", d.graphInstantiate(&g.exec, g.graph, 0))
	})
	if err != nil {
		g.Close()
		return nil, err
	}
	return g, nil
}

// Update changes the buffers and variables of launch i for later replays.
func (g *Graph) Update(i int, mems []device.Mem, vars []int64) error {
	p := g.progs[i]
	vals, err := p.args(mems, vars)
	if err != nil {
		return err
	}
	return g.r.do(func() error {
		ptrs := paramPtrs(vals)
		params := nodeParams(p, ptrs)
		err := check("cuGraphExecKernelNodeSetParams", g.r.drv.graphExecSetKern(g.exec, g.nodes[i], unsafe.Pointer(&params)))
		runtime.KeepAlive(vals)
		runtime.KeepAlive(ptrs)
		return err
	})
}

// Run replays the graph, waits for it and returns its GPU time.
func (g *Graph) Run() (time.Duration, error) {
	var el time.Duration
	err := g.r.do(func() error {
		var err error
		el, err = g.r.timed(func() error { return check("cuGraphLaunch", g.r.drv.graphLaunch(g.exec, g.r.stream)) })
		return err
	})
	return el, err
}

// Len is the number of launches in the graph.
func (g *Graph) Len() int { return len(g.nodes) }

// Close releases the graph.
func (g *Graph) Close() {
	_ = g.r.do(func() error {
		if g.exec != 0 {
			g.r.drv.graphExecDestroy(g.exec)
			g.exec = 0
		}
		if g.graph != 0 {
			g.r.drv.graphDestroy(g.graph)
			g.graph = 0
		}
		return nil
	})
}
