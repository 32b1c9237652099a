//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly || solaris || illumos || aix

package mmap

import (
	"os"
	"runtime"
	"sync"
	"unsafe"

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
	start := uintptr(unsafe.Pointer(&data[0]))
	live.Store(start, start+uintptr(size))
	runtime.AddCleanup(m, func(b []byte) {
		live.Delete(uintptr(unsafe.Pointer(&b[0])))
		_ = unix.Munmap(b)
	}, data)
	return data, m, nil
}

// live holds the mappings File made and not yet unmapped: start -> end
// address.
var live sync.Map

// mapped reports whether [start, end) lies inside one of File's mappings.
func mapped(start, end uintptr) bool {
	inside := false
	live.Range(func(k, v any) bool {
		inside = k.(uintptr) <= start && end <= v.(uintptr)
		return !inside
	})
	return inside
}

// Release tells the system that the mapped bytes b will not be read again
// (their contents were copied elsewhere): the pages inside b leave the
// process's resident memory. Reading b afterwards reads the file again.
// Bytes not from File are left alone.
func Release(b []byte) {
	if len(b) == 0 {
		return
	}
	page := uintptr(unix.Getpagesize())
	start := uintptr(unsafe.Pointer(&b[0]))
	end := start + uintptr(len(b))
	lo, hi := (start+page-1)&^(page-1), end&^(page-1) // whole pages inside b only
	if hi <= lo || !mapped(start, end) {
		return
	}
	_ = unix.Madvise(unsafe.Slice((*byte)(unsafe.Add(unsafe.Pointer(&b[0]), lo-start)), hi-lo), unix.MADV_DONTNEED)
}
