// Package sstindex writes and reads the files of `index` elements: Pebble
// SSTables mapping encoded index keys to row handles.
//
// Key = keyenc(index columns...) ++ handle, value = handle. Appending the
// handle makes every key unique, which SSTables require, while rows with the
// same column values stay adjacent, so duplicate keys of a non-unique index
// come out of one prefix scan.
package sstindex

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/cockroachdb/pebble/v2/objstorage/objstorageprovider"
	"github.com/cockroachdb/pebble/v2/sstable"

	"github.com/indexbuild/indexbuild/internal/extsort"
	"github.com/indexbuild/indexbuild/internal/keyenc"
	"github.com/indexbuild/indexbuild/internal/retry"
	"github.com/indexbuild/indexbuild/internal/staging"
	"github.com/indexbuild/indexbuild/internal/table"
)

// tableFormat is fixed so readers never need the columnar key schemas of
// newer formats; the row-block format is what external SSTables use.
const tableFormat = sstable.TableFormatPebblev4

// metaKey holds the element's description (JSON table.Element). Encoded
// index keys start with a 0x00 or 0x01 tag, so it sorts after all of them
// and data scans, bounded above by dataEnd, never see it.
var (
	metaKey = []byte("\xff\xffindexbuild-element")
	dataEnd = keyenc.AboveAll()
)

// Writer collects one partition's entries of one index element.
type Writer struct {
	elem    table.Element
	sorter  *extsort.Sorter
	key     []byte
	entries int64
}

// NewWriter returns a writer for element e that sorts with at most
// sortBudget bytes of memory, spilling to tmpDir.
func NewWriter(e table.Element, tmpDir string, sortBudget int) *Writer {
	return &Writer{elem: e, sorter: extsort.New(tmpDir, sortBudget)}
}

// Add adds one row: its index-column values and its handle.
func (w *Writer) Add(values []table.Value, handle string) error {
	w.key = AppendKey(w.key[:0], values, handle)
	w.entries++
	return w.sorter.Add(w.key, []byte(handle))
}

// AppendKey appends the entry key of a row (its index-column values and
// its handle) to dst.
func AppendKey(dst []byte, values []table.Value, handle string) []byte {
	for _, v := range values {
		dst = keyenc.AppendValue(dst, v)
	}
	return append(dst, handle...)
}

// DuplicateError reports two rows with the same key in a unique index.
type DuplicateError struct {
	Element table.Element
	// Key is the encoded column values the rows share.
	Key     []byte
	Handles [2]string
}

func (e *DuplicateError) Error() string {
	return fmt.Sprintf("unique index %d (%s): duplicate key (%s) in rows %q and %q",
		e.Element.ID, e.Element.Name, FormatKey(e.Element, e.Key), e.Handles[0], e.Handles[1])
}

// FormatKey renders encoded column values of element e for messages:
// strings quoted, values comma-separated.
func FormatKey(e table.Element, cols []byte) string {
	parts := make([]string, 0, len(e.Columns))
	for _, c := range e.Columns {
		v, rest, err := keyenc.DecodeValue(cols, c.Type)
		if err != nil {
			return fmt.Sprintf("undecodable %x", cols)
		}
		cols = rest
		switch v.Kind {
		case table.Null:
			parts = append(parts, "NULL")
		case table.String:
			parts = append(parts, strconv.Quote(v.Str))
		default:
			parts = append(parts, v.Text())
		}
	}
	return strings.Join(parts, ", ")
}

// Finish sorts the entries and writes them as an SSTable to f, which it
// closes. It returns the entry count and up to staging.MaxSamples evenly
// spaced samples of the entries' column values, ascending: the midpoints
// of equal shares of the sorted entries, from which the merge stage picks
// key-range boundaries.
func (w *Writer) Finish(f *os.File) (staging.ElementSamples, error) {
	out := staging.ElementSamples{Element: w.elem.ID, Keys: [][]byte{}}
	k := min(int64(staging.MaxSamples), w.entries)
	next := int64(0) // sample i is entry (2i+1)*entries/(2k)
	sample := func(n int64) bool {
		return int64(len(out.Keys)) < k && n == (2*next+1)*w.entries/(2*k)
	}
	sw := NewSortedWriter(f, w.elem)
	err := w.sorter.Each(func(key, handle []byte) error {
		if sample(sw.Entries()) {
			out.Keys = append(out.Keys, bytes.Clone(key[:len(key)-len(handle)]))
			next++
		}
		return sw.Add(key, handle)
	})
	if err != nil {
		sw.Abort()
		return staging.ElementSamples{}, err
	}
	if err := sw.Close(); err != nil {
		return staging.ElementSamples{}, err
	}
	out.Entries = sw.Entries()
	return out, nil
}

// Close releases the sorter's memory and spill files of a writer that will
// not be finished.
func (w *Writer) Close() error { return w.sorter.Close() }

// SortedWriter writes the SSTable of an element from entries that arrive in
// key order (a sorted partition, or a merge of sorted files), checking a
// unique element's keys on the way.
type SortedWriter struct {
	elem    table.Element
	sw      *sstable.Writer
	entries int64
	// first and last are the first and last entry keys; prev and
	// prevHandle the last entry's column values and handle.
	first, last, prev, prevHandle []byte
}

// NewSortedWriter returns a writer of element e's SSTable to f, which Close
// or Abort closes.
func NewSortedWriter(f *os.File, e table.Element) *SortedWriter {
	return &SortedWriter{elem: e, sw: sstable.NewWriter(objstorageprovider.NewRemoteWritable(f), sstable.WriterOptions{TableFormat: tableFormat})}
}

// Add appends one entry, whose key must be above the previous one's. Two
// entries of a unique element with equal column values but no NULL among
// them are a *DuplicateError; one key twice is invalid input too.
func (w *SortedWriter) Add(key, handle []byte) error {
	cols := key[:len(key)-len(handle)]
	if w.entries > 0 {
		switch c := bytes.Compare(key, w.last); {
		case c == 0:
			// Only a handle twice makes a key twice: two rows with one
			// primary key, in different partitions (a partition checks
			// its own).
			return fmt.Errorf("%w: index %d (%s): row %q is in the index twice with key (%s): two rows have that primary key",
				retry.ErrInvalidInput, w.elem.ID, w.elem.Name, handle, FormatKey(w.elem, cols))
		case c < 0:
			return fmt.Errorf("index %d (%s): entries out of order: %x after %x", w.elem.ID, w.elem.Name, key, w.last)
		}
	}
	if w.elem.Unique && w.entries > 0 && bytes.Equal(cols, w.prev) && !w.hasNull(cols) {
		return &DuplicateError{Element: w.elem, Key: bytes.Clone(cols), Handles: [2]string{string(w.prevHandle), string(handle)}}
	}
	if err := w.sw.Set(key, handle); err != nil {
		return err
	}
	if w.entries == 0 {
		w.first = bytes.Clone(key)
	}
	w.entries++
	w.last = append(w.last[:0], key...)
	w.prev, w.prevHandle = append(w.prev[:0], cols...), append(w.prevHandle[:0], handle...)
	return nil
}

// Entries is the number of entries added so far.
func (w *SortedWriter) Entries() int64 { return w.entries }

// KeyRange is the first and last entry key added; nil before any.
func (w *SortedWriter) KeyRange() *staging.KeyRange {
	if w.entries == 0 {
		return nil
	}
	return &staging.KeyRange{First: w.first, Last: bytes.Clone(w.last)}
}

// Close writes the element's description after the entries and completes
// the file.
func (w *SortedWriter) Close() error {
	desc, err := json.Marshal(w.elem)
	if err == nil {
		err = w.sw.Set(metaKey, desc)
	}
	if err != nil {
		w.Abort()
		return err
	}
	if err := w.sw.Close(); err != nil {
		return fmt.Errorf("write sstable: %w", err)
	}
	return nil
}

// Abort closes the file of a table that will not be completed.
func (w *SortedWriter) Abort() { w.sw.Close() }

// hasNull reports whether an encoded column prefix holds a NULL: like SQL,
// a unique index allows any number of rows with NULL in it.
func (w *SortedWriter) hasNull(cols []byte) bool {
	for _, c := range w.elem.Columns {
		v, rest, err := keyenc.DecodeValue(cols, c.Type)
		if err != nil || v.Kind == table.Null {
			return true
		}
		cols = rest
	}
	return false
}
