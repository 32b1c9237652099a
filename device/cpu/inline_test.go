//go:build unix

package cpu_test

import (
	"debug/elf"
	"regexp"
	"strings"
	"testing"

	g "github.com/gograd/gograd"
)

// TestTiledKernelsInlineHelpers checks that a register-tiled kernel (tuned
// for its tile, see render's tileTuning) has its helpers inlined: GCC
// inlines no function whose target options differ from its caller's, and
// a tuned kernel calling an untuned helper for every half-precision load
// or DOT4 spills its whole tile around each call. The shared object must
// then hold none of the helpers the source declares.
func TestTiledKernelsInlineHelpers(t *testing.T) {
	needCompiler(t)
	a := g.Rand(64, 256).Cast(g.Float16).Realize()
	b := g.Rand(256, 128).Cast(g.Float16).Realize()
	helper := regexp.MustCompile(`static inline [a-zA-Z0-9_ ]+?\b([a-zA-Z_][a-zA-Z0-9_]*)\(`)
	tiled := 0
	for _, k := range g.Capture(func() { a.Cast(g.Float32).Matmul(b.Cast(g.Float32)).Realize() }) {
		p, ok := k.Prog.(interface {
			Source() string
			Library() string
		})
		if !ok || !strings.Contains(p.Source(), "tune=icelake-server") || !strings.Contains(p.Source(), "h2f_") {
			continue
		}
		tiled++
		f, err := elf.Open(p.Library())
		if err != nil {
			t.Fatal(err)
		}
		syms, err := f.Symbols()
		f.Close()
		if err != nil {
			t.Fatalf("%s: %v", p.Library(), err)
		}
		funcs := map[string]bool{}
		for _, s := range syms {
			if elf.ST_TYPE(s.Info) == elf.STT_FUNC {
				funcs[s.Name] = true
			}
		}
		for _, m := range helper.FindAllStringSubmatch(p.Source(), -1) {
			if funcs[m[1]] {
				t.Errorf("%s: helper %s was not inlined into the tuned kernel", p.Library(), m[1])
			}
		}
	}
	if tiled == 0 {
		t.Skip("no tuned kernel with half loads ran (the tuning is GCC's on x86-64)")
	}
}
