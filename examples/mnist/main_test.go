package main

import (
	"bytes"
	"compress/gzip"
	"flag"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gograd/gograd"
	"github.com/gograd/gograd/nn"
	"github.com/gograd/gograd/nn/datasets"
)

var update = flag.Bool("update", false, "rewrite testdata/*.gz from ../shared/data/mnist")

// sharedData is the 10,000-digit set as seen from this package's folder.
const sharedData = "../../../shared/data/mnist"

// TestTrain trains a few small steps on the shipped digits: the loss must
// fall and the accuracy beat chance (10%) by far; a second run repeats the
// losses exactly; the saved model loads back into a fresh one.
func TestTrain(t *testing.T) {
	save := filepath.Join(t.TempDir(), "mnist.safetensors")
	cfg := config{epochs: 1, batch: 16, steps: 24, lr: 1e-3, seed: 3, dataDir: "testdata/absent", save: save, testMax: 500}
	var out strings.Builder
	res, err := train(cfg, &out, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Log("\n" + out.String())
	if !strings.Contains(out.String(), "not found: training on the 1000 shipped digits") {
		t.Error("the output does not say it trained on the shipped subset")
	}
	if lines := strings.Split(strings.TrimSpace(out.String()), "\n"); !strings.HasPrefix(lines[len(lines)-1], "test accuracy: ") {
		t.Errorf("last line %q", lines[len(lines)-1])
	}
	l := res.losses
	if len(l) != cfg.steps {
		t.Fatalf("%d losses for %d steps", len(l), cfg.steps)
	}
	first, last := mean(l[:6]), mean(l[len(l)-6:])
	if !(last < 0.6*first) {
		t.Errorf("the loss did not fall: mean of the first 6 steps %.3f, of the last 6 %.3f (%v)", first, last, l)
	}
	if res.accuracy < 50 {
		t.Errorf("test accuracy %.2f%%, want at least 50%% (chance is 10%%)", res.accuracy)
	}

	t.Run("deterministic", func(t *testing.T) {
		again := cfg
		again.steps, again.save, again.testMax = 4, "", 100
		res2, err := train(again, io.Discard, nil)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(res2.losses, res.losses[:4]) {
			t.Errorf("the same seed gave losses %v, then %v", res.losses[:4], res2.losses)
		}
	})

	t.Run("save and load", func(t *testing.T) {
		gograd.Seed(99)
		fresh := newModel()
		if err := nn.LoadModel(save, &fresh); err != nil {
			t.Fatal(err)
		}
		want, got := nn.StateDict(&res.model), nn.StateDict(&fresh)
		if len(want) != len(got) || len(want) != 4*2+2*5+2 { // 4 convs, 2 batch norms, linear
			t.Fatalf("state dicts of %d and %d tensors", len(want), len(got))
		}
		for name, w := range want {
			if !bytes.Equal(w.Bytes(), got[name].Bytes()) {
				t.Errorf("%s differs after loading", name)
			}
		}
		data, err := loadShipped()
		if err != nil {
			t.Fatal(err)
		}
		x := data.testX.Slice(gograd.Sl(0, 8))
		nn.Train(&res.model, false)
		nn.Train(&fresh, false)
		if a, b := res.model.Forward(x).Float32s(), fresh.Forward(x).Float32s(); !slices.Equal(a, b) {
			t.Errorf("logits differ after loading:\n%v\n%v", a, b)
		}
	})
}

func mean(v []float64) float64 {
	s := 0.0
	for _, x := range v {
		s += x
	}
	return s / float64(len(v))
}

// TestShippedData checks the shipped IDX files: their shapes and labels,
// that they write back byte for byte, and, where ../shared is present, that
// they are the first 1,000 and the last 2,000 digits of the 10,000 (-update
// rewrites them from there).
func TestShippedData(t *testing.T) {
	files := []struct {
		name   string
		lo, hi int // the digits of the 10,000
		images bool
	}{
		{trainImages, 0, shippedTrain, true},
		{trainLabels, 0, shippedTrain, false},
		{testImages, numTrain, 10000, true},
		{testLabels, numTrain, 10000, false},
	}
	var all [2]*datasets.IDX // the 10,000 images and labels, if present
	if x, err := datasets.ReadIDXFile(filepath.Join(sharedData, imagesFile)); err == nil {
		all[0] = x
		if all[1], err = datasets.ReadIDXFile(filepath.Join(sharedData, labelsFile)); err != nil {
			t.Fatal(err)
		}
	} else if *update {
		t.Fatalf("-update needs the shared data: %v", err)
	}
	for _, f := range files {
		src := all[1]
		if f.images {
			src = all[0]
		}
		if *update {
			if err := datasets.WriteIDXFile(f.name, src.Slice(f.lo, f.hi), true); err != nil {
				t.Fatal(err)
			}
			continue
		}
		raw, err := shipped.ReadFile(f.name)
		if err != nil {
			t.Fatal(err)
		}
		x, err := datasets.ReadIDX(bytes.NewReader(raw))
		if err != nil {
			t.Fatal(err)
		}
		want := []int{f.hi - f.lo}
		if f.images {
			want = append(want, 28, 28)
		}
		if x.Type != datasets.IDXUint8 || !slices.Equal(x.Dims, want) {
			t.Errorf("%s: %v %v, want uint8 %v", f.name, x.Type, x.Dims, want)
		}
		if !f.images && slices.Max(x.Data) > 9 {
			t.Errorf("%s: label %d", f.name, slices.Max(x.Data))
		}
		// Round trip: the parsed file writes back as the bytes it came from.
		zr, err := gzip.NewReader(bytes.NewReader(raw))
		if err != nil {
			t.Fatal(err)
		}
		plain, err := io.ReadAll(zr)
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		if err := datasets.WriteIDX(&buf, x); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(buf.Bytes(), plain) {
			t.Errorf("%s: does not write back as read", f.name)
		}
		if src == nil {
			continue
		}
		if s := src.Slice(f.lo, f.hi); !bytes.Equal(s.Data, x.Data) {
			t.Errorf("%s: differs from digits [%d, %d) of %s (run with -update)", f.name, f.lo, f.hi, sharedData)
		}
	}
	if all[0] == nil {
		t.Logf("%s absent: not compared with the full set", sharedData)
	}
}
