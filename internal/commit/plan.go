package commit

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"

	"golang.org/x/sync/errgroup"

	"github.com/indexbuild/indexbuild/internal/retry"
	"github.com/indexbuild/indexbuild/internal/staging"
	"github.com/indexbuild/indexbuild/internal/storage"
	"github.com/indexbuild/indexbuild/internal/taskmeta"
)

// copyStep copies one staged file to its final name.
type copyStep struct {
	src    staging.File // as staged
	srcMD5 []byte       // as the store listed it; nil when it has none
	final  staging.File // as it will be committed
}

// plan is what a finalize will commit.
type plan struct {
	steps      []copyStep
	partitions int // non-empty partitions
	rows       int64
	staged     []string // every key under staging/, for the cleanup
	// snapshot is the task's input snapshot as staged, kept in the version
	// at SourceKey; nil for a task staged before inputs were pinned.
	snapshot []byte
}

// makePlan lists staging/, checks the task manifest and every partition's
// metadata against task, and maps the non-empty partitions densely onto
// 0..N-1. It reads only; nothing is copied unless all of staging checks out.
//
// The listing, the manifest and the metadata of partitions 0..partitions-1
// (the ones that must be there; at most maxEagerMetas of them) are read at
// once, up to parallelism metadata objects at a time: one round trip, not
// three. Metadata the listing shows beyond those is read afterwards (beyond
// partitions-1 it is corrupt staging).
func makePlan(ctx context.Context, b storage.Bucket, task taskmeta.Meta, partitions, parallelism int) (plan, error) {
	var (
		wg          sync.WaitGroup
		objects     []storage.Attrs
		listErr     error
		manifest    taskmeta.Meta
		manifestErr error
		snapshot    []byte
		snapshotErr error
		reads       = make([]metaRead, min(max(partitions, 0), maxEagerMetas))
	)
	for p := range reads {
		reads[p].partition = p
	}
	wg.Go(func() { objects, listErr = b.List(ctx, staging.Prefix) })
	wg.Go(func() { manifest, manifestErr = staging.ReadTaskManifest(ctx, b) })
	wg.Go(func() { snapshot, snapshotErr = storage.ReadAll(ctx, b, staging.SnapshotKey) })
	wg.Go(func() { readMetas(ctx, b, reads, parallelism) })
	wg.Wait()
	if listErr != nil {
		return plan{}, listErr
	}
	staged := make(map[string]storage.Attrs, len(objects))
	var extra []int // listed metadata not read yet
	for _, o := range objects {
		staged[o.Key] = o
		if p, ok := staging.ParsePartitionMetaKey(o.Key); ok && p >= len(reads) {
			extra = append(extra, p)
		}
	}
	_, manifestListed := staged[staging.TaskManifestKey]
	switch {
	case manifestErr == nil:
		if err := staging.CheckTask(staging.TaskManifestKey, b.URI(), manifest, task); err != nil {
			return plan{}, err
		}
	case !errors.Is(manifestErr, storage.ErrNotFound):
		return plan{}, manifestErr
	case manifestListed:
		// Listed, yet gone: a concurrent finalizer's cleanup, whose marker
		// Finalize then finds.
		return plan{}, manifestErr
	}
	digest, err := checkSnapshot(snapshot, snapshotErr, staged)
	if err != nil {
		return plan{}, err
	}
	if len(extra) > 0 {
		slices.Sort(extra)
		more := make([]metaRead, len(extra))
		for i, p := range extra {
			more[i].partition = p
		}
		readMetas(ctx, b, more, parallelism)
		reads = append(reads, more...)
	}

	var metas []staging.PartitionMeta
	for _, r := range reads {
		key := staging.PartitionMetaKey(r.partition)
		_, listed := staged[key]
		switch {
		case r.err != nil:
			return plan{}, r.err
		case !r.exists && listed:
			// Listed a moment ago: a concurrent finalizer's cleanup, whose
			// marker Finalize then finds.
			return plan{}, fmt.Errorf("%s disappeared", key)
		case !r.exists:
			continue // checkComplete reports it missing
		}
		if err := staging.CheckTask(key, b.URI(), r.meta.Task, task); err != nil {
			return plan{}, err
		}
		if r.meta.Snapshot != digest {
			return plan{}, fmt.Errorf("%w: partition %d was built from input snapshot %q, the task's %s is %q",
				retry.ErrStaleMeta, r.partition, r.meta.Snapshot, staging.SnapshotKey, digest)
		}
		metas = append(metas, r.meta)
	}
	if err := checkComplete(metas, partitions); err != nil {
		return plan{}, err
	}

	pl := plan{staged: slices.Collect(maps.Keys(staged)), snapshot: snapshot}
	for _, m := range metas {
		pl.rows += m.Rows
		if len(m.Files) == 0 {
			continue // an empty partition drops out of the dense numbering
		}
		n := pl.partitions
		pl.partitions++
		files := slices.Clone(m.Files)
		slices.SortFunc(files, func(a, b staging.File) int { return cmp.Compare(a.Element, b.Element) })
		for _, f := range files {
			src, ok := staged[f.Path]
			if !ok {
				return plan{}, fmt.Errorf("staged file %s of partition %d is missing", f.Path, m.Partition)
			}
			if src.Size != f.Size {
				return plan{}, fmt.Errorf("%w: staged file %s is %d bytes, partition metadata says %d", ErrCorruptStaging, f.Path, src.Size, f.Size)
			}
			_, element, ext, _ := staging.ParsePartFileKey(f.Path) // Validate checked the form
			final := f
			final.Path = FinalKey(n, element, ext)
			pl.steps = append(pl.steps, copyStep{src: f, srcMD5: src.MD5, final: final})
		}
	}
	return pl, nil
}

// checkSnapshot checks the staged input snapshot (read as data, readErr)
// and returns its digest, "" when the task has none (staged by workers from
// before inputs were pinned).
func checkSnapshot(data []byte, readErr error, staged map[string]storage.Attrs) (string, error) {
	_, listed := staged[staging.SnapshotKey]
	switch {
	case errors.Is(readErr, storage.ErrNotFound) && !listed:
		return "", nil
	case readErr != nil:
		// Listed, yet gone: a concurrent finalizer's cleanup, whose marker
		// Finalize then finds.
		return "", readErr
	}
	if _, err := staging.DecodeSnapshot(data); err != nil {
		return "", err
	}
	return staging.SnapshotDigest(data), nil
}

// maxEagerMetas bounds the partition metadata read before the listing shows
// it exists: a wrong partition count costs a failed finalize, not a flood of
// reads.
var maxEagerMetas = 4096 // a variable for tests

// metaRead is the outcome of reading one partition's metadata.
type metaRead struct {
	partition int
	meta      staging.PartitionMeta
	exists    bool
	err       error
}

// readMetas reads the metadata of each reads[i].partition into reads[i], up
// to parallelism at a time. Each outcome stays in its slot, so they are
// judged in partition order whichever read finished first.
func readMetas(ctx context.Context, b storage.Bucket, reads []metaRead, parallelism int) {
	var g errgroup.Group
	g.SetLimit(max(parallelism, 1))
	for i := range reads {
		g.Go(func() error {
			r := &reads[i]
			r.meta, r.exists, r.err = staging.ReadPartitionMeta(ctx, b, r.partition)
			return nil
		})
	}
	_ = g.Wait()
}

// checkComplete requires metadata for exactly partitions 0..partitions-1,
// each agreeing on the count: finalize must never commit a build with a
// partition missing.
func checkComplete(metas []staging.PartitionMeta, partitions int) error {
	var missing []int
	for i, j := 0, 0; i < partitions; i++ {
		if j < len(metas) && metas[j].Partition == i {
			j++
			continue
		}
		missing = append(missing, i)
	}
	for _, m := range metas {
		if m.Partitions != partitions || m.Partition >= partitions {
			return fmt.Errorf("%w: partition %d was staged as one of %d partitions, finalize expects %d",
				ErrCorruptStaging, m.Partition, m.Partitions, partitions)
		}
	}
	if len(missing) > 0 {
		// Retryable: the operator runs finalize only after every worker
		// succeeded, so this is a listing that has not caught up yet or a
		// concurrent finalizer's cleanup (then the marker now exists).
		return fmt.Errorf("partitions %v of %d have no metadata in %s", missing, partitions, staging.Prefix)
	}
	return nil
}
