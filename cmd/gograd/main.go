// Command gograd is the gograd command-line tool. Today it measures the
// library: "gograd bench" times matmuls, matrix-vector products (float32
// and int8 weights), fused elementwise work, softmax, layernorm and a
// conv2d on a device, and compares each, in the same run, with a plain-Go
// loop doing the same work, with numpy and PyTorch when a python3 has them
// (bench_peers.py, embedded), and, for the memory-bound rows, with a copy
// of the same number of bytes.
//
// Usage:
//
//	gograd <command> [flags] [arguments]
//
// The commands are:
//
//	bench     time gograd against plain-Go loops, numpy and PyTorch (GFLOP/s, GB/s, ratios)
//	version   print the gograd and Go versions
//	help      print this help, or a command's flags ("gograd help bench")
//
// Each command lives in its own file of this package and parses its own
// flags with the standard flag package; main.go only holds the table of
// commands and dispatches to them. Environment: DEV picks the default
// device (CPU, GO, GO:1, ...), DEBUG=1..5 and GRAPH=1 show what runs, as in
// the library.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"
	"text/tabwriter"
)

// command is one subcommand: its name, a one-line summary and the function
// that runs it with the arguments after its name.
type command struct {
	name    string
	summary string
	run     func(c *cli, args []string) error
}

// cli is what a command writes to; tests replace the writers.
type cli struct {
	stdout io.Writer
	stderr io.Writer
}

// commands is the table of subcommands, in the order help lists them. It is
// filled in init because help reads it.
var commands []command

func init() {
	commands = []command{
		{"run", "generate text from a prompt with a LLaMA-family model (default: the embedded stories260K)", runRun},
		{"eval", "evaluate a model: eval ppl --file text.txt prints its perplexity", runEval},
		{"bench", "time gograd against plain-Go loops, numpy and PyTorch (GFLOP/s, GB/s, ratios)", runBench},
		{"version", "print the gograd and Go versions", runVersion},
		{"help", "print this help, or a command's flags (gograd help bench)", runHelp},
	}
}

func main() {
	os.Exit((&cli{stdout: os.Stdout, stderr: os.Stderr}).main(os.Args[1:]))
}

// errUsage reports a command line that could not be parsed; the message has
// already been printed with the usage, so main only sets the exit status.
var errUsage = errors.New("usage")

// main runs the command named by args[0] and returns the exit status: 0 on
// success, 1 when the command failed, 2 for a bad command line.
func (c *cli) main(args []string) int {
	if len(args) == 0 {
		c.usage(c.stderr)
		return 2
	}
	cmd := lookup(args[0])
	if cmd == nil {
		fmt.Fprintf(c.stderr, "gograd: unknown command %q\n\n", args[0])
		c.usage(c.stderr)
		return 2
	}
	err := cmd.run(c, args[1:])
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		return 2
	}
	fmt.Fprintf(c.stderr, "gograd %s: %v\n", cmd.name, err)
	return 1
}

func lookup(name string) *command {
	for i := range commands {
		if commands[i].name == name {
			return &commands[i]
		}
	}
	return nil
}

// usage prints the list of commands.
func (c *cli) usage(w io.Writer) {
	fmt.Fprintf(w, "gograd is a deep-learning framework for Go; this tool runs its commands.\n\n")
	fmt.Fprintf(w, "Usage:\n\n\tgograd <command> [flags]\n\nCommands:\n\n")
	tw := tabwriter.NewWriter(w, 0, 8, 3, ' ', 0)
	for _, cmd := range commands {
		fmt.Fprintf(tw, "\t%s\t%s\n", cmd.name, cmd.summary)
	}
	tw.Flush()
	fmt.Fprintf(w, "\nRun \"gograd help <command>\" for a command's flags.\n")
}

// newFlags returns the flag set of a subcommand, writing errors and usage
// to the command's stderr.
func (c *cli) newFlags(name, synopsis string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(c.stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: gograd %s %s\n\nFlags:\n", name, synopsis)
		fs.PrintDefaults()
	}
	return fs
}

// parse parses a subcommand's flags, turning a parse error into errUsage
// (the flag package has printed it) and leaving flag.ErrHelp as it is.
func parse(fs *flag.FlagSet, args []string) error {
	err := fs.Parse(args)
	if err == nil || errors.Is(err, flag.ErrHelp) {
		return err
	}
	return errUsage
}

func runHelp(c *cli, args []string) error {
	if len(args) == 0 {
		c.usage(c.stdout)
		return nil
	}
	cmd := lookup(args[0])
	if cmd == nil {
		fmt.Fprintf(c.stderr, "gograd help: unknown command %q\n", args[0])
		return errUsage
	}
	if cmd.name == "help" {
		c.usage(c.stdout)
		return nil
	}
	// Every command prints its usage for -h and returns flag.ErrHelp.
	h := &cli{stdout: c.stdout, stderr: c.stdout}
	err := cmd.run(h, []string{"-h"})
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	return err
}

func runVersion(c *cli, args []string) error {
	fs := c.newFlags("version", "")
	if err := parse(fs, args); err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "gograd %s (%s %s/%s)\n", version(), runtime.Version(), runtime.GOOS, runtime.GOARCH)
	return nil
}

// version is the module version of the binary with the VCS revision when
// the build recorded one ("(devel)" for go run and plain builds).
func version() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "(unknown)"
	}
	v := bi.Main.Version
	if v == "" {
		v = "(devel)"
	}
	var rev, modified string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				modified = "+dirty"
			}
		}
	}
	if rev != "" {
		if len(rev) > 12 {
			rev = rev[:12]
		}
		v += " " + rev + modified
	}
	return v
}
