//go:build unix

package cpu

import (
	"testing"
	"unsafe"
)

// TestAllocHugePageAligned checks the CPU device's large allocations: a
// buffer of at least a huge page starts on a huge-page boundary (so the
// system can back it with huge pages), every size comes back zeroed and
// writable to its last byte, and Free returns it.
func TestAllocHugePageAligned(t *testing.T) {
	r := &cpuRuntime{}
	for _, n := range []int{mmapThreshold, hugePage - 1, hugePage, 3*hugePage + 12345} {
		m, err := r.Alloc(n)
		if err != nil {
			t.Fatalf("Alloc(%d): %v", n, err)
		}
		b := r.Bytes(m)
		if len(b) != n {
			t.Fatalf("Alloc(%d) gave %d bytes", n, len(b))
		}
		if addr := uintptr(unsafe.Pointer(&b[0])); n >= hugePage && addr%hugePage != 0 {
			t.Errorf("Alloc(%d) at %#x, not on a %d-byte boundary", n, addr, hugePage)
		}
		for _, i := range []int{0, n / 2, n - 1} {
			if b[i] != 0 {
				t.Errorf("Alloc(%d): byte %d is %d, not zero", n, i, b[i])
			}
			b[i] = 7
		}
		r.Free(m)
	}
}
