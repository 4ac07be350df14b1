package sstindex

import (
	"context"
	"fmt"

	"github.com/cockroachdb/pebble/v2/sstable"
	"github.com/cockroachdb/pebble/v2/vfs"
)

// Reader reads one SSTable of an index element from a local file.
type Reader struct {
	r *sstable.Reader
}

// Open opens the SSTable at path.
func Open(ctx context.Context, path string) (*Reader, error) {
	f, err := vfs.Default.Open(path)
	if err != nil {
		return nil, err
	}
	readable, err := sstable.NewSimpleReadable(f)
	if err != nil {
		f.Close()
		return nil, err
	}
	r, err := sstable.NewReader(ctx, readable, sstable.ReaderOptions{})
	if err != nil {
		readable.Close()
		return nil, fmt.Errorf("open sstable %s: %w", path, err)
	}
	return &Reader{r: r}, nil
}

// Scan calls fn with the key and handle of every entry whose key is in
// [lower, upper); nil bounds are open.
func (r *Reader) Scan(lower, upper []byte, fn func(key, handle []byte) error) error {
	it, err := r.r.NewIter(sstable.NoTransforms, lower, upper, sstable.AssertNoBlobHandles)
	if err != nil {
		return err
	}
	// First respects the iterator's lower bound.
	for kv := it.First(); kv != nil; kv = it.Next() {
		if err := fn(kv.K.UserKey, kv.InPlaceValue()); err != nil {
			it.Close()
			return err
		}
	}
	return it.Close()
}

// Close releases the file.
func (r *Reader) Close() error { return r.r.Close() }
