package staging

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"strings"

	"github.com/indexbuild/indexbuild/internal/retry"
	"github.com/indexbuild/indexbuild/internal/storage"
	"github.com/indexbuild/indexbuild/internal/taskmeta"
)

// EnsureTaskManifest pins the output location to task meta: the first caller
// creates staging/_task.json (create-if-absent), later callers check it. A
// manifest written for another task is stale metadata and is never
// overwritten.
func EnsureTaskManifest(ctx context.Context, b storage.Bucket, meta taskmeta.Meta) error {
	err := b.Create(ctx, TaskManifestKey, strings.NewReader(meta.Encode()))
	if err == nil || !errors.Is(err, storage.ErrExists) {
		return err
	}
	recorded, err := ReadTaskManifest(ctx, b)
	if err != nil {
		return err
	}
	return CheckTask(TaskManifestKey, b.URI(), recorded, meta)
}

// ReadTaskManifest reads staging/_task.json. An unreadable manifest is stale
// metadata: it cannot be shown to belong to the current task.
func ReadTaskManifest(ctx context.Context, b storage.Bucket) (taskmeta.Meta, error) {
	data, err := storage.ReadAll(ctx, b, TaskManifestKey)
	if err != nil {
		return taskmeta.Meta{}, err
	}
	m, err := taskmeta.Decode(string(data))
	if err != nil {
		return taskmeta.Meta{}, fmt.Errorf("%w: %s in %s: %v", retry.ErrStaleMeta, TaskManifestKey, b.URI(), err)
	}
	return m, nil
}

// WritePartFile streams r to the staged key of (partition, element) and
// returns its entry with size and SHA-256 computed on the way.
func WritePartFile(ctx context.Context, b storage.Bucket, partition int, element int64, ext string, r io.Reader) (File, error) {
	return writeFile(ctx, b, PartFileKey(partition, element, ext), element, r)
}

func writeFile(ctx context.Context, b storage.Bucket, key string, element int64, r io.Reader) (File, error) {
	h := &hashCounter{h: sha256.New()}
	if err := b.Write(ctx, key, io.TeeReader(r, h)); err != nil {
		return File{}, err
	}
	return File{Path: key, Element: element, Size: h.n, SHA256: hex.EncodeToString(h.h.Sum(nil))}, nil
}

// WritePartitionMeta marks a partition complete. Metadata already there for
// another task is stale and is never overwritten; metadata of the same task
// is replaced (a retried worker rewrites identical files).
func WritePartitionMeta(ctx context.Context, b storage.Bucket, m PartitionMeta) error {
	if m.FormatVersion == 0 {
		m.FormatVersion = FormatVersion
	}
	if err := m.Validate(); err != nil {
		return fmt.Errorf("%w: partition metadata of partition %d: %v", retry.ErrInvalidInput, m.Partition, err)
	}
	data, err := EncodePartitionMeta(m)
	if err != nil {
		return err
	}
	return replaceMeta(ctx, b, PartitionMetaKey(m.Partition), m.Task, data, func() (taskmeta.Meta, bool, error) {
		old, exists, err := ReadPartitionMeta(ctx, b, m.Partition)
		return old.Task, exists, err
	})
}

// replaceMeta writes the metadata data of task to key unless what is there
// (read by old) is of another task: that is stale and never overwritten.
// Unreadable metadata is overwritten.
func replaceMeta(ctx context.Context, b storage.Bucket, key string, task taskmeta.Meta, data []byte, old func() (taskmeta.Meta, bool, error)) error {
	recorded, exists, err := old()
	if err != nil && !errors.Is(err, retry.ErrInvalidInput) {
		return err
	}
	if exists && err == nil {
		if err := CheckTask(key, b.URI(), recorded, task); err != nil {
			return err
		}
	}
	return b.Write(ctx, key, bytes.NewReader(data))
}

// ReadPartitionMeta reads a partition's metadata; exists is false when the
// partition is not complete yet.
func ReadPartitionMeta(ctx context.Context, b storage.Bucket, partition int) (PartitionMeta, bool, error) {
	m, exists, err := readMeta(ctx, b, PartitionMetaKey(partition), DecodePartitionMeta)
	if err == nil && exists && m.Partition != partition {
		return PartitionMeta{}, true, fmt.Errorf("%w: %s describes partition %d", retry.ErrInvalidInput, PartitionMetaKey(partition), m.Partition)
	}
	return m, exists, err
}

// readMeta reads and decodes the metadata at key; exists is false when
// there is none.
func readMeta[M any](ctx context.Context, b storage.Bucket, key string, decode func([]byte) (M, error)) (M, bool, error) {
	var zero M
	data, err := storage.ReadAll(ctx, b, key)
	if errors.Is(err, storage.ErrNotFound) {
		return zero, false, nil
	}
	if err != nil {
		return zero, false, err
	}
	m, err := decode(data)
	if err != nil {
		return zero, true, err
	}
	return m, true, nil
}

// hashCounter hashes and counts what passes through it.
type hashCounter struct {
	h hash.Hash
	n int64
}

func (c *hashCounter) Write(p []byte) (int, error) {
	c.n += int64(len(p))
	return c.h.Write(p)
}
