package main

import (
	"context"
	"flag"
	"fmt"
	"io"

	"github.com/indexbuild/indexbuild/internal/commit"
	"github.com/indexbuild/indexbuild/internal/retry"
	"github.com/indexbuild/indexbuild/internal/storage"
)

func init() {
	register("verify", "check every file the published version's commit marker lists", runVerify)
}

// runVerify exits 0 when the version current.json publishes verifies, 4
// (invalid input) naming each problem when it does not (no pointer, no or
// bad marker, a listed file missing or different, a staging/ path listed),
// and 1 when storage could not be read.
func runVerify(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("verify", flag.ContinueOnError)
	fs.SetOutput(stderr)
	output := fs.String("output", "", "URI of the index root in object storage (required)")
	parallelism := fs.Int("parallelism", commit.DefaultCopyParallelism, "maximum concurrent file checks")
	if help, err := parseCommitFlags(fs, args); help || err != nil {
		return err
	}
	if *output == "" {
		return fmt.Errorf("%w: --output is required", retry.ErrInvalidInput)
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
	return nil
}
