package main

import (
	"fmt"
	"os"
	"time"
)

func runEval(c *cli, args []string) error {
	if len(args) == 0 || args[0] != "ppl" {
		fmt.Fprintln(c.stderr, "usage: gograd eval ppl [flags]\n\nThe one evaluation so far is ppl, the perplexity of a model on a text file.")
		return errUsage
	}
	fs := c.newFlags("eval ppl", "[flags]")
	mf := addModelFlags(fs)
	file := fs.String("file", "", "text file to score (required)")
	window := fs.Int("ctx", 0, "tokens per window, BOS included (default: the model's context, at most 512)")
	if err := parse(fs, args[1:]); err != nil {
		return err
	}
	if *file == "" || fs.NArg() > 0 {
		fmt.Fprintln(c.stderr, "gograd eval ppl: --file is required and takes no arguments")
		return errUsage
	}
	text, err := os.ReadFile(*file)
	if err != nil {
		return err
	}
	start := time.Now()
	m, tok, dev, err := mf.load(c)
	if err != nil {
		return err
	}
	n := *window
	if n <= 0 {
		n = min(m.Config.Context, 512)
	}
	ids := tok.Encode(string(text), false)
	ppl, scored, err := m.Perplexity(ids, tok.BOS(), n)
	if err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "perplexity: %.4f over %d tokens (windows of %d)\n", ppl, scored, n)
	fmt.Fprintf(c.stderr, "model: %s, %s, %s, %s\n", modelName(*mf.model), m.Describe(), dev, roundDur(time.Since(start)))
	return nil
}
