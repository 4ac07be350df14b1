package commit

import (
	"context"

	"github.com/indexbuild/indexbuild/internal/storage"
	"github.com/indexbuild/indexbuild/internal/summary"
)

// CommitVersion commits the task's staged partitions in b, the task's
// version of the output (Finalize without the owner, pointer and
// retention steps).
func CommitVersion(ctx context.Context, b storage.Bucket, opts Options) (summary.Commit, error) {
	return finalize(ctx, b, opts, nil)
}

// FinalizeCommitted is Finalize calling committed right after the marker is
// created, before the cleanup, so benchmarks can time the two apart.
var FinalizeCommitted = finalize

// SetMaxEagerMetas lowers the number of partition metadata objects read
// before listing, and returns a function restoring it.
func SetMaxEagerMetas(n int) (restore func()) {
	old := maxEagerMetas
	maxEagerMetas = n
	return func() { maxEagerMetas = old }
}
