package main

import (
	"cmp"
	"context"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/indexbuild/indexbuild/internal/builder"
	"github.com/indexbuild/indexbuild/internal/commit"
	"github.com/indexbuild/indexbuild/internal/retry"
	"github.com/indexbuild/indexbuild/internal/rows"
	"github.com/indexbuild/indexbuild/internal/storage"
)

func init() {
	register("verify", "check every file the published version's commit marker lists (--source: and every row of the task's input)", runVerify)
}

// runVerify exits 0 when the version current.json publishes verifies, 4
// (invalid input) naming each problem when it does not (no pointer, no or
// bad marker, a listed file missing or different, a staging/ path listed;
// with --source, an element whose entries are not exactly one per row of
// the task's pinned input), 3 when --source finds the table changed since
// the task pinned it, and 1 when storage could not be read.
func runVerify(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("verify", flag.ContinueOnError)
	fs.SetOutput(stderr)
	output := fs.String("output", "", "URI of the index root in object storage (required)")
	parallelism := fs.Int("parallelism", commit.DefaultCopyParallelism, "maximum concurrent file checks")
	var source sourceFlag
	fs.Var(&source, "source", "also re-read the task's pinned input and check every element holds exactly one entry per row; --source reads the table at the URI the task recorded, --source=URI reads it there")
	tmpDir := fs.String("tmp-dir", "", "local directory for element files while --source reads them (default: system temp)")
	sample := fs.Int("sample", builder.DefaultSampleTarget, "with --source: about how many keys per element to compare by name")
	if help, err := parseCommitFlags(fs, args); help || err != nil {
		return err
	}
	if *output == "" {
		return fmt.Errorf("%w: --output is required", retry.ErrInvalidInput)
	}
	if *sample < 1 {
		return fmt.Errorf("%w: --sample must be at least 1, got %d", retry.ErrInvalidInput, *sample)
	}
	b, err := storage.Open(ctx, *output)
	if err != nil {
		return err
	}
	defer b.Close()
	m, p, err := commit.VerifyOutput(ctx, b, *parallelism)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "ok: %s: %d files, %d bytes, %d rows, %d partitions, committed %s\n",
		p.Version, len(m.Files), m.Bytes, m.Rows, m.Partitions, m.CommittedAt.Format("2006-01-02T15:04:05Z07:00"))
	if !source.set {
		return nil
	}
	return verifySource(ctx, stdout, storage.Sub(b, p.Version), m, cmp.Or(source.uri, m.Task.Source), *tmpDir, *sample)
}

// verifySource runs builder.CheckSource on the published version.
func verifySource(ctx context.Context, stdout io.Writer, version storage.Bucket, m commit.Marker, uri, tmpDir string, sample int) error {
	if uri == "" {
		return fmt.Errorf("%w: the task recorded no source URI: give one with --source=URI", retry.ErrInvalidInput)
	}
	src, err := storage.Open(ctx, uri)
	if err != nil {
		return err
	}
	defer src.Close()
	tmp, err := os.MkdirTemp(tmpDir, "indexbuild-verify-*")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	rep, err := builder.CheckSource(ctx, builder.SourceCheck{
		Source: src, Version: version, Marker: m, SourceFormat: rows.Format(m.Task.SourceFormat),
		TmpDir: tmp, SampleTarget: sample,
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "ok: source %s: %d files, %d rows", uri, rep.Files, rep.Rows)
	for _, e := range rep.Elements {
		fmt.Fprintf(stdout, "; element %d: %d entries (%d compared by key)", e.ID, e.Entries, e.Sampled)
	}
	fmt.Fprintln(stdout)
	return nil
}

// sourceFlag is --source (the task's own source URI) or --source=URI.
type sourceFlag struct {
	set bool
	uri string
}

func (f *sourceFlag) String() string   { return f.uri }
func (f *sourceFlag) IsBoolFlag() bool { return true }
func (f *sourceFlag) Set(s string) error {
	f.set = true
	switch s {
	case "true":
		f.uri = ""
	case "false":
		f.set = false
	default:
		f.uri = s
	}
	return nil
}
