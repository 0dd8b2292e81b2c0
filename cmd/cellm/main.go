// Command cellm converts Hugging Face models to .cellm files and runs them.
//
// Usage:
//
//	cellm <command> [flags]
//
// Run "cellm help" for the list of commands.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"github.com/cellm-ai/cellm-go"
)

// command is one subcommand: its flag set is built and parsed by run.
type command struct {
	summary string
	hidden  bool
	run     func(args []string) error
}

var commands = map[string]command{}

func register(name, summary string, hidden bool, run func([]string) error) {
	commands[name] = command{summary: summary, hidden: hidden, run: run}
}

// errUsage is returned after a flag error has been printed.
var errUsage = errors.New("usage")

func main() {
	os.Exit(run(os.Args[1:], os.Stderr))
}

func run(args []string, stderr io.Writer) int {
	usageOut = stderr
	if len(args) == 0 {
		usage(stderr)
		return 2
	}
	name := args[0]
	switch name {
	case "-version", "--version":
		name = "version"
	case "-h", "--help", "-help":
		usage(stderr)
		return 0
	case "help":
		if len(args) == 1 {
			usage(stderr)
			return 0
		}
		name, args = args[1], []string{args[1], "-h"}
	}
	cmd, ok := commands[name]
	if !ok {
		fmt.Fprintf(stderr, "cellm: unknown command %q\n\n", name)
		usage(stderr)
		return 2
	}
	if err := cmd.run(args[1:]); err != nil {
		switch {
		case errors.Is(err, flag.ErrHelp):
			return 0
		case errors.Is(err, errUsage):
			return 2
		}
		if errors.Is(err, cellm.ErrNoTokenizer) {
			err = errors.New("the model has no tokenizer: pass --tokenizer tokenizer.json, or convert a folder that has tokenizer.json")
		}
		fmt.Fprintf(stderr, "cellm %s: %v\n", name, err)
		return 1
	}
	return 0
}

// usageOut receives usage text and flag errors (stderr; tests replace it).
var usageOut io.Writer = os.Stderr

func usage(w io.Writer) {
	fmt.Fprintln(w, "cellm runs small language and vision-language models from one .cellm file.")
	fmt.Fprintln(w, "\nUsage: cellm <command> [flags]\n\nCommands:")
	var names []string
	for n, c := range commands {
		if !c.hidden {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-18s %s\n", n, commands[n].summary)
	}
	fmt.Fprintln(w, "\nRun \"cellm help <command>\" or \"cellm <command> -h\" for a command's flags.")
}

// newFlags returns a flag set that reports errors and exits through run.
func newFlags(name, args string) *flag.FlagSet {
	fs := flag.NewFlagSet("cellm "+name, flag.ContinueOnError)
	fs.SetOutput(usageOut)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: cellm %s %s\n\nFlags:\n", name, args)
		printFlags(fs)
	}
	return fs
}

// parse parses flags; a command that takes no positional arguments refuses
// them (a prompt with spaces needs quotes: --prompt "A class is").
func parse(fs *flag.FlagSet, args []string) error {
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return fmt.Errorf("unexpected argument %q (flags take one value; quote values with spaces)", pos[0])
	}
	return nil
}

// parseArgs parses flags, allowing positional arguments before and after
// them, and returns the positional arguments.
func parseArgs(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, errUsage
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		if strings.HasPrefix(args[0], "-") && args[0] != "-" {
			continue
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}
