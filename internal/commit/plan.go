package commit

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"path"
	"slices"
	"strings"
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

// makePlan lists staging/, checks the task manifest and the metadata of
// every partition (and, with opts.MergeRanges, of every merged key range)
// against opts.Task, and maps the non-empty partitions (or key ranges)
// densely onto 0..N-1. It reads only; nothing is copied unless all of
// staging checks out.
//
// The listing, the manifest and the metadata of partitions
// 0..Partitions-1 and ranges 0..MergeRanges-1 (the ones that must be there;
// at most maxEagerMetas of each) are read at once, up to parallelism
// metadata objects of each at a time: one round trip, not three. Metadata
// the listing shows beyond those is read afterwards (beyond the expected
// count it is corrupt staging).
func makePlan(ctx context.Context, b storage.Bucket, opts Options) (plan, error) {
	var (
		wg          sync.WaitGroup
		objects     []storage.Attrs
		listErr     error
		manifest    taskmeta.Meta
		manifestErr error
		snapshot    []byte
		snapshotErr error
		parts       = eagerReads[staging.PartitionMeta](opts.Partitions)
		merges      = eagerReads[staging.MergeMeta](opts.MergeRanges)
		parallelism = opts.CopyParallelism
	)
	wg.Go(func() { objects, listErr = b.List(ctx, staging.Prefix) })
	wg.Go(func() { manifest, manifestErr = staging.ReadTaskManifest(ctx, b) })
	wg.Go(func() { snapshot, snapshotErr = storage.ReadAll(ctx, b, staging.SnapshotKey) })
	wg.Go(func() { partitionMetas.readAll(ctx, b, parts, parallelism) })
	wg.Go(func() { mergeMetas.readAll(ctx, b, merges, parallelism) })
	wg.Wait()
	if listErr != nil {
		return plan{}, listErr
	}
	staged := make(map[string]storage.Attrs, len(objects))
	for _, o := range objects {
		staged[o.Key] = o
	}
	_, manifestListed := staged[staging.TaskManifestKey]
	switch {
	case manifestErr == nil:
		if err := staging.CheckTask(staging.TaskManifestKey, b.URI(), manifest, opts.Task); err != nil {
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
	parts = partitionMetas.readListed(ctx, b, parts, staged, parallelism)
	merges = mergeMetas.readListed(ctx, b, merges, staged, parallelism)

	origin := origin{uri: b.URI(), task: opts.Task, snapshot: digest}
	metas, err := partitionMetas.check(parts, staged, origin, opts.Partitions)
	if err != nil {
		return plan{}, err
	}
	ranges, err := mergeMetas.check(merges, staged, origin, opts.MergeRanges)
	if err != nil {
		return plan{}, err
	}

	pl := plan{staged: slices.Collect(maps.Keys(staged)), snapshot: snapshot}
	for _, m := range metas {
		pl.rows += m.Rows
	}
	var groups []stagedGroup
	if opts.MergeRanges == 0 {
		for _, m := range metas {
			groups = append(groups, stagedGroup{fmt.Sprintf("partition %d", m.Partition), m.Files})
		}
	} else {
		if err := checkMerged(ranges, pl.rows); err != nil {
			return plan{}, err
		}
		for _, m := range ranges {
			g := stagedGroup{name: fmt.Sprintf("key range %d", m.Range)}
			for _, e := range m.Elements {
				if e.File != nil {
					g.files = append(g.files, *e.File)
				}
			}
			groups = append(groups, g)
		}
	}
	if err := pl.addSteps(groups, staged); err != nil {
		return plan{}, err
	}
	return pl, nil
}

// stagedGroup is the staged files of one partition or one merged key range:
// they commit under one number n of the final names.
type stagedGroup struct {
	name  string
	files []staging.File
}

// addSteps adds the copy steps of groups, numbering the non-empty ones
// densely in order.
func (pl *plan) addSteps(groups []stagedGroup, staged map[string]storage.Attrs) error {
	for _, g := range groups {
		if len(g.files) == 0 {
			continue // an empty partition or range drops out of the dense numbering
		}
		n := pl.partitions
		pl.partitions++
		files := slices.Clone(g.files)
		slices.SortFunc(files, func(a, b staging.File) int { return cmp.Compare(a.Element, b.Element) })
		for _, f := range files {
			src, ok := staged[f.Path]
			if !ok {
				return fmt.Errorf("staged file %s of %s is missing", f.Path, g.name)
			}
			if src.Size != f.Size {
				return fmt.Errorf("%w: staged file %s is %d bytes, the metadata of %s says %d", ErrCorruptStaging, f.Path, src.Size, g.name, f.Size)
			}
			final := f
			final.Path = FinalKey(n, f.Element, strings.TrimPrefix(path.Ext(f.Path), ".")) // Validate checked the form
			pl.steps = append(pl.steps, copyStep{src: f, srcMD5: src.MD5, final: final})
		}
	}
	return nil
}

// checkMerged checks what the merged key ranges (complete, in order, each
// of the task and its snapshot) say of each element together: the ranges
// abut (range r's Upper is range r+1's Lower), each file's key range lies
// inside its range's bounds, and the ranges hold one entry per row of the
// partitions, so the merge lost or added nothing.
func checkMerged(ranges []staging.MergeMeta, rows int64) error {
	type element struct {
		upper   []byte // of the range before
		entries int64
	}
	elements := map[int64]*element{}
	for _, m := range ranges {
		for _, e := range m.Elements {
			el := elements[e.Element]
			if el == nil {
				el = &element{}
				elements[e.Element] = el
			}
			if m.Range > 0 && !bytes.Equal(e.Lower, el.upper) {
				return fmt.Errorf("%w: element %d: key range %d starts at %x, key range %d ends at %x; merged ranges must abut",
					ErrCorruptStaging, e.Element, m.Range, e.Lower, m.Range-1, el.upper)
			}
			el.upper, el.entries = e.Upper, el.entries+e.Entries
			if e.File == nil {
				continue
			}
			kr := e.File.KeyRange
			switch {
			case bytes.Compare(kr.First, kr.Last) > 0:
				return fmt.Errorf("%w: %s: first key %x above last key %x", ErrCorruptStaging, e.File.Path, kr.First, kr.Last)
			case e.Lower != nil && bytes.Compare(kr.First, e.Lower) < 0, e.Upper != nil && bytes.Compare(kr.Last, e.Upper) >= 0:
				return fmt.Errorf("%w: %s: keys %x..%x are outside key range %d [%x, %x)",
					ErrCorruptStaging, e.File.Path, kr.First, kr.Last, m.Range, e.Lower, e.Upper)
			}
		}
	}
	for _, id := range slices.Sorted(maps.Keys(elements)) {
		if n := elements[id].entries; n != rows {
			return fmt.Errorf("%w: the merged key ranges hold %d entries of element %d, the partitions %d rows", ErrCorruptStaging, n, id, rows)
		}
	}
	return nil
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

// maxEagerMetas bounds the partition (and range) metadata read before the
// listing shows it exists: a wrong count costs a failed finalize, not a
// flood of reads.
var maxEagerMetas = 4096 // a variable for tests

// metaRead is the outcome of reading the metadata of one partition or merged
// key range (number n).
type metaRead[M any] struct {
	n      int
	meta   M
	exists bool
	err    error
}

// eagerReads are the reads of metadata 0..count-1, at most maxEagerMetas.
func eagerReads[M any](count int) []metaRead[M] {
	reads := make([]metaRead[M], min(max(count, 0), maxEagerMetas))
	for i := range reads {
		reads[i].n = i
	}
	return reads
}

// header is where a partition's or key range's metadata says it belongs.
type header struct {
	task     taskmeta.Meta
	snapshot string // the input snapshot's digest
	n, of    int    // partition n of `of` partitions, or range n of `of`
}

// origin is what every metadata must belong to: the task of this finalize
// and its input snapshot, in the output at uri.
type origin struct {
	uri      string
	task     taskmeta.Meta
	snapshot string
}

// metaKind is one kind of staged metadata finalize checks alike: the
// partitions' (a build completed them) and the merged key ranges' (a merge
// completed them).
type metaKind[M any] struct {
	name   string // "partition", "key range"
	key    func(n int) string
	parse  func(key string) (int, bool)
	read   func(ctx context.Context, b storage.Bucket, n int) (M, bool, error)
	header func(M) header
}

var (
	partitionMetas = metaKind[staging.PartitionMeta]{
		name: "partition", key: staging.PartitionMetaKey, parse: staging.ParsePartitionMetaKey, read: staging.ReadPartitionMeta,
		header: func(m staging.PartitionMeta) header {
			return header{task: m.Task, snapshot: m.Snapshot, n: m.Partition, of: m.Partitions}
		},
	}
	mergeMetas = metaKind[staging.MergeMeta]{
		name: "key range", key: staging.MergeMetaKey, parse: staging.ParseMergeMetaKey, read: staging.ReadMergeMeta,
		header: func(m staging.MergeMeta) header {
			return header{task: m.Task, snapshot: m.Snapshot, n: m.Range, of: m.Ranges}
		},
	}
)

// readAll reads the metadata of each reads[i].n into reads[i], up to
// parallelism at a time. Each outcome stays in its slot, so they are judged
// in order whichever read finished first.
func (k metaKind[M]) readAll(ctx context.Context, b storage.Bucket, reads []metaRead[M], parallelism int) {
	var g errgroup.Group
	g.SetLimit(max(parallelism, 1))
	for i := range reads {
		g.Go(func() error {
			r := &reads[i]
			r.meta, r.exists, r.err = k.read(ctx, b, r.n)
			return nil
		})
	}
	_ = g.Wait()
}

// readListed adds to reads, in order, the metadata the listing shows beyond
// the ones read already.
func (k metaKind[M]) readListed(ctx context.Context, b storage.Bucket, reads []metaRead[M], staged map[string]storage.Attrs, parallelism int) []metaRead[M] {
	var more []metaRead[M]
	for key := range staged {
		if n, ok := k.parse(key); ok && n >= len(reads) {
			more = append(more, metaRead[M]{n: n})
		}
	}
	if len(more) == 0 {
		return reads
	}
	slices.SortFunc(more, func(a, b metaRead[M]) int { return cmp.Compare(a.n, b.n) })
	k.readAll(ctx, b, more, parallelism)
	return append(reads, more...)
}

// check judges the reads, in order: each existing metadata must belong to
// o (stale metadata otherwise), and they must be exactly 0..count-1, each
// agreeing on the count: finalize must never commit with a partition or
// range missing. It returns the metadata in order.
func (k metaKind[M]) check(reads []metaRead[M], staged map[string]storage.Attrs, o origin, count int) ([]M, error) {
	var metas []M
	found := make(map[int]bool, len(reads))
	for _, r := range reads {
		key := k.key(r.n)
		_, listed := staged[key]
		switch {
		case r.err != nil:
			return nil, r.err
		case !r.exists && listed:
			// Listed a moment ago: a concurrent finalizer's cleanup, whose
			// marker Finalize then finds.
			return nil, fmt.Errorf("%s disappeared", key)
		case !r.exists:
			continue // reported missing below
		}
		h := k.header(r.meta)
		if err := staging.CheckTask(key, o.uri, h.task, o.task); err != nil {
			return nil, err
		}
		if h.snapshot != o.snapshot {
			return nil, fmt.Errorf("%w: %s %d was built from input snapshot %q, the task's %s is %q",
				retry.ErrStaleMeta, k.name, r.n, h.snapshot, staging.SnapshotKey, o.snapshot)
		}
		if h.of != count || r.n >= count {
			return nil, fmt.Errorf("%w: %s %d was staged as one of %d %ss, finalize expects %d",
				ErrCorruptStaging, k.name, r.n, h.of, k.name, count)
		}
		metas = append(metas, r.meta)
		found[r.n] = true
	}
	var missing []int
	for n := range count {
		if !found[n] {
			missing = append(missing, n)
		}
	}
	if len(missing) > 0 {
		// Retryable: the operator runs finalize only after every worker
		// succeeded, so this is a listing that has not caught up yet or a
		// concurrent finalizer's cleanup (then the marker now exists).
		return nil, fmt.Errorf("%ss %v of %d have no metadata in %s", k.name, missing, count, staging.Prefix)
	}
	return metas, nil
}
