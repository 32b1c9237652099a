//go:build !unix

// Package cpu is the CPU device; on this platform it is not available (it
// needs a C compiler, dlopen and mmap), so only the GO device runs.
package cpu

// VectorBytes is the width of the host's SIMD registers assumed by codegen.
func VectorBytes() int { return 16 }

// CompilerRuns returns how many times this process ran the C compiler.
func CompilerRuns() int64 { return 0 }
