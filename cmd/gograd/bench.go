package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"runtime"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gograd/gograd"
	"github.com/gograd/gograd/device"
)

// gograd bench: for each workload, gograd's lazy expression over realized
// inputs is built and realized once (compiling its kernels) and its values
// checked against the plain-Go baseline of baseline.go; then gograd and the
// baseline are timed --runs times each, alternately. The table gives the
// medians, rates computed from the shapes and the speed ratio.

// workload is one row of gograd bench.
type workload struct {
	name    string
	shape   string
	flops   int64   // from the shapes: the arithmetic of the math itself
	bytes   int64   // from the shapes: every input read once, the output written once
	rate    string  // "GFLOP/s" or "GB/s": the baseline's rate column
	tol     float64 // largest accepted |gograd - baseline| / max |baseline|
	prepare func(dev string, r *rand.Rand) *instance
}

// instance is a workload with its inputs made: gograd builds the lazy
// expression over the realized inputs, baseline computes the same values
// with plain Go.
type instance struct {
	gograd   func() *gograd.Tensor
	baseline func() []float32
}

// randSlice returns n uniform values in [-1, 1).
func randSlice(r *rand.Rand, n int) []float32 {
	out := make([]float32, n)
	for i := range out {
		out[i] = 2*r.Float32() - 1
	}
	return out
}

func shapeString(dims ...int) string {
	parts := make([]string, len(dims))
	for i, d := range dims {
		parts[i] = fmt.Sprint(d)
	}
	return strings.Join(parts, "x")
}

// fmaWork is a*b+c on n floats: one fused kernel.
func fmaWork(n int) workload {
	return workload{
		name: "fma", shape: fmt.Sprintf("a*b+c, %d", n),
		flops: 2 * int64(n), bytes: 16 * int64(n), rate: "GB/s", tol: 1e-6,
		prepare: func(dev string, r *rand.Rand) *instance {
			a, b, c := randSlice(r, n), randSlice(r, n), randSlice(r, n)
			ta, tb, tc := gograd.FromSliceOn(dev, a), gograd.FromSliceOn(dev, b), gograd.FromSliceOn(dev, c)
			return &instance{
				gograd:   func() *gograd.Tensor { return ta.Mul(tb).Add(tc) },
				baseline: func() []float32 { return baseFMA(a, b, c) },
			}
		},
	}
}

// matmulWork is the product of two n×n matrices.
func matmulWork(n int) workload {
	return workload{
		name: "matmul", shape: shapeString(n, n, n),
		flops: 2 * int64(n) * int64(n) * int64(n), bytes: 12 * int64(n) * int64(n), rate: "GFLOP/s", tol: 1e-5,
		prepare: func(dev string, r *rand.Rand) *instance {
			a, b := randSlice(r, n*n), randSlice(r, n*n)
			ta, tb := gograd.FromSliceOn(dev, a, n, n), gograd.FromSliceOn(dev, b, n, n)
			return &instance{
				gograd:   func() *gograd.Tensor { return ta.Matmul(tb) },
				baseline: func() []float32 { return baseMatmul(a, b, n, n, n) },
			}
		},
	}
}

// softmaxWork is the softmax of each row of a rows×cols matrix. Its FLOPs
// count five per element: max, subtract, exp, add, divide.
func softmaxWork(rows, cols int) workload {
	n := int64(rows) * int64(cols)
	return workload{
		name: "softmax", shape: shapeString(rows, cols) + ", axis -1",
		flops: 5 * n, bytes: 8 * n, rate: "GB/s", tol: 1e-5,
		prepare: func(dev string, r *rand.Rand) *instance {
			x := randSlice(r, rows*cols)
			for i := range x {
				x[i] *= 4 // a wider spread than [-1, 1) so exp varies
			}
			tx := gograd.FromSliceOn(dev, x, rows, cols)
			return &instance{
				gograd:   func() *gograd.Tensor { return tx.Softmax(-1) },
				baseline: func() []float32 { return baseSoftmax(x, rows, cols) },
			}
		},
	}
}

// defaultWorkloads are the rows of gograd bench; small makes each about
// 1/64 of the work, for a quick check.
func defaultWorkloads(small bool) []workload {
	if small {
		return []workload{fmaWork(1 << 18), matmulWork(256), softmaxWork(512, 512), conv2dWork(2, 32, 28, 28, 32, 3)}
	}
	return []workload{fmaWork(16 << 20), matmulWork(1024), softmaxWork(4096, 4096), conv2dWork(32, 64, 56, 56, 64, 3)}
}

// row is one measured workload, as printed and as --json writes it.
type row struct {
	Name          string  `json:"name"`
	Shape         string  `json:"shape"`
	Runs          int     `json:"runs"`
	Kernels       int64   `json:"kernels"`        // gograd kernels per run (gograd.Stats)
	FLOPs         int64   `json:"flops"`          // from the shapes
	Bytes         int64   `json:"bytes"`          // from the shapes
	CountedFLOPs  int64   `json:"counted_flops"`  // gograd.Stats: ALU ops of the kernels
	CountedBytes  int64   `json:"counted_bytes"`  // gograd.Stats: buffers the kernels read and wrote
	Seconds       float64 `json:"seconds"`        // gograd median
	GFLOPS        float64 `json:"gflops"`         // FLOPs / Seconds
	GBS           float64 `json:"gbs"`            // Bytes / Seconds
	KernelSeconds float64 `json:"kernel_seconds"` // gograd.Stats time in kernels, in the median run
	BaseSeconds   float64 `json:"baseline_seconds"`
	BaseGFLOPS    float64 `json:"baseline_gflops"`
	BaseGBS       float64 `json:"baseline_gbs"`
	Ratio         float64 `json:"ratio"`       // baseline time / gograd time: >1 means gograd is faster
	MaxErr        float64 `json:"max_rel_err"` // max |gograd - baseline| / max |baseline|
	OK            bool    `json:"ok"`          // MaxErr within the workload's tolerance
	rate          string
}

// machine describes where the bench ran.
type machine struct {
	CPU     string `json:"cpu"`
	Cores   int    `json:"cores"`   // GOMAXPROCS during the run
	NumCPU  int    `json:"num_cpu"` // logical CPUs of the machine
	Device  string `json:"device"`
	Go      string `json:"go"`
	OS      string `json:"os"`
	Date    string `json:"date"`
	Version string `json:"gograd"`
}

// cpuModel reads the CPU's name from /proc/cpuinfo.
func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return runtime.GOARCH
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		switch strings.TrimSpace(k) {
		case "model name", "Model", "cpu model", "uarch":
			return strings.TrimSpace(v)
		}
	}
	return runtime.GOARCH
}

func runBench(c *cli, args []string) error {
	fs := c.newFlags("bench", "[flags]")
	dev := fs.String("device", "", "device to run on, like GO or GO:1 (default: DEV, else the best available)")
	asJSON := fs.Bool("json", false, "print the machine and the rows as JSON instead of a table")
	runs := fs.Int("runs", 3, "timed runs per workload; the median is reported")
	only := fs.String("only", "", "comma-separated workloads to run (`names` from: fma,matmul,softmax,conv2d)")
	threads := fs.Int("threads", 0, "GOMAXPROCS for gograd and the baselines (default: all cores)")
	small := fs.Bool("small", false, "run each workload at about 1/64 of its size, for a quick check")
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

	work := defaultWorkloads(*small)
	if *only != "" {
		var sel []workload
		for name := range strings.SplitSeq(*only, ",") {
			name = strings.TrimSpace(name)
			i := slices.IndexFunc(work, func(w workload) bool { return w.name == name })
			if i < 0 {
				var names []string
				for _, w := range work {
					names = append(names, w.name)
				}
				return fmt.Errorf("unknown workload %q (known: %s)", name, strings.Join(names, ", "))
			}
			sel = append(sel, work[i])
		}
		work = sel
	}

	if *dev == "" {
		*dev = device.Default() // DEV, else the preferred kind that opens
	}
	d, err := device.Get(*dev)
	if err != nil {
		return err
	}
	devName := d.Name
	if *threads > 0 {
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(*threads))
	} else {
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(runtime.NumCPU()))
	}
	m := machine{
		CPU: cpuModel(), Cores: runtime.GOMAXPROCS(0), NumCPU: runtime.NumCPU(), Device: devName,
		Go: runtime.Version(), OS: runtime.GOOS + "/" + runtime.GOARCH,
		Date: time.Now().UTC().Format("2006-01-02 15:04 UTC"), Version: version(),
	}
	fmt.Fprintf(c.stderr, "gograd bench: %s, %d cores, device %s\n", m.CPU, m.Cores, m.Device)

	var rows []row
	var bad []string
	for _, w := range work {
		r, err := measure(c.stderr, devName, w, *runs)
		if err != nil {
			return fmt.Errorf("%s: %w", w.name, err)
		}
		if !r.OK {
			bad = append(bad, fmt.Sprintf("%s (max rel err %.2g > %.2g)", w.name, r.MaxErr, w.tol))
		}
		rows = append(rows, r)
	}

	if *asJSON {
		enc := json.NewEncoder(c.stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(struct {
			Machine machine `json:"machine"`
			Rows    []row   `json:"rows"`
		}{m, rows}); err != nil {
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

// measure runs one workload: a warm-up that compiles gograd's kernels and
// compares its values with the baseline's, then n timed runs of each, and
// fills a row with the medians.
func measure(log io.Writer, dev string, w workload, n int) (row, error) {
	r := row{Name: w.name, Shape: w.shape, Runs: n, FLOPs: w.flops, Bytes: w.bytes, rate: w.rate}
	fmt.Fprintf(log, "%s %s: preparing inputs\n", w.name, w.shape)
	inst := w.prepare(dev, rand.New(rand.NewPCG(1, 2)))

	start := time.Now()
	got := inst.gograd().Float32s()
	warm := time.Since(start)
	want := inst.baseline() // also the baseline's warm-up
	r.MaxErr = maxRelErr(got, want)
	r.OK = r.MaxErr <= w.tol
	fmt.Fprintf(log, "%s: warm-up %s (compile + run + read back), max rel err %.2g\n", w.name, fmtDur(warm.Seconds()), r.MaxErr)

	// The timed runs alternate gograd and baseline, so that both see the
	// same machine when other work comes and goes.
	type run struct {
		t     time.Duration
		stats device.Stats
	}
	runs := make([]run, n)
	base := make([]float64, n)
	for i := range runs {
		// Collect the previous results first, so no GC runs in the timing.
		runtime.GC()
		gograd.ResetStats()
		t0 := time.Now()
		inst.gograd().Realize()
		runs[i].t = time.Since(t0)
		runs[i].stats = gograd.Stats(dev)
		if runs[i].stats.Kernels == 0 {
			return r, fmt.Errorf("run %d ran no kernel: the result was not recomputed", i+1)
		}
		runtime.GC()
		t0 = time.Now()
		inst.baseline()
		base[i] = time.Since(t0).Seconds()
		fmt.Fprintf(log, "%s: run %d/%d: gograd %s (%d kernels), baseline %s\n", w.name, i+1, n,
			fmtDur(runs[i].t.Seconds()), runs[i].stats.Kernels, fmtDur(base[i]))
	}
	slices.SortFunc(runs, func(a, b run) int { return int(a.t - b.t) })
	slices.Sort(base)
	med := runs[(n-1)/2] // the lower median for even n, a run that happened
	r.Seconds = median(func(i int) float64 { return runs[i].t.Seconds() }, n)
	r.BaseSeconds = median(func(i int) float64 { return base[i] }, n)
	r.Kernels = med.stats.Kernels
	r.CountedFLOPs = med.stats.FLOPs
	r.CountedBytes = med.stats.Bytes
	r.KernelSeconds = med.stats.Time.Seconds()

	r.GFLOPS = float64(w.flops) / r.Seconds / 1e9
	r.GBS = float64(w.bytes) / r.Seconds / 1e9
	r.BaseGFLOPS = float64(w.flops) / r.BaseSeconds / 1e9
	r.BaseGBS = float64(w.bytes) / r.BaseSeconds / 1e9
	r.Ratio = r.BaseSeconds / r.Seconds
	return r, nil
}

// median returns the median of n sorted values read through at.
func median(at func(int) float64, n int) float64 {
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

// fmtDur prints seconds with three significant digits in s, ms or µs.
func fmtDur(s float64) string {
	switch {
	case s >= 1:
		return fmt.Sprintf("%.3gs", s)
	case s >= 1e-3:
		return fmt.Sprintf("%.3gms", s*1e3)
	}
	return fmt.Sprintf("%.3gµs", s*1e6)
}

func fmtRate(v float64) string {
	switch {
	case v >= 100:
		return fmt.Sprintf("%.0f", v)
	case v >= 10:
		return fmt.Sprintf("%.1f", v)
	}
	return fmt.Sprintf("%.2f", v)
}

// printTable writes the machine line, the rows and how to read them.
func printTable(w io.Writer, m machine, rows []row) {
	fmt.Fprintf(w, "gograd bench, %s\n", m.Date)
	fmt.Fprintf(w, "machine: %s, %d cores used (of %d), device %s, %s %s, gograd %s\n\n", m.CPU, m.Cores, m.NumCPU, m.Device, m.Go, m.OS, m.Version)
	cells := [][]string{{"name", "shape", "runs", "kernels", "gograd", "GFLOP/s", "GB/s", "baseline", "baseline rate", "ratio", "check"}}
	for _, r := range rows {
		baseRate := fmtRate(r.BaseGBS) + " GB/s"
		if r.rate == "GFLOP/s" {
			baseRate = fmtRate(r.BaseGFLOPS) + " GFLOP/s"
		}
		check := "ok"
		if !r.OK {
			check = fmt.Sprintf("FAIL %.2g", r.MaxErr)
		}
		cells = append(cells, []string{r.Name, r.Shape, fmt.Sprint(r.Runs), fmt.Sprint(r.Kernels),
			fmtDur(r.Seconds), fmtRate(r.GFLOPS), fmtRate(r.GBS), fmtDur(r.BaseSeconds), baseRate,
			fmt.Sprintf("%.2fx", r.Ratio), check})
	}
	writeAligned(w, cells, 2)
	fmt.Fprintf(w, "\ngograd and baseline are median wall times of building the expression and realizing it\n"+
		"and of the plain-Go loop, both getting their output memory. GFLOP/s and GB/s come from the shapes\n"+
		"(the math's FLOPs; each input read once and the output written once), the same for both;\n"+
		"kernels is gograd.Stats per run. ratio = baseline time / gograd time: >1 means gograd is faster.\n")
}

// writeAligned prints a table with the first left columns aligned left and
// the others right, two spaces apart.
func writeAligned(w io.Writer, cells [][]string, left int) {
	var width []int
	for _, line := range cells {
		for i, c := range line {
			if i == len(width) {
				width = append(width, 0)
			}
			width[i] = max(width[i], utf8.RuneCountInString(c))
		}
	}
	for _, line := range cells {
		var b strings.Builder
		for i, c := range line {
			pad := strings.Repeat(" ", width[i]-utf8.RuneCountInString(c))
			if i > 0 {
				b.WriteString("  ")
			}
			if i < left {
				b.WriteString(c + pad)
			} else {
				b.WriteString(pad + c)
			}
		}
		fmt.Fprintln(w, strings.TrimRight(b.String(), " "))
	}
}
