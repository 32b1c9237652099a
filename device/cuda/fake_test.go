//go:build linux

package cuda_test

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	g "github.com/gograd/gograd"
	"github.com/gograd/gograd/device"
	"github.com/gograd/gograd/device/cuda"
	"github.com/gograd/gograd/render"
)

// The runtime is exercised without a GPU against a fake driver and a fake
// NVRTC: C libraries written from cuda.h's and nvrtc.h's prototypes,
// keeping "device memory" in host memory and running one known kernel
// (add_var) on the host. They check what a GPU cannot tell apart from a
// crash: the purego signatures (argument order and widths, the 11
// arguments of cuLaunchKernel, pointers written back), the per-thread
// context (every call must see the device's context current on its OS
// thread), the stream passed to every copy and launch, kernel parameter
// arrays, CUDA_KERNEL_NODE_PARAMS_v2's layout as C lays it out, NVRTC's
// option array and log, and the PTX disk cache across processes.

const fakeDriverC = `#include <stdlib.h>
#include <string.h>
#include <stddef.h>
typedef int CUresult;
typedef int CUdevice;
typedef struct CUctx_st *CUcontext;
typedef unsigned long long CUdeviceptr;
typedef struct CUstream_st *CUstream;
typedef struct CUevent_st *CUevent;
typedef struct { char *ptx; } *CUmodule;
typedef struct { char name[64]; int nparams; } *CUfunction;
typedef struct {
  CUfunction func;
  unsigned int gridDimX, gridDimY, gridDimZ, blockDimX, blockDimY, blockDimZ, sharedMemBytes;
  void **kernelParams;
  void **extra;
  void *kern;
  CUcontext ctx;
} CUDA_KERNEL_NODE_PARAMS_v2;
typedef struct node { CUDA_KERNEL_NODE_PARAMS_v2 p; unsigned long long vals[8]; void *ptrs[8]; struct node *next; } *CUgraphNode;
typedef struct { CUgraphNode first, last; int n; } *CUgraph;
typedef struct { struct node nodes[16]; int n; } *CUgraphExec;

#define CTX ((CUcontext)0x1234)
#define STREAM ((CUstream)0x5678)
static int inited, launches;
static __thread CUcontext current;
static long live;
#define NEED_CTX if (current != CTX) return 201
#define NEED_STREAM(s) if ((s) != STREAM) return 400

CUresult cuInit(unsigned int flags) { if (flags) return 1; inited = 1; return getenv("FAKE_NO_GPU") ? 100 : 0; }
CUresult cuDriverGetVersion(int *v) { *v = 12040; return 0; }
CUresult cuDeviceGetCount(int *n) { if (!inited) return 3; *n = 1; return 0; }
CUresult cuDeviceGet(CUdevice *d, int ordinal) { if (ordinal != 0) return 101; *d = 0; return 0; }
CUresult cuDeviceGetAttribute(int *v, int attr, CUdevice d) {
  if (d != 0) return 101;
  *v = attr == 75 ? 8 : attr == 76 ? 6 : attr == 16 ? 84 : 0;
  return 0;
}
CUresult cuDeviceGetName(char *name, int len, CUdevice d) { strncpy(name, "Fake GPU", len); return 0; }
CUresult cuDeviceTotalMem_v2(size_t *bytes, CUdevice d) { *bytes = (size_t)16 << 30; return 0; }
CUresult cuDevicePrimaryCtxRetain(CUcontext *c, CUdevice d) { *c = CTX; return 0; }
CUresult cuCtxSetCurrent(CUcontext c) { current = c; return 0; }
CUresult cuMemAlloc_v2(CUdeviceptr *p, size_t n) { NEED_CTX; if (n == 0) return 1; *p = (CUdeviceptr)calloc(1, n); live++; return 0; }
CUresult cuMemFree_v2(CUdeviceptr p) { NEED_CTX; free((void *)p); live--; return 0; }
CUresult cuMemHostAlloc(void **p, size_t n, unsigned int flags) { NEED_CTX; *p = malloc(n); return 0; }
CUresult cuMemFreeHost(void *p) { free(p); return 0; }
CUresult cuMemcpyHtoDAsync_v2(CUdeviceptr dst, const void *src, size_t n, CUstream s) { NEED_CTX; NEED_STREAM(s); memcpy((void *)dst, src, n); return 0; }
CUresult cuMemcpyDtoHAsync_v2(void *dst, CUdeviceptr src, size_t n, CUstream s) { NEED_CTX; NEED_STREAM(s); memcpy(dst, (void *)src, n); return 0; }
CUresult cuMemcpyDtoDAsync_v2(CUdeviceptr dst, CUdeviceptr src, size_t n, CUstream s) { NEED_CTX; NEED_STREAM(s); memmove((void *)dst, (void *)src, n); return 0; }
CUresult cuStreamCreate(CUstream *s, unsigned int flags) { NEED_CTX; *s = STREAM; return 0; }
CUresult cuStreamSynchronize(CUstream s) { NEED_CTX; NEED_STREAM(s); return 0; }
CUresult cuEventCreate(CUevent *e, unsigned int flags) { NEED_CTX; *e = (CUevent)malloc(8); return 0; }
CUresult cuEventRecord(CUevent e, CUstream s) { NEED_CTX; NEED_STREAM(s); return e ? 0 : 400; }
CUresult cuEventSynchronize(CUevent e) { NEED_CTX; return e ? 0 : 400; }
CUresult cuEventElapsedTime(float *ms, CUevent a, CUevent b) { NEED_CTX; if (!a || !b || a == b) return 400; *ms = 0.25f; return 0; }
CUresult cuEventDestroy_v2(CUevent e) { free(e); return 0; }
CUresult cuModuleLoadData(CUmodule *m, const void *image) {
  NEED_CTX;
  if (strncmp((const char *)image, "// fake ptx", 11) != 0) return 218;
  *m = malloc(sizeof **m);
  (*m)->ptx = strdup((const char *)image);
  return 0;
}
CUresult cuModuleGetFunction(CUfunction *f, CUmodule m, const char *name) {
  NEED_CTX;
  char entry[80];
  snprintf(entry, sizeof entry, " %s(", name);
  if (!strstr(m->ptx, entry) || strlen(name) >= 64) return 500;
  *f = calloc(1, sizeof **f);
  strcpy((*f)->name, name);
  (*f)->nparams = strcmp(name, "add_var") == 0 ? 3 : -1;
  return 0;
}
CUresult cuModuleUnload(CUmodule m) { free(m->ptx); free(m); return 0; }
static CUresult run(CUfunction f, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by, unsigned bz, void **params) {
  if (f->nparams < 0) return 801; /* a kernel the fake cannot run */
  if (gy != 1 || gz != 1 || by != 1 || bz != 1) return 1;
  float *out = *(float **)params[0];
  const float *in = *(const float **)params[1];
  long long v = *(long long *)params[2];
  for (unsigned i = 0; i < gx * bx; i++)
    if (i < 1000) out[i] = in[i] + (float)v;
  launches++;
  return 0;
}
CUresult cuLaunchKernel(CUfunction f, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by, unsigned bz,
                        unsigned shared, CUstream s, void **params, void **extra) {
  NEED_CTX; NEED_STREAM(s);
  if (shared != 0 || extra != NULL || params == NULL) return 1;
  return run(f, gx, gy, gz, bx, by, bz, params);
}
static void keep(struct node *n, const CUDA_KERNEL_NODE_PARAMS_v2 *p) {
  n->p = *p;
  for (int i = 0; i < p->func->nparams; i++) { n->vals[i] = *(unsigned long long *)p->kernelParams[i]; n->ptrs[i] = &n->vals[i]; }
  n->p.kernelParams = n->ptrs;
}
CUresult cuGraphCreate(CUgraph *g, unsigned int flags) { NEED_CTX; *g = calloc(1, sizeof **g); return 0; }
CUresult cuGraphAddKernelNode_v2(CUgraphNode *node, CUgraph g, const CUgraphNode *deps, size_t ndeps, const CUDA_KERNEL_NODE_PARAMS_v2 *p) {
  NEED_CTX;
  if (ndeps != (g->n ? 1u : 0u) || (ndeps && deps[0] != g->last)) return 1; /* a chain */
  if (p->func->nparams < 0 || p->extra || p->kern || p->ctx || p->sharedMemBytes) return 1;
  struct node *n = calloc(1, sizeof *n);
  keep(n, p);
  if (g->last) g->last->next = n; else g->first = n;
  g->last = n; g->n++;
  *node = n;
  return 0;
}
CUresult cuGraphInstantiateWithFlags(CUgraphExec *e, CUgraph g, unsigned long long flags) {
  NEED_CTX;
  if (flags || g->n > 16) return 1;
  *e = calloc(1, sizeof **e);
  int i = 0;
  for (struct node *n = g->first; n; n = n->next, i++) { keep(&(*e)->nodes[i], &n->p); (*e)->nodes[i].next = n; }
  (*e)->n = g->n;
  return 0;
}
CUresult cuGraphExecKernelNodeSetParams_v2(CUgraphExec e, CUgraphNode node, const CUDA_KERNEL_NODE_PARAMS_v2 *p) {
  NEED_CTX;
  for (int i = 0; i < e->n; i++)
    if (e->nodes[i].next == node) { struct node *keepNext = e->nodes[i].next; keep(&e->nodes[i], p); e->nodes[i].next = keepNext; return 0; }
  return 400;
}
CUresult cuGraphLaunch(CUgraphExec e, CUstream s) {
  NEED_CTX; NEED_STREAM(s);
  for (int i = 0; i < e->n; i++) {
    CUDA_KERNEL_NODE_PARAMS_v2 *p = &e->nodes[i].p;
    CUresult r = run(p->func, p->gridDimX, p->gridDimY, p->gridDimZ, p->blockDimX, p->blockDimY, p->blockDimZ, p->kernelParams);
    if (r) return r;
  }
  return 0;
}
CUresult cuGraphExecDestroy(CUgraphExec e) { free(e); return 0; }
CUresult cuGraphDestroy(CUgraph g) { free(g); return 0; }
int fake_launches(void) { return launches; }
long fake_live(void) { return live; }
`

const fakeNVRTCC = `#include <stdio.h>
#include <stdlib.h>
#include <string.h>
typedef struct { char *src, *ptx, *log; } *nvrtcProgram;
int nvrtcVersion(int *major, int *minor) { *major = 12; *minor = 4; return 0; }
int nvrtcGetNumSupportedArchs(int *n) { *n = 3; return 0; }
int nvrtcGetSupportedArchs(int *a) { a[0] = 50; a[1] = 80; a[2] = 90; return 0; }
int nvrtcCreateProgram(nvrtcProgram *p, const char *src, const char *name, int nh, const char *const *h, const char *const *in) {
  if (nh != 0 || !name || !strstr(name, ".cu")) return 3;
  *p = calloc(1, sizeof **p);
  (*p)->src = strdup(src);
  return 0;
}
int nvrtcCompileProgram(nvrtcProgram p, int n, const char *const *opts) {
  const char *arch = NULL;
  for (int i = 0; i < n; i++) if (strncmp(opts[i], "--gpu-architecture=", 19) == 0) arch = opts[i] + 19;
  if (!arch) { p->log = strdup("no --gpu-architecture"); return 6; }
  if (strstr(p->src, "this is not CUDA")) { p->log = strdup("kernel.cu(1): error: expected a \";\""); return 6; }
  size_t len = strlen(p->src) + 64;
  p->ptx = malloc(len);
  snprintf(p->ptx, len, "// fake ptx for %s\n%s", arch, p->src);
  return 0;
}
int nvrtcGetPTXSize(nvrtcProgram p, size_t *n) { if (!p->ptx) return 1; *n = strlen(p->ptx) + 1; return 0; }
int nvrtcGetPTX(nvrtcProgram p, char *out) { strcpy(out, p->ptx); return 0; }
int nvrtcGetProgramLogSize(nvrtcProgram p, size_t *n) { *n = p->log ? strlen(p->log) + 1 : 1; return 0; }
int nvrtcGetProgramLog(nvrtcProgram p, char *out) { strcpy(out, p->log ? p->log : ""); return 0; }
int nvrtcDestroyProgram(nvrtcProgram *p) { free((*p)->src); free((*p)->ptx); free((*p)->log); free(*p); *p = NULL; return 0; }
const char *nvrtcGetErrorString(int r) { return r == 6 ? "NVRTC_ERROR_COMPILATION" : "NVRTC_ERROR"; }
`

// fakeLibs builds the fake libcuda.so.1 and libnvrtc.so into a directory.
func fakeLibs(t *testing.T) string {
	t.Helper()
	cc := ""
	for _, c := range []string{os.Getenv("CC"), "cc", "gcc", "clang"} {
		if p, err := exec.LookPath(c); c != "" && err == nil {
			cc = p
			break
		}
	}
	if cc == "" {
		t.Skip("no C compiler to build the fake driver")
	}
	dir := t.TempDir()
	for _, lib := range []struct{ name, src string }{{"libcuda.so.1", fakeDriverC}, {"libnvrtc.so", fakeNVRTCC}} {
		src := filepath.Join(dir, lib.name+".c")
		if err := os.WriteFile(src, []byte("#include <stdio.h>\n"+lib.src), 0o644); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command(cc, "-shared", "-fPIC", "-O1", "-Wall", "-Werror", "-Wno-unused-variable", "-o", filepath.Join(dir, lib.name), src).CombinedOutput(); err != nil {
			t.Fatalf("building the fake %s: %v\n%s", lib.name, err, out)
		}
	}
	return dir
}

// fakeChild runs the fake-driver child of this test binary.
func fakeChild(t *testing.T, libs, cache string, env ...string) (string, bool) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run", "^$")
	cmd.Env = append(os.Environ(), append([]string{"GOGRAD_FAKE_CUDA_CHILD=1", "LD_LIBRARY_PATH=" + libs, "GOGRAD_CACHE=" + cache, "GOGRAD_NVRTC=", "DEV="}, env...)...)
	out, err := cmd.CombinedOutput()
	return string(out), err == nil
}

// TestRuntimeAgainstFakeDriver opens CUDA on the fake driver and runs the
// runtime's every path: allocation, copies through the pinned buffer (more
// than it holds), compilation through NVRTC and the disk cache, launches
// with their arguments, event timing, back-to-back sequences, graphs and
// their updates, NVRTC's errors, and the default-device choice.
func TestRuntimeAgainstFakeDriver(t *testing.T) {
	libs := fakeLibs(t)
	cache := t.TempDir()
	out, ok := fakeChild(t, libs, cache)
	if !ok || !strings.Contains(out, "fake: all ok") {
		t.Fatalf("the fake-driver child failed:\n%s", out)
	}
	for _, want := range []string{"kinds=[CUDA CPU GO]", "default=CUDA:0", "arch=compute_80", "nvrtc=1"} {
		if !strings.Contains(out, want) {
			t.Errorf("the child should report %s:\n%s", want, out)
		}
	}
	// A second process finds the kernel in the disk cache.
	out, ok = fakeChild(t, libs, cache)
	if !ok || !strings.Contains(out, "nvrtc=0") {
		t.Errorf("the second process ran NVRTC although the PTX is cached:\n%s", out)
	}
	// A realized tensor goes render.CUDA -> NVRTC -> module -> launch; the
	// fake cannot run the generated kernel and says so at the launch.
	out, _ = fakeChild(t, libs, cache, "GOGRAD_FAKE_REALIZE=1")
	if !strings.Contains(out, "cuLaunchKernel: CUDA_ERROR_NOT_SUPPORTED (kernel E_") {
		t.Errorf("a realized kernel should reach the fake's cuLaunchKernel by name:\n%s", out)
	}
	// A driver without a GPU: CUDA stays registered as preferred, fails
	// naming the reason, and the fallback is noted once.
	out, ok = fakeChild(t, libs, cache, "FAKE_NO_GPU=1", "GOGRAD_FAKE_DEFAULT=1")
	if !ok || !strings.Contains(out, "default=CPU:0") && !strings.Contains(out, "default=GO:0") {
		t.Fatalf("without a GPU the default falls back:\n%s", out)
	}
	if n := strings.Count(out, "gograd: using"); n != 1 || !strings.Contains(out, "no CUDA device") {
		t.Errorf("want one notice naming \"no CUDA device\", got:\n%s", out)
	}
}

// fakeMain is the child: it returns the lines it prints.
func fakeMain() error {
	if os.Getenv("GOGRAD_FAKE_DEFAULT") != "" {
		fmt.Printf("default=%s\n", device.Default())
		return nil
	}
	fmt.Printf("kinds=%v\n", device.Kinds())
	if os.Getenv("GOGRAD_FAKE_REALIZE") != "" {
		defer func() { fmt.Println(recover()) }()
		fmt.Println(g.FromSlice([]float32{1, 2, 3}).Add(1).Float32s())
		return nil
	}
	fmt.Printf("default=%s\n", device.Default())
	d, err := device.Get("CUDA")
	if err != nil {
		return err
	}
	r := d.Runtime().(*cuda.Runtime)
	fmt.Printf("arch=%s\n%s\n", r.Arch(), r)
	// Copies larger than the pinned buffer, and of nothing.
	big := make([]byte, 16<<20+13)
	for i := range big {
		big[i] = byte(i*7 + i>>16)
	}
	m, err := r.Alloc(len(big))
	if err != nil {
		return err
	}
	r.CopyIn(m, big)
	back := make([]byte, len(big))
	r.CopyOut(back, m)
	if string(back) != string(big) {
		return errors.New("a 16 MiB copy did not round-trip")
	}
	m2, err := r.Alloc(len(big))
	if err != nil {
		return err
	}
	if err := r.CopyDevice(m2, m, len(big)); err != nil {
		return err
	}
	r.CopyOut(back, m2)
	if string(back) != string(big) {
		return errors.New("a device copy lost data")
	}
	r.Free(m)
	r.Free(m2)
	empty, err := r.Alloc(0)
	if err != nil {
		return err
	}
	r.CopyIn(empty, nil)
	r.Free(empty)
	// A kernel: compiled (or found in the cache), run timed, in sequences
	// and graphs.
	p, err := d.Compile("add_var", addVar)
	if err != nil {
		return err
	}
	fmt.Printf("nvrtc=%d\n", cuda.CompilerRuns())
	in := fmem(r, vals(1000))
	a, b := fmem(r, make([]float32, 1000)), fmem(r, make([]float32, 1000))
	el, err := p.(interface {
		RunTimed([]device.Mem, []int64) (time.Duration, error)
	}).RunTimed([]device.Mem{a, in}, []int64{3})
	if err != nil {
		return err
	}
	if el != 250*time.Microsecond {
		return fmt.Errorf("RunTimed gave %v, the fake's events say 250µs", el)
	}
	if err := expect(r, "a launch", a, 3); err != nil {
		return err
	}
	if err := p.Run([]device.Mem{a, in}, nil); err == nil {
		return errors.New("a launch without its variable should fail")
	}
	seq := []cuda.Launch{{Prog: p, Mems: []device.Mem{a, in}, Vars: []int64{1}}, {Prog: p, Mems: []device.Mem{b, a}, Vars: []int64{10}}}
	if _, err := r.RunAll(seq); err != nil {
		return err
	}
	if err := expect(r, "RunAll", b, 1, 10); err != nil {
		return err
	}
	gr, err := r.NewGraph(seq)
	if err != nil {
		return err
	}
	r.CopyIn(b, make([]byte, 4000))
	if _, err := gr.Run(); err != nil {
		return err
	}
	if err := expect(r, "a graph", b, 1, 10); err != nil {
		return err
	}
	if err := gr.Update(1, []device.Mem{b, a}, []int64{100}); err != nil {
		return err
	}
	if _, err := gr.Run(); err != nil {
		return err
	}
	if err := expect(r, "an updated graph", b, 1, 100); err != nil {
		return err
	}
	gr.Close()
	// NVRTC's log comes back with the source.
	_, err = d.Compile("broken", &render.CUDAKernel{Name: "broken", Src: "extern \"C\" __global__ void broken() { this is not CUDA; }\n"})
	var ce *cuda.CompileError
	if !errors.As(err, &ce) || !strings.Contains(ce.Log, "expected a") || !strings.Contains(err.Error(), "this is not CUDA") {
		return fmt.Errorf("want NVRTC's log and the source, got %v", err)
	}
	fmt.Println("fake: all ok")
	return nil
}

func fmem(r *cuda.Runtime, v []float32) device.Mem {
	m, err := r.Alloc(4 * len(v))
	if err != nil {
		panic(err)
	}
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
	}
	r.CopyIn(m, b)
	return m
}

// expect checks that m holds vals(1000) with adds added in turn (each a
// kernel's float32 addition).
func expect(r *cuda.Runtime, what string, m device.Mem, adds ...float32) error {
	want := vals(1000)
	for i, v := range floatsOf(r, m, 1000) {
		w := want[i]
		for _, a := range adds {
			w += a
		}
		if v != w {
			return fmt.Errorf("%s: element %d is %v, want %v", what, i, v, w)
		}
	}
	return nil
}
