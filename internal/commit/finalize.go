package commit

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/indexbuild/indexbuild/internal/output"
	"github.com/indexbuild/indexbuild/internal/retry"
	"github.com/indexbuild/indexbuild/internal/staging"
	"github.com/indexbuild/indexbuild/internal/storage"
	"github.com/indexbuild/indexbuild/internal/summary"
	"github.com/indexbuild/indexbuild/internal/taskmeta"
)

// ErrCorruptStaging marks staged data that contradicts its own metadata;
// invalid input, since retrying reads the same objects again.
var ErrCorruptStaging = fmt.Errorf("%w: corrupt staging", retry.ErrInvalidInput)

// DefaultCopyParallelism bounds concurrent copies unless Options say otherwise.
const DefaultCopyParallelism = 8

// Options configure Finalize.
type Options struct {
	Task taskmeta.Meta
	// Partitions is the number of partitions the build ran with; every one
	// of them must have staged its metadata.
	Partitions int
	// CopyParallelism bounds concurrent copies and checks; 0 means
	// DefaultCopyParallelism.
	CopyParallelism int
	// Logger gets what is worth knowing but not fatal (cleanup failures).
	Logger *slog.Logger
	// Now stamps the marker and the pointer; time.Now when nil.
	Now func() time.Time
	// Owner is the IndexBuild the output root belongs to (output.Claim);
	// zero: no ownership check.
	Owner output.Owner
	// KeepVersions is how many committed versions Retain keeps, counting
	// the published one; 0 means DefaultKeepVersions.
	KeepVersions int
	// MergeRanges is the number of key ranges the merge stage (global sort)
	// merged an `index` task into: finalize commits the ranges' merged
	// files (staging/merge_<r>.json, r < MergeRanges) instead of the
	// partitions' files, which stay staging. 0: the partitions' files.
	MergeRanges int
	// LocalMerge, when set, merges the task's version (range 0 of 1) before
	// finalize plans, unless the version is committed already: the small
	// build's merge without a merge Job. MergeRanges must be 1. It is a
	// function so this package does not depend on the merge.
	LocalMerge func(ctx context.Context, version storage.Bucket) error
}

// check refuses options that contradict each other, before anything is
// read or written.
func (o Options) check() error {
	switch {
	case o.MergeRanges < 0:
		return fmt.Errorf("%w: merge ranges %d is negative", retry.ErrInvalidInput, o.MergeRanges)
	case o.MergeRanges > 0 && o.Task.ElementType != taskmeta.ElementTypeIndex:
		return fmt.Errorf("%w: merged key ranges are for index elements, the task's are %s", retry.ErrInvalidInput, o.Task.ElementType)
	case o.LocalMerge != nil && o.MergeRanges != 1:
		return fmt.Errorf("%w: a local merge commits 1 key range, not %d", retry.ErrInvalidInput, o.MergeRanges)
	}
	return nil
}

// DefaultKeepVersions is the number of committed versions kept unless
// Options say otherwise: the published one and the one before it.
const DefaultKeepVersions = 2

// finalize commits the staged partitions of opts.Task in b (the task's
// version of the output, see Finalize), or with opts.MergeRanges their
// merged key ranges (after opts.LocalMerge, if set, merged them), following
// the design's steps: an existing marker of the same task means done;
// staging is checked in full before anything is copied; files are copied to
// dense final names (sources kept, final paths overwritten, never deleted
// first) and checked; the marker is created last, create-if-absent; staging
// is removed best-effort. Concurrent and repeated calls converge on one
// marker.
//
// The summary is filled in on success; errors classify per the worker
// contract (retry.ExitCode): stale staging or marker 3, corrupt staging 4,
// storage trouble 1.
//
// committed, when not nil, is called right after the marker is created,
// before the cleanup; benchmarks time the two apart.
func finalize(ctx context.Context, b storage.Bucket, opts Options, committed func()) (summary.Commit, error) {
	opts = opts.withDefaults()
	if err := opts.check(); err != nil {
		return summary.Commit{}, err
	}
	if opts.LocalMerge != nil {
		m, found, err := readMarkerIfPresent(ctx, b)
		switch {
		case err != nil:
			return summary.Commit{}, err
		case found:
			return alreadyCommitted(b, m, opts.Task)
		}
		if err := opts.LocalMerge(ctx, b); err != nil {
			return settle(ctx, b, opts.Task, fmt.Errorf("merge before commit: %w", err))
		}
	}
	// The marker and staging are read at once: one round trip instead of
	// two. Nothing is copied before the marker is known to be absent.
	var (
		m        Marker
		found    bool
		err      error
		pl       plan
		planErr  error
		wg       sync.WaitGroup
		planCtx  context.Context
		stopPlan context.CancelFunc
	)
	planCtx, stopPlan = context.WithCancel(ctx)
	defer stopPlan()
	wg.Go(func() {
		m, found, err = readMarkerIfPresent(ctx, b)
		if found || err != nil {
			stopPlan() // not needed any more
		}
	})
	wg.Go(func() { pl, planErr = makePlan(planCtx, b, opts) })
	wg.Wait()
	if err != nil {
		return summary.Commit{}, err
	}
	if found {
		return alreadyCommitted(b, m, opts.Task)
	}

	err = planErr
	if err == nil {
		m, err = commitPlan(ctx, b, pl, opts)
	}
	if err != nil {
		return settle(ctx, b, opts.Task, err)
	}
	if committed != nil {
		committed()
	}
	cleanup(ctx, b, pl.staged, opts.CopyParallelism, opts.Logger)
	return commitSummary(b, m), nil
}

// settle returns the outcome of a finalize that failed with err: a
// concurrent finalizer may have committed (and begun cleaning up staging
// under us), and its marker settles the outcome. Not on a store refused for
// ignoring preconditions: there a marker proves nothing.
func settle(ctx context.Context, b storage.Bucket, task taskmeta.Meta, err error) (summary.Commit, error) {
	if errors.Is(err, storage.ErrPreconditionsIgnored) {
		return summary.Commit{}, err
	}
	if winner, found, rerr := readMarkerIfPresent(ctx, b); rerr == nil && found {
		return alreadyCommitted(b, winner, task)
	}
	return summary.Commit{}, err
}

func (o Options) withDefaults() Options {
	if o.CopyParallelism <= 0 {
		o.CopyParallelism = DefaultCopyParallelism
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.KeepVersions <= 0 {
		o.KeepVersions = DefaultKeepVersions
	}
	return o
}

// commitPlan runs steps 3 and 4 for a checked plan: copy and check every
// file, then create the marker.
func commitPlan(ctx context.Context, b storage.Bucket, pl plan, opts Options) (Marker, error) {
	unchecked, err := copyAll(ctx, b, pl.steps, opts.CopyParallelism)
	if err != nil {
		return Marker{}, err
	}
	if err := checkCopies(ctx, b, unchecked, opts.CopyParallelism); err != nil {
		return Marker{}, err
	}
	m := Marker{
		FormatVersion: FormatVersion,
		Task:          opts.Task,
		Partitions:    pl.partitions,
		Files:         make([]staging.File, len(pl.steps)),
		Rows:          pl.rows,
		CommittedAt:   opts.Now().UTC(),
	}
	for i, s := range pl.steps {
		m.Files[i] = s.final
		m.Bytes += s.final.Size
	}
	if pl.snapshot != nil {
		// The bytes finalize read and checked: a retry writes the same.
		if err := b.Write(ctx, SourceKey, bytes.NewReader(pl.snapshot)); err != nil {
			return Marker{}, fmt.Errorf("keep the input snapshot: %w", err)
		}
		m.Source = &staging.File{Path: SourceKey, Size: int64(len(pl.snapshot)), SHA256: staging.SnapshotDigest(pl.snapshot)}
	}
	if p := m.Problems(); len(p) > 0 {
		// Cannot happen with a plan from valid partition metadata; refusing
		// here keeps a bad marker from ever being created.
		return Marker{}, fmt.Errorf("%w: %s", ErrBadMarker, strings.Join(p, "; "))
	}
	data, err := EncodeMarker(m)
	if err != nil {
		return Marker{}, err
	}
	if err := b.Create(ctx, MarkerKey, bytes.NewReader(data)); err != nil {
		return Marker{}, fmt.Errorf("write commit marker: %w", err)
	}
	return m, nil
}

// copyAll copies every staged file to its final name with at most
// parallelism in flight, and checks each copy against what the store
// reported of it (checkCopy). It returns the steps whose copies the store
// reported nothing to check by.
func copyAll(ctx context.Context, b storage.Bucket, steps []copyStep, parallelism int) ([]copyStep, error) {
	checked := make([]bool, len(steps))
	positions := make([]int, len(steps))
	for i := range positions {
		positions[i] = i
	}
	err := forEach(ctx, parallelism, positions, func(ctx context.Context, i int) error {
		s := steps[i]
		// Where the store lists no MD5 for the source (S3 multipart uploads)
		// there is nothing cheaper to check the copy by than its SHA-256.
		c, err := b.Copy(ctx, s.final.Path, s.src.Path, storage.CopyOptions{SHA256: s.srcMD5 == nil, Size: s.src.Size})
		if err != nil {
			return err
		}
		checked[i], err = checkCopy(s, c)
		return err
	})
	if err != nil {
		return nil, err
	}
	var unchecked []copyStep
	for i, s := range steps {
		if !checked[i] {
			unchecked = append(unchecked, s)
		}
	}
	return unchecked, nil
}

// alreadyCommitted reports a marker found in place: success for the same
// task, stale metadata for another.
func alreadyCommitted(b storage.Bucket, m Marker, task taskmeta.Meta) (summary.Commit, error) {
	if err := staging.CheckTask(MarkerKey, b.URI(), m.Task, task); err != nil {
		return summary.Commit{}, err
	}
	s := commitSummary(b, m)
	s.AlreadyCommitted = true
	return s, nil
}

func commitSummary(b storage.Bucket, m Marker) summary.Commit {
	return summary.Commit{
		MarkerURI:   storage.ObjectURI(b.URI(), MarkerKey),
		Files:       len(m.Files),
		Bytes:       m.Bytes,
		Rows:        m.Rows,
		Partitions:  m.Partitions,
		CommittedAt: m.CommittedAt,
	}
}

// cleanup removes what finalize found under staging/, best-effort, once the
// marker exists (staging is not listed again: that would be one more request
// for objects nobody wrote since). Partition and merge metadata go first: a
// concurrent finalizer that still sees staging then fails its completeness
// check (and finds the marker) instead of copying from a half-removed
// partition or key range. Failures are logged, never fatal: leftovers under
// staging/ are never part of a commit.
func cleanup(ctx context.Context, b storage.Bucket, staged []string, parallelism int, log *slog.Logger) {
	var metas, rest []string
	for _, key := range staged {
		_, partition := staging.ParsePartitionMetaKey(key)
		_, merged := staging.ParseMergeMetaKey(key)
		if partition || merged {
			metas = append(metas, key)
		} else {
			rest = append(rest, key)
		}
	}
	for _, keys := range [][]string{metas, rest} {
		if err := storage.DeleteAll(ctx, b, keys, parallelism); err != nil {
			log.Warn("staging cleanup incomplete; leftovers are never part of the commit", "error", err)
			return
		}
	}
}
