package builder

import (
	"cmp"
	"context"
	"errors"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/indexbuild/indexbuild/internal/retry"
	"github.com/indexbuild/indexbuild/internal/rows"
	"github.com/indexbuild/indexbuild/internal/staging"
	"github.com/indexbuild/indexbuild/internal/storage"
)

// footerParallelism bounds concurrent Parquet footer reads while a snapshot
// is taken: they are small ranged reads, dominated by latency.
const footerParallelism = 16

// pinInput returns the task's input snapshot and its digest: the one
// recorded in the version's staging, or, for the task's first worker, a
// listing it takes now and records create-if-absent. Every worker, retry
// and finalize of the task plans from the same snapshot.
func pinInput(ctx context.Context, cfg Config, sc *rows.Scanner) (staging.Snapshot, string, error) {
	snap, digest, err := staging.ReadSnapshot(ctx, cfg.Output, staging.SnapshotKey)
	if !errors.Is(err, storage.ErrNotFound) {
		return snap, digest, err
	}
	snap, err = TakeSnapshot(ctx, cfg.Source, cmp.Or(cfg.Meta.Source, cfg.Source.URI()), sc, cfg.SourceFormat)
	if err != nil {
		return snap, "", err
	}
	return staging.EnsureSnapshot(ctx, cfg.Output, snap)
}

// TakeSnapshot lists the data files of the table in src (whose URI is
// sourceURI) with their versions, and reads the row-group weights of every
// Parquet file from its footer.
func TakeSnapshot(ctx context.Context, src storage.Bucket, sourceURI string, sc *rows.Scanner, forced rows.Format) (staging.Snapshot, error) {
	snap := staging.Snapshot{FormatVersion: staging.SnapshotFormatVersion, Source: sourceURI, TakenAt: time.Now().UTC(), Files: []staging.SourceFile{}}
	objs, err := storage.ListVersions(ctx, src, "")
	if err != nil {
		return snap, err
	}
	var files []rows.File
	for _, o := range objs {
		f, ok, err := rows.Classify(o.Key, o.Size, forced)
		if err != nil {
			return snap, &retry.InvalidInputError{File: o.Key, Err: err}
		}
		if ok {
			files = append(files, f)
			snap.Files = append(snap.Files, staging.SourceFile{Key: o.Key, Size: o.Size, Version: o.Token})
		}
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(footerParallelism)
	for i, f := range files {
		g.Go(func() error {
			var err error
			snap.Files[i].Pieces, err = sc.Pieces(gctx, f)
			return err
		})
	}
	return snap, g.Wait()
}

// statLimit is the number of files up to which checkPinned stats each one;
// above it one listing of the table is cheaper (a listing page holds 1,000
// keys).
const statLimit = 16

// checkPinned checks that every file in files is still the version the
// snapshot pinned: a *staging.SourceChangedError (stale metadata) names the
// first that changed or vanished.
func checkPinned(ctx context.Context, src storage.Bucket, sourceURI string, files []staging.SourceFile) error {
	if len(files) <= statLimit {
		for _, f := range files {
			now, err := storage.StatVersion(ctx, src, f.Key)
			found := err == nil
			if err != nil && !errors.Is(err, storage.ErrNotFound) {
				return err
			}
			if err := staging.CheckSourceFile(sourceURI, f, now, found); err != nil {
				return err
			}
		}
		return nil
	}
	objs, err := storage.ListVersions(ctx, src, "")
	if err != nil {
		return err
	}
	current := make(map[string]storage.ObjectVersion, len(objs))
	for _, o := range objs {
		current[o.Key] = o
	}
	for _, f := range files {
		now, found := current[f.Key]
		if err := staging.CheckSourceFile(sourceURI, f, now, found); err != nil {
			return err
		}
	}
	return nil
}
