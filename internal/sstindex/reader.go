package sstindex

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/cockroachdb/pebble/v2/sstable"
	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/indexbuild/indexbuild/internal/table"
)

// Reader reads one SSTable of an index element from a local file.
type Reader struct {
	r *sstable.Reader
}

// Open opens the SSTable at path.
func Open(ctx context.Context, path string) (*Reader, error) {
	r, err := OpenTable(ctx, path)
	if err != nil {
		return nil, err
	}
	return &Reader{r: r}, nil
}

// OpenTable opens the local SSTable file at path; fulltext files are
// SSTables too.
func OpenTable(ctx context.Context, path string) (*sstable.Reader, error) {
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
	return r, nil
}

// Element returns the description of the element the file belongs to.
func (r *Reader) Element() (table.Element, error) {
	var e table.Element
	var desc []byte
	err := r.scan(metaKey, nil, func(k, v []byte) error {
		if bytes.Equal(k, metaKey) {
			desc = bytes.Clone(v)
		}
		return nil
	})
	if err != nil {
		return e, err
	}
	if desc == nil {
		return e, errors.New("sstable has no element description")
	}
	return e, json.Unmarshal(desc, &e)
}

// Scan calls fn with the key and handle of every index entry whose key is
// in [lower, upper); nil bounds are open.
func (r *Reader) Scan(lower, upper []byte, fn func(key, handle []byte) error) error {
	return r.scan(lower, entriesUpper(upper), fn)
}

// entriesUpper closes an open or too high upper bound at the end of the
// index entries (the file's metadata keys sort above them).
func entriesUpper(upper []byte) []byte {
	if upper == nil || bytes.Compare(upper, dataEnd) > 0 {
		return dataEnd
	}
	return upper
}

func (r *Reader) scan(lower, upper []byte, fn func(key, value []byte) error) error {
	return ScanTable(r.r, lower, upper, fn)
}

// ScanTable calls fn with every key and value of r in [lower, upper); nil
// bounds are open. The slices are valid only during the call.
func ScanTable(r *sstable.Reader, lower, upper []byte, fn func(key, value []byte) error) error {
	it, err := r.NewIter(sstable.NoTransforms, lower, upper, sstable.AssertNoBlobHandles)
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

// EntryIter walks the index entries of one SSTable in key order.
type EntryIter struct {
	it          sstable.Iterator
	key, handle []byte
	valid       bool
}

// Entries returns an iterator over the index entries whose key is in
// [lower, upper); nil bounds are open. It starts on the first entry (Valid
// reports whether there is one).
func (r *Reader) Entries(lower, upper []byte) (*EntryIter, error) {
	upper = entriesUpper(upper)
	if bytes.Compare(lower, upper) >= 0 {
		return &EntryIter{}, nil
	}
	it, err := r.r.NewIter(sstable.NoTransforms, lower, upper, sstable.AssertNoBlobHandles)
	if err != nil {
		return nil, err
	}
	e := &EntryIter{it: it}
	// First respects the iterator's lower bound.
	if kv := it.First(); kv != nil {
		e.key, e.handle, e.valid = kv.K.UserKey, kv.InPlaceValue(), true
	}
	return e, nil
}

// Valid reports whether the iterator is on an entry.
func (e *EntryIter) Valid() bool { return e.valid }

// Key is the current entry's key; valid until Next.
func (e *EntryIter) Key() []byte { return e.key }

// Handle is the current entry's row handle; valid until Next.
func (e *EntryIter) Handle() []byte { return e.handle }

// Next moves to the next entry.
func (e *EntryIter) Next() {
	kv := e.it.Next()
	e.valid = kv != nil
	if e.valid {
		e.key, e.handle = kv.K.UserKey, kv.InPlaceValue()
	}
}

// Close releases the iterator and returns the first error it met.
func (e *EntryIter) Close() error {
	if e.it == nil {
		return nil
	}
	return e.it.Close()
}

// Close releases the file.
func (r *Reader) Close() error { return r.r.Close() }
