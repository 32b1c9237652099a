package gograd

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"

	"github.com/gograd/gograd/device"
	"github.com/gograd/gograd/internal/env"
	"github.com/gograd/gograd/schedule"
)

// The executed kernel graph for GRAPH=1: one node per kernel or copy that ran,
// one per buffer, with edges from the buffers a kernel reads to the kernel and
// from the kernel to the buffer it writes.
var (
	graphMu    sync.Mutex
	graphLines []string
	graphBufs  = map[*device.Buffer]string{}
	graphItems int
)

func recordGraph(it *schedule.Item, name string) {
	if !env.Graph() {
		return
	}
	graphMu.Lock()
	defer graphMu.Unlock()
	graphItems++
	k := fmt.Sprintf("k%d", graphItems)
	shape := "box"
	color := "lightblue"
	if it.Kind == schedule.Copy {
		shape, color = "cds", "orange"
	}
	graphLines = append(graphLines, fmt.Sprintf("  %s [label=%q shape=%s style=filled fillcolor=%s];", k, fmt.Sprintf("%d: %s\n%s", graphItems, name, it.Device().Name), shape, color))
	for i, b := range it.Bufs {
		id, ok := graphBufs[b]
		if !ok {
			id = fmt.Sprintf("b%d", len(graphBufs))
			graphBufs[b] = id
			graphLines = append(graphLines, fmt.Sprintf("  %s [label=%q shape=ellipse];", id, fmt.Sprintf("%s[%d]\n%s", b.DType, b.Size, b.Dev.Name)))
		}
		if i == 0 {
			graphLines = append(graphLines, fmt.Sprintf("  %s -> %s;", k, id))
		} else {
			graphLines = append(graphLines, fmt.Sprintf("  %s -> %s;", id, k))
		}
	}
}

// GraphPath is where GRAPH=1 writes the kernel graph (.dot, and .svg when
// Graphviz's dot is installed).
func GraphPath() string { return filepath.Join(os.TempDir(), "gograd-graph") }

// GraphDOT returns the kernel graph recorded so far as DOT.
func GraphDOT() string {
	graphMu.Lock()
	defer graphMu.Unlock()
	return "digraph kernels {\n  rankdir=LR;\n" + strings.Join(graphLines, "\n") + "\n}\n"
}

// ResetGraph forgets the recorded kernel graph.
func ResetGraph() {
	graphMu.Lock()
	defer graphMu.Unlock()
	graphLines, graphBufs, graphItems = nil, map[*device.Buffer]string{}, 0
}

func writeGraph() {
	p := GraphPath()
	if err := os.WriteFile(p+".dot", []byte(GraphDOT()), 0o644); err != nil {
		return
	}
	if dot, err := exec.LookPath("dot"); err == nil {
		_ = exec.Command(dot, "-Tsvg", p+".dot", "-o", p+".svg").Run()
	}
}
