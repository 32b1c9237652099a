// Package godev is the GO device: buffers in Go memory and kernels compiled
// by render.Go into closure programs. It needs no cgo and no compiler, so it
// is always available; it is the correctness fallback of every other device.
//
// Package godev imports device.
package godev

import (
	"fmt"

	"github.com/gograd/gograd/device"
)

func init() {
	device.Register("GO", 0, func(int) (device.Runtime, error) { return runtime{}, nil })
}

type runtime struct{}

func (runtime) Alloc(nbytes int) (device.Mem, error) { return make([]byte, nbytes), nil }

func (runtime) CopyIn(m device.Mem, src []byte) { copy(m.([]byte), src) }

func (runtime) CopyOut(dst []byte, m device.Mem) { copy(dst, m.([]byte)) }

func (runtime) Bytes(m device.Mem) []byte { return m.([]byte) }

// Compile accepts a program already made runnable by the renderer.
func (runtime) Compile(name string, src any) (device.Program, error) {
	p, ok := src.(device.Program)
	if !ok {
		return nil, fmt.Errorf("godev: %s: expected a GO closure program, got %T", name, src)
	}
	return p, nil
}
