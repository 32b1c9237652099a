package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	g "github.com/gograd/gograd"
	"github.com/gograd/gograd/device"
	"github.com/gograd/gograd/models"
	"github.com/gograd/gograd/tokenizer"
	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// runFlags are the flags of "gograd run" (and what "gograd bench llm" and
// "gograd eval" share of them).
type modelFlags struct {
	model, tokenizer, device, quantize, kv *string
}

func addModelFlags(fs interface {
	String(name, value, usage string) *string
}) modelFlags {
	return modelFlags{
		model:     fs.String("model", "", "model file: GGUF, a llama2.c checkpoint, or empty for the embedded stories260K"),
		tokenizer: fs.String("tokenizer", "", "tokenizer of a llama2.c checkpoint or Hugging Face folder: tokenizer.bin, a SentencePiece tokenizer.model, a tokenizer.json or a GGUF file (default: tokenizer.bin beside the checkpoint; tokenizer.model, else tokenizer.json, inside the folder)"),
		device:    fs.String("device", "", "device to run on, like CPU or GO (default: DEV, else the best available)"),
		quantize:  fs.String("quantize", "", "convert the float weights on load: int8 (Q8_0) or int4 (Q4_0)"),
		kv:        fs.String("kv", "f16", "the KV cache's type: f16 (as llama.cpp's default) or f32"),
	}
}

// load selects the device and opens the model the flags name, with a
// progress bar on a terminal while a large model loads or converts.
func (f modelFlags) load(c *cli) (*models.Llama, *tokenizer.Tokenizer, string, error) {
	dev := *f.device
	if dev == "" {
		dev = device.Default()
	}
	d, err := device.Get(dev)
	if err != nil {
		return nil, nil, "", err
	}
	var kv g.DType
	switch *f.kv {
	case "f16":
		kv = g.Float16
	case "f32":
		kv = g.Float32
	default:
		return nil, nil, "", fmt.Errorf("--kv %q: want f16 or f32", *f.kv)
	}
	g.SetDefaultDevice(d.Name)
	// The weights are nearly all of the Go heap and never become garbage,
	// so Go's default (collect when the heap has doubled) would let the
	// garbage of building graphs grow to the model's size before a
	// collection. Collect at 5% growth instead: marking the pointer-free
	// weight planes costs next to nothing. GOGC, when set, wins. Once the
	// model is loaded, gcAfterLoad gives the collector more room.
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(5)
	}
	bar := c.progress("loading", 1<<20, true)
	m, tok, err := models.Open(*f.model, models.OpenOptions{Tokenizer: *f.tokenizer, Progress: bar.update})
	bar.finish()
	if err != nil {
		return nil, nil, "", err
	}
	m.KVCache = kv
	bits := 0
	switch *f.quantize {
	case "":
	case "int8", "q8_0":
		bits = 8
	case "int4", "q4_0":
		bits = 4
	default:
		return nil, nil, "", fmt.Errorf("--quantize %q: want int8 or int4", *f.quantize)
	}
	if bits > 0 {
		bar := c.progress("quantizing", 0, false)
		err = m.Quantize(bits, bar.update)
		bar.finish()
		if err != nil {
			return nil, nil, "", err
		}
	}
	gcAfterLoad()
	return m, tok, d.Name, nil
}

// gcHeadroom is the least garbage the collector lets build up once a model
// is loaded. 5% of the heap (the setting while loading) is a few MiB for a
// small model, or for a float one whose weights are the file's pages, not
// the heap: building a prompt's graphs then ran a collection every few
// layers. The device memory of a schedule's intermediate buffers goes back
// to the device as soon as the schedule has run, whatever the collector
// does (gograd's releaseIntermediates); before it did, a float model's
// prompts took fresh, page-faulting memory between collections with this
// headroom (1.1B f32 pp64 37 -> 19 tok/s). 64 MiB raised a 1.1B q4_0
// run's peak from 1.19x to 1.27x the file.
const gcHeadroom = 32 << 20

// gcAfterLoad lets the heap grow by gcHeadroom between collections from
// now on, or by 5% where that is more, or by 100% (Go's default) where
// that is less: the embedded 260K model's whole heap is a few MiB, and 32
// MiB of garbage took its run's peak from 18 to 104 MiB. GOGC, when set,
// wins.
func gcAfterLoad() {
	if os.Getenv("GOGC") != "" {
		return
	}
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	debug.SetGCPercent(max(5, min(100, int(100*gcHeadroom/max(ms.HeapAlloc, 1)))))
}

// loadBar is a progress bar on the terminal, shown only for work of at
// least min units (bytes when bytes), nothing when stderr is not a
// terminal.
type loadBar struct {
	w     io.Writer
	desc  string
	min   int64
	bytes bool
	bar   *progressbar.ProgressBar
}

func (c *cli) progress(desc string, min int64, bytes bool) *loadBar {
	b := &loadBar{desc: desc, min: min, bytes: bytes}
	if f, ok := c.stderr.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		b.w = f
	}
	return b
}

func (b *loadBar) update(done, total int64) {
	if b.w == nil || total < b.min {
		return
	}
	if b.bar == nil {
		opts := []progressbar.Option{progressbar.OptionSetWriter(b.w), progressbar.OptionSetDescription(b.desc),
			progressbar.OptionSetWidth(30), progressbar.OptionClearOnFinish(), progressbar.OptionThrottle(100 * time.Millisecond)}
		if b.bytes {
			opts = append(opts, progressbar.OptionShowBytes(true))
		} else {
			opts = append(opts, progressbar.OptionShowCount())
		}
		b.bar = progressbar.NewOptions64(total, opts...)
	}
	_ = b.bar.Set64(done)
}

func (b *loadBar) finish() {
	if b.bar != nil {
		_ = b.bar.Finish()
	}
}

func runRun(c *cli, args []string) error {
	fs := c.newFlags("run", "[flags] \"prompt\"")
	mf := addModelFlags(fs)
	maxTokens := fs.Int("max-tokens", 256, "most tokens to generate")
	temp := fs.Float64("temp", 0.8, "sampling temperature (0: greedy)")
	topK := fs.Int("top-k", 40, "sample among the k most likely tokens (0: all)")
	topP := fs.Float64("top-p", 0.95, "sample among the most likely tokens whose probabilities add up to p (1: all)")
	repeat := fs.Float64("repeat-penalty", 1.0, "penalise the last 64 tokens by this factor (1: none)")
	seed := fs.Int64("seed", -1, "random seed (-1: from the clock)")
	ctx := fs.Int("ctx", 0, "the longest sequence to hold (default: prompt + max tokens, at most the model's context)")
	if err := parse(fs, args); err != nil {
		return err
	}
	prompt := strings.Join(fs.Args(), " ")
	if *maxTokens < 0 || *temp < 0 || *topK < 0 || *topP < 0 || *topP > 1 {
		return fmt.Errorf("bad sampling flags: --max-tokens %d --temp %v --top-k %d --top-p %v", *maxTokens, *temp, *topK, *topP)
	}
	start := time.Now()
	m, tok, dev, err := mf.load(c)
	if err != nil {
		return err
	}
	loadTime := time.Since(start)

	ids := tok.Encode(prompt, true)
	if len(ids) == 0 || ids[0] != tok.BOS() {
		ids = append([]int{tok.BOS()}, ids...) // generation starts from BOS even when the vocabulary does not add it
	}
	n := *ctx
	if n <= 0 {
		n = len(ids) + *maxTokens
	}
	if m.Config.Context > 0 && n > m.Config.Context {
		n = m.Config.Context
	}
	if len(ids) >= n {
		return fmt.Errorf("the prompt's %d tokens leave no room in a context of %d", len(ids), n)
	}
	if *seed < 0 {
		*seed = time.Now().UnixNano() & (1<<62 - 1)
	}
	sampler := models.NewSampler(*temp, *topK, *topP, uint64(*seed))
	sampler.RepeatPenalty = *repeat

	out := bufio.NewWriter(c.stdout)
	fmt.Fprint(out, prompt)
	out.Flush()
	dec := tok.NewDecoder()
	first := true
	s := m.NewSession(n)
	_, st, err := s.Generate(ids, models.GenerateOptions{
		MaxTokens: *maxTokens,
		Sampler:   sampler,
		Stop:      func(id int) bool { return tok.IsEOG(id) || id == tok.BOS() },
		Emit: func(id int) bool {
			piece := dec.Next(id)
			if first && prompt == "" { // text after a bare BOS starts without SentencePiece's space
				piece = strings.TrimPrefix(piece, " ")
			}
			first = first && piece == ""
			fmt.Fprint(out, piece)
			out.Flush()
			return true
		},
	})
	fmt.Fprintln(out, dec.Flush())
	out.Flush()
	if err != nil {
		return err
	}
	fmt.Fprintf(c.stderr, "\nmodel: %s, %s, %s, loaded in %s, seed %d\n", modelName(*mf.model), m.Describe(), dev, roundDur(loadTime), *seed)
	fmt.Fprintf(c.stderr, "prompt: %d tokens in %s (%.1f tok/s)\n", st.PromptTokens, roundDur(st.PromptTime), st.PromptRate())
	msPerTok := 0.0
	if st.Steps > 0 {
		msPerTok = st.DecodeTime.Seconds() * 1000 / float64(st.Steps)
	}
	fmt.Fprintf(c.stderr, "decode: %d tokens in %s (%.1f tok/s, %.2f ms/token), after %d warm-up steps (compile and JIT capture) in %s\n",
		st.Steps, roundDur(st.DecodeTime), st.DecodeRate(), msPerTok, st.WarmupSteps, roundDur(st.WarmupTime))
	if rss, err := peakRSS(); err == nil {
		fmt.Fprintf(c.stderr, "peak memory: %.1f MiB resident\n", float64(rss)/(1<<20))
	}
	return nil
}

// modelName is the --model flag, or the embedded model's name.
func modelName(flag string) string {
	if flag == "" {
		return models.DefaultModel
	}
	return flag
}

// peakRSS is the process's peak resident set size in bytes.
func peakRSS() (int64, error) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, err
	}
	if ru.Maxrss <= 0 {
		return 0, errors.New("no rusage")
	}
	return ru.Maxrss * 1024, nil // kilobytes on Linux
}

func roundDur(d time.Duration) time.Duration {
	switch {
	case d > time.Second:
		return d.Round(time.Millisecond)
	case d > time.Millisecond:
		return d.Round(10 * time.Microsecond)
	}
	return d.Round(time.Microsecond)
}
