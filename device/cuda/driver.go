//go:build linux

package cuda

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"unsafe"

	"github.com/ebitengine/purego"
)

// driver is the part of the CUDA driver API gograd calls, bound at run time.
// Versioned symbols (_v2) are the ones cuda.h has mapped the plain names to
// since CUDA 4; results are CUresult codes.
type driver struct {
	init           func(flags uint32) int32
	driverVersion  func(v *int32) int32
	deviceCount    func(n *int32) int32
	deviceGet      func(dev *int32, ordinal int32) int32
	deviceAttr     func(v *int32, attr int32, dev int32) int32
	deviceName     func(name *byte, n int32, dev int32) int32
	totalMem       func(bytes *uint64, dev int32) int32
	primaryRetain  func(ctx *uintptr, dev int32) int32
	ctxSetCurrent  func(ctx uintptr) int32
	memAlloc       func(p *uint64, n uint64) int32
	memFree        func(p uint64) int32
	memHostAlloc   func(p *unsafe.Pointer, n uint64, flags uint32) int32
	memFreeHost    func(p unsafe.Pointer) int32
	memcpyHtoD     func(dst uint64, src unsafe.Pointer, n uint64, stream uintptr) int32
	memcpyDtoH     func(dst unsafe.Pointer, src uint64, n uint64, stream uintptr) int32
	memcpyDtoD     func(dst, src uint64, n uint64, stream uintptr) int32
	streamCreate   func(s *uintptr, flags uint32) int32
	streamSync     func(s uintptr) int32
	eventCreate    func(e *uintptr, flags uint32) int32
	eventRecord    func(e, s uintptr) int32
	eventSync      func(e uintptr) int32
	eventElapsed   func(ms *float32, start, end uintptr) int32
	eventDestroy   func(e uintptr) int32
	moduleLoadData func(m *uintptr, image unsafe.Pointer) int32
	moduleGetFunc  func(f *uintptr, m uintptr, name string) int32
	moduleUnload   func(m uintptr) int32
	launchKernel   func(f uintptr, gx, gy, gz, bx, by, bz, shared uint32, stream uintptr, params, extra unsafe.Pointer) int32

	// CUDA graphs (nil when the driver lacks them).
	graphCreate      func(g *uintptr, flags uint32) int32
	graphAddKernel   func(node *uintptr, g uintptr, deps *uintptr, ndeps uint64, params unsafe.Pointer) int32
	graphInstantiate func(exec *uintptr, g uintptr, flags uint64) int32
	graphLaunch      func(exec, stream uintptr) int32
	graphExecSetKern func(exec, node uintptr, params unsafe.Pointer) int32
	graphExecDestroy func(exec uintptr) int32
	graphDestroy     func(g uintptr) int32
	graphV2          bool // the kernel node functions take CUDA_KERNEL_NODE_PARAMS_v2
}

// Device attributes (CUdevice_attribute).
const (
	attrComputeMajor = 75
	attrComputeMinor = 76
	attrSMCount      = 16
)

var (
	driverOnce sync.Once
	drv        *driver
	driverErr  error
)

// loadDriver loads and binds the driver library once.
func loadDriver() (*driver, error) {
	driverOnce.Do(func() {
		var errs []string
		var lib uintptr
		for _, name := range driverLibs {
			h, err := purego.Dlopen(name, purego.RTLD_NOW|purego.RTLD_LOCAL)
			if err == nil {
				lib = h
				break
			}
			errs = append(errs, err.Error())
		}
		if lib == 0 {
			driverErr = fmt.Errorf("cuda: the NVIDIA driver library libcuda.so.1 is not installed (no NVIDIA driver on this machine, or not on the loader path): %s", errs[0])
			return
		}
		d := &driver{}
		var missing []string
		bind := func(fn any, names ...string) bool {
			for _, n := range names {
				if _, err := purego.Dlsym(lib, n); err == nil {
					purego.RegisterLibFunc(fn, lib, n)
					return true
				}
			}
			missing = append(missing, names[0])
			return false
		}
		bind(&d.init, "cuInit")
		bind(&d.driverVersion, "cuDriverGetVersion")
		bind(&d.deviceCount, "cuDeviceGetCount")
		bind(&d.deviceGet, "cuDeviceGet")
		bind(&d.deviceAttr, "cuDeviceGetAttribute")
		bind(&d.deviceName, "cuDeviceGetName")
		bind(&d.totalMem, "cuDeviceTotalMem_v2")
		bind(&d.primaryRetain, "cuDevicePrimaryCtxRetain")
		bind(&d.ctxSetCurrent, "cuCtxSetCurrent")
		bind(&d.memAlloc, "cuMemAlloc_v2")
		bind(&d.memFree, "cuMemFree_v2")
		bind(&d.memHostAlloc, "cuMemHostAlloc")
		bind(&d.memFreeHost, "cuMemFreeHost")
		bind(&d.memcpyHtoD, "cuMemcpyHtoDAsync_v2")
		bind(&d.memcpyDtoH, "cuMemcpyDtoHAsync_v2")
		bind(&d.memcpyDtoD, "cuMemcpyDtoDAsync_v2")
		bind(&d.streamCreate, "cuStreamCreate")
		bind(&d.streamSync, "cuStreamSynchronize")
		bind(&d.eventCreate, "cuEventCreate")
		bind(&d.eventRecord, "cuEventRecord")
		bind(&d.eventSync, "cuEventSynchronize")
		bind(&d.eventElapsed, "cuEventElapsedTime")
		bind(&d.eventDestroy, "cuEventDestroy_v2")
		bind(&d.moduleLoadData, "cuModuleLoadData")
		bind(&d.moduleGetFunc, "cuModuleGetFunction")
		bind(&d.moduleUnload, "cuModuleUnload")
		bind(&d.launchKernel, "cuLaunchKernel")
		if len(missing) > 0 {
			driverErr = fmt.Errorf("cuda: the driver library lacks %s: the NVIDIA driver is too old", strings.Join(missing, ", "))
			return
		}
		// Graphs are optional: without them the JIT launches back to back.
		before := len(missing)
		d.graphV2 = bind(&d.graphAddKernel, "cuGraphAddKernelNode_v2")
		if d.graphV2 {
			bind(&d.graphExecSetKern, "cuGraphExecKernelNodeSetParams_v2")
		} else {
			bind(&d.graphAddKernel, "cuGraphAddKernelNode")
			bind(&d.graphExecSetKern, "cuGraphExecKernelNodeSetParams")
		}
		bind(&d.graphCreate, "cuGraphCreate")
		bind(&d.graphInstantiate, "cuGraphInstantiateWithFlags")
		bind(&d.graphLaunch, "cuGraphLaunch")
		bind(&d.graphExecDestroy, "cuGraphExecDestroy")
		bind(&d.graphDestroy, "cuGraphDestroy")
		if len(missing) > before {
			d.graphCreate = nil
		}
		if err := check("cuInit", d.init(0)); err != nil {
			var ce *Error
			if errors.As(err, &ce) && ce.Code == 100 {
				driverErr = errors.New("cuda: no CUDA device (the NVIDIA driver is installed, cuInit finds no GPU)")
				return
			}
			driverErr = err
			return
		}
		drv = d
	})
	return drv, driverErr
}

// driverPresent reports whether the driver library can be loaded, without
// initialising it.
func driverPresent() bool {
	for _, name := range driverLibs {
		if _, err := purego.Dlopen(name, purego.RTLD_LAZY|purego.RTLD_LOCAL); err == nil {
			return true // kept loaded: loadDriver opens it again
		}
	}
	return false
}
