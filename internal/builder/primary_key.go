package builder

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"

	"github.com/indexbuild/indexbuild/internal/extsort"
	"github.com/indexbuild/indexbuild/internal/retry"
	"github.com/indexbuild/indexbuild/internal/rows"
)

// primaryKeys finds a primary key that two rows of the partition share. A
// handle is a row's identity in every element; two rows with one handle
// would make index entries collide (or, with other indexed values, leave
// one handle pointing at two rows) and fulltext documents ambiguous.
// Handles are sorted externally with their rows' locations, within the
// sort budget like the elements.
type primaryKeys struct {
	column string
	sorter *extsort.Sorter
	key    []byte
}

func newPrimaryKeys(column, tmpDir string, sortBudget int) *primaryKeys {
	return &primaryKeys{column: column, sorter: extsort.New(tmpDir, sortBudget)}
}

// add records that the row at pos of the share's file (index file) has
// primary key handle. Equal handles then sort by location, the earlier
// first.
func (k *primaryKeys) add(handle string, file int, pos int64) error {
	// The key is the handle's length, the handle and the location: unique
	// (extsort wants that), and the length prefix keeps the keys of one
	// handle adjacent whatever bytes other handles hold.
	k.key = binary.AppendUvarint(k.key[:0], uint64(len(handle)))
	k.key = append(k.key, handle...)
	k.key = binary.BigEndian.AppendUint32(k.key, uint32(file))
	k.key = binary.BigEndian.AppendUint64(k.key, uint64(pos))
	return k.sorter.Add(k.key, nil)
}

// check returns an InvalidInputError naming the first repeated primary key
// and both rows (files lists the share's files by index).
func (k *primaryKeys) check(ctx context.Context, sc *rows.Scanner, files []rows.File) error {
	const locLen = 12
	var prev []byte
	var dupKey string
	var first, second []byte
	err := k.sorter.Each(func(key, _ []byte) error {
		if prev != nil && bytes.Equal(prev[:len(prev)-locLen], key[:len(key)-locLen]) {
			n, w := binary.Uvarint(key)
			dupKey = string(key[w : w+int(n)])
			first, second = bytes.Clone(prev[len(prev)-locLen:]), bytes.Clone(key[len(key)-locLen:])
			return errStop
		}
		prev = append(prev[:0], key...)
		return nil
	})
	if err != errStop {
		return err
	}
	where := func(loc []byte) (rows.File, string) {
		f := files[binary.BigEndian.Uint32(loc)]
		return f, sc.Location(ctx, f, int64(binary.BigEndian.Uint64(loc[4:])))
	}
	f2, at2 := where(second)
	_, at1 := where(first)
	return &retry.InvalidInputError{File: f2.Path, Column: k.column,
		Err: fmt.Errorf("duplicate primary key %q: the rows at %s and %s", dupKey, at1, at2)}
}

func (k *primaryKeys) close() { k.sorter.Close() }

var errStop = fmt.Errorf("stop")
