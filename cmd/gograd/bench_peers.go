package main

import (
	"bufio"
	"bytes"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"
)

// The peers column: numpy and PyTorch run the same ops in the same run of
// gograd bench. Each library runs in its own python3 process (a worker,
// bench_peers.py, embedded here so the binary works from any directory)
// started with the bench's thread count; the bench asks it to time one
// batch of calls per round, between gograd's runs, so that both see the
// same machine.

//go:embed bench_peers.py
var peerScript string

// peerLibs are the peer libraries, in the order the table lists them.
var peerLibs = []string{"numpy", "torch"}

// pythonCandidates are the interpreters tried in order: Debian's, whose
// python3-numpy and python3-torch the peers are, then python3 on PATH.
var pythonCandidates = []string{"/usr/bin/python3", "python3"}

// errNoPython reports that no python3 could be found.
var errNoPython = errors.New("absent: no python3 found")

// findPython returns the first candidate that names an executable file,
// or errNoPython.
func findPython(candidates []string) (string, error) {
	for _, c := range candidates {
		if p, err := exec.LookPath(c); err == nil {
			return p, nil
		}
	}
	return "", errNoPython
}

// peerInfo describes one peer library as the bench found it.
type peerInfo struct {
	Lib     string   `json:"lib"`
	Status  string   `json:"status"` // "ok", "absent" or "error"
	Python  string   `json:"python,omitempty"`
	Version string   `json:"version,omitempty"`
	Threads int      `json:"threads,omitempty"`
	Libs    []string `json:"libs,omitempty"` // BLAS, LAPACK, OpenMP and oneDNN libraries it mapped
	Note    string   `json:"note,omitempty"` // why absent, or the error
}

// peer is a running worker process.
type peer struct {
	info  peerInfo
	cmd   *exec.Cmd
	stdin io.WriteCloser
	lines chan []byte // stdout, one reply per line; closed at EOF
	errs  *tailBuffer // the last of its stderr, for error messages
	dead  error       // set once the worker failed; later calls fail at once
}

// peerTimeout bounds one request: a setup makes inputs of up to a few
// hundred MB and warms up, a time request runs a few batches.
const peerTimeout = 5 * time.Minute

// startPeer starts the worker for lib with python and waits for its first
// reply. A library that does not import gives a peer whose Status is
// "absent" and no process.
func startPeer(python, lib string, threads int, extraEnv []string) *peer {
	p := &peer{info: peerInfo{Lib: lib, Python: python}, errs: &tailBuffer{max: 4096}, lines: make(chan []byte, 1)}
	n := fmt.Sprint(threads)
	p.cmd = exec.Command(python, "-c", peerScript, lib, n)
	p.cmd.Env = append(os.Environ(),
		"OMP_NUM_THREADS="+n, "OPENBLAS_NUM_THREADS="+n, "MKL_NUM_THREADS="+n,
		// Keep freed memory in the process (no mmap per large block, no
		// trimming): an op without an out= form then gets its fresh output
		// from memory it has touched before, as gograd's buffer pool does,
		// instead of paying a page fault per 4 KiB on every call.
		"MALLOC_MMAP_MAX_=0", "MALLOC_TRIM_THRESHOLD_=68719476736",
	)
	p.cmd.Env = append(p.cmd.Env, extraEnv...)
	p.cmd.Stderr = p.errs
	var err error
	if p.stdin, err = p.cmd.StdinPipe(); err != nil {
		return p.fail(err)
	}
	out, err := p.cmd.StdoutPipe()
	if err != nil {
		return p.fail(err)
	}
	if err := p.cmd.Start(); err != nil {
		p.cmd = nil
		return p.fail(err)
	}
	go func() {
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 64<<10), 16<<20)
		for sc.Scan() {
			p.lines <- bytes.Clone(sc.Bytes())
		}
		close(p.lines)
	}()
	var hello struct {
		Absent  string   `json:"absent"`
		Lib     string   `json:"lib"`
		Version string   `json:"version"`
		Threads int      `json:"threads"`
		Libs    []string `json:"libs"`
	}
	if err := p.read(&hello); err != nil {
		return p.fail(err)
	}
	if hello.Absent != "" {
		p.close()
		p.info.Status, p.info.Note = "absent", hello.Absent
		return p
	}
	p.info.Status, p.info.Version, p.info.Threads, p.info.Libs = "ok", hello.Version, hello.Threads, hello.Libs
	return p
}

// fail marks the peer failed with err, ends its process and returns it.
func (p *peer) fail(err error) *peer {
	p.dead = err
	p.info.Status, p.info.Note = "error", err.Error()
	p.close()
	return p
}

// ok reports whether the peer runs.
func (p *peer) ok() bool { return p.info.Status == "ok" && p.dead == nil }

// read decodes the next reply into v, failing after peerTimeout or when the
// worker ended; an {"error": ...} reply is returned as an error.
func (p *peer) read(v any) error {
	if p.dead != nil {
		return p.dead
	}
	select {
	case line, open := <-p.lines:
		if !open {
			return p.died(errors.New("worker exited"))
		}
		var e struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(line, &e) == nil && e.Error != "" {
			return errors.New(e.Error)
		}
		if err := json.Unmarshal(line, v); err != nil {
			return p.died(fmt.Errorf("bad reply %.200q: %v", line, err))
		}
		return nil
	case <-time.After(peerTimeout):
		return p.died(fmt.Errorf("no reply in %s", peerTimeout))
	}
}

// died records a broken worker (with the tail of its stderr) and ends it.
func (p *peer) died(err error) error {
	if tail := strings.TrimSpace(p.errs.String()); tail != "" {
		err = fmt.Errorf("%w; stderr: %s", err, tail)
	}
	p.fail(err)
	return p.dead
}

// call sends a request and decodes the reply into v.
func (p *peer) call(req map[string]any, v any) error {
	if p.dead != nil {
		return p.dead
	}
	b, err := json.Marshal(req)
	if err != nil {
		return err
	}
	if _, err := p.stdin.Write(append(b, '\n')); err != nil {
		return p.died(err)
	}
	return p.read(v)
}

// close ends the worker: closing its stdin ends its loop; it is killed if
// it does not exit within a few seconds.
func (p *peer) close() {
	if p.cmd == nil || p.cmd.Process == nil {
		return
	}
	cmd := p.cmd
	p.cmd = nil
	if p.stdin != nil {
		p.stdin.Close()
	}
	done := make(chan struct{})
	go func() {
		cmd.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		cmd.Process.Kill()
		<-done
	}
}

// peerSetup is a worker's answer to setup.
type peerSetup struct {
	Skip  string  `json:"skip"`
	Inner int     `json:"inner"`
	Warm  float64 `json:"warm"`
	Note  string  `json:"note"`
}

// setup makes a row's inputs in the worker and warms it up; target is the
// length of one timed batch in seconds.
func (p *peer) setup(id string, spec peerSpec, target float64) (peerSetup, error) {
	var s peerSetup
	err := p.call(map[string]any{"op": "setup", "id": id, "kind": spec.Kind, "dims": spec.Dims, "target": target}, &s)
	return s, err
}

// time runs reps batches of the row's op and returns the seconds per call
// of each.
func (p *peer) time(id string, reps int) ([]float64, error) {
	var r struct {
		Times []float64 `json:"times"`
	}
	err := p.call(map[string]any{"op": "time", "id": id, "reps": reps}, &r)
	if err == nil && len(r.Times) != reps {
		err = fmt.Errorf("asked for %d timings, got %d", reps, len(r.Times))
	}
	return r.Times, err
}

// free drops a row's inputs in the worker.
func (p *peer) free(id string) error {
	var r struct{}
	return p.call(map[string]any{"op": "free", "id": id}, &r)
}

// startPeers finds python3 and starts a worker per library in libs; the
// returned infos say which are absent and why. It never fails: without
// python the bench runs without peers.
func startPeers(candidates, libs []string, threads int, extraEnv []string) ([]*peer, []peerInfo) {
	python, err := findPython(candidates)
	if err != nil {
		var infos []peerInfo
		for _, lib := range libs {
			infos = append(infos, peerInfo{Lib: lib, Status: "absent", Note: fmt.Sprintf("no python3 found (tried %s)", strings.Join(candidates, ", "))})
		}
		return nil, infos
	}
	peers := make([]*peer, len(libs))
	var wg sync.WaitGroup
	for i, lib := range libs {
		wg.Go(func() { peers[i] = startPeer(python, lib, threads, extraEnv) })
	}
	wg.Wait()
	var infos []peerInfo
	var running []*peer
	for _, p := range peers {
		infos = append(infos, p.info)
		if p.ok() {
			running = append(running, p)
		}
	}
	return running, infos
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = t.b[len(t.b)-t.max:]
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.b)
}
