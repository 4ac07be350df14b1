package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"time"

	"github.com/indexbuild/indexbuild/internal/builder"
	"github.com/indexbuild/indexbuild/internal/commit"
	"github.com/indexbuild/indexbuild/internal/output"
	"github.com/indexbuild/indexbuild/internal/retry"
	"github.com/indexbuild/indexbuild/internal/rows"
	"github.com/indexbuild/indexbuild/internal/storage"
	"github.com/indexbuild/indexbuild/internal/summary"
	"github.com/indexbuild/indexbuild/internal/taskmeta"
)

func init() { register("build", "build one partition of an index (the reference worker)", runBuild) }

func runBuild(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var (
		cfg         builder.Config
		outputURI   string
		termination string
		ownerFlag   string
	)
	defaultIndex, err := completionIndex()
	if err != nil {
		return err
	}
	fs := flag.NewFlagSet("build", flag.ContinueOnError)
	fs.SetOutput(stderr)
	taskmeta.RegisterFlags(fs, &cfg.Meta)
	fs.IntVar(&cfg.Partition, "partition", defaultIndex, "partition to build (default $JOB_COMPLETION_INDEX)")
	fs.StringVar(&outputURI, "output", "", "URI of the index output root")
	fs.StringVar(&ownerFlag, "owner", "", "namespace/name of the IndexBuild the output root belongs to; empty: no ownership check")
	fs.StringVar(&termination, "termination-log", summary.DefaultTerminationPath, "file for the summary termination message; empty disables")
	fs.StringVar(&cfg.TmpDir, "tmp-dir", "", "local directory for sort runs and element files (default: system temp)")
	fs.IntVar(&cfg.SortBudget, "sort-memory", builder.DefaultSortBudget, "bytes of sort buffer (index keys, fulltext postings) over all elements before spilling runs to disk")
	fs.DurationVar(&cfg.ProgressEvery, "progress-interval", 10*time.Second, "how often to log progress to stderr; 0 disables")
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("%w: %v", retry.ErrInvalidInput, err)
	}
	cfg.Partitions = cfg.Meta.Partitions
	sourceURI := cfg.Meta.Source
	if sourceURI == "" || outputURI == "" {
		return fmt.Errorf("%w: --source and --output are required", retry.ErrInvalidInput)
	}
	if cfg.SourceFormat, err = rows.ParseFormat(cfg.Meta.SourceFormat); err != nil {
		return fmt.Errorf("%w: %v", retry.ErrInvalidInput, err)
	}
	owner, err := output.ParseOwner(ownerFlag)
	if err != nil {
		return err
	}
	cfg.Log = stderr
	sum, err := buildPartition(ctx, cfg, sourceURI, outputURI, owner)
	err = permanentStorage(err)
	if err != nil {
		sum.Error = err.Error()
	}
	if eerr := summary.Emit(stdout, termination, sum); eerr != nil {
		fmt.Fprintf(stderr, "indexbuild build: %v\n", eerr)
	}
	return err
}

// completionIndex is $JOB_COMPLETION_INDEX, the pod's index in an Indexed
// Job (0 when unset): the default partition of build and range of merge.
func completionIndex() (int, error) {
	s := os.Getenv("JOB_COMPLETION_INDEX")
	if s == "" {
		return 0, nil
	}
	i, err := strconv.Atoi(s)
	if err != nil {
		return 0, fmt.Errorf("%w: JOB_COMPLETION_INDEX=%q is not a number", retry.ErrInvalidInput, s)
	}
	return i, nil
}

// buildPartition builds into the task's version of the output root, after
// commit.OpenTask's ownership and superseded checks.
func buildPartition(ctx context.Context, cfg builder.Config, sourceURI, outputURI string, owner output.Owner) (summary.Worker, error) {
	src, err := storage.Open(ctx, sourceURI)
	if err != nil {
		return summary.Worker{Partition: cfg.Partition}, err
	}
	defer src.Close()
	out, err := storage.Open(ctx, outputURI)
	if err != nil {
		return summary.Worker{Partition: cfg.Partition}, err
	}
	defer out.Close()
	version, err := commit.OpenTask(ctx, out, cfg.Meta, owner)
	if err != nil {
		return summary.Worker{Partition: cfg.Partition}, err
	}
	cfg.Source, cfg.Output = src, version
	return builder.Build(ctx, cfg)
}
