package sstindex

import (
	"bytes"

	"github.com/cockroachdb/pebble/v2/sstable"
)

// EntryBounds returns the first and last entry key of an index SSTable
// (the element description under metaKey is not an entry); nil, nil for a
// file without entries. It reads the first and the last data block only.
func EntryBounds(r *sstable.Reader) (first, last []byte, err error) {
	// Unbounded: Pebble's iterators refuse Last with an upper bound.
	it, err := r.NewIter(sstable.NoTransforms, nil, nil, sstable.AssertNoBlobHandles)
	if err != nil {
		return nil, nil, err
	}
	if kv := it.First(); kv != nil && bytes.Compare(kv.K.UserKey, dataEnd) < 0 {
		first = bytes.Clone(kv.K.UserKey)
		if kv := it.SeekLT(dataEnd, 0); kv != nil {
			last = bytes.Clone(kv.K.UserKey)
		}
	}
	return first, last, it.Close()
}
