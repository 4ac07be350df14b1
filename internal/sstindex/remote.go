package sstindex

import (
	"context"
	"fmt"
	"io"
	"sync/atomic"

	"github.com/cockroachdb/pebble/v2/objstorage"
	"github.com/cockroachdb/pebble/v2/sstable"

	"github.com/indexbuild/indexbuild/internal/storage"
)

// ReadStats counts the ranged reads made through objects opened with
// OpenObject: what a query or a merge really transferred.
type ReadStats struct {
	requests atomic.Int64
	bytes    atomic.Int64
}

// Requests is the number of ranged reads.
func (s *ReadStats) Requests() int64 { return s.requests.Load() }

// Bytes is the number of bytes read.
func (s *ReadStats) Bytes() int64 { return s.bytes.Load() }

func (s *ReadStats) add(n int) {
	if s != nil {
		s.requests.Add(1)
		s.bytes.Add(int64(n))
	}
}

// OpenObject opens the SSTable at key in b with ranged reads: the reader
// fetches the footer, the index and the data blocks it needs, never the
// whole object. stats (may be nil) counts what was read.
func OpenObject(ctx context.Context, b storage.Bucket, key string, stats *ReadStats) (*sstable.Reader, error) {
	a, err := b.Attributes(ctx, key)
	if err != nil {
		return nil, err
	}
	r, err := sstable.NewReader(ctx, &objectReadable{b: b, key: key, size: a.Size, stats: stats}, sstable.ReaderOptions{})
	if err != nil {
		return nil, fmt.Errorf("open sstable %s: %w", storage.ObjectURI(b.URI(), key), err)
	}
	return r, nil
}

// OpenObjectReader is OpenObject for an `index` element's file.
func OpenObjectReader(ctx context.Context, b storage.Bucket, key string, stats *ReadStats) (*Reader, error) {
	r, err := OpenObject(ctx, b, key, stats)
	if err != nil {
		return nil, err
	}
	return &Reader{r: r}, nil
}

// objectReadable is an object read by ranges (objstorage.Readable).
type objectReadable struct {
	b     storage.Bucket
	key   string
	size  int64
	stats *ReadStats
}

// ReadAt reads exactly len(p) bytes at off, in one ranged read.
func (o *objectReadable) ReadAt(ctx context.Context, p []byte, off int64) error {
	if off < 0 || off+int64(len(p)) > o.size {
		return fmt.Errorf("read %s: bytes [%d, %d) outside its %d bytes", o.key, off, off+int64(len(p)), o.size)
	}
	if len(p) == 0 {
		return nil
	}
	r, err := storage.NewRangeReader(ctx, o.b, o.key, off, int64(len(p)))
	if err != nil {
		return err
	}
	defer r.Close()
	if _, err := io.ReadFull(r, p); err != nil {
		return fmt.Errorf("read %s at %d: %w", o.key, off, err)
	}
	o.stats.add(len(p))
	return nil
}

func (o *objectReadable) Close() error { return nil }

func (o *objectReadable) Size() int64 { return o.size }

func (o *objectReadable) NewReadHandle(readBefore objstorage.ReadBeforeSize) objstorage.ReadHandle {
	return &readAhead{o: o, readBefore: min(int64(readBefore), maxReadBefore)}
}

// Read-ahead of a handle reading sequentially (a scan, a merge) grows from
// minReadAhead to maxReadAhead, so a scan costs few requests; random reads
// (point lookups) read just the block asked for.
//
// Pebble asks for up to 512 KiB before an index block, sized for its own
// large tables; ours have small indexes, and a point query should cost
// tens of KiB, so the padding is capped at maxReadBefore.
const (
	maxReadBefore = 64 << 10
	minReadAhead  = 64 << 10
	maxReadAhead  = 4 << 20
)

// readAhead is a read handle that buffers one window of the object.
type readAhead struct {
	o          *objectReadable
	readBefore int64 // the first read's padding to the left, a hint
	buf        []byte
	bufOff     int64
	next       int64 // where a sequential read would continue
	window     int64 // current read-ahead; 0 while reads are random
}

func (h *readAhead) ReadAt(ctx context.Context, p []byte, off int64) error {
	end := off + int64(len(p))
	if off >= h.bufOff && end <= h.bufOff+int64(len(h.buf)) {
		copy(p, h.buf[off-h.bufOff:])
		h.next = end
		return nil
	}
	start, length := off, int64(len(p))
	switch {
	case h.readBefore > length:
		// The first read asks for padding before it (footer, index).
		start = max(end-h.readBefore, 0)
		length = end - start
		h.readBefore = 0
	case h.next == off && h.next != 0:
		h.window = min(max(2*h.window, minReadAhead), maxReadAhead)
		length = max(length, h.window)
	default:
		h.window = 0
	}
	length = min(length, h.o.size-start)
	if int64(cap(h.buf)) < length {
		h.buf = make([]byte, length)
	}
	h.buf = h.buf[:length]
	if err := h.o.ReadAt(ctx, h.buf, start); err != nil {
		h.buf = h.buf[:0]
		return err
	}
	h.bufOff = start
	copy(p, h.buf[off-start:])
	h.next = end
	return nil
}

func (h *readAhead) Close() error { h.buf = nil; return nil }

// SetupForCompaction is pebble's word for "this handle reads the whole
// file in order": start at the largest read-ahead.
func (h *readAhead) SetupForCompaction() { h.window = maxReadAhead / 2 }

func (h *readAhead) RecordCacheHit(context.Context, int64, int64) {}
