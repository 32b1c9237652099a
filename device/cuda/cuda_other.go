//go:build !linux

package cuda

import (
	"errors"

	"github.com/gograd/gograd/device"
)

// ErrUnsupported reports that this platform has no CUDA device in gograd.
var ErrUnsupported = errors.New("cuda: the CUDA device needs Linux (libcuda.so.1); this platform has none")

func init() {
	device.Register("CUDA", -1, func(int) (device.Runtime, error) { return nil, ErrUnsupported })
}
