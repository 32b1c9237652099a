// Package env reads gograd's environment switches once: DEBUG (0..5), GRAPH,
// DEV and BEAM. Tests may change them with the setters.
//
// Package env imports nothing from gograd.
package env

import (
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"
)

var debug, graph, beam atomic.Int64

func init() {
	debug.Store(intVar("DEBUG"))
	graph.Store(intVar("GRAPH"))
	beam.Store(intVar("BEAM"))
}

func intVar(name string) int64 {
	v, err := strconv.Atoi(os.Getenv(name))
	if err != nil {
		return 0
	}
	return int64(v)
}

// Debug is the DEBUG level: 1 schedule summaries, 2 a line per kernel, 3 the
// kernel AST, 4 generated source, 5 the linear program.
func Debug() int { return int(debug.Load()) }

// SetDebug changes the DEBUG level and returns the old one.
func SetDebug(level int) int { return int(debug.Swap(int64(level))) }

// Graph reports whether GRAPH is set: write the executed kernel graph as DOT.
func Graph() bool { return graph.Load() != 0 }

// SetGraph turns GRAPH on or off and returns the old setting.
func SetGraph(on bool) bool {
	v := int64(0)
	if on {
		v = 1
	}
	return graph.Swap(v) != 0
}

// Beam is the BEAM search width (0: heuristics only).
func Beam() int { return int(beam.Load()) }

// Dev is the DEV variable: the default device kind or name.
func Dev() string { return os.Getenv("DEV") }

// SetBeam changes the BEAM width and returns the old one.
func SetBeam(width int) int { return int(beam.Swap(int64(width))) }

// CacheDir is gograd's cache directory: $GOGRAD_CACHE, or gograd under the
// user cache directory.
func CacheDir() string {
	if d := os.Getenv("GOGRAD_CACHE"); d != "" {
		return d
	}
	d, err := os.UserCacheDir()
	if err != nil {
		d = os.TempDir()
	}
	return filepath.Join(d, "gograd")
}
