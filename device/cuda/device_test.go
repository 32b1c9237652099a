//go:build linux

package cuda_test

import (
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"

	g "github.com/gograd/gograd"
	"github.com/gograd/gograd/codegen"
	"github.com/gograd/gograd/device"
	"github.com/gograd/gograd/device/cuda"
	"github.com/gograd/gograd/render"
	"github.com/gograd/gograd/uop"
)

// The child process of the device-selection tests: realize one kernel on
// the default device and report where it ran.
func TestMain(m *testing.M) {
	// The backend the root's table is to hold; registered here so that
	// these tests run before it does.
	g.RegisterBackend("CUDA", codegen.Options{SIMD: 16, GPU: true}, func(name string, uops []*uop.UOp) (any, error) {
		return render.CUDA(name, uops)
	})
	if os.Getenv("GOGRAD_FAKE_CUDA_CHILD") != "" {
		if err := fakeMain(); err != nil {
			fmt.Println("fake error:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	if os.Getenv("GOGRAD_CUDA_CHILD") != "" {
		x := g.FromSlice([]float32{1, 2, 3})
		y := x.Mul(2).Add(1).Float32s()
		fmt.Printf("device=%s nvrtc=%d values=%v\n", g.DefaultDevice(), cuda.CompilerRuns(), y)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// child runs this test binary as the child above with env added; it
// returns stdout, stderr and whether it exited cleanly.
func child(t *testing.T, env ...string) (string, string, bool) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run", "^$")
	cmd.Env = append(os.Environ(), append([]string{"GOGRAD_CUDA_CHILD=1", "GOGRAD_CACHE=" + t.TempDir()}, env...)...)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	return stdout.String(), stderr.String(), err == nil
}

// openErr returns why CUDA does not open here, skipping on a GPU machine.
func openErr(t *testing.T) error {
	t.Helper()
	_, err := device.Get("CUDA")
	if err == nil {
		t.Skip("this machine has a CUDA device")
	}
	return err
}

func driverMissing(err error) bool { return !strings.Contains(err.Error(), "no CUDA device") }

// Without a GPU, opening CUDA fails with an error that names what is
// missing: the driver library, or (driver installed) the device.
func TestOpenWithoutGPUNamesWhatIsMissing(t *testing.T) {
	err := openErr(t)
	msg := err.Error()
	if driverMissing(err) && !strings.Contains(msg, "libcuda.so.1") {
		t.Fatalf("without the driver the error should name libcuda.so.1: %v", err)
	}
	if !strings.HasPrefix(msg, "device: opening CUDA:0: cuda: ") {
		t.Fatalf("the error should say which device failed to open: %v", err)
	}
	if _, err2 := device.Get("CUDA:1"); err2 == nil || !strings.Contains(err2.Error(), "CUDA:1") {
		t.Fatalf("CUDA:1 should fail naming itself: %v", err2)
	}
}

// Without the driver library, CUDA is never the default device and says
// nothing: the fallback notice is for a preferred device that failed.
func TestNeverDefaultWithoutDriver(t *testing.T) {
	if err := openErr(t); !driverMissing(err) {
		t.Skip("the driver is installed (with no GPU): CUDA is preferred and its failure noted")
	}
	if slices.Contains(device.Kinds(), "CUDA") {
		t.Fatalf("CUDA is among the default candidates %v without a driver", device.Kinds())
	}
	out, stderr, ok := child(t, "DEV=")
	if !ok || strings.Contains(out, "device=CUDA") || !strings.Contains(out, "values=[3 5 7]") {
		t.Fatalf("the default device should be CPU or GO and compute: %s%s", out, stderr)
	}
	if strings.Contains(stderr, "CUDA") || strings.Contains(stderr, "cuda") {
		t.Fatalf("a machine without a GPU should hear nothing about CUDA, got %q", stderr)
	}
}

// DEV=CUDA on a machine without a GPU stops with the reason.
func TestDevCUDAWithoutGPUFails(t *testing.T) {
	err := openErr(t)
	out, stderr, ok := child(t, "DEV=CUDA")
	if ok {
		t.Fatalf("DEV=CUDA without a GPU should fail, ran: %s", out)
	}
	want := "no CUDA device"
	if driverMissing(err) {
		want = "libcuda.so.1"
	}
	if !strings.Contains(stderr, want) || !strings.Contains(stderr, "CUDA:0") {
		t.Fatalf("DEV=CUDA should fail naming CUDA:0 and %s, got:\n%s", want, stderr)
	}
}
