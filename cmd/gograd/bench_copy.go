package main

import (
	"github.com/gograd/gograd"
	"github.com/gograd/gograd/jit"
)

// The bandwidth yardstick of the memory-bound rows: in the same rounds as
// the row, a copy that moves the same number of bytes as the row's shapes
// imply (it reads half of them and writes the other half), timed two ways:
//
//   - Go: the built-in copy over GOMAXPROCS goroutines, one contiguous part
//     each. Go's memmove streams large copies with non-temporal stores, so
//     this is close to what the memory system gives (STREAM copy).
//   - gograd: one gograd kernel, dst.Assign(src) on the bench's device,
//     replayed through jit: what a gograd kernel's loads and stores reach.
//
// A row's "% of copy" is its GB/s over the Go copy's GB/s; on a device
// with its own memory (CUDA) over the gograd copy's.

// copier holds the buffers of one yardstick size.
type copier struct {
	bytes    int64 // moved per copy: read plus written
	src, dst []byte
	gsrc     *gograd.Tensor
	gdst     *gograd.Tensor
	gjit     *jit.JIT
}

// newCopier makes the buffers for a copy moving about bytes bytes; the
// gograd copy runs on dev ("" for none).
func newCopier(dev string, bytes int64) *copier {
	n := int(bytes / 8) // float32s copied: 4 B read + 4 B written each
	c := &copier{bytes: int64(n) * 8, src: make([]byte, 4*n), dst: make([]byte, 4*n)}
	for i := range c.src {
		c.src[i] = byte(i)
	}
	copy(c.dst, c.src) // fault the pages in
	if dev != "" {
		c.gsrc = gograd.FromSliceOn(dev, make([]float32, n))
		c.gdst = gograd.FromSliceOn(dev, make([]float32, n))
		c.gjit = jit.New(func(in ...*gograd.Tensor) []*gograd.Tensor { return []*gograd.Tensor{in[0].Assign(in[1])} })
		c.gjit.Call(c.gdst, c.gsrc) // compile and run
		c.gjit.Call(c.gdst, c.gsrc) // capture
	}
	return c
}

// goCopy runs one parallel Go copy, a contiguous part per goroutine.
func (c *copier) goCopy() {
	const page = 4096
	pages := (len(c.src) + page - 1) / page
	parallelFor(pages, func(lo, hi int) {
		lo, hi = lo*page, min(hi*page, len(c.src))
		copy(c.dst[lo:hi], c.src[lo:hi])
	})
}

// gogradCopy runs the gograd copy kernel once, replayed.
func (c *copier) gogradCopy() { c.gjit.Call(c.gdst, c.gsrc) }
