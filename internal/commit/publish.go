package commit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/indexbuild/indexbuild/internal/output"
	"github.com/indexbuild/indexbuild/internal/retry"
	"github.com/indexbuild/indexbuild/internal/staging"
	"github.com/indexbuild/indexbuild/internal/storage"
	"github.com/indexbuild/indexbuild/internal/summary"
	"github.com/indexbuild/indexbuild/internal/taskmeta"
)

// Finalize commits opts.Task into the output root: it claims the root for
// opts.Owner, refuses a task older than the published one, commits the
// task's own version (finalize on versions/<jobID>/), publishes it by
// moving the pointer (Publish), and applies retention (Retain). Every step
// is idempotent, so a retry after a crash anywhere converges: before the
// marker the version is committed again, between marker and pointer the
// marker is found and the pointer moved, after the pointer everything is
// found done and only cleanup is repeated.
func Finalize(ctx context.Context, root storage.Bucket, opts Options) (summary.Commit, error) {
	opts = opts.withDefaults()
	if err := opts.check(); err != nil {
		return summary.Commit{}, err // before the root is claimed
	}
	v, err := OpenTask(ctx, root, opts.Task, opts.Owner)
	if err != nil {
		return summary.Commit{}, err
	}
	sum, err := finalize(ctx, v, opts, nil)
	if err != nil {
		return summary.Commit{}, err
	}
	p, err := Publish(ctx, root, opts.Task, opts.Now())
	if err != nil {
		return summary.Commit{}, err
	}
	sum.Version = p.Version
	sum.PointerURI = storage.ObjectURI(root.URI(), output.PointerKey)
	Retain(ctx, root, p, opts.KeepVersions, opts.CopyParallelism, opts.Logger)
	return sum, nil
}

// OpenTask is where a worker or finalize of task works: task's version of
// root, after claiming root for owner (an *output.OwnerError, exit 5, if
// another IndexBuild owns it; nothing is written then) and checking that
// root does not publish a newer job (an *output.SupersededError, exit 3: a
// superseded task fails before it builds anything).
func OpenTask(ctx context.Context, root storage.Bucket, task taskmeta.Meta, owner output.Owner) (storage.Bucket, error) {
	if err := output.Claim(ctx, root, owner); err != nil {
		return nil, err
	}
	p, _, found, err := output.ReadPointer(ctx, root)
	if err != nil {
		return nil, err
	}
	if found && p.JobID > task.JobID {
		return nil, &output.SupersededError{URI: root.URI(), Published: p.JobID, ThisJob: task.JobID}
	}
	return output.Version(root, task.JobID), nil
}

// maxPublishConflicts bounds the compare-and-swap loop: every conflict means
// another finalizer moved the pointer, and there are only so many.
const maxPublishConflicts = 16

// Publish moves root's pointer to task's version, whose marker must exist:
// a conditional replace from the pointer it read, so of racing publishers
// each decides on the state it saw. It never moves the pointer backwards:
// a newer published job is an *output.SupersededError (exit 3); the same
// job already published is success (idempotent), unless the pointer records
// other task metadata (stale, exit 3).
func Publish(ctx context.Context, root storage.Bucket, task taskmeta.Meta, now time.Time) (output.Pointer, error) {
	next := output.NewPointer(task, MarkerKey, now)
	data, err := next.Encode()
	if err != nil {
		return output.Pointer{}, err
	}
	for range maxPublishConflicts {
		cur, rev, found, err := output.ReadPointer(ctx, root)
		if err != nil {
			return output.Pointer{}, err
		}
		switch {
		case found && cur.JobID > task.JobID:
			return output.Pointer{}, &output.SupersededError{URI: root.URI(), Published: cur.JobID, ThisJob: task.JobID}
		case found && cur.JobID == task.JobID:
			return cur, staging.CheckTask(output.PointerKey, root.URI(), cur.Task, task)
		}
		err = root.Replace(ctx, output.PointerKey, strings.NewReader(string(data)), rev)
		if !errors.Is(err, storage.ErrConflict) {
			if err != nil {
				return output.Pointer{}, fmt.Errorf("publish %s: %w", next.Version, err)
			}
			return next, nil
		}
	}
	return output.Pointer{}, fmt.Errorf("publish %s: the pointer changed %d times while publishing: %w", next.Version, maxPublishConflicts, storage.ErrRetryable)
}

// Retain removes, best-effort, what published pointer p leaves behind:
// committed versions beyond the keep highest at or below p's job (p's own
// counts), versions without a marker below p's job (failed or superseded
// tasks' staging), and staging leftovers inside the kept versions. It
// never touches p's version or any version above p's job (a newer task may
// be building there). A version goes marker first, so a reader never opens
// one half removed; what a failure leaves is removed by the next Retain.
// Failures are logged, never returned.
func Retain(ctx context.Context, root storage.Bucket, p output.Pointer, keep, parallelism int, log *slog.Logger) {
	keep = max(keep, 1)
	list, err := root.List(ctx, output.VersionsPrefix)
	if err != nil {
		log.Warn("retention skipped: cannot list versions", "error", err)
		return
	}
	type version struct {
		marker      bool
		keys        []string // relative to the root
		stagingKeys []string // relative to the version
	}
	versions := map[int64]*version{}
	for _, a := range list {
		id, rest, ok := output.ParseVersionKey(a.Key)
		if !ok {
			continue
		}
		v := versions[id]
		if v == nil {
			v = &version{}
			versions[id] = v
		}
		switch {
		case rest == MarkerKey:
			v.marker = true
		case strings.HasPrefix(rest, staging.Prefix):
			v.stagingKeys = append(v.stagingKeys, rest)
			v.keys = append(v.keys, a.Key)
		default:
			v.keys = append(v.keys, a.Key)
		}
	}
	ids := slices.Sorted(maps.Keys(versions))
	slices.Reverse(ids)
	kept := 0
	for _, id := range ids {
		v := versions[id]
		switch {
		case id > p.JobID:
			// A newer task may be building or publishing there.
		case id == p.JobID || v.marker && kept < keep:
			kept++
			cleanup(ctx, output.Version(root, id), v.stagingKeys, parallelism, log)
		default:
			if err := removeVersion(ctx, root, id, v.marker, v.keys, parallelism); err != nil {
				log.Warn("retention: version not fully removed; the next finalize tries again", "version", output.VersionPrefix(id), "error", err)
				continue
			}
			log.Info("retention: removed version", "version", output.VersionPrefix(id), "committed", v.marker)
		}
	}
}

// removeVersion removes one version: its marker first, so it stops being a
// committed version before any file it lists goes.
func removeVersion(ctx context.Context, root storage.Bucket, id int64, marker bool, keys []string, parallelism int) error {
	if marker {
		if err := root.Delete(ctx, output.VersionPrefix(id)+MarkerKey); err != nil && !errors.Is(err, storage.ErrNotFound) {
			return err
		}
	}
	return storage.DeleteAll(ctx, root, keys, parallelism)
}

// ErrOldLayout marks an output committed before versioned outputs
// (metadata.json at the root, no pointer).
var ErrOldLayout = fmt.Errorf("%w: output in the layout before versions", retry.ErrInvalidInput)

// OpenPublished opens the version root's pointer names. Without a pointer
// the output is not committed yet (an error matching storage.ErrNotFound),
// or, with metadata.json at the root, in the old layout (ErrOldLayout).
func OpenPublished(ctx context.Context, root storage.Bucket) (storage.Bucket, output.Pointer, error) {
	p, _, found, err := output.ReadPointer(ctx, root)
	if err != nil {
		return nil, output.Pointer{}, err
	}
	if found {
		return output.Version(root, p.JobID), p, nil
	}
	if _, err := root.Attributes(ctx, MarkerKey); err == nil {
		return nil, output.Pointer{}, fmt.Errorf("%w: %s has %s at its root and no %s: it was committed by an older release; build it again (a finalize publishes a version beside it)",
			ErrOldLayout, root.URI(), MarkerKey, output.PointerKey)
	}
	return nil, output.Pointer{}, &storage.Error{Op: "read", Key: output.PointerKey, Kind: storage.ErrNotFound,
		Err: fmt.Errorf("output %s is not committed yet", root.URI())}
}
