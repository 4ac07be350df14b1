package storagetest

import (
	"context"
	"io"
	"sync/atomic"

	"github.com/indexbuild/indexbuild/internal/storage"
)

// IgnoresPreconditions is a store that takes conditional writes and ignores
// their conditions, as some S3-compatible stores and gateways do: Create is
// a plain Write, Replace writes whatever the revision. Wrap it in
// storage.RequirePreconditions (as Open wraps every store) to see it
// refused.
type IgnoresPreconditions struct {
	storage.Bucket
	// Writes counts the conditional writes it stored unconditionally.
	Writes atomic.Int64
}

func (b *IgnoresPreconditions) Create(ctx context.Context, key string, r io.Reader) error {
	b.Writes.Add(1)
	return b.Bucket.Write(ctx, key, r)
}

func (b *IgnoresPreconditions) Replace(ctx context.Context, key string, r io.Reader, _ storage.Revision) error {
	b.Writes.Add(1)
	return b.Bucket.Write(ctx, key, r)
}
