// Mnist trains tinygrad's beautiful_mnist CNN on handwritten digits: two
// 5×5 and two 3×3 convolutions with ReLU, batch norm and max pooling, then
// a linear layer, trained with Adam on batches of 512. Each training step
// is captured once by the JIT and replayed.
//
//	go run ./examples/mnist                 # 8 epochs on the 8,000 training digits
//	go run ./examples/mnist -steps 5        # a quick look
//	go run ./examples/mnist -save mnist.safetensors
//	DEBUG=2 go run ./examples/mnist -steps 2   # one line per kernel
//
// It reads the 10,000 digits of ../shared/data/mnist (IDX files, gzip),
// trains on the first 8,000 and tests on the last 2,000 after every epoch;
// where that folder is missing it trains on the 1,000 digits shipped in
// testdata/ (embedded in the binary) and tests on the same 2,000. The last
// line is the test accuracy. A run is deterministic for a fixed -seed on
// one device. tools/mnist_compare.py trains the same network the same way
// with PyTorch.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/gograd/gograd"
	"github.com/gograd/gograd/jit"
	"github.com/gograd/gograd/nn"
	"github.com/gograd/gograd/nn/datasets"
	"github.com/gograd/gograd/nn/optim"
)

// config is what the flags set.
type config struct {
	epochs  int
	batch   int
	seed    uint64
	lr      float64
	steps   int    // stop after this many steps (0: no limit)
	dataDir string // the 10,000-digit set; the shipped subset if absent
	save    string // safetensors path for the trained model ("": none)
	evalAll bool   // test after every epoch, not only at the end
	testMax int    // test on at most this many of the test digits (0: all)
}

func main() {
	var cfg config
	flag.IntVar(&cfg.epochs, "epochs", 8, "passes over the training digits")
	flag.IntVar(&cfg.batch, "batch", 512, "digits per step")
	flag.Uint64Var(&cfg.seed, "seed", 0, "seed of the initial weights and the shuffles")
	flag.Float64Var(&cfg.lr, "lr", 1e-3, "Adam's learning rate")
	flag.IntVar(&cfg.steps, "steps", 0, "stop after this many steps (0: run every epoch)")
	flag.StringVar(&cfg.dataDir, "data", "../shared/data/mnist", "folder of "+imagesFile+" and "+labelsFile)
	flag.StringVar(&cfg.save, "save", "", "write the trained model to this safetensors file")
	flag.BoolVar(&cfg.evalAll, "eval-every-epoch", true, "test after every epoch (else only at the end)")
	dev := flag.String("device", "", "device to train on: CPU, GO, CPU:1, ... (default: the best available, or $DEV)")
	threads := flag.Int("threads", 0, "threads (GOMAXPROCS) for the kernels (0: all cores)")
	flag.Parse()
	if *threads > 0 {
		runtime.GOMAXPROCS(*threads)
	}
	if *dev != "" {
		gograd.SetDefaultDevice(*dev)
	}
	var progress io.Writer
	if term.IsTerminal(int(os.Stderr.Fd())) {
		progress = os.Stderr
	}
	if _, err := train(cfg, os.Stdout, progress); err != nil {
		fmt.Fprintln(os.Stderr, "mnist:", err)
		os.Exit(1)
	}
}

// result is what a run measured.
type result struct {
	losses   []float64 // the training loss of every step
	accuracy float64   // on the test digits, in percent
	model    nn.Sequential
}

// train runs the training described by cfg, writing its report to out and a
// progress bar to progress (nil: none).
func train(cfg config, out, progress io.Writer) (*result, error) {
	if cfg.epochs < 1 || cfg.batch < 1 || cfg.steps < 0 {
		return nil, fmt.Errorf("need at least 1 epoch and a batch of at least 1, and -steps >= 0")
	}
	data, err := loadData(cfg.dataDir)
	if err != nil {
		return nil, err
	}
	if cfg.testMax > 0 && cfg.testMax < data.testX.Dim(0) {
		data.testX, data.testY = data.testX.Slice(gograd.Sl(0, cfg.testMax)), data.testY.Slice(gograd.Sl(0, cfg.testMax))
		data.source += fmt.Sprintf(" (testing on the first %d)", cfg.testMax)
	}
	fmt.Fprintf(out, "data: %s\n", data.source)
	fmt.Fprintf(out, "device %s, %d threads, batch %d, seed %d\n", gograd.DefaultDevice(), runtime.GOMAXPROCS(0), cfg.batch, cfg.seed)

	gograd.Seed(cfg.seed)
	model := newModel()
	opt := optim.NewAdam(nn.Parameters(&model), cfg.lr)
	// The running statistics of the batch norms are realized with each step,
	// so the batch statistics are computed once.
	buffers := nn.Buffers(&model)
	xs, ys := datasets.NewRows(data.trainX), datasets.NewRows(data.trainY)
	n := xs.Len()

	// One training step, captured by the JIT on its second call and
	// replayed after that: no graph building or scheduling per step. A JIT
	// replays one input shape, so the shorter last batch of an epoch gets
	// its own.
	stepOf := map[int]*jit.JIT{}
	step := func(x, y *gograd.Tensor) *gograd.Tensor {
		j := stepOf[x.Dim(0)]
		if j == nil {
			j = jit.New(func(in ...*gograd.Tensor) []*gograd.Tensor {
				opt.ZeroGrad()
				loss := nn.CrossEntropy(model.Forward(in[0]), in[1])
				loss.Backward()
				opt.Step(append(buffers, loss)...)
				return []*gograd.Tensor{loss}
			})
			stepOf[x.Dim(0)] = j
		}
		return j.Call(x.Realize(), y.Realize())[0]
	}

	res := &result{model: model}
	steps, trainTime := 0, time.Duration(0)
	for epoch := range cfg.epochs {
		batches := datasets.Batches(datasets.Permutation(n, epochSeed(cfg.seed, epoch)), cfg.batch)
		if cfg.steps > 0 {
			batches = batches[:min(len(batches), cfg.steps-steps)]
		}
		bar := newBar(progress, len(batches), fmt.Sprintf("epoch %d/%d", epoch+1, cfg.epochs))
		start := time.Now()
		sum := 0.0
		for _, idx := range batches {
			l := step(xs.Take(idx), ys.Take(idx)).Item()
			res.losses = append(res.losses, l)
			sum += l
			steps++
			if bar != nil {
				bar.Describe(fmt.Sprintf("epoch %d/%d loss %.3f", epoch+1, cfg.epochs, l))
				bar.Add(1)
			}
		}
		took := time.Since(start)
		trainTime += took
		if bar != nil {
			bar.Finish()
			fmt.Fprintln(progress)
		}
		last := cfg.steps > 0 && steps >= cfg.steps || epoch == cfg.epochs-1
		line := fmt.Sprintf("epoch %d: %d steps in %.1f s (%.2f steps/s), mean loss %.4f",
			epoch+1, len(batches), took.Seconds(), float64(len(batches))/took.Seconds(), sum/float64(max(len(batches), 1)))
		if cfg.evalAll || last {
			res.accuracy = evaluate(model, data.testX, data.testY)
			line += fmt.Sprintf(", test accuracy %.2f%%", res.accuracy)
		}
		fmt.Fprintln(out, line)
		if last {
			break
		}
	}
	fmt.Fprintf(out, "trained %d steps in %.1f s: %.3f steps/s, %.3f s per step\n",
		steps, trainTime.Seconds(), float64(steps)/trainTime.Seconds(), trainTime.Seconds()/float64(max(steps, 1)))
	if cfg.save != "" {
		if err := nn.SaveModel(cfg.save, &model); err != nil {
			return nil, err
		}
		fmt.Fprintf(out, "saved the model to %s\n", cfg.save)
	}
	fmt.Fprintf(out, "test accuracy: %.2f%%\n", res.accuracy)
	return res, nil
}

// epochSeed is the seed of epoch's shuffle.
func epochSeed(seed uint64, epoch int) uint64 {
	return seed*0x9e3779b97f4a7c15 + uint64(epoch)
}

// evalBatch is the number of digits evaluate classifies at a time.
const evalBatch = 1000

// evaluate returns the percentage of the digits x whose class model
// predicts right, in evaluation mode (batch norm uses its running
// statistics).
func evaluate(model nn.Sequential, x, y *gograd.Tensor) float64 {
	nn.Train(&model, false)
	defer nn.Train(&model, true)
	n, correct := x.Dim(0), 0.0
	for lo := 0; lo < n; lo += evalBatch {
		hi := min(lo+evalBatch, n)
		pred := model.Forward(x.Slice(gograd.Sl(lo, hi))).Argmax(1)
		correct += pred.Eq(y.Slice(gograd.Sl(lo, hi))).Sum().Item()
	}
	return 100 * correct / float64(n)
}

// newBar returns a progress bar of steps on w, or nil without w.
func newBar(w io.Writer, steps int, desc string) *progressbar.ProgressBar {
	if w == nil {
		return nil
	}
	return progressbar.NewOptions(steps,
		progressbar.OptionSetWriter(w),
		progressbar.OptionSetDescription(desc),
		progressbar.OptionShowCount(),
		progressbar.OptionShowIts(),
		progressbar.OptionSetItsString("steps"),
		progressbar.OptionSetWidth(30),
		progressbar.OptionSetRenderBlankState(true),
	)
}
