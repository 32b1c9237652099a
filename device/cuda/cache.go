package cuda

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"

	"github.com/gograd/gograd/internal/env"
)

// CacheDir is where compiled PTX is kept (cuda under gograd's cache
// directory: $GOGRAD_CACHE or the user cache directory).
func CacheDir() string { return filepath.Join(env.CacheDir(), "cuda") }

var compilerRuns atomic.Int64

// CompilerRuns returns how many times this process ran NVRTC (a kernel
// found in the disk cache costs none).
func CompilerRuns() int64 { return compilerRuns.Load() }

// cacheKey identifies the PTX of src compiled by a given NVRTC for an
// architecture with options.
func cacheKey(src, arch, nvrtcVersion string, opts []string) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00%s\x00%s", nvrtcVersion, arch, strings.Join(opts, " "), src)
	return hex.EncodeToString(h.Sum(nil))[:32]
}

// cachedPTX returns the PTX for key from dir, or runs compile and stores
// what it returns. The file is written under a temporary name and renamed,
// so processes sharing the cache never read a partial file.
func cachedPTX(dir, key string, compile func() ([]byte, error)) ([]byte, error) {
	path := filepath.Join(dir, key+".ptx")
	if b, err := os.ReadFile(path); err == nil && len(b) > 0 {
		return b, nil
	}
	compilerRuns.Add(1)
	ptx, err := compile()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return ptx, nil // a cache we cannot write costs time, not correctness
	}
	tmp, err := os.CreateTemp(dir, key+"-*.tmp")
	if err != nil {
		return ptx, nil
	}
	_, werr := tmp.Write(ptx)
	cerr := tmp.Close()
	if werr != nil || cerr != nil || os.Rename(tmp.Name(), path) != nil {
		os.Remove(tmp.Name())
	}
	return ptx, nil
}
