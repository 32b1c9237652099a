//go:build unix

// Package cpu is the CPU device: kernels rendered as C (render.C) are
// compiled at run time by the system's C compiler ($CC, then clang, gcc, cc)
// into shared objects, loaded without cgo (purego) and run on all cores by
// splitting their outermost loop. Compiled kernels are cached on disk under
// the user cache directory, keyed by source, compiler and flags, so a second
// process compiles nothing. Buffers are host memory the kernels read in
// place (mmap for large ones).
//
// Package cpu imports device and render.
package cpu

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/ebitengine/purego"
	xcpu "golang.org/x/sys/cpu"
	"golang.org/x/sys/unix"

	"github.com/gograd/gograd/device"
	"github.com/gograd/gograd/internal/env"
	"github.com/gograd/gograd/render"
)

func init() {
	device.Register("CPU", 10, func(int) (device.Runtime, error) {
		c, err := findCompiler()
		if err != nil {
			return nil, err
		}
		return &cpuRuntime{cc: c}, nil
	})
}

// Flags are the compiler flags: optimise for this machine, wrap signed
// overflow as Go does, keep IEEE semantics (no -ffast-math; FMA contraction
// is allowed, as GCC does by default).
var Flags = []string{"-O3", "-march=native", "-fPIC", "-shared", "-fwrapv", "-fno-math-errno", "-fno-strict-aliasing", "-ffp-contract=fast"}

// gccFlags are added for GCC, whose vectorizers (GCC 12.2, AVX2 and
// AVX-512) miscompile gograd kernels: the SLP vectorizer selects of lanes
// under a sqrtf of lanes, the loop vectorizer a sum over a 3-long loop of
// masked terms (a transposed convolution of a constant,
// TestConvTransposeOfConstant). gograd's vectors are explicit, so little is
// lost.
var gccFlags = []string{"-fno-tree-slp-vectorize", "-fno-tree-loop-vectorize"}

func (c *compiler) flags() []string {
	if strings.Contains(strings.ToLower(c.version), "clang") {
		return Flags
	}
	return append(append([]string{}, Flags...), gccFlags...)
}

type compiler struct {
	path    string
	version string
}

var (
	ccOnce sync.Once
	ccVal  *compiler
	ccErr  error
)

// probeSource is what a compiler must build to be used: a shared object
// with the half-precision type the C renderer's kernels use (clang before
// 15 has no _Float16 on x86-64, and would fail every kernel).
const probeSource = "float gograd_probe(float f) { return (float)(_Float16)f; }\n"

// findCompiler picks $CC, clang, gcc or cc, the first that compiles
// probeSource into a shared object.
func findCompiler() (*compiler, error) {
	ccOnce.Do(func() {
		cands := []string{"clang", "gcc", "cc"}
		if env := os.Getenv("CC"); env != "" {
			cands = append([]string{env}, cands...)
		}
		var tried []string
		for _, c := range cands {
			path, err := exec.LookPath(c)
			if err != nil {
				tried = append(tried, c+" (not found)")
				continue
			}
			out, err := exec.Command(path, "--version").Output()
			if err != nil {
				tried = append(tried, c+" (--version failed)")
				continue
			}
			cc := &compiler{path: path, version: strings.SplitN(string(out), "\n", 2)[0]}
			if _, err := cc.build(probeSource); err != nil {
				tried = append(tried, c+" (cannot build a shared object with _Float16)")
				continue
			}
			ccVal = cc
			return
		}
		ccErr = fmt.Errorf("no working C compiler: tried %s", strings.Join(tried, ", "))
	})
	return ccVal, ccErr
}

var compilerRuns atomic.Int64

// CompilerRuns returns how many times this process ran the C compiler
// (a kernel found in the disk cache costs none).
func CompilerRuns() int64 { return compilerRuns.Load() }

// CacheDir is where compiled kernels are kept (cpu under gograd's cache
// directory: $GOGRAD_CACHE or the user cache directory).
func CacheDir() string { return filepath.Join(env.CacheDir(), "cpu") }

// build compiles src into a shared object in the cache and returns its path.
func (c *compiler) build(src string) (string, error) {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00%s\x00%s", c.path, c.version, strings.Join(c.flags(), " "), src)
	key := hex.EncodeToString(h.Sum(nil))[:32]
	dir := CacheDir()
	so := filepath.Join(dir, key+".so")
	if _, err := os.Stat(so); err == nil {
		return so, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("cpu: cache directory: %w", err)
	}
	tmp, err := os.CreateTemp(dir, key+"-*.so")
	if err != nil {
		return "", fmt.Errorf("cpu: cache directory: %w", err)
	}
	tmp.Close()
	defer os.Remove(tmp.Name())
	args := append(c.flags(), "-o", tmp.Name(), "-x", "c", "-", "-lm")
	cmd := exec.Command(c.path, args...)
	cmd.Stdin = strings.NewReader(src)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	compilerRuns.Add(1)
	if err := cmd.Run(); err != nil {
		return "", &CompileError{Compiler: c.path, Output: stderr.String(), Source: src, Err: err}
	}
	if err := os.Rename(tmp.Name(), so); err != nil {
		return "", fmt.Errorf("cpu: caching kernel: %w", err)
	}
	return so, nil
}

// CompileError is a kernel the C compiler rejected: its message and the source.
type CompileError struct {
	Compiler string
	Output   string
	Source   string
	Err      error
}

func (e *CompileError) Error() string {
	return fmt.Sprintf("cpu: %s failed (%v):\n%s\n--- source ---\n%s", e.Compiler, e.Err, e.Output, e.Source)
}

type cpuRuntime struct {
	cc *compiler

	poolOnce sync.Once
	workers  *pool
}

// pool returns the runtime's worker threads (GOMAXPROCS-1 of them, besides
// the caller), started on first use.
func (r *cpuRuntime) pool() *pool {
	r.poolOnce.Do(func() { r.workers = newPool(max(runtime.GOMAXPROCS(0)-1, 1)) })
	return r.workers
}

// mem is a CPU allocation: Go memory, or an anonymous mapping for large ones.
type mem struct {
	b      []byte
	mapped bool
}

const (
	mmapThreshold = 1 << 20
	hugePage      = 2 << 20 // x86-64 and arm64 transparent huge pages
)

func (r *cpuRuntime) Alloc(n int) (device.Mem, error) {
	if n >= mmapThreshold {
		b, err := mapAnon(n)
		if err != nil {
			return nil, fmt.Errorf("cpu: mmap %d bytes: %w", n, err)
		}
		return &mem{b: b, mapped: true}, nil
	}
	return &mem{b: make([]byte, n)}, nil
}

// mapAnon maps n bytes of zeroed memory. A mapping of at least a huge page
// starts on a huge-page boundary and asks for transparent huge pages: a
// kernel streaming a large weight matrix otherwise takes a TLB miss every
// 4 KiB, which held a float32 matrix-vector product to about two thirds of
// the memory bandwidth on a Zen 5. Where the system does not give them
// (transparent_hugepage "never"), the hint does nothing.
func mapAnon(n int) ([]byte, error) {
	size := uintptr(n)
	if n >= hugePage {
		size += hugePage
	}
	p, err := unix.MmapPtr(-1, 0, nil, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_ANON|unix.MAP_PRIVATE)
	if err != nil {
		return nil, err
	}
	if n < hugePage {
		return unsafe.Slice((*byte)(p), n), nil
	}
	// Keep [head, head+n) with head aligned; the pages before and after
	// go back to the system (munmap rounds a length up to whole pages).
	head := -uintptr(p) & (hugePage - 1)
	if head > 0 {
		if err := unix.MunmapPtr(p, head); err != nil {
			return nil, err
		}
	}
	ps := uintptr(os.Getpagesize())
	if end := head + (size-hugePage+ps-1)/ps*ps; end < size {
		if err := unix.MunmapPtr(unsafe.Add(p, end), size-end); err != nil {
			return nil, err
		}
	}
	b := unsafe.Slice((*byte)(unsafe.Add(p, head)), n)
	_ = unix.Madvise(b, unix.MADV_HUGEPAGE) // a hint: an error changes nothing
	return b, nil
}

func (r *cpuRuntime) Free(m device.Mem) {
	if mm := m.(*mem); mm.mapped {
		_ = unix.MunmapPtr(unsafe.Pointer(unsafe.SliceData(mm.b)), uintptr(len(mm.b)))
	}
}

func (r *cpuRuntime) Bytes(m device.Mem) []byte {
	if b, ok := m.([]byte); ok { // borrowed host memory (device.NewBufferOn)
		return b
	}
	return m.(*mem).b
}

func (r *cpuRuntime) CopyIn(m device.Mem, src []byte)  { copy(r.Bytes(m), src) }
func (r *cpuRuntime) CopyOut(dst []byte, m device.Mem) { copy(dst, r.Bytes(m)) }

// Compile builds (or finds in the cache) and loads a rendered C kernel.
func (r *cpuRuntime) Compile(name string, src any) (device.Program, error) {
	k, ok := src.(*render.CKernel)
	if !ok {
		return nil, fmt.Errorf("cpu: %s: expected a C kernel, got %T", name, src)
	}
	so, err := r.cc.build(k.Src)
	if err != nil {
		return nil, err
	}
	lib, err := purego.Dlopen(so, purego.RTLD_NOW|purego.RTLD_LOCAL)
	if err != nil {
		return nil, fmt.Errorf("cpu: loading %s: %w", so, err)
	}
	fn, err := purego.Dlsym(lib, k.Name)
	if err != nil {
		return nil, fmt.Errorf("cpu: %s not in %s: %w", k.Name, so, err)
	}
	return &program{k: k, fn: fn, rt: r, so: so}, nil
}

type program struct {
	k  *render.CKernel
	fn uintptr
	rt *cpuRuntime
	so string
}

// minWorkPerThread is the work (operations executed, vector or scalar)
// below which a kernel runs on one thread: handing parts to other threads
// costs more than it saves.
const minWorkPerThread = 1 << 16

// Source is the kernel's C source.
func (p *program) Source() string { return p.k.Src }

// Library is the path of the shared object the kernel was loaded from.
func (p *program) Library() string { return p.so }

func (p *program) Run(bufs []device.Mem, vars []int64) error {
	ptrs := make([]uintptr, len(bufs)+1)
	for i, m := range bufs {
		if b := p.rt.Bytes(m); len(b) > 0 {
			ptrs[i] = uintptr(unsafe.Pointer(&b[0]))
		}
	}
	varsPtr := uintptr(0)
	if len(vars) > 0 {
		varsPtr = uintptr(unsafe.Pointer(&vars[0]))
	}
	call := func(start, end int) {
		purego.SyscallN(p.fn, uintptr(unsafe.Pointer(&ptrs[0])), varsPtr, uintptr(start), uintptr(end))
	}
	workers := 1
	if p.k.Split > 1 && p.k.Work >= 2*minWorkPerThread {
		workers = min(runtime.GOMAXPROCS(0), p.k.Split, int(p.k.Work/minWorkPerThread))
	}
	if workers <= 1 {
		call(0, max(p.k.Split, 1))
	} else {
		// More parts than threads, claimed as they go: a thread the system
		// has not scheduled holds up a small part only.
		parts := min(p.k.Split, 4*workers)
		p.rt.pool().run(parts, func(w int) {
			call(p.k.Split*w/parts, p.k.Split*(w+1)/parts)
		})
	}
	runtime.KeepAlive(bufs)
	runtime.KeepAlive(ptrs)
	runtime.KeepAlive(vars)
	return nil
}

// ErrNoCompiler reports that no C compiler works on this machine.
var ErrNoCompiler = errors.New("cpu: no C compiler")

// VectorBytes is the width of the host's SIMD registers: 64 with AVX-512,
// 32 with AVX2, 16 otherwise (SSE, NEON).
func VectorBytes() int {
	switch {
	case xcpu.X86.HasAVX512F:
		return 64
	case xcpu.X86.HasAVX2:
		return 32
	}
	return 16
}
