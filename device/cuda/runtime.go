//go:build linux

package cuda

import (
	"bytes"
	"fmt"
	"runtime"
	"sync"
	"time"
	"unsafe"

	"github.com/gograd/gograd/device"
	"github.com/gograd/gograd/render"
)

// cudaPriority puts CUDA above CPU (10) and GO (0) as the default device.
const cudaPriority = 20

func init() {
	// Only a machine whose driver library loads may pick CUDA by default;
	// elsewhere it is there by name (DEV=CUDA), failing with the reason.
	prio := -1
	if driverPresent() {
		prio = cudaPriority
	}
	device.Register("CUDA", prio, func(index int) (device.Runtime, error) { return Open(index) })
}

// Runtime is one CUDA device: its primary context, one stream, and a
// pinned buffer host copies go through. Calls are serialised: the stream
// orders the work anyway.
type Runtime struct {
	drv     *driver
	nvrtc   *nvrtc
	index   int
	dev     int32
	ctx     uintptr
	stream  uintptr
	arch    string // the virtual architecture kernels compile for, like compute_90
	name    string // the GPU's name
	major   int
	minor   int
	sms     int
	memSize uint64

	mu       sync.Mutex
	staging  unsafe.Pointer // pinned host memory, stagingBytes long (nil until the first copy)
	seqStart uintptr        // events timing sequences (RunAll, Graph.Run); 0 until used
	seqEnd   uintptr
}

// stagingBytes is the pinned buffer host copies go through, in chunks.
const stagingBytes = 16 << 20

// Open opens device index (CUDA:index): it loads the driver and NVRTC,
// retains the device's primary context and creates its stream.
func Open(index int) (*Runtime, error) {
	d, err := loadDriver()
	if err != nil {
		return nil, err
	}
	var count int32
	if err := check("cuDeviceGetCount", d.deviceCount(&count)); err != nil {
		return nil, err
	}
	if count == 0 {
		return nil, fmt.Errorf("cuda: no CUDA device (the driver sees no GPU)")
	}
	if index >= int(count) {
		return nil, fmt.Errorf("cuda: CUDA:%d requested, this machine has %d GPU(s) (CUDA:0 to CUDA:%d)", index, count, count-1)
	}
	r := &Runtime{drv: d, index: index}
	if err := check("cuDeviceGet", d.deviceGet(&r.dev, int32(index))); err != nil {
		return nil, err
	}
	var major, minor, sms int32
	if err := check("cuDeviceGetAttribute", d.deviceAttr(&major, attrComputeMajor, r.dev)); err != nil {
		return nil, err
	}
	if err := check("cuDeviceGetAttribute", d.deviceAttr(&minor, attrComputeMinor, r.dev)); err != nil {
		return nil, err
	}
	_ = d.deviceAttr(&sms, attrSMCount, r.dev)
	_ = d.totalMem(&r.memSize, r.dev)
	r.major, r.minor, r.sms = int(major), int(minor), int(sms)
	name := make([]byte, 256)
	if d.deviceName(&name[0], int32(len(name)), r.dev) == 0 {
		r.name = string(bytes.TrimRight(name, "\x00"))
	}
	if r.nvrtc, err = loadNVRTC(); err != nil {
		return nil, err
	}
	if r.arch, err = chooseArch(r.major, r.minor, r.nvrtc.supported); err != nil {
		return nil, err
	}
	if err := check("cuDevicePrimaryCtxRetain", d.primaryRetain(&r.ctx, r.dev)); err != nil {
		return nil, err
	}
	err = r.do(func() error { return check("cuStreamCreate", d.streamCreate(&r.stream, 0)) })
	if err != nil {
		return nil, err
	}
	return r, nil
}

func (r *Runtime) String() string {
	return fmt.Sprintf("CUDA:%d %s (sm_%d%d, %d SMs, %.1f GiB; kernels for %s by NVRTC %s)", r.index, r.name, r.major, r.minor, r.sms, float64(r.memSize)/(1<<30), r.arch, r.nvrtc.version())
}

// Arch is the virtual architecture kernels are compiled for (compute_XY).
func (r *Runtime) Arch() string { return r.arch }

// do runs f holding the runtime, on an OS thread whose current context is
// the device's (the driver keeps the context per thread).
func (r *Runtime) do(f func() error) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if err := check("cuCtxSetCurrent", r.drv.ctxSetCurrent(r.ctx)); err != nil {
		return err
	}
	return f()
}

// mem is device memory.
type mem struct {
	ptr uint64
	n   int
}

// Alloc returns n bytes of device memory.
func (r *Runtime) Alloc(n int) (device.Mem, error) {
	m := &mem{n: n}
	if n == 0 {
		return m, nil
	}
	err := r.do(func() error { return check("cuMemAlloc", r.drv.memAlloc(&m.ptr, uint64(n))) })
	if err != nil {
		return nil, fmt.Errorf("%w (allocating %d bytes on CUDA:%d)", err, n, r.index)
	}
	return m, nil
}

// Free returns device memory to the driver.
func (r *Runtime) Free(m device.Mem) {
	mm := m.(*mem)
	if mm.ptr == 0 {
		return
	}
	_ = r.do(func() error { return check("cuMemFree", r.drv.memFree(mm.ptr)) })
	mm.ptr = 0
}

// stagingBuf returns the pinned buffer, allocating it on first use
// (called inside do).
func (r *Runtime) stagingBuf() ([]byte, error) {
	if r.staging == nil {
		var p unsafe.Pointer
		if err := check("cuMemHostAlloc", r.drv.memHostAlloc(&p, stagingBytes, 0)); err != nil {
			return nil, err
		}
		r.staging = p
	}
	return unsafe.Slice((*byte)(r.staging), stagingBytes), nil
}

// CopyIn copies host bytes into device memory through the pinned buffer. A
// driver error panics: device.Runtime copies have no error to return, and
// the driver's errors here (an earlier kernel's illegal address, say) are
// fatal to the context anyway.
func (r *Runtime) CopyIn(m device.Mem, src []byte) {
	mm := m.(*mem)
	if len(src) > mm.n {
		panic(fmt.Sprintf("cuda: CopyIn of %d bytes into %d", len(src), mm.n))
	}
	err := r.do(func() error {
		st, err := r.stagingBuf()
		if err != nil {
			return err
		}
		for off := 0; off < len(src); off += len(st) {
			n := copy(st, src[off:])
			if err := check("cuMemcpyHtoDAsync", r.drv.memcpyHtoD(mm.ptr+uint64(off), r.staging, uint64(n), r.stream)); err != nil {
				return err
			}
			if err := check("cuStreamSynchronize", r.drv.streamSync(r.stream)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		panic(err)
	}
}

// CopyOut copies device memory into host bytes through the pinned buffer
// (panicking on a driver error, as CopyIn).
func (r *Runtime) CopyOut(dst []byte, m device.Mem) {
	mm := m.(*mem)
	if len(dst) > mm.n {
		panic(fmt.Sprintf("cuda: CopyOut of %d bytes from %d", len(dst), mm.n))
	}
	err := r.do(func() error {
		st, err := r.stagingBuf()
		if err != nil {
			return err
		}
		for off := 0; off < len(dst); off += len(st) {
			n := min(len(st), len(dst)-off)
			if err := check("cuMemcpyDtoHAsync", r.drv.memcpyDtoH(r.staging, mm.ptr+uint64(off), uint64(n), r.stream)); err != nil {
				return err
			}
			if err := check("cuStreamSynchronize", r.drv.streamSync(r.stream)); err != nil {
				return err
			}
			copy(dst[off:off+n], st)
		}
		return nil
	})
	if err != nil {
		panic(err)
	}
}

// CopyDevice copies n bytes between two allocations of this device.
func (r *Runtime) CopyDevice(dst, src device.Mem, n int) error {
	d, s := dst.(*mem), src.(*mem)
	if n > d.n || n > s.n {
		return fmt.Errorf("cuda: device copy of %d bytes between %d and %d", n, s.n, d.n)
	}
	return r.do(func() error {
		if err := check("cuMemcpyDtoDAsync", r.drv.memcpyDtoD(d.ptr, s.ptr, uint64(n), r.stream)); err != nil {
			return err
		}
		return check("cuStreamSynchronize", r.drv.streamSync(r.stream))
	})
}

// Compile compiles a CUDA kernel with NVRTC (or finds its PTX in the disk
// cache) and loads it.
func (r *Runtime) Compile(name string, src any) (device.Program, error) {
	k, ok := src.(*render.CUDAKernel)
	if !ok {
		return nil, fmt.Errorf("cuda: %s: expected a CUDA kernel, got %T", name, src)
	}
	opts := nvrtcOptions(r.arch)
	key := cacheKey(k.Src, r.arch, r.nvrtc.version(), opts)
	ptx, err := cachedPTX(CacheDir(), key, func() ([]byte, error) { return r.nvrtc.compilePTX(k.Name, k.Src, opts) })
	if err != nil {
		return nil, err
	}
	p := &program{r: r, k: k}
	err = r.do(func() error {
		if err := check("cuModuleLoadData", r.drv.moduleLoadData(&p.mod, unsafe.Pointer(&ptx[0]))); err != nil {
			return err
		}
		if err := check("cuModuleGetFunction", r.drv.moduleGetFunc(&p.fn, p.mod, k.Name)); err != nil {
			return err
		}
		if err := check("cuEventCreate", r.drv.eventCreate(&p.start, 0)); err != nil {
			return err
		}
		return check("cuEventCreate", r.drv.eventCreate(&p.end, 0))
	})
	runtime.KeepAlive(ptx)
	if err != nil {
		return nil, fmt.Errorf("%w (kernel %s)", err, k.Name)
	}
	return p, nil
}

// program is a loaded kernel with the events that time its launches.
type program struct {
	r          *Runtime
	k          *render.CUDAKernel
	mod, fn    uintptr
	start, end uintptr
}

// Kernel is the rendered kernel the program runs.
func (p *program) Kernel() *render.CUDAKernel { return p.k }

// LaunchDims returns the grid (blocks) and block (threads) sizes.
func (p *program) LaunchDims() (global, local []int) { return p.k.Global[:], p.k.Local[:] }

// args returns the kernel's argument values: the buffers' device pointers,
// then the variables (each an 8-byte parameter).
func (p *program) args(bufs []device.Mem, vars []int64) ([]uint64, error) {
	if len(bufs) < p.k.NBufs || len(vars) != p.k.NVars {
		return nil, fmt.Errorf("cuda: %s takes %d buffers and %d variables, got %d and %d", p.k.Name, p.k.NBufs, p.k.NVars, len(bufs), len(vars))
	}
	vals := make([]uint64, 0, p.k.NBufs+p.k.NVars)
	for _, m := range bufs[:p.k.NBufs] {
		mm, ok := m.(*mem)
		if !ok {
			return nil, fmt.Errorf("cuda: %s: a buffer of another device (%T)", p.k.Name, m)
		}
		vals = append(vals, mm.ptr)
	}
	for _, v := range vars {
		vals = append(vals, uint64(v))
	}
	return vals, nil
}

// paramPtrs is cuLaunchKernel's kernelParams: a pointer to each value.
func paramPtrs(vals []uint64) []unsafe.Pointer {
	ptrs := make([]unsafe.Pointer, len(vals)+1) // never empty
	for i := range vals {
		ptrs[i] = unsafe.Pointer(&vals[i])
	}
	return ptrs
}

// launch queues the kernel on the stream (called inside do).
func (p *program) launch(vals []uint64) error {
	ptrs := paramPtrs(vals)
	g, l := p.k.Global, p.k.Local
	err := check("cuLaunchKernel", p.r.drv.launchKernel(p.fn, uint32(g[0]), uint32(g[1]), uint32(g[2]),
		uint32(l[0]), uint32(l[1]), uint32(l[2]), 0, p.r.stream, unsafe.Pointer(&ptrs[0]), nil))
	runtime.KeepAlive(vals)
	runtime.KeepAlive(ptrs)
	if err != nil {
		return fmt.Errorf("%w (kernel %s, grid %v, block %v)", err, p.k.Name, g, l)
	}
	return nil
}

// Run launches the kernel and waits for it.
func (p *program) Run(bufs []device.Mem, vars []int64) error {
	_, err := p.RunTimed(bufs, vars)
	return err
}

// RunTimed launches the kernel, waits for it and returns its time on the
// GPU, measured by events around the launch.
func (p *program) RunTimed(bufs []device.Mem, vars []int64) (time.Duration, error) {
	vals, err := p.args(bufs, vars)
	if err != nil {
		return 0, err
	}
	var ms float32
	d := p.r.drv
	err = p.r.do(func() error {
		if err := check("cuEventRecord", d.eventRecord(p.start, p.r.stream)); err != nil {
			return err
		}
		if err := p.launch(vals); err != nil {
			return err
		}
		if err := check("cuEventRecord", d.eventRecord(p.end, p.r.stream)); err != nil {
			return err
		}
		if err := check("cuEventSynchronize", d.eventSync(p.end)); err != nil {
			return fmt.Errorf("%w (kernel %s)", err, p.k.Name)
		}
		return check("cuEventElapsedTime", d.eventElapsed(&ms, p.start, p.end))
	})
	return time.Duration(float64(ms) * 1e6), err
}
