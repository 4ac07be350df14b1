package output

import (
	"context"
	"errors"
	"fmt"

	"github.com/indexbuild/indexbuild/internal/storage"
)

// DeleteLayout removes this layout from root: the pointer first (readers
// then see "not committed" instead of a version being deleted), every
// object under versions/, and the owner record last, so an interrupted
// delete is still refused to other IndexBuilds and can be run again. No
// other key at the root is touched: an output may share a prefix with
// objects that are not ours. It refuses with an *OwnerError if another
// IndexBuild owns root, and is done (nil) when nothing of the layout is
// left.
func DeleteLayout(ctx context.Context, root storage.Bucket, owner Owner, parallelism int) error {
	if err := CheckOwner(ctx, root, owner); err != nil {
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
