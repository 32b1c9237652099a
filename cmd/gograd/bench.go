package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gograd/gograd"
	"github.com/gograd/gograd/device"
	"github.com/gograd/gograd/jit"
)

// gograd bench: for each row, gograd's expression over realized inputs is
// run once (compiling its kernels) and its values checked against the
// plain-Go baseline of baseline.go. Then, in --runs rounds, gograd, the
// copy yardstick (memory-bound rows), the baseline and the numpy/PyTorch
// workers each time one batch of calls, so that all of them see the same
// machine as other work comes and goes. The table gives the medians, rates
// computed from the shapes and the ratios.

// Timing policy. A timed batch repeats the call until it lasts about
// batchTarget, so fast rows are not measured at the timer's grain; a side
// whose single call is slower than slowCall gets fewer rounds, at most
// sideBudget of them in all (the plain-Go matmul 2048 takes ten seconds);
// settle is a pause after a peer's batch, so that its idle threads (an
// OpenBLAS pool spins for a while after each call) are asleep before
// gograd's next batch.
const (
	batchTarget = 20 * time.Millisecond
	slowCall    = time.Second
	sideBudget  = 5 * time.Second
	settle      = 120 * time.Millisecond // OpenBLAS: 2^28 cycles of sched_yield before its threads sleep
)

// row is one measured workload, as printed and as --json writes it. Times
// are medians of seconds per call.
type row struct {
	Name          string  `json:"name"`
	ID            string  `json:"id"`
	Shape         string  `json:"shape"`
	Mode          string  `json:"mode"` // "jit": replay of the captured kernels; "realize": build and realize each call
	Runs          int     `json:"runs"`
	Inner         int     `json:"inner"`          // calls per timed batch
	Kernels       int64   `json:"kernels"`        // gograd kernels per call (gograd.Stats)
	FLOPs         int64   `json:"flops"`          // from the shapes
	Bytes         int64   `json:"bytes"`          // from the shapes
	CountedFLOPs  int64   `json:"counted_flops"`  // gograd.Stats per call: ALU ops of the kernels
	CountedBytes  int64   `json:"counted_bytes"`  // gograd.Stats per call: buffers the kernels read and wrote
	Seconds       float64 `json:"seconds"`        // gograd
	GFLOPS        float64 `json:"gflops"`         // FLOPs / Seconds
	GBS           float64 `json:"gbs"`            // Bytes / Seconds
	KernelSeconds float64 `json:"kernel_seconds"` // gograd.Stats time in kernels per call
	MemoryBound   bool    `json:"memory_bound"`

	Copy *copyFigures `json:"copy,omitempty"` // the bandwidth yardstick, memory-bound rows only

	BaseRuns    int     `json:"baseline_runs"`
	BaseSeconds float64 `json:"baseline_seconds"`
	BaseGFLOPS  float64 `json:"baseline_gflops"`
	BaseGBS     float64 `json:"baseline_gbs"`
	Ratio       float64 `json:"ratio"` // baseline time / gograd time: >1 means gograd is faster

	Peers       map[string]*peerResult `json:"peers,omitempty"` // by library: numpy, torch
	BestPeer    string                 `json:"best_peer,omitempty"`
	PeerSeconds float64                `json:"peer_seconds,omitempty"` // the faster peer's time
	PeerRatio   float64                `json:"peer_ratio,omitempty"`   // PeerSeconds / Seconds: >1 means gograd is faster

	MaxErr   float64  `json:"max_rel_err"` // max |gograd - baseline| / max |baseline|
	OK       bool     `json:"ok"`          // MaxErr within the workload's tolerance
	Warnings []string `json:"warnings,omitempty"`
	rate     string
}

// copyFigures is the yardstick of one memory-bound row.
type copyFigures struct {
	Bytes         int64   `json:"bytes"` // moved per copy, read plus written: the row's bytes
	GoSeconds     float64 `json:"go_seconds"`
	GoGBS         float64 `json:"go_gbs"`
	GogradSeconds float64 `json:"gograd_seconds,omitempty"`
	GogradGBS     float64 `json:"gograd_gbs,omitempty"`
	Yardstick     string  `json:"yardstick"`                 // the copy PctOfCopy divides by: "go" on host devices, else "gograd"
	PctOfCopy     float64 `json:"pct_of_copy"`               // the row's GB/s over the yardstick copy's, in %
	GogradPct     float64 `json:"gograd_copy_pct,omitempty"` // gograd's copy kernel over the Go copy, in %
}

// peerResult is one peer library's figures for a row.
type peerResult struct {
	Status  string  `json:"status"`         // "ok", "skipped" or "error"
	Note    string  `json:"note,omitempty"` // what it runs (out= or a fresh output), or why not
	Runs    int     `json:"runs,omitempty"`
	Inner   int     `json:"inner,omitempty"`
	Seconds float64 `json:"seconds,omitempty"`
	GFLOPS  float64 `json:"gflops,omitempty"`
	GBS     float64 `json:"gbs,omitempty"`
	Ratio   float64 `json:"ratio,omitempty"` // peer time / gograd time: >1 means gograd is faster
}

// report is what --json prints.
type report struct {
	Machine machine `json:"machine"`
	Rows    []row   `json:"rows"`
}

// autoBool is a boolean flag that may be left unset ("auto").
type autoBool struct{ set, val bool }

func (b *autoBool) String() string {
	if b == nil || !b.set {
		return "auto"
	}
	return strconv.FormatBool(b.val)
}

func (b *autoBool) Set(s string) error {
	if s == "auto" {
		b.set = false
		return nil
	}
	v, err := strconv.ParseBool(s)
	if err != nil {
		return errors.New("want true, false or auto")
	}
	b.set, b.val = true, v
	return nil
}

func (b *autoBool) IsBoolFlag() bool { return true }

// or returns the flag's value, or def when it was left unset.
func (b *autoBool) or(def bool) bool {
	if b.set {
		return b.val
	}
	return def
}

func runBench(c *cli, args []string) error {
	if len(args) > 0 && args[0] == "llm" {
		return runBenchLLM(c, args[1:])
	}
	fs := c.newFlags("bench", "[flags] (or: gograd bench llm [flags], a model's prompt and decode speed)")
	dev := fs.String("device", "", "device to run on, like CPU, GO or GO:1 (default: DEV, else the best available)")
	asJSON := fs.Bool("json", false, "print the machine and the rows as JSON instead of a table")
	runs := fs.Int("runs", 5, "timed rounds per row; the median is reported")
	suite := fs.String("suite", "all", "rows to run: core (the first four rows), cpu (the issue \"Fast on the CPU\") or all")
	only := fs.String("only", "", "comma-separated rows to run, by family (fma, matmul, matvec, matvec_q8, softmax, layernorm, conv2d) or id (matmul_1024, matvec_4096x4096)")
	threads := fs.Int("threads", 0, "GOMAXPROCS for gograd and the baselines, and the peers' thread count (default: all cores)")
	small := fs.Bool("small", false, "run each row at about 1/64 of its work, for a quick check")
	var useJIT autoBool
	fs.Var(&useJIT, "jit", "time replays of the captured kernels (jit.New) instead of building and realizing each call (default: on, off for --suite core)")
	peersFlag := fs.String("peers", "auto", "peer libraries run by python3 in the same run: auto (numpy and torch when they import), none, or a comma-separated list")
	python := fs.String("python", "", "python interpreter for the peers (default: /usr/bin/python3, else python3 on PATH)")
	var peerEnv stringList
	fs.Var(&peerEnv, "peer-env", "`KEY=VALUE` added to the peers' environment (repeatable), like LD_LIBRARY_PATH=... for another BLAS")
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(c.stderr, "gograd bench: unexpected arguments %q\n", fs.Args())
		return errUsage
	}
	if *runs < 1 || *threads < 0 {
		fmt.Fprintf(c.stderr, "gograd bench: --runs must be positive and --threads not negative\n")
		return errUsage
	}
	libs, err := peerList(*peersFlag)
	if err != nil {
		fmt.Fprintf(c.stderr, "gograd bench: --peers: %v\n", err)
		return errUsage
	}
	for _, kv := range peerEnv {
		if k, _, ok := strings.Cut(kv, "="); !ok || k == "" {
			fmt.Fprintf(c.stderr, "gograd bench: --peer-env %q is not KEY=VALUE\n", kv)
			return errUsage
		}
	}
	work, err := suiteWorkloads(*suite, *small)
	if err != nil {
		fmt.Fprintf(c.stderr, "gograd bench: --suite: %v\n", err)
		return errUsage
	}
	if work, err = selectRows(work, *only); err != nil {
		return err
	}

	if *dev == "" {
		*dev = device.Default() // DEV, else the preferred kind that opens
	}
	d, err := device.Get(*dev)
	if err != nil {
		return err
	}
	if *threads > 0 {
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(*threads))
	} else {
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(runtime.NumCPU()))
	}
	b := &bench{log: c.stderr, dev: d.Name, runs: *runs, jit: useJIT.or(*suite != "core")}
	candidates := pythonCandidates
	if *python != "" {
		candidates = []string{*python}
	}
	var infos []peerInfo
	if len(libs) > 0 {
		fmt.Fprintf(c.stderr, "gograd bench: starting peers %s\n", strings.Join(libs, ", "))
		b.peers, infos = startPeers(candidates, libs, runtime.GOMAXPROCS(0), peerEnv)
		defer func() {
			for _, p := range b.peers {
				p.close()
			}
		}()
		for _, in := range infos {
			fmt.Fprintf(c.stderr, "gograd bench: peer %s\n", in.describe())
		}
	}
	m := newMachine(d.Name, infos)
	fmt.Fprintf(c.stderr, "gograd bench: %s, %d threads, device %s, %s\n", m.CPU, m.Threads, m.Device, b.mode())

	var rows []row
	var bad []string
	for _, w := range work {
		r, err := b.measure(w)
		if err != nil {
			return fmt.Errorf("%s: %w", w.id, err)
		}
		if !r.OK {
			bad = append(bad, fmt.Sprintf("%s (max rel err %.2g > %.2g)", w.id, r.MaxErr, w.tol))
		}
		rows = append(rows, r)
	}

	if *asJSON {
		enc := json.NewEncoder(c.stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(report{m, rows}); err != nil {
			return err
		}
	} else {
		printTable(c.stdout, m, rows)
	}
	if len(bad) > 0 {
		return fmt.Errorf("gograd and the baseline disagree: %s", strings.Join(bad, ", "))
	}
	return nil
}

// stringList is a repeatable string flag.
type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, " ") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

// peerList parses --peers.
func peerList(s string) ([]string, error) {
	switch s {
	case "auto", "all":
		return peerLibs, nil
	case "none", "":
		return nil, nil
	}
	var libs []string
	for lib := range strings.SplitSeq(s, ",") {
		lib = strings.TrimSpace(lib)
		if !slices.Contains(peerLibs, lib) {
			return nil, fmt.Errorf("unknown peer %q (known: %s, or auto, none)", lib, strings.Join(peerLibs, ", "))
		}
		if !slices.Contains(libs, lib) {
			libs = append(libs, lib)
		}
	}
	return libs, nil
}

// selectRows keeps the rows --only names, by family or id, in suite order.
func selectRows(work []workload, only string) ([]workload, error) {
	if only == "" {
		return work, nil
	}
	keep := map[string]bool{}
	for name := range strings.SplitSeq(only, ",") {
		name = strings.TrimSpace(name)
		if !slices.ContainsFunc(work, func(w workload) bool { return w.name == name || w.id == name || w.alias == name }) {
			var names []string
			for _, w := range work {
				if !slices.Contains(names, w.name) {
					names = append(names, w.name)
				}
				if w.id != w.name {
					names = append(names, w.id)
				}
				if w.alias != "" {
					names = append(names, w.alias)
				}
			}
			return nil, fmt.Errorf("unknown workload %q (known: %s)", name, strings.Join(names, ", "))
		}
		keep[name] = true
	}
	var sel []workload
	for _, w := range work {
		if keep[w.name] || keep[w.id] || (w.alias != "" && keep[w.alias]) {
			sel = append(sel, w)
		}
	}
	return sel, nil
}

// bench holds what every row is measured with.
type bench struct {
	log   io.Writer
	dev   string
	runs  int
	jit   bool
	peers []*peer
}

func (b *bench) mode() string {
	if b.jit {
		return "jit"
	}
	return "realize"
}

// hostDevice reports whether dev computes in host memory (CPU, GO), where
// a Go copy is the bandwidth yardstick.
func hostDevice(dev string) bool {
	kind, _, _ := strings.Cut(dev, ":")
	return kind == "CPU" || kind == "GO"
}

// batchSize is how many calls of one lasting t make a batch of about
// batchTarget.
func batchSize(t time.Duration) int {
	if t <= 0 {
		return 1000
	}
	return max(1, min(1000, int(math.Ceil(float64(batchTarget)/float64(t)))))
}

// sideRuns is how many timed rounds a side whose call lasts t gets.
func sideRuns(t time.Duration, runs int) int {
	if t < slowCall {
		return runs
	}
	return max(1, min(runs, int(sideBudget/t)))
}

// timeBatch calls f inner times and returns the seconds per call.
func timeBatch(f func(), inner int) float64 {
	t0 := time.Now()
	for range inner {
		f()
	}
	return time.Since(t0).Seconds() / float64(inner)
}

// measure runs one row: a warm-up that compiles gograd's kernels and checks
// its values against the baseline's, then the timed rounds.
func (b *bench) measure(w workload) (row, error) {
	r := row{Name: w.name, ID: w.id, Shape: w.shape, Mode: b.mode(), Runs: b.runs, FLOPs: w.flops, Bytes: w.bytes,
		MemoryBound: w.memBound, rate: w.rate}
	fmt.Fprintf(b.log, "%s %s: preparing inputs\n", w.id, w.shape)
	inst := w.prepare(b.dev, rand.New(rand.NewPCG(1, 2)))

	// gograd: the first call compiles; with jit the second captures.
	start := time.Now()
	var call func()
	var got []float32
	if b.jit {
		j := jit.New(func(in ...*gograd.Tensor) []*gograd.Tensor { return []*gograd.Tensor{inst.fn(in...)} })
		got = j.Call(inst.inputs...)[0].Float32s()
		j.Call(inst.inputs...)
		call = func() { j.Call(inst.inputs...) }
	} else {
		got = inst.expr().Float32s()
		call = func() { inst.expr().Realize() }
	}
	warm := time.Since(start)
	t0 := time.Now()
	call()
	inner := batchSize(time.Since(t0))
	r.Inner = inner

	// The baseline: its first call checks the values; a slow one is also
	// its first timed run.
	t0 = time.Now()
	want := inst.baseline()
	baseFirst := time.Since(t0)
	r.MaxErr = maxRelErr(got, want)
	r.OK = r.MaxErr <= w.tol
	got, want = nil, nil
	var base []float64
	baseRuns, baseInner := sideRuns(baseFirst, b.runs), batchSize(baseFirst)
	if baseFirst >= slowCall {
		base = append(base, baseFirst.Seconds())
		baseRuns--
	}
	fmt.Fprintf(b.log, "%s: warm-up %s (compile + run + read back), max rel err %.2g; baseline %s\n", w.id, fmtDur(warm.Seconds()), r.MaxErr, fmtDur(baseFirst.Seconds()))

	// The yardstick.
	var cp *copier
	var goCopy, ggCopy []float64
	var cpInner, ggInner int
	if w.memBound {
		cp = newCopier(b.dev, w.bytes)
		t0 = time.Now()
		cp.goCopy()
		cpInner = batchSize(time.Since(t0))
		t0 = time.Now()
		cp.gogradCopy()
		ggInner = batchSize(time.Since(t0))
	}

	// The peers.
	type peerRun struct {
		p     *peer
		res   *peerResult
		runs  int
		times []float64
	}
	var prs []*peerRun
	if len(b.peers) > 0 {
		r.Peers = map[string]*peerResult{}
	}
	for _, p := range b.peers {
		pr := &peerRun{p: p, res: &peerResult{}}
		r.Peers[p.info.Lib] = pr.res
		s, err := p.setup(w.id, w.peer, batchTarget.Seconds())
		switch {
		case err != nil:
			pr.res.Status, pr.res.Note = "error", err.Error()
			fmt.Fprintf(b.log, "%s: peer %s: %v\n", w.id, p.info.Lib, err)
		case s.Skip != "":
			pr.res.Status, pr.res.Note = "skipped", s.Skip
		default:
			pr.res.Status, pr.res.Note, pr.res.Inner = "ok", s.Note, s.Inner
			pr.runs = sideRuns(time.Duration(s.Warm*float64(s.Inner)*float64(time.Second)), b.runs)
			prs = append(prs, pr)
		}
	}

	// The rounds.
	type run struct {
		t     float64
		stats device.Stats
	}
	runs := make([]run, b.runs)
	for i := range runs {
		runtime.GC() // collect the previous results first, so no GC runs in the timing
		gograd.ResetStats()
		runs[i].t = timeBatch(call, inner)
		runs[i].stats = gograd.Stats(b.dev)
		if runs[i].stats.Kernels == 0 {
			return r, fmt.Errorf("run %d ran no kernel: the result was not recomputed", i+1)
		}
		line := fmt.Sprintf("%s: run %d/%d: gograd %s (%d kernels)", w.id, i+1, b.runs, fmtDur(runs[i].t), runs[i].stats.Kernels/int64(inner))
		if cp != nil {
			goCopy = append(goCopy, timeBatch(cp.goCopy, cpInner))
			ggCopy = append(ggCopy, timeBatch(cp.gogradCopy, ggInner))
			line += fmt.Sprintf(", copy %s, gograd copy %s", fmtDur(goCopy[i]), fmtDur(ggCopy[i]))
		}
		if i < baseRuns {
			runtime.GC()
			base = append(base, timeBatch(func() { inst.baseline() }, baseInner))
			line += ", baseline " + fmtDur(base[len(base)-1])
		}
		for _, pr := range prs {
			if i >= pr.runs || pr.res.Status != "ok" {
				continue
			}
			ts, err := pr.p.time(w.id, 1)
			if err != nil {
				pr.res.Status, pr.res.Note = "error", err.Error()
				fmt.Fprintf(b.log, "%s: peer %s: %v\n", w.id, pr.p.info.Lib, err)
				continue
			}
			pr.times = append(pr.times, ts...)
			line += fmt.Sprintf(", %s %s", pr.p.info.Lib, fmtDur(ts[0]))
			time.Sleep(settle)
		}
		fmt.Fprintln(b.log, line)
	}
	for _, p := range b.peers {
		if p.ok() {
			if err := p.free(w.id); err != nil {
				fmt.Fprintf(b.log, "%s: peer %s: %v\n", w.id, p.info.Lib, err)
			}
		}
	}

	// The figures.
	slices.SortFunc(runs, func(a, b run) int { return int(math.Copysign(1, a.t-b.t)) })
	med := runs[(len(runs)-1)/2] // the lower median for even n, a run that happened
	r.Seconds = medianOf(func(i int) float64 { return runs[i].t }, len(runs))
	n := int64(inner)
	r.Kernels = med.stats.Kernels / n
	r.CountedFLOPs = med.stats.FLOPs / n
	r.CountedBytes = med.stats.Bytes / n
	r.KernelSeconds = med.stats.Time.Seconds() / float64(n)
	r.GFLOPS = float64(w.flops) / r.Seconds / 1e9
	r.GBS = float64(w.bytes) / r.Seconds / 1e9

	r.BaseRuns = len(base)
	r.BaseSeconds = median(base)
	r.BaseGFLOPS = float64(w.flops) / r.BaseSeconds / 1e9
	r.BaseGBS = float64(w.bytes) / r.BaseSeconds / 1e9
	r.Ratio = r.BaseSeconds / r.Seconds

	if cp != nil {
		f := &copyFigures{Bytes: cp.bytes, GoSeconds: median(goCopy), GogradSeconds: median(ggCopy)}
		f.GoGBS = float64(cp.bytes) / f.GoSeconds / 1e9
		f.GogradGBS = float64(cp.bytes) / f.GogradSeconds / 1e9
		f.GogradPct = 100 * f.GogradGBS / f.GoGBS
		f.Yardstick = "go"
		f.PctOfCopy = 100 * r.GBS / f.GoGBS
		if !hostDevice(b.dev) { // the Go copy measures host memory, not the device's
			f.Yardstick = "gograd"
			f.PctOfCopy = 100 * r.GBS / f.GogradGBS
		}
		r.Copy = f
	}

	for _, pr := range prs {
		if pr.res.Status != "ok" || len(pr.times) == 0 {
			continue // failed: its note says why
		}
		res := pr.res
		res.Runs = len(pr.times)
		res.Seconds = median(pr.times)
		res.GFLOPS = float64(w.flops) / res.Seconds / 1e9
		res.GBS = float64(w.bytes) / res.Seconds / 1e9
		res.Ratio = res.Seconds / r.Seconds
		if r.BestPeer == "" || res.Seconds < r.PeerSeconds {
			r.BestPeer, r.PeerSeconds = pr.p.info.Lib, res.Seconds
		}
	}
	if r.BestPeer != "" {
		r.PeerRatio = r.PeerSeconds / r.Seconds
	}

	if w.wantKernels > 0 && r.Kernels > w.wantKernels {
		r.Warnings = append(r.Warnings, fmt.Sprintf("ran %d kernels per call, want %d: not fused", r.Kernels, w.wantKernels))
	}
	if w.maxCountedBytes > 0 && r.CountedBytes > w.maxCountedBytes {
		r.Warnings = append(r.Warnings, fmt.Sprintf("kernels moved %d bytes per call, over %d: an intermediate (the dequantized weights?) was materialized", r.CountedBytes, w.maxCountedBytes))
	}
	for _, warn := range r.Warnings {
		fmt.Fprintf(b.log, "%s: warning: %s\n", w.id, warn)
	}
	return r, nil
}

// median returns the median of xs (sorting it), 0 for none.
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	slices.Sort(xs)
	return medianOf(func(i int) float64 { return xs[i] }, len(xs))
}

// medianOf returns the median of n sorted values read through at.
func medianOf(at func(int) float64, n int) float64 {
	if n%2 == 1 {
		return at(n / 2)
	}
	return (at(n/2-1) + at(n/2)) / 2
}

// maxRelErr is max |got - want| over max |want|; +Inf when the lengths
// differ or a value is NaN.
func maxRelErr(got, want []float32) float64 {
	if len(got) != len(want) {
		return math.Inf(1)
	}
	var diff, scale float64
	for i := range want {
		d := math.Abs(float64(got[i]) - float64(want[i]))
		if math.IsNaN(d) {
			return math.Inf(1)
		}
		diff = max(diff, d)
		scale = max(scale, math.Abs(float64(want[i])))
	}
	if scale == 0 {
		return diff
	}
	return diff / scale
}
