package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// machine describes where the bench ran.
type machine struct {
	CPU     string     `json:"cpu"`
	Cores   int        `json:"cores"`   // GOMAXPROCS during the run
	Threads int        `json:"threads"` // threads of gograd, the baselines and the peers: GOMAXPROCS
	NumCPU  int        `json:"num_cpu"` // logical CPUs of the machine
	Device  string     `json:"device"`
	Go      string     `json:"go"`
	OS      string     `json:"os"`
	Date    string     `json:"date"`
	Version string     `json:"gograd"`
	Peers   []peerInfo `json:"peers"`
}

func newMachine(dev string, peers []peerInfo) machine {
	return machine{
		CPU: cpuModel(), Cores: runtime.GOMAXPROCS(0), Threads: runtime.GOMAXPROCS(0), NumCPU: runtime.NumCPU(), Device: dev,
		Go: runtime.Version(), OS: runtime.GOOS + "/" + runtime.GOARCH,
		Date: time.Now().UTC().Format("2006-01-02 15:04 UTC"), Version: version(), Peers: peers,
	}
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

// describe is the peer's line in the table's header.
func (p peerInfo) describe() string {
	switch p.Status {
	case "ok":
		s := fmt.Sprintf("%s %s, %d threads", p.Lib, p.Version, p.Threads)
		if len(p.Libs) > 0 {
			s += " (" + strings.Join(p.Libs, ", ") + ")"
		}
		if slices.ContainsFunc(p.Libs, func(l string) bool { return strings.HasPrefix(l, "blas/libblas") }) {
			s += "\n  note: blas/libblas is Debian's reference BLAS, far slower than OpenBLAS at matmul; install\n" +
				"  libopenblas0-pthread, or point the peers at it: --peer-env LD_LIBRARY_PATH=<dir of its libblas.so.3>"
		}
		return s
	case "absent":
		return p.Lib + ": absent (" + p.Note + ")"
	}
	return p.Lib + ": error (" + p.Note + ")"
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

func fmtRatio(v float64) string {
	if v >= 10 {
		return fmt.Sprintf("%.1fx", v)
	}
	return fmt.Sprintf("%.2fx", v)
}

// printTable writes the machine, the rows, the yardstick, the peers and how
// to read them.
func printTable(w io.Writer, m machine, rows []row) {
	fmt.Fprintf(w, "gograd bench, %s\n", m.Date)
	fmt.Fprintf(w, "machine: %s, %d threads (of %d CPUs), device %s, %s %s, gograd %s\n", m.CPU, m.Threads, m.NumCPU, m.Device, m.Go, m.OS, m.Version)
	for _, p := range m.Peers {
		fmt.Fprintf(w, "peer: %s\n", p.describe())
	}
	if len(rows) > 0 {
		mode := rows[0].Mode
		if mode == "jit" {
			mode = "jit (replay of the captured kernels: no graph building or scheduling in the timing;\n" +
				"  the output is the JIT's own buffer, rewritten by every call, as an out= argument)"
		} else {
			mode = "realize (build the expression and realize it on every call;\n" +
				"  the output is a fresh buffer from gograd's buffer pool)"
		}
		fmt.Fprintf(w, "gograd timed with: %s\n", mode)
	}
	fmt.Fprintln(w)

	cells := [][]string{{"id", "shape", "kern", "gograd", "GFLOP/s", "GB/s", "%copy", "vs Go", "best peer", "peer time", "vs peer", "check"}}
	for _, r := range rows {
		check := "ok"
		if !r.OK {
			check = fmt.Sprintf("FAIL %.2g", r.MaxErr)
		}
		if len(r.Warnings) > 0 {
			check += " !"
		}
		pct, best, ptime, pratio := "", "-", "-", "-"
		if r.Copy != nil {
			pct = fmt.Sprintf("%.0f%%", r.Copy.PctOfCopy)
		}
		if r.BestPeer != "" {
			best, ptime, pratio = r.BestPeer, fmtDur(r.PeerSeconds), fmtRatio(r.PeerRatio)
		}
		cells = append(cells, []string{r.ID, r.Shape, fmt.Sprint(r.Kernels), fmtDur(r.Seconds), fmtRate(r.GFLOPS), fmtRate(r.GBS),
			pct, fmtRatio(r.Ratio), best, ptime, pratio, check})
	}
	writeAligned(w, cells, 2)

	var warn []string
	for _, r := range rows {
		for _, s := range r.Warnings {
			warn = append(warn, fmt.Sprintf("  %s: %s", r.ID, s))
		}
	}
	if len(warn) > 0 {
		fmt.Fprintf(w, "\nwarnings (marked !):\n%s\n", strings.Join(warn, "\n"))
	}

	if slices.ContainsFunc(rows, func(r row) bool { return r.Copy != nil }) {
		fmt.Fprintf(w, "\nbandwidth yardstick: a copy moving the same bytes as the row, in the same rounds\n")
		cells = [][]string{{"id", "MB moved", "gograd GB/s", "Go copy GB/s", "% of copy", "gograd copy GB/s", "% of Go copy"}}
		for _, r := range rows {
			if c := r.Copy; c != nil {
				cells = append(cells, []string{r.ID, fmt.Sprintf("%.1f", float64(c.Bytes)/1e6), fmtRate(r.GBS), fmtRate(c.GoGBS),
					fmt.Sprintf("%.0f%%", c.PctOfCopy), fmtRate(c.GogradGBS), fmt.Sprintf("%.0f%%", c.GogradPct)})
			}
		}
		writeAligned(w, cells, 1)
	}

	var libs []string
	for _, p := range m.Peers {
		if p.Status == "ok" {
			libs = append(libs, p.Lib)
		}
	}
	if len(libs) > 0 {
		fmt.Fprintf(w, "\npeers: seconds per call (median) and peer time / gograd time (>1: gograd is faster)\n")
		head := []string{"id"}
		for _, lib := range libs {
			head = append(head, lib, "ratio")
		}
		cells = [][]string{head}
		notes := map[string][]string{} // lib: "family: note", once each
		for _, r := range rows {
			line := []string{r.ID}
			for _, lib := range libs {
				p := r.Peers[lib]
				switch {
				case p == nil:
					line = append(line, "-", "")
				case p.Status == "ok":
					line = append(line, fmtDur(p.Seconds), fmtRatio(p.Ratio))
				default:
					line = append(line, p.Status, "")
				}
				if p != nil && p.Note != "" {
					n := r.Name + ": " + p.Note
					if p.Status == "error" {
						n = r.ID + ": error: " + p.Note
					}
					if !slices.Contains(notes[lib], n) {
						notes[lib] = append(notes[lib], n)
					}
				}
			}
			cells = append(cells, line)
		}
		writeAligned(w, cells, 1)
		for _, lib := range libs {
			fmt.Fprintf(w, "%s runs:\n", lib)
			for _, n := range notes[lib] {
				fmt.Fprintf(w, "  %s\n", n)
			}
		}
	}

	fmt.Fprintf(w, "\ngograd, baseline and peers are medians of seconds per call, each timed in batches of\n"+
		"calls, round by round in the same run. GFLOP/s and GB/s come from the shapes (the math's FLOPs;\n"+
		"each input read once and the output written once), the same for every side. kern is gograd.Stats'\n"+
		"kernels per call. vs Go = plain-Go loop time / gograd time; vs peer = the faster peer's time /\n"+
		"gograd time: >1 means gograd is faster. %%copy = the row's GB/s over a Go copy of the same bytes.\n")
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
