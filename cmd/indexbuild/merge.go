package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/indexbuild/indexbuild/internal/builder"
	"github.com/indexbuild/indexbuild/internal/commit"
	"github.com/indexbuild/indexbuild/internal/merge"
	"github.com/indexbuild/indexbuild/internal/output"
	"github.com/indexbuild/indexbuild/internal/retry"
	"github.com/indexbuild/indexbuild/internal/staging"
	"github.com/indexbuild/indexbuild/internal/storage"
	"github.com/indexbuild/indexbuild/internal/summary"
	"github.com/indexbuild/indexbuild/internal/table"
	"github.com/indexbuild/indexbuild/internal/taskmeta"
)

func init() {
	register("merge", "merge one key range of a task's index elements from every partition (global sort)", runMerge)
}

func runMerge(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var (
		cfg         merge.Config
		outputURI   string
		termination string
		ownerFlag   string
	)
	defaultRange, err := completionIndex()
	if err != nil {
		return err
	}
	fs := flag.NewFlagSet("merge", flag.ContinueOnError)
	fs.SetOutput(stderr)
	taskmeta.RegisterFlags(fs, &cfg.Meta)
	fs.IntVar(&cfg.Range, "range", defaultRange, "key range to merge (default $JOB_COMPLETION_INDEX)")
	fs.IntVar(&cfg.Ranges, "ranges", 1, "number of key ranges")
	fs.StringVar(&outputURI, "output", "", "URI of the index output root")
	fs.StringVar(&ownerFlag, "owner", "", "namespace/name of the IndexBuild the output root belongs to; empty: no ownership check")
	fs.StringVar(&termination, "termination-log", summary.DefaultTerminationPath, "file for the summary termination message; empty disables")
	fs.StringVar(&cfg.TmpDir, "tmp-dir", "", "local directory for merged files before upload (default: system temp)")
	if help, err := parseCommitFlags(fs, args); help || err != nil {
		return err
	}
	if outputURI == "" {
		return fmt.Errorf("%w: --output is required", retry.ErrInvalidInput)
	}
	owner, err := output.ParseOwner(ownerFlag)
	if err != nil {
		return err
	}
	cfg.Log = stderr
	sum, err := mergeRange(ctx, cfg, outputURI, owner)
	err = permanentStorage(err)
	if err != nil {
		sum.Error = err.Error()
	}
	if eerr := summary.Emit(stdout, termination, sum); eerr != nil {
		fmt.Fprintf(stderr, "indexbuild merge: %v\n", eerr)
	}
	return err
}

// mergeRange merges in the task's version of the output root, after
// commit.OpenTask's ownership and superseded checks. A committed task is
// done for every range (its staging is gone). With --source, the table's
// catalog is checked against the task.
func mergeRange(ctx context.Context, cfg merge.Config, outputURI string, owner output.Owner) (summary.Merge, error) {
	sum := summary.Merge{Range: cfg.Range, Ranges: cfg.Ranges}
	if err := loadTaskCatalog(ctx, &cfg); err != nil {
		return sum, err
	}
	out, err := storage.Open(ctx, outputURI)
	if err != nil {
		return sum, err
	}
	defer out.Close()
	if cfg.Output, err = commit.OpenTask(ctx, out, cfg.Meta, owner); err != nil {
		return sum, err
	}
	m, err := commit.ReadMarker(ctx, cfg.Output)
	switch {
	case err == nil:
		sum.AlreadyDone = true
		return sum, staging.CheckTask(commit.MarkerKey, cfg.Output.URI(), m.Task, cfg.Meta)
	case !errors.Is(err, storage.ErrNotFound):
		return sum, err
	}
	return merge.Run(ctx, cfg)
}

// loadTaskCatalog sets cfg.Catalog to the table's current catalog when the
// task names its source (--source), so the merge checks the task against it.
func loadTaskCatalog(ctx context.Context, cfg *merge.Config) error {
	if cfg.Meta.Source == "" {
		return nil
	}
	catalog, err := loadCatalog(ctx, cfg.Meta.Source)
	cfg.Catalog = catalog
	return err
}

func loadCatalog(ctx context.Context, sourceURI string) (*table.Table, error) {
	src, err := storage.Open(ctx, sourceURI)
	if err != nil {
		return nil, err
	}
	defer src.Close()
	return builder.LoadTable(ctx, src)
}
