//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly || solaris || illumos || aix

package mmap

import (
	"os"
	"runtime"

	"golang.org/x/sys/unix"
)

// mapping is a memory-mapped file; whatever holds it keeps the bytes
// mapped, and it is unmapped when it becomes unreachable.
type mapping struct{ data []byte }

// File maps size bytes of f privately, readable and writable (writes go to
// the process's copy of the pages, never to the file), and returns them
// with the value that keeps them mapped: hold keep as long as the bytes are
// used (tensors over them do, through gograd.FromBytesShared).
func File(f *os.File, size int) (data []byte, keep any, err error) {
	if size == 0 {
		return []byte{}, nil, nil
	}
	data, err = unix.Mmap(int(f.Fd()), 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE)
	if err != nil {
		return nil, nil, err
	}
	m := &mapping{data: data}
	runtime.AddCleanup(m, func(b []byte) { _ = unix.Munmap(b) }, data)
	return data, m, nil
}
