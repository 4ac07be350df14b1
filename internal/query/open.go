package query

import (
	"context"

	"github.com/indexbuild/indexbuild/internal/commit"
	"github.com/indexbuild/indexbuild/internal/storage"
)

// Open opens the index published at the output root out: the version its
// pointer names, through that version's commit marker. An output without a
// pointer is not an index yet (storage.ErrNotFound).
func Open(ctx context.Context, out storage.Bucket, tmpDir string) (*Index, error) {
	v, _, err := commit.OpenPublished(ctx, out)
	if err != nil {
		return nil, err
	}
	m, err := commit.ReadMarker(ctx, v)
	if err != nil {
		return nil, err
	}
	ix := FromFiles(v, m.Files, tmpDir)
	ix.task = m.Task
	return ix, nil
}
