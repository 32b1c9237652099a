package cuda

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
)

func TestNVRTCCandidates(t *testing.T) {
	files := map[string][]string{
		"/opt/cu/lib64/libnvrtc.so*":           {"/opt/cu/lib64/libnvrtc.so.11.2", "/opt/cu/lib64/libnvrtc.so.12.4.99", "/opt/cu/lib64/libnvrtc.so.12"},
		"/usr/local/cuda/lib64/libnvrtc.so*":   {"/usr/local/cuda/lib64/libnvrtc.so"},
		"/usr/local/cuda/targets/*/lib/x*":     nil,
		"/usr/local/cuda/lib/libnvrtc.so*":     nil,
		"/opt/cuda/lib64/libnvrtc-builtins.so": nil,
	}
	glob := func(p string) ([]string, error) { return files[p], nil }
	env := map[string]string{"CUDA_PATH": "/opt/cu"}
	got := nvrtcCandidates(func(k string) string { return env[k] }, glob)
	if !slices.Equal(got[:len(nvrtcSonames)], nvrtcSonames) {
		t.Fatalf("the loader path's sonames come first: %v", got)
	}
	want := []string{"/opt/cu/lib64/libnvrtc.so.12.4.99", "/opt/cu/lib64/libnvrtc.so.12", "/opt/cu/lib64/libnvrtc.so.11.2", "/usr/local/cuda/lib64/libnvrtc.so"}
	if rest := got[len(nvrtcSonames):]; !slices.Equal(rest, want) {
		t.Fatalf("toolkit files, $CUDA_PATH first and newest first:\n got %v\nwant %v", rest, want)
	}
	env["GOGRAD_NVRTC"] = "/my/libnvrtc.so.12"
	if got := nvrtcCandidates(func(k string) string { return env[k] }, glob); !slices.Equal(got, []string{"/my/libnvrtc.so.12"}) {
		t.Fatalf("GOGRAD_NVRTC is the only candidate when set: %v", got)
	}
}

func TestChooseArch(t *testing.T) {
	nvrtc118 := []int{35, 37, 50, 52, 53, 60, 61, 62, 70, 72, 75, 80, 86, 87, 89, 90}
	nvrtc12 := []int{50, 52, 53, 60, 61, 62, 70, 72, 75, 80, 86, 87, 89, 90}
	for _, tc := range []struct {
		major, minor int
		supported    []int
		want, err    string
	}{
		{8, 0, nvrtc118, "compute_80", ""},
		{9, 0, nvrtc12, "compute_90", ""},
		{12, 0, nvrtc12, "compute_90", ""}, // a GPU newer than NVRTC: its newest PTX, which the driver compiles
		{8, 6, nil, "compute_86", ""},      // an NVRTC that cannot list its architectures
		{3, 5, nvrtc12, "", "sm_35"},       // a GPU older than NVRTC supports
	} {
		got, err := chooseArch(tc.major, tc.minor, tc.supported)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("sm_%d%d: want an error naming %s, got %q, %v", tc.major, tc.minor, tc.err, got, err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("sm_%d%d: got %q, %v; want %s", tc.major, tc.minor, got, err, tc.want)
		}
	}
}

func TestNVRTCOptionsKeepIEEE(t *testing.T) {
	opts := strings.Join(nvrtcOptions("compute_80"), " ")
	for _, o := range []string{"--gpu-architecture=compute_80", "--ftz=false", "--prec-div=true", "--prec-sqrt=true"} {
		if !strings.Contains(opts, o) {
			t.Errorf("options %q lack %s", opts, o)
		}
	}
	if strings.Contains(opts, "fast-math") {
		t.Errorf("options %q must not relax IEEE semantics", opts)
	}
}

func TestCachedPTX(t *testing.T) {
	dir := t.TempDir()
	calls := 0
	compile := func() ([]byte, error) { calls++; return []byte(".version 8.0\x00"), nil }
	key := cacheKey("src", "compute_80", "12.4", nvrtcOptions("compute_80"))
	before := CompilerRuns()
	for range 3 {
		ptx, err := cachedPTX(dir, key, compile)
		if err != nil || string(ptx) != ".version 8.0\x00" {
			t.Fatalf("got %q, %v", ptx, err)
		}
	}
	if calls != 1 || CompilerRuns()-before != 1 {
		t.Fatalf("compiled %d times (counted %d), want once", calls, CompilerRuns()-before)
	}
	if files, _ := filepath.Glob(filepath.Join(dir, "*")); len(files) != 1 || !strings.HasSuffix(files[0], key+".ptx") {
		t.Fatalf("the cache holds %v, want only %s.ptx", files, key)
	}
	// Every input of the PTX is in the key.
	keys := map[string]bool{key: true}
	for _, k := range []string{
		cacheKey("src2", "compute_80", "12.4", nvrtcOptions("compute_80")),
		cacheKey("src", "compute_90", "12.4", nvrtcOptions("compute_80")),
		cacheKey("src", "compute_80", "12.5", nvrtcOptions("compute_80")),
		cacheKey("src", "compute_80", "12.4", append(nvrtcOptions("compute_80"), "-lineinfo")),
	} {
		if keys[k] {
			t.Fatalf("two different compilations share the key %s", k)
		}
		keys[k] = true
	}
	// A failed compilation caches nothing.
	bad := errors.New("nvrtc says no")
	if _, err := cachedPTX(dir, "other", func() ([]byte, error) { return nil, bad }); !errors.Is(err, bad) {
		t.Fatalf("want the compiler's error, got %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "other.ptx")); err == nil {
		t.Fatal("a failed compilation left a cache file")
	}
}

func TestCachedPTXConcurrent(t *testing.T) {
	dir := t.TempDir()
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ptx, err := cachedPTX(dir, "k", func() ([]byte, error) { return []byte("ptx\x00"), nil })
			if err != nil || string(ptx) != "ptx\x00" {
				t.Errorf("got %q, %v", ptx, err)
			}
		}()
	}
	wg.Wait()
	if files, _ := filepath.Glob(filepath.Join(dir, "*")); len(files) != 1 {
		t.Fatalf("temporary files left behind: %v", files)
	}
}

func TestErrorMessages(t *testing.T) {
	for code, want := range map[int32]string{
		2:    "CUDA_ERROR_OUT_OF_MEMORY",
		100:  "no CUDA device",
		222:  "NVRTC is newer than the driver",
		700:  "CUDA_ERROR_ILLEGAL_ADDRESS",
		4242: "CUresult 4242",
	} {
		if got := check("cuFoo", code).Error(); !strings.Contains(got, want) || !strings.Contains(got, "cuFoo") {
			t.Errorf("code %d: %q should name cuFoo and %q", code, got, want)
		}
	}
	if check("cuFoo", 0) != nil {
		t.Error("CUDA_SUCCESS is no error")
	}
}

func TestVersionLess(t *testing.T) {
	names := []string{"libnvrtc.so.12.4.99", "libnvrtc.so", "libnvrtc.so.11.2", "libnvrtc.so.12", "libnvrtc.so.12.10"}
	slices.SortFunc(names, func(a, b string) int {
		if versionLess(a, b) {
			return -1
		}
		if versionLess(b, a) {
			return 1
		}
		return 0
	})
	want := []string{"libnvrtc.so", "libnvrtc.so.11.2", "libnvrtc.so.12", "libnvrtc.so.12.4.99", "libnvrtc.so.12.10"}
	if !slices.Equal(names, want) {
		t.Fatalf("got %v, want %v", names, want)
	}
}
