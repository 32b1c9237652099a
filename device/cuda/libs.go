package cuda

import (
	"fmt"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// driverLibs are the names the CUDA driver library is loaded by, in order:
// the loader path (where the driver installs it, WSL's included), then WSL's
// directory by full path.
var driverLibs = []string{"libcuda.so.1", "libcuda.so", "/usr/lib/wsl/lib/libcuda.so.1"}

// nvrtcSonames are NVRTC's sonames, newest first (the unversioned name is
// what a toolkit's development files install).
var nvrtcSonames = []string{"libnvrtc.so", "libnvrtc.so.13", "libnvrtc.so.12", "libnvrtc.so.11.2", "libnvrtc.so.11.1", "libnvrtc.so.11.0"}

// nvrtcCandidates lists where NVRTC is looked for: $GOGRAD_NVRTC alone when
// set; else the loader path by soname, then the toolkit directories
// ($CUDA_PATH, $CUDA_HOME, /usr/local/cuda, /opt/cuda) by file, newest
// version first. getenv and glob are os.Getenv and filepath.Glob (tests
// pass their own).
func nvrtcCandidates(getenv func(string) string, glob func(string) ([]string, error)) []string {
	if p := getenv("GOGRAD_NVRTC"); p != "" {
		return []string{p}
	}
	out := slices.Clone(nvrtcSonames)
	arch := map[string]string{"amd64": "x86_64-linux", "arm64": "sbsa-linux"}[runtime.GOARCH]
	var roots []string
	for _, v := range []string{"CUDA_PATH", "CUDA_HOME"} {
		if r := getenv(v); r != "" {
			roots = append(roots, r)
		}
	}
	roots = append(roots, "/usr/local/cuda", "/opt/cuda")
	seen := map[string]bool{}
	for _, r := range roots {
		dirs := []string{filepath.Join(r, "lib64"), filepath.Join(r, "lib")}
		if arch != "" {
			dirs = append(dirs, filepath.Join(r, "targets", arch, "lib"))
		}
		for _, d := range dirs {
			files, _ := glob(filepath.Join(d, "libnvrtc.so*"))
			files = slices.DeleteFunc(files, func(f string) bool {
				return strings.Contains(filepath.Base(f), "builtins") || strings.HasSuffix(f, ".alt")
			})
			sort.Slice(files, func(i, j int) bool { return versionLess(files[j], files[i]) })
			for _, f := range files {
				if !seen[f] {
					seen[f] = true
					out = append(out, f)
				}
			}
		}
	}
	return out
}

// versionLess orders library file names by the version after ".so"
// (libnvrtc.so.11.2 < libnvrtc.so.12 < libnvrtc.so.12.4.99).
func versionLess(a, b string) bool {
	va, vb := soVersion(a), soVersion(b)
	for i := range max(len(va), len(vb)) {
		x, y := -1, -1
		if i < len(va) {
			x = va[i]
		}
		if i < len(vb) {
			y = vb[i]
		}
		if x != y {
			return x < y
		}
	}
	return a < b
}

func soVersion(name string) []int {
	_, v, ok := strings.Cut(filepath.Base(name), ".so.")
	if !ok {
		return nil
	}
	var out []int
	for _, p := range strings.Split(v, ".") {
		n, err := strconv.Atoi(p)
		if err != nil {
			break
		}
		out = append(out, n)
	}
	return out
}

// chooseArch picks the virtual architecture NVRTC compiles for: the GPU's
// compute capability, or the newest one NVRTC supports below it (the
// driver compiles that PTX for the GPU). supported is NVRTC's list (sm
// numbers like 80), empty when this NVRTC cannot tell.
func chooseArch(major, minor int, supported []int) (string, error) {
	cc := major*10 + minor
	if len(supported) == 0 {
		return fmt.Sprintf("compute_%d", cc), nil
	}
	best := -1
	for _, s := range supported {
		if s <= cc && s > best {
			best = s
		}
	}
	if best < 0 {
		return "", fmt.Errorf("cuda: this NVRTC compiles for sm_%d and newer, the GPU is sm_%d: use an older NVRTC (GOGRAD_NVRTC)", slices.Min(supported), cc)
	}
	return fmt.Sprintf("compute_%d", best), nil
}

// nvrtcOptions are NVRTC's options for an architecture: IEEE division and
// square root and denormals kept (NVRTC's defaults, spelled out because
// gograd's results must match the other devices), FMA contraction allowed
// as on the CPU.
func nvrtcOptions(arch string) []string {
	return []string{"--gpu-architecture=" + arch, "--ftz=false", "--prec-div=true", "--prec-sqrt=true", "--fmad=true"}
}

// cuResultNames names the driver's result codes gograd meets (cuda.h).
var cuResultNames = map[int32]string{
	0: "CUDA_SUCCESS", 1: "CUDA_ERROR_INVALID_VALUE", 2: "CUDA_ERROR_OUT_OF_MEMORY", 3: "CUDA_ERROR_NOT_INITIALIZED",
	4: "CUDA_ERROR_DEINITIALIZED", 34: "CUDA_ERROR_STUB_LIBRARY", 100: "CUDA_ERROR_NO_DEVICE", 101: "CUDA_ERROR_INVALID_DEVICE",
	200: "CUDA_ERROR_INVALID_IMAGE", 201: "CUDA_ERROR_INVALID_CONTEXT", 209: "CUDA_ERROR_NO_BINARY_FOR_GPU",
	218: "CUDA_ERROR_INVALID_PTX", 222: "CUDA_ERROR_UNSUPPORTED_PTX_VERSION", 300: "CUDA_ERROR_INVALID_SOURCE",
	301: "CUDA_ERROR_FILE_NOT_FOUND", 400: "CUDA_ERROR_INVALID_HANDLE", 500: "CUDA_ERROR_NOT_FOUND", 600: "CUDA_ERROR_NOT_READY",
	700: "CUDA_ERROR_ILLEGAL_ADDRESS", 701: "CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES", 702: "CUDA_ERROR_LAUNCH_TIMEOUT",
	716: "CUDA_ERROR_MISALIGNED_ADDRESS", 719: "CUDA_ERROR_LAUNCH_FAILED", 800: "CUDA_ERROR_NOT_PERMITTED",
	801: "CUDA_ERROR_NOT_SUPPORTED", 803: "CUDA_ERROR_SYSTEM_DRIVER_MISMATCH", 999: "CUDA_ERROR_UNKNOWN",
}

// Error is a failed driver call: the function and the driver's result.
type Error struct {
	Func string
	Code int32
}

func (e *Error) Error() string {
	name, ok := cuResultNames[e.Code]
	if !ok {
		name = "CUresult " + strconv.Itoa(int(e.Code))
	}
	msg := fmt.Sprintf("cuda: %s: %s", e.Func, name)
	switch e.Code {
	case 100:
		msg += " (no CUDA device: the driver sees no GPU)"
	case 222:
		msg += " (NVRTC is newer than the driver: use an NVRTC no newer than the driver's CUDA version, via GOGRAD_NVRTC)"
	case 34, 803:
		msg += " (the driver library does not match the kernel module: reinstall the NVIDIA driver)"
	}
	return msg
}

// check turns a driver result into an error (nil for success).
func check(fn string, r int32) error {
	if r == 0 {
		return nil
	}
	return &Error{fn, r}
}

// CompileError is a kernel NVRTC rejected: its log and the source.
type CompileError struct {
	Name   string
	Arch   string
	Log    string
	Source string
}

func (e *CompileError) Error() string {
	return fmt.Sprintf("cuda: NVRTC failed on %s for %s:\n%s\n--- source ---\n%s", e.Name, e.Arch, e.Log, e.Source)
}
