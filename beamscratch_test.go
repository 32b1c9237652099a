//go:build linux

package gograd

import (
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/gograd/gograd/device"
)

// TestBeamScratchIsResident checks that BEAM times its candidates on
// memory that is really there: every page of a large scratch buffer is
// resident (mincore) when the search starts, not the shared zero page a
// never-written mapping reads as, from which a memory-bound kernel looked
// several times faster than it runs on real weights.
func TestBeamScratchIsResident(t *testing.T) {
	dev := device.MustGet(DefaultDevice())
	real := device.NewBuffer(dev, Float32, 3<<20) // 12 MiB: an mmap'd buffer on CPU
	scratch, size := scratchBuffers(dev, []*device.Buffer{real})
	if size != 12<<20 {
		t.Errorf("size %d, want %d", size, 12<<20)
	}
	b := scratch[0].HostBytes()
	if b == nil {
		t.Skipf("%s does not keep buffers in host memory", dev.Kind)
	}
	page := unix.Getpagesize()
	start := uintptr(unsafe.Pointer(&b[0])) &^ uintptr(page-1)
	n := int(uintptr(unsafe.Pointer(&b[0]))+uintptr(len(b))-start+uintptr(page-1)) / page
	vec := make([]byte, n)
	if _, _, errno := unix.Syscall(unix.SYS_MINCORE, start, uintptr(n*page), uintptr(unsafe.Pointer(&vec[0]))); errno != 0 {
		t.Fatalf("mincore: %v", errno)
	}
	missing := 0
	for _, v := range vec {
		if v&1 == 0 {
			missing++
		}
	}
	if missing > 0 {
		t.Errorf("%d of %d pages of the scratch buffer are not resident", missing, n)
	}
}
