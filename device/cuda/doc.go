// Package cuda is the CUDA device: NVIDIA GPUs driven through the CUDA
// driver API (libcuda.so.1), loaded at run time with purego, so gograd
// builds with no CUDA toolkit and CGO_ENABLED=0, and a machine without a
// GPU runs everything else as before.
//
// Kernels arrive as CUDA C from render.CUDA and are compiled by NVRTC
// (libnvrtc, found on the loader path, under $CUDA_PATH, $CUDA_HOME and
// /usr/local/cuda, or at $GOGRAD_NVRTC) to PTX for the device's compute
// capability, which the driver loads. PTX is cached on disk under gograd's
// cache directory (cuda/), keyed by the source, the architecture, the NVRTC
// version and the options, so a second process compiles nothing.
//
// Each device ("CUDA:0", "CUDA:1") uses its primary context and one stream.
// Buffers are device memory; host copies go through a pinned staging
// buffer. A kernel launch is timed with a pair of events around it
// (Program.RunTimed gives the GPU's time rather than the host's). Graph
// replays a fixed sequence of launches as one CUDA graph, for the JIT;
// RunAll launches a sequence back to back with one synchronisation.
//
// The kind registers with a priority above CPU when the driver library
// loads, so a GPU machine prefers it; on a machine without libcuda it is
// never the default, and DEV=CUDA fails with an error naming the missing
// library. A driver with no GPU behind it fails with "no CUDA device".
//
// Package cuda imports device, render and internal/env.
package cuda
