package gograd_test

import (
	"os"
	"path/filepath"
	"testing"

	g "github.com/gograd/gograd"
	"github.com/gograd/gograd/internal/env"
)

// TestBeamSearchCachesItsWinner runs BEAM=1 on a small kernel: the result
// matches the unsearched kernel, and the winner lands in the disk cache.
func TestBeamSearchCachesItsWinner(t *testing.T) {
	if kind := g.DefaultDevice(); kind[:3] != "CPU" {
		t.Skipf("BEAM searches kernels of the CPU device; default is %s", kind)
	}
	dir := t.TempDir()
	t.Setenv("GOGRAD_CACHE", dir)
	old := env.SetBeam(1)
	defer env.SetBeam(old)
	a := g.Rand(24, 40).Realize()
	b := g.Rand(40, 36).Realize()
	got := a.Matmul(b).Float32s()
	env.SetBeam(0)
	want := a.To("GO").Matmul(b.To("GO")).Float32s()
	for i := range want {
		if d := got[i] - want[i]; d > 1e-4 || d < -1e-4 {
			t.Fatalf("element %d: %v with BEAM, %v without", i, got[i], want[i])
		}
	}
	files, _ := filepath.Glob(filepath.Join(dir, "beam", "*.json"))
	if len(files) == 0 {
		t.Fatalf("BEAM stored no winner under %s", dir)
	}
	if b, err := os.ReadFile(files[0]); err != nil || len(b) == 0 {
		t.Fatalf("unreadable beam cache entry: %v", err)
	}
}
