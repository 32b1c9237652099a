package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gograd/gograd"
)

// runCLI runs the tool with args and returns its exit status and output.
func runCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := (&cli{stdout: &out, stderr: &errb}).main(args)
	return code, out.String(), errb.String()
}

func TestCommands(t *testing.T) {
	tests := []struct {
		args []string
		code int
		out  string // a substring of stdout
		err  string // a substring of stderr
	}{
		{args: nil, code: 2, err: "Commands:"},
		{args: []string{"nosuch"}, code: 2, err: `unknown command "nosuch"`},
		{args: []string{"help"}, code: 0, out: "bench"},
		{args: []string{"help", "bench"}, code: 0, out: "-runs"},
		{args: []string{"help", "nosuch"}, code: 2, err: "unknown command"},
		{args: []string{"version"}, code: 0, out: "gograd "},
		{args: []string{"bench", "-h"}, code: 0, err: "-only"},
		{args: []string{"help", "bench"}, code: 0, out: "-peers"},
		{args: []string{"bench", "--nosuchflag"}, code: 2, err: "nosuchflag"},
		{args: []string{"bench", "extra"}, code: 2, err: "unexpected arguments"},
		{args: []string{"bench", "--runs", "0"}, code: 2, err: "positive"},
		{args: []string{"bench", "--suite", "nosuch"}, code: 2, err: `unknown suite "nosuch"`},
		{args: []string{"bench", "--peers", "nosuch"}, code: 2, err: `unknown peer "nosuch"`},
		{args: []string{"bench", "--peer-env", "NOEQUALS"}, code: 2, err: "not KEY=VALUE"},
		{args: []string{"bench", "--jit=maybe"}, code: 2, err: "want true, false or auto"},
		{args: []string{"bench", "--only", "nosuch"}, code: 1, err: `unknown workload "nosuch"`},
		{args: []string{"bench", "--device", "NOSUCH", "--only", "fma"}, code: 1, err: "unknown device"},
		{args: []string{"bench", "--device", "GO:x", "--only", "fma"}, code: 1, err: "bad device index"},
	}
	for _, tc := range tests {
		code, out, errs := runCLI(t, tc.args...)
		if code != tc.code || !strings.Contains(out, tc.out) || !strings.Contains(errs, tc.err) {
			t.Errorf("gograd %q: exit %d, stdout %q, stderr %q; want exit %d, stdout with %q, stderr with %q",
				tc.args, code, out, errs, tc.code, tc.out, tc.err)
		}
	}
}

// TestBaselinesAgree checks every workload at a small, odd size: gograd and
// the plain-Go baseline must compute the same values.
func TestBaselinesAgree(t *testing.T) {
	for _, w := range testWorkloads() {
		t.Run(w.name, func(t *testing.T) {
			inst := w.prepare(gograd.DefaultDevice(), rand.New(rand.NewPCG(3, 4)))
			got, want := inst.expr().Float32s(), inst.baseline()
			if e := maxRelErr(got, want); !(e <= w.tol) {
				t.Errorf("%s %s: max relative error %g > %g", w.name, w.shape, e, w.tol)
			}
		})
	}
}

func TestBaselineValues(t *testing.T) {
	// (2, 3) @ (3, 2)
	got := baseMatmul([]float32{1, 2, 3, 4, 5, 6}, []float32{7, 8, 9, 10, 11, 12}, 2, 3, 2)
	if want := []float32{58, 64, 139, 154}; !equal(got, want) {
		t.Errorf("baseMatmul = %v, want %v", got, want)
	}
	if got, want := baseFMA([]float32{1, 2}, []float32{3, 4}, []float32{5, 6}), []float32{8, 14}; !equal(got, want) {
		t.Errorf("baseFMA = %v, want %v", got, want)
	}
	sm := baseSoftmax([]float32{0, 0, 5, 5}, 2, 2)
	if want := []float32{0.5, 0.5, 0.5, 0.5}; !equal(sm, want) {
		t.Errorf("baseSoftmax = %v, want %v", sm, want)
	}
	// A 3x3 image of ones, a 3x3 kernel of ones, padding 1: each output
	// counts the in-bounds neighbours.
	ones := []float32{1, 1, 1, 1, 1, 1, 1, 1, 1}
	cv := baseConv2d(ones, ones, 1, 1, 3, 3, 1, 3, 1)
	if want := []float32{4, 6, 4, 6, 9, 6, 4, 6, 4}; !equal(cv, want) {
		t.Errorf("baseConv2d = %v, want %v", cv, want)
	}
	// W (2, 3) @ x (3)
	if got, want := baseMatvec([]float32{1, 2, 3, 4, 5, 6}, []float32{1, 0, -1}, 2, 3), []float32{-2, -2}; !equal(got, want) {
		t.Errorf("baseMatvec = %v, want %v", got, want)
	}
	if got, want := baseMatvecQ8([]int8{1, 2, 3, -4, 5, 6}, []float32{0.5, 2}, []float32{1, 0, -1}, 2, 3), []float32{-1, -20}; !equal(got, want) {
		t.Errorf("baseMatvecQ8 = %v, want %v", got, want)
	}
	// Rows (1, 3) and (5, 1): centred (-1, 1) and (2, -2), normalized
	// (-1, 1) and (1, -1) (eps 0), then times (2, 3) plus (0, 1).
	if got, want := baseLayerNorm([]float32{1, 3, 5, 1}, []float32{2, 3}, []float32{0, 1}, 2, 2, 0), []float32{-2, 4, 2, -2}; !equal(got, want) {
		t.Errorf("baseLayerNorm = %v, want %v", got, want)
	}
}

func equal(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// decodeReport decodes gograd bench --json output.
func decodeReport(t *testing.T, out string) report {
	t.Helper()
	var res report
	dec := json.NewDecoder(strings.NewReader(out))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&res); err != nil {
		t.Fatalf("bench --json output does not decode: %v\n%s", err, out)
	}
	return res
}

func TestBenchJSON(t *testing.T) {
	code, out, errs := runCLI(t, "bench", "--json", "--small", "--only", "fma,matvec_q8,softmax,layernorm", "--runs", "2", "--threads", "2", "--peers", "none")
	if code != 0 {
		t.Fatalf("gograd bench: exit %d\nstderr:\n%s", code, errs)
	}
	res := decodeReport(t, out)
	if m := res.Machine; m.Cores != 2 || m.Threads != 2 || m.Device == "" || m.Go == "" || m.CPU == "" || m.Date == "" || len(m.Peers) != 0 {
		t.Errorf("machine = %+v", m)
	}
	var ids []string
	for _, r := range res.Rows {
		ids = append(ids, r.ID)
	}
	if want := []string{"matvec_q8_512x512", "matvec_q8_1376x512", "fma", "softmax", "layernorm"}; !slices.Equal(ids, want) {
		t.Fatalf("rows %q, want %q", ids, want)
	}
	for _, r := range res.Rows {
		if !r.OK || r.Mode != "jit" || r.Runs != 2 || r.Inner < 1 || !(r.Seconds > 0) || !(r.BaseSeconds > 0) || !(r.Ratio > 0) || r.FLOPs <= 0 || r.Bytes <= 0 {
			t.Errorf("row %+v", r)
		}
		if len(r.Warnings) > 0 {
			t.Errorf("%s: warnings %q", r.ID, r.Warnings)
		}
		// The memory-bound rows carry the yardstick.
		if c := r.Copy; !r.MemoryBound || c == nil || c.Bytes <= 0 || !(c.GoGBS > 0) || !(c.GogradGBS > 0) || !(c.PctOfCopy > 0) || c.Yardstick != "go" {
			t.Errorf("%s: memory bound %v, copy figures %+v", r.ID, r.MemoryBound, r.Copy)
		}
		if r.Peers != nil || r.BestPeer != "" {
			t.Errorf("%s: peer figures %+v with --peers none", r.ID, r.Peers)
		}
		// Fusion: a*b+c and the int8 matvec (cast and scale included) are
		// one kernel each; softmax and layernorm at most three.
		switch r.Name {
		case "fma", "matvec_q8":
			if r.Kernels != 1 {
				t.Errorf("%s ran %d kernels per call, want 1", r.ID, r.Kernels)
			}
		default:
			if r.Kernels < 1 || r.Kernels > 3 {
				t.Errorf("%s ran %d kernels per call, want 1 to 3", r.ID, r.Kernels)
			}
		}
	}
	// The int8 weights are read as int8: the kernels move about the bytes
	// the shapes say, not four times as many.
	if r := res.Rows[0]; r.CountedBytes > 2*r.Bytes {
		t.Errorf("%s: kernels moved %d bytes, shapes say %d", r.ID, r.CountedBytes, r.Bytes)
	}
}

// TestBenchSmall runs every row of the cpu suite once at its small size,
// timed both ways.
func TestBenchSmall(t *testing.T) {
	for _, jit := range []string{"--jit", "--jit=false"} {
		code, out, errs := runCLI(t, "bench", "--small", "--suite", "cpu", "--runs", "1", "--peers", "none", jit)
		if code != 0 {
			t.Fatalf("gograd bench %s: exit %d\nstderr:\n%s", jit, code, errs)
		}
		work, _ := suiteWorkloads("cpu", true)
		for _, w := range work {
			if !strings.Contains(out, w.id+" ") {
				t.Errorf("bench %s: no row %s:\n%s", jit, w.id, out)
			}
		}
		for _, want := range []string{"bandwidth yardstick", "% of copy", "gograd timed with: " + map[string]string{"--jit": "jit", "--jit=false": "realize"}[jit]} {
			if !strings.Contains(out, want) {
				t.Errorf("bench %s: table lacks %q:\n%s", jit, want, out)
			}
		}
		if strings.Contains(out, "FAIL") || strings.Contains(out, " !\n") {
			t.Errorf("bench %s: a row failed or warned:\n%s", jit, out)
		}
	}
}

func TestBenchTable(t *testing.T) {
	code, out, errs := runCLI(t, "bench", "--small", "--suite", "core", "--only", "fma", "--runs", "1", "--peers", "none")
	if code != 0 {
		t.Fatalf("gograd bench: exit %d\nstderr:\n%s", code, errs)
	}
	for _, want := range []string{"machine: ", "device " + gograd.DefaultDevice(), "id", "fma", "GB/s", "vs Go", "vs peer", " ok", "realize"} {
		if !strings.Contains(out, want) {
			t.Errorf("bench table lacks %q:\n%s", want, out)
		}
	}
}

// TestPeersAbsent: without python3 the probe answers "absent" and the bench
// runs without peers.
func TestPeersAbsent(t *testing.T) {
	t.Setenv("PATH", "")
	if p, err := findPython([]string{"python3", "/nonexistent/python3"}); !errors.Is(err, errNoPython) {
		t.Fatalf("findPython with PATH emptied = %q, %v; want errNoPython", p, err)
	}
	peers, infos := startPeers([]string{"python3"}, peerLibs, 2, nil)
	if len(peers) != 0 || len(infos) != len(peerLibs) {
		t.Fatalf("startPeers without python: %d peers, infos %+v", len(peers), infos)
	}
	for _, in := range infos {
		if in.Status != "absent" || !strings.Contains(in.Note, "no python3") {
			t.Errorf("peer info %+v, want absent", in)
		}
	}
	// The GO device: the CPU device may need a C compiler from PATH.
	code, out, errs := runCLI(t, "bench", "--json", "--device", "GO", "--small", "--only", "fma", "--runs", "1", "--python", "python3")
	if code != 0 {
		t.Fatalf("gograd bench without python: exit %d\nstderr:\n%s", code, errs)
	}
	res := decodeReport(t, out)
	if len(res.Machine.Peers) != 2 || res.Machine.Peers[0].Status != "absent" || res.Machine.Peers[1].Status != "absent" {
		t.Errorf("machine peers %+v, want both absent", res.Machine.Peers)
	}
	if len(res.Rows) != 1 || res.Rows[0].Peers != nil || res.Rows[0].BestPeer != "" {
		t.Errorf("rows %+v: want one row without peer figures", res.Rows)
	}
}

// TestPeersLive runs the numpy worker when this machine has python3 with
// numpy: the protocol, then a bench with a peers column.
func TestPeersLive(t *testing.T) {
	python, err := findPython(pythonCandidates)
	if err != nil {
		t.Skip("no python3")
	}
	p := startPeer(python, "numpy", 1, nil)
	defer p.close()
	if p.info.Status == "absent" {
		t.Skipf("numpy: %s", p.info.Note)
	}
	if !p.ok() || p.info.Version == "" || p.info.Threads != 1 {
		t.Fatalf("numpy worker: %+v", p.info)
	}
	if s, err := p.setup("c", peerSpec{"conv2d", []int{1, 1, 3, 3, 1, 3}}, 0.001); err != nil || s.Skip == "" {
		t.Errorf("numpy conv2d setup = %+v, %v; want a skip", s, err)
	}
	if _, err := p.time("nosuch", 1); err == nil || !p.ok() {
		t.Errorf("timing an unknown id: err %v, worker ok %v; want an error and a live worker", err, p.ok())
	}
	s, err := p.setup("m", peerSpec{"matvec", []int{64, 32}}, 0.001)
	if err != nil || s.Skip != "" || s.Inner < 1 || !strings.HasPrefix(s.Note, "out") {
		t.Fatalf("numpy matvec setup = %+v, %v", s, err)
	}
	if ts, err := p.time("m", 3); err != nil || len(ts) != 3 || !(ts[0] > 0) {
		t.Errorf("numpy matvec times = %v, %v", ts, err)
	}
	if err := p.free("m"); err != nil {
		t.Errorf("free: %v", err)
	}

	code, out, errs := runCLI(t, "bench", "--json", "--small", "--only", "fma,matvec_q8_512x512", "--runs", "2", "--peers", "numpy", "--threads", "1")
	if code != 0 {
		t.Fatalf("gograd bench --peers numpy: exit %d\nstderr:\n%s", code, errs)
	}
	res := decodeReport(t, out)
	if len(res.Machine.Peers) != 1 || res.Machine.Peers[0].Status != "ok" || res.Machine.Peers[0].Threads != 1 {
		t.Fatalf("machine peers %+v", res.Machine.Peers)
	}
	if len(res.Rows) != 2 || res.Rows[0].Name != "matvec_q8" || res.Rows[1].Name != "fma" {
		t.Fatalf("rows %+v, want matvec_q8 and fma", res.Rows)
	}
	q8, fma := res.Rows[0], res.Rows[1]
	if np := fma.Peers["numpy"]; np == nil || np.Status != "ok" || np.Runs != 2 || !(np.Seconds > 0) || !(np.Ratio > 0) || !(np.GBS > 0) {
		t.Errorf("fma numpy figures %+v", np)
	}
	if fma.BestPeer != "numpy" || !(fma.PeerRatio > 0) || fma.PeerRatio != fma.Peers["numpy"].Ratio {
		t.Errorf("fma best peer %q, ratio %v", fma.BestPeer, fma.PeerRatio)
	}
	if np := q8.Peers["numpy"]; np == nil || np.Status != "skipped" || q8.BestPeer != "" {
		t.Errorf("matvec_q8 numpy figures %+v, best peer %q: want skipped", np, q8.BestPeer)
	}
}

func TestHelpers(t *testing.T) {
	if m := median([]float64{10, 1, 3, 2}); m != 2.5 {
		t.Errorf("median of 1,2,3,10 = %v, want 2.5", m)
	}
	if m := median([]float64{1, 10, 2}); m != 2 {
		t.Errorf("median of 1,2,10 = %v, want 2", m)
	}
	if m := median(nil); m != 0 {
		t.Errorf("median of nothing = %v, want 0", m)
	}
	for _, tc := range []struct {
		s    float64
		want string
	}{{2.5, "2.5s"}, {0.0123, "12.3ms"}, {4.56e-5, "45.6µs"}} {
		if got := fmtDur(tc.s); got != tc.want {
			t.Errorf("fmtDur(%v) = %q, want %q", tc.s, got, tc.want)
		}
	}
	if e := maxRelErr([]float32{1, 2}, []float32{1, 4}); e != 0.5 {
		t.Errorf("maxRelErr = %v, want 0.5", e)
	}
	if e := maxRelErr([]float32{1}, []float32{1, 4}); e <= 1 {
		t.Errorf("maxRelErr of different lengths = %v, want +Inf", e)
	}
	if n := batchSize(time.Millisecond); n != 20 {
		t.Errorf("batchSize(1ms) = %d, want 20", n)
	}
	if n := batchSize(time.Second); n != 1 {
		t.Errorf("batchSize(1s) = %d, want 1", n)
	}
	if n := sideRuns(time.Millisecond, 5); n != 5 {
		t.Errorf("sideRuns(1ms, 5) = %d, want 5", n)
	}
	if n := sideRuns(2*time.Second, 5); n != 2 {
		t.Errorf("sideRuns(2s, 5) = %d, want 2", n)
	}
	if n := sideRuns(time.Minute, 5); n != 1 {
		t.Errorf("sideRuns(1m, 5) = %d, want 1", n)
	}
	for dev, want := range map[string]bool{"CPU": true, "CPU:1": true, "GO:0": true, "CUDA:0": false} {
		if hostDevice(dev) != want {
			t.Errorf("hostDevice(%q) = %v, want %v", dev, !want, want)
		}
	}
	var b autoBool
	if b.or(true) != true || b.or(false) != false || b.String() != "auto" {
		t.Errorf("unset autoBool: %v %v %q", b.or(true), b.or(false), b.String())
	}
	if err := b.Set("false"); err != nil || b.or(true) != false {
		t.Errorf("autoBool set false: %v, %v", err, b.or(true))
	}
	for _, tc := range []struct {
		in   string
		want []string
		err  bool
	}{{"auto", peerLibs, false}, {"none", nil, false}, {"torch", []string{"torch"}, false}, {"torch, numpy,torch", []string{"torch", "numpy"}, false}, {"jax", nil, true}} {
		got, err := peerList(tc.in)
		if (err != nil) != tc.err || !slices.Equal(got, tc.want) {
			t.Errorf("peerList(%q) = %q, %v; want %q, error %v", tc.in, got, err, tc.want, tc.err)
		}
	}
	work, _ := suiteWorkloads("cpu", false)
	for _, tc := range []struct {
		only string
		want []string
	}{{"matmul", []string{"matmul_256", "matmul_512", "matmul", "matmul_2048"}}, {"matmul_2048,fma", []string{"matmul_2048", "fma"}}, {"matmul_1024", []string{"matmul"}}, {"matvec", []string{"matvec_4096x4096", "matvec_11008x4096"}}} {
		sel, err := selectRows(work, tc.only)
		var ids []string
		for _, w := range sel {
			ids = append(ids, w.id)
		}
		if err != nil || !slices.Equal(ids, tc.want) {
			t.Errorf("selectRows(%q) = %q, %v; want %q", tc.only, ids, err, tc.want)
		}
	}
	core, _ := suiteWorkloads("core", false)
	var names []string
	for _, w := range core {
		names = append(names, w.id)
	}
	if want := []string{"fma", "matmul", "softmax", "conv2d"}; !slices.Equal(names, want) {
		t.Errorf("core suite %q, want %q", names, want)
	}
}

// testWorkloads are the bench's workloads at small, odd sizes.
func testWorkloads() []workload {
	return []workload{fmaWork(1000), matmulWork(33, "matmul"), matvecWork(37, 45, "matvec"), matvecQ8Work(37, 45, "matvec_q8"),
		softmaxWork(7, 100), layerNormWork(7, 100), conv2dWork(2, 3, 9, 7, 5, 3)}
}
