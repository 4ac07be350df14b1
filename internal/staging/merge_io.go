package staging

import (
	"context"
	"fmt"
	"io"

	"github.com/indexbuild/indexbuild/internal/retry"
	"github.com/indexbuild/indexbuild/internal/storage"
	"github.com/indexbuild/indexbuild/internal/taskmeta"
)

// WriteMergeFile streams r to the staged key of range r's merged file of
// element and returns its entry (without KeyRange) with size and SHA-256
// computed on the way.
func WriteMergeFile(ctx context.Context, b storage.Bucket, rng int, element int64, r io.Reader) (File, error) {
	return writeFile(ctx, b, MergeFileKey(rng, element), element, r)
}

// WriteMergeMeta marks a key range merged. Metadata already there for
// another task is stale and is never overwritten; metadata of the same task
// is replaced (a retried merge rewrites identical files).
func WriteMergeMeta(ctx context.Context, b storage.Bucket, m MergeMeta) error {
	if m.FormatVersion == 0 {
		m.FormatVersion = FormatVersion
	}
	if err := m.Validate(); err != nil {
		return fmt.Errorf("%w: merge metadata of range %d: %v", retry.ErrInvalidInput, m.Range, err)
	}
	data, err := EncodeMergeMeta(m)
	if err != nil {
		return err
	}
	return replaceMeta(ctx, b, MergeMetaKey(m.Range), m.Task, data, func() (taskmeta.Meta, bool, error) {
		old, exists, err := ReadMergeMeta(ctx, b, m.Range)
		return old.Task, exists, err
	})
}

// ReadMergeMeta reads a key range's merge metadata; exists is false when
// the range is not merged yet.
func ReadMergeMeta(ctx context.Context, b storage.Bucket, rng int) (MergeMeta, bool, error) {
	m, exists, err := readMeta(ctx, b, MergeMetaKey(rng), DecodeMergeMeta)
	if err == nil && exists && m.Range != rng {
		return MergeMeta{}, true, fmt.Errorf("%w: %s describes range %d", retry.ErrInvalidInput, MergeMetaKey(rng), m.Range)
	}
	return m, exists, err
}
