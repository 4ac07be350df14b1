package storage

import (
	"context"
	"fmt"
	"io"
	"strings"
)

// RangeReader is implemented by buckets that read part of an object without
// reading what comes before it. Workers split large data files by byte
// range, so every worker reads only its share.
type RangeReader interface {
	NewRangeReader(ctx context.Context, key string, offset, length int64) (io.ReadCloser, error)
}

// NewRangeReader reads length bytes of key from offset (to the end when
// length < 0) on the bucket's own range reads, or by reading from the start
// and skipping ahead when the bucket has none (test wrappers).
func NewRangeReader(ctx context.Context, b Bucket, key string, offset, length int64) (io.ReadCloser, error) {
	if rr, ok := b.(RangeReader); ok {
		return rr.NewRangeReader(ctx, key, offset, length)
	}
	r, err := b.NewReader(ctx, key)
	if err != nil {
		return nil, err
	}
	if _, err := io.CopyN(io.Discard, r, offset); err != nil && err != io.EOF {
		r.Close()
		return nil, classify("read", key, err)
	}
	if length < 0 {
		return r, nil
	}
	return struct {
		io.Reader
		io.Closer
	}{io.LimitReader(r, length), r}, nil
}

// NewRangeReader reads a byte range of an object.
func (b *blobBucket) NewRangeReader(ctx context.Context, key string, offset, length int64) (io.ReadCloser, error) {
	if offset < 0 {
		return nil, fmt.Errorf("read %s: negative offset %d", key, offset)
	}
	r, err := b.b.NewRangeReader(ctx, key, offset, length, nil)
	if err != nil {
		// S3 refuses a range that starts at the end (416); reading nothing
		// there is what every other store and io.Reader semantics give.
		if a, aerr := b.b.Attributes(ctx, key); aerr == nil && offset > 0 && offset >= a.Size {
			return io.NopCloser(strings.NewReader("")), nil
		}
		return nil, classify("read", key, err)
	}
	return &reader{ReadCloser: r, key: key}, nil
}
