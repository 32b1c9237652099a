//go:build unix

package cpu

import "testing"

// BenchmarkPoolRun times one launch of eight empty parts on the pool: the
// cost of handing a kernel to the worker threads and waiting for them.
func BenchmarkPoolRun(b *testing.B) {
	p := newPool(1)
	var sink [8]int
	for b.Loop() {
		p.run(8, func(part int) { sink[part]++ })
	}
}
