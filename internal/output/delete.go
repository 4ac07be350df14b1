package output

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/indexbuild/indexbuild/internal/retry"
	"github.com/indexbuild/indexbuild/internal/storage"
)

// DeleteLayout removes this layout from root: the pointer first (readers
// then see "not committed" instead of a version being deleted), every
// object under versions/, and the owner record last, so an interrupted
// delete is still refused to other IndexBuilds and can be run again. No
// other key at the root is touched: an output may share a prefix with
// objects that are not ours. It refuses with an *OwnerError if another
// IndexBuild owns root, and with a *NotOwnedError if none does but a
// layout is there (built with the CLI, or claimed by nobody): an
// IndexBuild deletes only what it owns. It is done (nil) when nothing of
// the layout is left. The zero owner checks nothing.
func DeleteLayout(ctx context.Context, root storage.Bucket, owner Owner, parallelism int) error {
	if err := checkDeletable(ctx, root, owner); err != nil {
		return err
	}
	for _, key := range []string{PointerKey, storage.LockFileKey(PointerKey)} {
		if err := root.Delete(ctx, key); err != nil && !errors.Is(err, storage.ErrNotFound) {
			return fmt.Errorf("delete %s: %w", key, err)
		}
	}
	versions, err := root.List(ctx, VersionsPrefix)
	if err != nil {
		return err
	}
	keys := make([]string, len(versions))
	for i, a := range versions {
		keys[i] = a.Key
	}
	if err := storage.DeleteAll(ctx, root, keys, parallelism); err != nil {
		return err
	}
	// Something written meanwhile (a worker still running) stays: retry.
	if left, err := root.List(ctx, VersionsPrefix); err != nil || len(left) > 0 {
		if err == nil {
			err = fmt.Errorf("%w: %d objects appeared under %s while deleting; run again",
				storage.ErrRetryable, len(left), storage.ObjectURI(root.URI(), VersionsPrefix))
		}
		return err
	}
	if err := root.Delete(ctx, OwnerKey); err != nil && !errors.Is(err, storage.ErrNotFound) {
		return fmt.Errorf("delete %s: %w", OwnerKey, err)
	}
	return nil
}

// NotOwnedError is an output root with a layout but no owner record: no
// IndexBuild owns it, so none deletes it.
type NotOwnedError struct {
	URI   string
	Asker Owner
}

func (e *NotOwnedError) Error() string {
	return fmt.Sprintf("%v: output %s has no %s, so no IndexBuild owns it and IndexBuild %s leaves it as it is: delete it by hand if it should go",
		retry.ErrOutputInUse, e.URI, OwnerKey, e.Asker)
}

func (e *NotOwnedError) Is(target error) bool { return target == retry.ErrOutputInUse }

// checkDeletable lets owner delete root's layout: root is owner's, or
// holds nothing of a layout.
func checkDeletable(ctx context.Context, root storage.Bucket, owner Owner) error {
	if owner.IsZero() {
		return nil
	}
	cur, found, err := ReadOwner(ctx, root)
	if err != nil || found {
		return checkOwner(root, cur, owner, err)
	}
	for _, prefix := range []string{PointerKey, VersionsPrefix} {
		objs, err := root.List(ctx, prefix)
		if err != nil {
			return err
		}
		for _, o := range objs {
			if o.Key == PointerKey || strings.HasPrefix(o.Key, VersionsPrefix) {
				return &NotOwnedError{URI: root.URI(), Asker: owner}
			}
		}
	}
	return nil
}
