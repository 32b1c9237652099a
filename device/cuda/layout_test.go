//go:build linux

package cuda

import (
	"strings"
	"testing"
	"unsafe"
)

// kernelNodeParams must match CUDA_KERNEL_NODE_PARAMS_v2 byte for byte on
// 64-bit hosts: the function, seven 32-bit sizes, then pointers from 40.
func TestKernelNodeParamsLayout(t *testing.T) {
	var p kernelNodeParams
	for _, c := range []struct {
		name      string
		got, want uintptr
	}{
		{"size", unsafe.Sizeof(p), 72},
		{"gridX", unsafe.Offsetof(p.gridX), 8},
		{"shared", unsafe.Offsetof(p.shared), 32},
		{"kernelParams", unsafe.Offsetof(p.params), 40},
		{"extra", unsafe.Offsetof(p.extra), 48},
		{"kern", unsafe.Offsetof(p.kern), 56},
		{"ctx", unsafe.Offsetof(p.ctx), 64},
	} {
		if c.got != c.want {
			t.Errorf("%s at %d, want %d", c.name, c.got, c.want)
		}
	}
}

// paramPtrs points at each argument value, as cuLaunchKernel reads them.
func TestParamPtrs(t *testing.T) {
	vals := []uint64{0xdead0000, 7, 1 << 40}
	ptrs := paramPtrs(vals)
	for i, v := range vals {
		if got := *(*uint64)(ptrs[i]); got != v {
			t.Errorf("param %d reads %#x, want %#x", i, got, v)
		}
	}
	if len(paramPtrs(nil)) == 0 {
		t.Error("a kernel without arguments still needs an array to point at")
	}
}

// Without NVRTC the error names the library and the variable that points
// at it.
func TestMissingNVRTCNamesIt(t *testing.T) {
	_, err := loadNVRTC()
	if err == nil {
		t.Skip("NVRTC is installed here")
	}
	for _, want := range []string{"libnvrtc", "GOGRAD_NVRTC"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q should name %s", err, want)
		}
	}
}
