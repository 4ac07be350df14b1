// Command indexbuild is the data plane of the IndexBuild operator: the
// reference worker (build), the commit step (finalize) and the readers
// (query, verify). Each subcommand lives in its own file and registers itself.
//
// Exit codes follow the worker contract: 0 done, 1 retryable, 3 stale
// metadata (also a task superseded by a newer published job), 4 invalid
// input, 5 output in use by another IndexBuild (see internal/retry).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"syscall"

	"github.com/indexbuild/indexbuild/internal/retry"
	"github.com/indexbuild/indexbuild/internal/storage"
)

// subcommand runs with the arguments after its name and returns an error
// whose classification (retry.ExitCode) becomes the process exit code.
type subcommand struct {
	summary string
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

var subcommands = map[string]subcommand{}

func register(name, summary string, run func(ctx context.Context, args []string, stdout, stderr io.Writer) error) {
	if _, dup := subcommands[name]; dup {
		panic("indexbuild: subcommand registered twice: " + name)
	}
	subcommands[name] = subcommand{summary: summary, run: run}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stderr)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	cmd, ok := subcommands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "indexbuild: unknown subcommand %q\n", args[0])
		usage(stderr)
		return 2
	}
	err := permanentStorage(cmd.run(ctx, args[1:], stdout, stderr))
	switch {
	case errors.Is(err, flag.ErrHelp):
		return 0 // the flag set printed the usage
	case err != nil:
		fmt.Fprintf(stderr, "indexbuild %s: %v\n", args[0], err)
		return retry.ExitCode(err)
	}
	return 0
}

// parseFlags parses a subcommand's flags: -h or --help is flag.ErrHelp
// (the usage is printed, run exits 0), a bad flag or a stray argument is
// invalid input (exit 4).
func parseFlags(fs *flag.FlagSet, args []string) error {
	err := fs.Parse(args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		return flag.ErrHelp
	case err != nil:
		return fmt.Errorf("%w: %v", retry.ErrInvalidInput, err)
	case fs.NArg() > 0:
		return fmt.Errorf("%w: unexpected arguments %q", retry.ErrInvalidInput, fs.Args())
	}
	return nil
}

// permanentStorage makes a storage failure that no retry can heal but
// whose class is not permanent (storage.Unhealable: no such bucket or
// container, a read-only file store) invalid input, exit 4, quoting the
// store's error, like permanent storage errors: retrying it would only use
// up the backoff limit and end the build without its cause.
func permanentStorage(err error) error {
	if retry.IsRetryable(err) && storage.Unhealable(err) {
		return fmt.Errorf("%w: storage refused, and retrying cannot change that: %w", retry.ErrInvalidInput, err)
	}
	return err
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: indexbuild <subcommand> [flags]")
	names := make([]string, 0, len(subcommands))
	for n := range subcommands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-10s %s\n", n, subcommands[n].summary)
	}
}
