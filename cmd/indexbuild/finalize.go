package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"

	"github.com/indexbuild/indexbuild/internal/commit"
	"github.com/indexbuild/indexbuild/internal/merge"
	"github.com/indexbuild/indexbuild/internal/output"
	"github.com/indexbuild/indexbuild/internal/retry"
	"github.com/indexbuild/indexbuild/internal/storage"
	"github.com/indexbuild/indexbuild/internal/summary"
	"github.com/indexbuild/indexbuild/internal/taskmeta"
)

func init() {
	register("finalize", "commit a task's version (final names, commit marker) and publish it through current.json", runFinalize)
}

func runFinalize(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("finalize", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var opts commit.Options
	taskmeta.RegisterFlags(fs, &opts.Task)
	outputURI := fs.String("output", "", "URI of the index root in object storage (required)")
	fs.IntVar(&opts.CopyParallelism, "copy-parallelism", commit.DefaultCopyParallelism, "maximum concurrent copies")
	termination := fs.String("termination-log", summary.DefaultTerminationPath, `file for the JSON summary ("" disables)`)
	ownerFlag := fs.String("owner", "", "namespace/name of the IndexBuild the output root belongs to; empty: no ownership check")
	fs.IntVar(&opts.KeepVersions, "keep-versions", commit.DefaultKeepVersions, "committed versions to keep after publishing, counting the published one (>= 1)")
	fs.IntVar(&opts.MergeRanges, "merge-ranges", 0, "key ranges the merge stage merged the task into: commit their merged files (0: the partitions' files)")
	mergeLocal := fs.Bool("merge-local", false, "merge the task here, as one key range, before committing it (a small build without a merge Job)")
	tmpDir := fs.String("tmp-dir", "", "with --merge-local: local directory for merged files before upload (default: system temp)")
	if help, err := parseCommitFlags(fs, args); help || err != nil {
		return err
	}
	opts.Partitions = opts.Task.Partitions
	var err error
	if opts.Owner, err = output.ParseOwner(*ownerFlag); err != nil {
		return err
	}
	if opts.KeepVersions < 1 {
		return fmt.Errorf("%w: --keep-versions must be at least 1, got %d", retry.ErrInvalidInput, opts.KeepVersions)
	}
	if opts.MergeRanges < 0 || *mergeLocal && opts.MergeRanges > 1 {
		return fmt.Errorf("%w: --merge-ranges must be at least 0, and 1 (or unset) with --merge-local; got %d", retry.ErrInvalidInput, opts.MergeRanges)
	}
	if err := opts.Task.Validate(); err != nil {
		return fmt.Errorf("%w: %v", retry.ErrInvalidInput, err)
	}
	if *outputURI == "" || opts.Partitions < 1 || opts.CopyParallelism < 1 {
		return fmt.Errorf("%w: --output, --partitions >= 1 and --copy-parallelism >= 1 are required", retry.ErrInvalidInput)
	}
	opts.Logger = slog.New(slog.NewTextHandler(stderr, nil))
	if *mergeLocal {
		opts.MergeRanges = 1
		opts.LocalMerge = localMerge(opts.Task, *tmpDir, stderr, opts.Logger)
	}

	b, err := storage.Open(ctx, *outputURI)
	if err != nil {
		return err
	}
	defer b.Close()
	sum, err := commit.Finalize(ctx, b, opts)
	err = permanentStorage(err)
	if err != nil {
		sum.Error = err.Error()
	}
	if eerr := summary.Emit(stdout, *termination, sum); eerr != nil {
		// The commit outcome stands: failing a finished commit over its
		// termination message would only make the Job retry it.
		opts.Logger.Warn("summary not fully written", "error", eerr)
	}
	return err
}

// parseCommitFlags parses the flags of finalize and verify: bad flags are
// invalid input (exit 4); -h prints usage and reports help, not an error.
func parseCommitFlags(fs *flag.FlagSet, args []string) (help bool, err error) {
	err = fs.Parse(args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		return true, nil
	case err != nil:
		return false, fmt.Errorf("%w: %v", retry.ErrInvalidInput, err)
	case fs.NArg() > 0:
		return false, fmt.Errorf("%w: unexpected arguments %q", retry.ErrInvalidInput, fs.Args())
	}
	return false, nil
}

// localMerge is --merge-local's merge: key range 0 of 1 of the task in its
// version of the output, in this process, with the merge Job's catalog
// check when the task names its source.
func localMerge(task taskmeta.Meta, tmpDir string, stderr io.Writer, log *slog.Logger) func(context.Context, storage.Bucket) error {
	return func(ctx context.Context, version storage.Bucket) error {
		cfg := merge.Config{Meta: task, Output: version, Range: 0, Ranges: 1, TmpDir: tmpDir, Log: stderr}
		if err := loadTaskCatalog(ctx, &cfg); err != nil {
			return err
		}
		sum, err := merge.Run(ctx, cfg)
		if err == nil {
			log.Info("merged locally", "entries", sum.Entries, "files", sum.Files, "bytes", sum.Bytes, "seconds", sum.ElapsedSeconds, "alreadyDone", sum.AlreadyDone)
		}
		return err
	}
}
