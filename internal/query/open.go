package query

import (
	"context"

	"github.com/indexbuild/indexbuild/internal/commit"
	"github.com/indexbuild/indexbuild/internal/storage"
)

// Open opens the index committed at out through its commit marker; an
// output without a marker is not an index yet (storage.ErrNotFound).
func Open(ctx context.Context, out storage.Bucket, tmpDir string) (*Index, error) {
	m, err := commit.ReadMarker(ctx, out)
	if err != nil {
		return nil, err
	}
	ix := FromFiles(out, m.Files, tmpDir)
	ix.task = m.Task
	return ix, nil
}
