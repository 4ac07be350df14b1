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

	"github.com/cockroachdb/pebble/v2/objstorage/objstorageprovider"
	"github.com/cockroachdb/pebble/v2/sstable"

	"github.com/indexbuild/indexbuild/internal/extsort"
	"github.com/indexbuild/indexbuild/internal/keyenc"
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
	dataEnd = []byte{0xff}
)

// Writer collects one partition's entries of one index element.
type Writer struct {
	elem   table.Element
	sorter *extsort.Sorter
	key    []byte
}

// NewWriter returns a writer for element e that sorts with at most
// sortBudget bytes of memory, spilling to tmpDir.
func NewWriter(e table.Element, tmpDir string, sortBudget int) *Writer {
	return &Writer{elem: e, sorter: extsort.New(tmpDir, sortBudget)}
}

// Add adds one row: its index-column values and its handle.
func (w *Writer) Add(values []table.Value, handle string) error {
	w.key = AppendKey(w.key[:0], values, handle)
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
type DuplicateError struct{ Handles [2]string }

func (e *DuplicateError) Error() string {
	return fmt.Sprintf("unique index has a duplicate key: rows %s and %s", e.Handles[0], e.Handles[1])
}

// Finish sorts the entries and writes them as an SSTable to f, which it
// closes. It returns the number of entries.
func (w *Writer) Finish(f *os.File) (int64, error) {
	sw := sstable.NewWriter(objstorageprovider.NewRemoteWritable(f), sstable.WriterOptions{TableFormat: tableFormat})
	var n int64
	var prev, prevHandle []byte
	err := w.sorter.Each(func(key, handle []byte) error {
		if w.elem.Unique {
			cols := key[:len(key)-len(handle)]
			if n > 0 && bytes.Equal(cols, prev) && !w.hasNull(cols) {
				return &DuplicateError{Handles: [2]string{string(prevHandle), string(handle)}}
			}
			prev, prevHandle = append(prev[:0], cols...), append(prevHandle[:0], handle...)
		}
		n++
		return sw.Set(key, handle)
	})
	if err == nil {
		var desc []byte
		desc, err = json.Marshal(w.elem)
		if err == nil {
			err = sw.Set(metaKey, desc)
		}
	}
	if err != nil {
		sw.Close()
		return 0, err
	}
	if err := sw.Close(); err != nil {
		return 0, fmt.Errorf("write sstable: %w", err)
	}
	return n, nil
}

// Close releases the sorter's memory and spill files of a writer that will
// not be finished.
func (w *Writer) Close() error { return w.sorter.Close() }

// hasNull reports whether an encoded column prefix holds a NULL: like SQL,
// a unique index allows any number of rows with NULL in it.
func (w *Writer) hasNull(cols []byte) bool {
	for _, c := range w.elem.Columns {
		v, rest, err := keyenc.DecodeValue(cols, c.Type)
		if err != nil || v.Kind == table.Null {
			return true
		}
		cols = rest
	}
	return false
}
