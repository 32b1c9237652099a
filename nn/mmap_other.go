//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly || solaris || illumos || aix)

package nn

import (
	"io"
	"os"
)

// mapFile reads size bytes of f into memory, where the system has no mmap
// that package nn uses.
func mapFile(f *os.File, size int) ([]byte, any, error) {
	data := make([]byte, size)
	if _, err := io.ReadFull(f, data); err != nil {
		return nil, nil, err
	}
	return data, nil, nil
}
