// Package verifycmd is the command-line side of checking a committed index,
// shared by `indexbuild verify` and `kubectl indexbuild verify`: the
// published version's files against its marker, and with Source, every
// element against the task's pinned input (builder.CheckSource).
package verifycmd

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"os"

	"github.com/indexbuild/indexbuild/internal/builder"
	"github.com/indexbuild/indexbuild/internal/commit"
	"github.com/indexbuild/indexbuild/internal/retry"
	"github.com/indexbuild/indexbuild/internal/rows"
	"github.com/indexbuild/indexbuild/internal/storage"
)

// Options of a verification.
type Options struct {
	// Parallelism bounds concurrent file checks; 0 means the default.
	Parallelism int
	// Source also checks every element against the task's pinned input,
	// read from SourceURI, or from the URI the task recorded when empty.
	Source    bool
	SourceURI string
	// TmpDir holds element files while they are read ("" is the system's).
	TmpDir string
	// Sample is about how many keys per element are compared by name.
	Sample int
}

// Run verifies the index published at outputURI and writes a summary line
// (two with Source) to stdout. Errors classify per the worker contract: a
// failed check is invalid input (exit 4), a table that changed since the
// task stale metadata (exit 3), storage trouble retryable (exit 1).
func Run(ctx context.Context, outputURI string, o Options, stdout io.Writer) error {
	b, err := storage.Open(ctx, outputURI)
	if err != nil {
		return err
	}
	defer b.Close()
	m, p, err := commit.VerifyOutput(ctx, b, o.Parallelism)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "ok: %s: %d files, %d bytes, %d rows, %d partitions, committed %s\n",
		p.Version, len(m.Files), m.Bytes, m.Rows, m.Partitions, m.CommittedAt.Format("2006-01-02T15:04:05Z07:00"))
	if !o.Source {
		return nil
	}
	uri := cmp.Or(o.SourceURI, m.Task.Source)
	if uri == "" {
		return fmt.Errorf("%w: the task recorded no source URI: give one with --source=URI", retry.ErrInvalidInput)
	}
	src, err := storage.Open(ctx, uri)
	if err != nil {
		return err
	}
	defer src.Close()
	tmp, err := os.MkdirTemp(o.TmpDir, "indexbuild-verify-*")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	rep, err := builder.CheckSource(ctx, builder.SourceCheck{
		Source: src, Version: storage.Sub(b, p.Version), Marker: m, SourceFormat: rows.Format(m.Task.SourceFormat),
		TmpDir: tmp, SampleTarget: o.Sample,
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
