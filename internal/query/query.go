// Package query answers point, range and term queries from a committed
// index. It reads only the files the commit marker lists: anything else in
// the output location (staging leftovers, a concurrent build) is invisible.
package query

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/indexbuild/indexbuild/internal/ftindex"
	"github.com/indexbuild/indexbuild/internal/keyenc"
	"github.com/indexbuild/indexbuild/internal/retry"
	"github.com/indexbuild/indexbuild/internal/sstindex"
	"github.com/indexbuild/indexbuild/internal/staging"
	"github.com/indexbuild/indexbuild/internal/storage"
	"github.com/indexbuild/indexbuild/internal/table"
	"github.com/indexbuild/indexbuild/internal/taskmeta"
)

// Query is one question to one element. Exactly one of Eq, Range and Match
// is set.
type Query struct {
	Element int64
	// Eq holds values for a prefix of the element's columns, in their
	// textual form; "" is NULL.
	Eq []string
	// Range holds inclusive bounds on the first column.
	Range *[2]string
	// Match is free text for a fulltext element; rows with any of its terms
	// match.
	Match string
	// Limit caps the hits of a match query (best first); <= 0 is all.
	Limit int
}

// bleveExt is the extension of fulltext files of format 0.
const bleveExt = "bleve"

// Hit is one matching row. Score is set for match queries only.
type Hit = ftindex.Hit

// Index is an opened committed index. Files are downloaded to a local
// directory on first use; Close releases what queries opened.
type Index struct {
	out   storage.Bucket
	tmp   string
	files map[int64][]string // element -> committed file keys
	task  taskmeta.Meta      // what was built, from the marker
	text  map[int64][]*ftindex.Partition
}

// FromFiles opens an index made of the given files (staged or committed);
// Open is the way through the commit marker.
func FromFiles(out storage.Bucket, files []staging.File, tmpDir string) *Index {
	ix := &Index{out: out, tmp: tmpDir, files: map[int64][]string{}, text: map[int64][]*ftindex.Partition{}}
	for _, f := range files {
		ix.files[f.Element] = append(ix.files[f.Element], f.Path)
	}
	for _, keys := range ix.files {
		slices.Sort(keys)
	}
	return ix
}

// Run answers q.
func (ix *Index) Run(ctx context.Context, q Query) (table.Element, []Hit, error) {
	keys, ok := ix.files[q.Element]
	if !ok {
		if slices.Contains(ix.task.ElementIDs, q.Element) {
			// Built, but every partition was empty: empty partitions
			// commit no files.
			return table.Element{ID: q.Element, Type: ix.task.ElementType}, nil, nil
		}
		return table.Element{}, nil, fmt.Errorf("%w: element %d is not in this index", retry.ErrInvalidInput, q.Element)
	}
	// The extension says what kind of element the files hold.
	fulltext := strings.HasSuffix(keys[0], "."+staging.ExtFulltext)
	if strings.HasSuffix(keys[0], "."+bleveExt) {
		return table.Element{}, nil, fmt.Errorf("%w: %w: element %d was built as Bleve indexes (%s), fulltext format 0, which this version no longer reads; rebuild it with this version (a new jobID)",
			retry.ErrInvalidInput, ftindex.ErrOldFormat, q.Element, keys[0])
	}
	switch {
	case fulltext && q.Match == "":
		return table.Element{}, nil, fmt.Errorf("%w: element %d is a fulltext element: use --match", retry.ErrInvalidInput, q.Element)
	case !fulltext && q.Match != "":
		return table.Element{}, nil, fmt.Errorf("%w: element %d is an index element: use --eq or --range", retry.ErrInvalidInput, q.Element)
	}
	local := make([]string, len(keys))
	for i, k := range keys {
		p, err := ix.fetch(ctx, k)
		if err != nil {
			return table.Element{}, nil, err
		}
		local[i] = p
	}
	if fulltext {
		return ix.match(ctx, local, q)
	}
	return ix.lookup(ctx, local, q)
}

func (ix *Index) fetch(ctx context.Context, key string) (string, error) {
	dst := filepath.Join(ix.tmp, path.Base(key))
	if _, err := os.Stat(dst); err == nil {
		return dst, nil
	}
	r, err := ix.out.NewReader(ctx, key)
	if err != nil {
		return "", err
	}
	defer r.Close()
	f, err := os.Create(dst)
	if err != nil {
		return "", err
	}
	_, err = io.Copy(f, r)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return dst, err
}

func (ix *Index) lookup(ctx context.Context, local []string, q Query) (table.Element, []Hit, error) {
	var elem table.Element
	var lo, hi []byte
	type entry struct{ key, handle []byte }
	var entries []entry
	for i, p := range local {
		r, err := sstindex.Open(ctx, p)
		if err != nil {
			return elem, nil, err
		}
		if i == 0 {
			if elem, err = r.Element(); err == nil {
				lo, hi, err = bounds(elem, q)
			}
			if err != nil {
				r.Close()
				return elem, nil, err
			}
		}
		err = r.Scan(lo, hi, func(k, h []byte) error {
			entries = append(entries, entry{bytes.Clone(k), bytes.Clone(h)})
			return nil
		})
		r.Close()
		if err != nil {
			return elem, nil, err
		}
	}
	// Partitions cover disjoint rows, so a sort by key merges them into the
	// element's global key order.
	slices.SortFunc(entries, func(a, b entry) int { return bytes.Compare(a.key, b.key) })
	hits := make([]Hit, len(entries))
	for i, e := range entries {
		hits[i] = Hit{Handle: string(e.handle)}
	}
	return elem, hits, nil
}

// bounds turns an Eq or Range query into an encoded key range [lo, hi).
func bounds(e table.Element, q Query) ([]byte, []byte, error) {
	encode := func(i int, s string) ([]byte, error) {
		v, err := table.ParseText(e.Columns[i].Type, s)
		if err != nil {
			return nil, fmt.Errorf("%w: column %s: %v", retry.ErrInvalidInput, e.Columns[i].Name, err)
		}
		return keyenc.AppendValue(nil, v), nil
	}
	switch {
	case q.Range != nil:
		lo, err := encode(0, q.Range[0])
		if err != nil {
			return nil, nil, err
		}
		hi, err := encode(0, q.Range[1])
		if err != nil {
			return nil, nil, err
		}
		return lo, keyenc.PrefixEnd(hi), nil
	case len(q.Eq) > 0:
		if len(q.Eq) > len(e.Columns) {
			return nil, nil, fmt.Errorf("%w: %d values for an index on %d columns", retry.ErrInvalidInput, len(q.Eq), len(e.Columns))
		}
		var prefix []byte
		for i, s := range q.Eq {
			b, err := encode(i, s)
			if err != nil {
				return nil, nil, err
			}
			prefix = append(prefix, b...)
		}
		return prefix, keyenc.PrefixEnd(prefix), nil
	}
	return nil, nil, fmt.Errorf("%w: a query needs --eq, --range or --match", retry.ErrInvalidInput)
}

func (ix *Index) match(ctx context.Context, local []string, q Query) (table.Element, []Hit, error) {
	parts, ok := ix.text[q.Element]
	if !ok {
		for _, p := range local {
			part, err := ftindex.Open(ctx, p)
			if err != nil {
				closeAll(parts)
				return table.Element{}, nil, err
			}
			parts = append(parts, part)
		}
		// Kept open for the next query: they cache field lengths.
		ix.text[q.Element] = parts
	}
	hits, err := ftindex.Search(ctx, parts, q.Match, q.Limit)
	return parts[0].Meta.Element, hits, err
}

// Close releases the opened fulltext indexes.
func (ix *Index) Close() error {
	for _, parts := range ix.text {
		closeAll(parts)
	}
	clear(ix.text)
	return nil
}

func closeAll(parts []*ftindex.Partition) {
	for _, p := range parts {
		p.Close()
	}
}
