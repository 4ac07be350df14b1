package main

import (
	"context"
	"flag"
	"fmt"
	"io"

	"github.com/indexbuild/indexbuild/internal/builder"
	"github.com/indexbuild/indexbuild/internal/commit"
	"github.com/indexbuild/indexbuild/internal/retry"
	"github.com/indexbuild/indexbuild/internal/verifycmd"
)

func init() {
	register("verify", "check every file the published version's commit marker lists (--source: and every row of the task's input)", runVerify)
}

// runVerify exits 0 when the version current.json publishes verifies, 4
// (invalid input) naming each problem when it does not (no pointer, no or
// bad marker, a listed file missing or different, a merged file whose
// first or last key is not its listed key range, a staging/ path listed;
// with --source, an element whose entries are not exactly one per row of
// the task's pinned input), 3 when --source finds the table changed since
// the task pinned it, and 1 when storage could not be read.
func runVerify(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("verify", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o verifycmd.Options
	output := fs.String("output", "", "URI of the index root in object storage (required)")
	fs.IntVar(&o.Parallelism, "parallelism", commit.DefaultCopyParallelism, "maximum concurrent file checks")
	fs.Var(&sourceFlag{&o}, "source", "also re-read the task's pinned input and check every element holds exactly one entry per row; --source reads the table at the URI the task recorded, --source=URI reads it there")
	fs.StringVar(&o.TmpDir, "tmp-dir", "", "local directory for element files while --source reads them (default: system temp)")
	fs.IntVar(&o.Sample, "sample", builder.DefaultSampleTarget, "with --source: about how many keys per element to compare by name")
	if help, err := parseCommitFlags(fs, args); help || err != nil {
		return err
	}
	if *output == "" {
		return fmt.Errorf("%w: --output is required", retry.ErrInvalidInput)
	}
	if o.Sample < 1 || o.Parallelism < 1 {
		return fmt.Errorf("%w: --sample and --parallelism must be at least 1", retry.ErrInvalidInput)
	}
	return verifycmd.Run(ctx, *output, o, stdout)
}

// sourceFlag is --source (the task's own source URI) or --source=URI.
type sourceFlag struct{ o *verifycmd.Options }

func (f *sourceFlag) String() string {
	if f.o == nil {
		return ""
	}
	return f.o.SourceURI
}
func (f *sourceFlag) IsBoolFlag() bool { return true }
func (f *sourceFlag) Set(s string) error {
	switch s {
	case "true":
		f.o.Source, f.o.SourceURI = true, ""
	case "false":
		f.o.Source, f.o.SourceURI = false, ""
	default:
		f.o.Source, f.o.SourceURI = true, s
	}
	return nil
}
