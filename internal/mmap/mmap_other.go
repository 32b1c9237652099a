//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly || solaris || illumos || aix)

package mmap

import (
	"io"
	"os"
)

// File reads size bytes of f into memory, where the system has no mmap
// this package uses.
func File(f *os.File, size int) (data []byte, keep any, err error) {
	data = make([]byte, size)
	if _, err := io.ReadFull(f, data); err != nil {
		return nil, nil, err
	}
	return data, nil, nil
}

// Release does nothing where File reads into memory.
func Release(b []byte) {}
