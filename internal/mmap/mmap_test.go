package mmap

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

func TestOpen(t *testing.T) {
	dir := t.TempDir()
	for _, want := range [][]byte{{}, []byte("hello, mapped world")} {
		path := filepath.Join(dir, "f")
		if err := os.WriteFile(path, want, 0o644); err != nil {
			t.Fatal(err)
		}
		got, keep, err := Open(path)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("Open = %q, want %q", got, want)
		}
		if len(got) > 0 {
			got[0] = 'J' // private: the file keeps its bytes
			if b, _ := os.ReadFile(path); !bytes.Equal(b, want) {
				t.Errorf("a write to the mapping reached the file: %q", b)
			}
		}
		_ = keep
	}
	if _, _, err := Open(filepath.Join(dir, "missing")); err == nil {
		t.Error("Open of a missing file: no error")
	}
}

func TestRelease(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f")
	want := bytes.Repeat([]byte("0123456789abcdef"), 4096) // 64 KiB
	if err := os.WriteFile(path, want, 0o644); err != nil {
		t.Fatal(err)
	}
	b, keep, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	Release(b[100:50000])
	Release(nil)
	if !bytes.Equal(b, want) { // released pages read the file again
		t.Error("bytes changed after Release")
	}
	_ = keep

	// Memory File did not map is left alone: released heap pages would
	// read back as zeros.
	heap := bytes.Repeat([]byte("heap bytes, not a file's!"), 8192)
	Release(heap)
	if !bytes.Equal(heap, bytes.Repeat([]byte("heap bytes, not a file's!"), 8192)) {
		t.Error("Release changed memory that File did not map")
	}
}
