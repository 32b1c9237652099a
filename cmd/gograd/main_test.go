package main

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"strings"
	"testing"

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
		{args: []string{"bench", "--nosuchflag"}, code: 2, err: "nosuchflag"},
		{args: []string{"bench", "extra"}, code: 2, err: "unexpected arguments"},
		{args: []string{"bench", "--runs", "0"}, code: 2, err: "positive"},
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
			got, want := inst.gograd().Float32s(), inst.baseline()
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

func TestBenchJSON(t *testing.T) {
	code, out, errs := runCLI(t, "bench", "--json", "--small", "--only", "fma,softmax", "--runs", "2", "--threads", "2")
	if code != 0 {
		t.Fatalf("gograd bench: exit %d\nstderr:\n%s", code, errs)
	}
	var res struct {
		Machine machine `json:"machine"`
		Rows    []row   `json:"rows"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("bench --json output is not JSON: %v\n%s", err, out)
	}
	if res.Machine.Cores != 2 || res.Machine.Device == "" || res.Machine.Go == "" {
		t.Errorf("machine = %+v", res.Machine)
	}
	if len(res.Rows) != 2 || res.Rows[0].Name != "fma" || res.Rows[1].Name != "softmax" {
		t.Fatalf("rows = %+v, want fma and softmax", res.Rows)
	}
	// Fusion: a*b+c is one kernel; softmax is at most three.
	if k := res.Rows[0].Kernels; k != 1 {
		t.Errorf("fma ran %d kernels per run, want 1", k)
	}
	if k := res.Rows[1].Kernels; k < 1 || k > 3 {
		t.Errorf("softmax ran %d kernels per run, want 1 to 3", k)
	}
	for _, r := range res.Rows {
		if !r.OK || r.Runs != 2 || !(r.Seconds > 0) || !(r.BaseSeconds > 0) || !(r.Ratio > 0) || r.FLOPs <= 0 || r.Bytes <= 0 {
			t.Errorf("row %+v", r)
		}
	}
}

func TestBenchTable(t *testing.T) {
	code, out, errs := runCLI(t, "bench", "--small", "--only", "fma", "--runs", "1")
	if code != 0 {
		t.Fatalf("gograd bench: exit %d\nstderr:\n%s", code, errs)
	}
	for _, want := range []string{"machine: ", "device " + gograd.DefaultDevice(), "name", "fma", "GB/s", "ratio", " ok"} {
		if !strings.Contains(out, want) {
			t.Errorf("bench table lacks %q:\n%s", want, out)
		}
	}
}

func TestHelpers(t *testing.T) {
	if m := median(func(i int) float64 { return []float64{1, 2, 3, 10}[i] }, 4); m != 2.5 {
		t.Errorf("median of 1,2,3,10 = %v, want 2.5", m)
	}
	if m := median(func(i int) float64 { return []float64{1, 2, 10}[i] }, 3); m != 2 {
		t.Errorf("median of 1,2,10 = %v, want 2", m)
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
}

// testWorkloads are the bench's workloads at small, odd sizes.
func testWorkloads() []workload {
	return []workload{fmaWork(1000), matmulWork(33), softmaxWork(7, 100), conv2dWork(2, 3, 9, 7, 5, 3)}
}
