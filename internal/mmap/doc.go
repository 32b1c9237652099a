// Package mmap maps model and data files into memory without reading them:
// pages load when first touched, so a multi-gigabyte model costs only what
// is used. Systems without mmap get a plain read. It imports only the
// standard library and golang.org/x/sys.
package mmap

import (
	"errors"
	"os"
)

var errTooLarge = errors.New("file too large to map")

// Open maps the whole file at path; see File. The file itself is closed
// before Open returns (the mapping outlives it).
func Open(path string) (data []byte, keep any, err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, nil, err
	}
	if st.Size() > int64(^uint(0)>>1) {
		return nil, nil, &os.PathError{Op: "mmap", Path: path, Err: errTooLarge}
	}
	return File(f, int(st.Size()))
}
