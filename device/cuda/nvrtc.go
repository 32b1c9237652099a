//go:build linux

package cuda

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"unsafe"

	"github.com/ebitengine/purego"
)

// nvrtc is the NVRTC library, bound at run time.
type nvrtc struct {
	path      string
	major     int32
	minor     int32
	supported []int // sm numbers NVRTC compiles for; nil when it cannot tell

	create     func(prog *uintptr, src, name string, nHeaders int32, headers, names unsafe.Pointer) int32
	compile    func(prog uintptr, nOpts int32, opts unsafe.Pointer) int32
	ptxSize    func(prog uintptr, n *uint64) int32
	ptx        func(prog uintptr, out *byte) int32
	logSize    func(prog uintptr, n *uint64) int32
	log        func(prog uintptr, out *byte) int32
	destroy    func(prog *uintptr) int32
	errorState func(r int32) string
}

var (
	nvrtcOnce sync.Once
	nvrtcLib  *nvrtc
	nvrtcErr  error
)

// loadNVRTC finds, loads and binds NVRTC once.
func loadNVRTC() (*nvrtc, error) {
	nvrtcOnce.Do(func() {
		var tried []string
		for _, name := range nvrtcCandidates(os.Getenv, filepath.Glob) {
			lib, err := purego.Dlopen(name, purego.RTLD_NOW|purego.RTLD_LOCAL)
			if err != nil {
				tried = append(tried, name)
				continue
			}
			n, err := bindNVRTC(lib, name)
			if err != nil {
				nvrtcErr = err
				return
			}
			nvrtcLib = n
			return
		}
		hint := "install the CUDA toolkit's NVRTC (libnvrtc) or set GOGRAD_NVRTC to its path"
		if p := os.Getenv("GOGRAD_NVRTC"); p != "" {
			hint = "GOGRAD_NVRTC=" + p + " does not load"
		}
		nvrtcErr = fmt.Errorf("cuda: NVRTC (libnvrtc.so), which compiles kernels, not found: %s (tried %s)", hint, strings.Join(tried, ", "))
	})
	return nvrtcLib, nvrtcErr
}

func bindNVRTC(lib uintptr, path string) (*nvrtc, error) {
	n := &nvrtc{path: path}
	var missing []string
	bind := func(fn any, name string) bool {
		if _, err := purego.Dlsym(lib, name); err != nil {
			missing = append(missing, name)
			return false
		}
		purego.RegisterLibFunc(fn, lib, name)
		return true
	}
	var version func(major, minor *int32) int32
	bind(&version, "nvrtcVersion")
	bind(&n.create, "nvrtcCreateProgram")
	bind(&n.compile, "nvrtcCompileProgram")
	bind(&n.ptxSize, "nvrtcGetPTXSize")
	bind(&n.ptx, "nvrtcGetPTX")
	bind(&n.logSize, "nvrtcGetProgramLogSize")
	bind(&n.log, "nvrtcGetProgramLog")
	bind(&n.destroy, "nvrtcDestroyProgram")
	bind(&n.errorState, "nvrtcGetErrorString")
	if len(missing) > 0 {
		return nil, fmt.Errorf("cuda: %s is not a usable NVRTC (lacks %s)", path, strings.Join(missing, ", "))
	}
	version(&n.major, &n.minor)
	var count func(n *int32) int32
	var archs func(out *int32) int32
	before := len(missing)
	bind(&count, "nvrtcGetNumSupportedArchs")
	bind(&archs, "nvrtcGetSupportedArchs")
	if len(missing) == before { // NVRTC 11.2 and newer
		var k int32
		if count(&k) == 0 && k > 0 {
			list := make([]int32, k)
			if archs(&list[0]) == 0 {
				for _, a := range list {
					n.supported = append(n.supported, int(a))
				}
			}
		}
	}
	return n, nil
}

// version is NVRTC's version as "major.minor".
func (n *nvrtc) version() string { return fmt.Sprintf("%d.%d", n.major, n.minor) }

// check turns an NVRTC result into an error.
func (n *nvrtc) check(fn string, r int32) error {
	if r == 0 {
		return nil
	}
	return fmt.Errorf("cuda: %s: %s", fn, n.errorState(r))
}

// compilePTX compiles CUDA C to PTX (NUL-terminated, as cuModuleLoadData
// reads it).
func (n *nvrtc) compilePTX(name, src string, opts []string) ([]byte, error) {
	var prog uintptr
	if err := n.check("nvrtcCreateProgram", n.create(&prog, src, name+".cu", 0, nil, nil)); err != nil {
		return nil, err
	}
	defer n.destroy(&prog)
	copts := make([][]byte, len(opts))
	ptrs := make([]*byte, len(opts))
	for i, o := range opts {
		copts[i] = append([]byte(o), 0)
		ptrs[i] = &copts[i][0]
	}
	r := n.compile(prog, int32(len(ptrs)), unsafe.Pointer(&ptrs[0]))
	runtime.KeepAlive(copts)
	runtime.KeepAlive(ptrs)
	if r != 0 {
		var size uint64
		log := ""
		if n.logSize(prog, &size) == 0 && size > 1 {
			buf := make([]byte, size)
			if n.log(prog, &buf[0]) == 0 {
				log = string(bytes.TrimRight(buf, "\x00"))
			}
		}
		if log == "" {
			log = n.errorState(r)
		}
		return nil, &CompileError{Name: name, Arch: strings.Join(opts, " "), Log: log, Source: src}
	}
	var size uint64
	if err := n.check("nvrtcGetPTXSize", n.ptxSize(prog, &size)); err != nil {
		return nil, err
	}
	ptx := make([]byte, size)
	if err := n.check("nvrtcGetPTX", n.ptx(prog, &ptx[0])); err != nil {
		return nil, err
	}
	if len(ptx) == 0 || ptx[len(ptx)-1] != 0 {
		ptx = append(ptx, 0)
	}
	return ptx, nil
}
