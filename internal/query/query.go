// Package query answers point, range and term queries from a committed
// index. It reads only the files the commit marker lists: anything else in
// the output location (staging leftovers, a concurrent build) is invisible.
package query

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"sort"
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

// Index is an opened committed index. It reads its files by ranges
// (sstindex.OpenObject): a query transfers the blocks it needs, never a
// whole file. Files stay open for the next query; Close releases them. An
// Index is not safe for concurrent use.
type Index struct {
	root  storage.Bucket // the output root; nil for FromFiles: no pointer to follow
	out   storage.Bucket // the version read
	jobID int64          // the version's job (0 for FromFiles)
	task  taskmeta.Meta  // what was built, from the marker
	files map[int64]elementFiles

	elems  map[int64]table.Element     // index elements' descriptions read so far
	tables map[string]*sstindex.Reader // opened index files, by key
	text   map[int64][]*ftindex.Partition

	opened int64
	stats  sstindex.ReadStats
}

// elementFiles are the committed files of one element.
type elementFiles struct {
	files []staging.File
	// ranged: every file has a key range and they are disjoint; files are
	// sorted by them. Otherwise files are sorted by path.
	ranged bool
}

// Stats are the reads an Index made: what a query costs on the store.
type Stats struct {
	Files    int64 // files opened
	Requests int64 // ranged reads
	Bytes    int64 // bytes read
}

func newIndex() *Index {
	return &Index{
		elems:  map[int64]table.Element{},
		tables: map[string]*sstindex.Reader{},
		text:   map[int64][]*ftindex.Partition{},
	}
}

// FromFiles opens an index made of the given files (staged or committed)
// of out; Open is the way through the commit marker.
func FromFiles(out storage.Bucket, files []staging.File) *Index {
	ix := newIndex()
	ix.out = out
	ix.setFiles(files)
	return ix
}

func (ix *Index) setFiles(files []staging.File) {
	byElement := map[int64][]staging.File{}
	for _, f := range files {
		byElement[f.Element] = append(byElement[f.Element], f)
	}
	ix.files = make(map[int64]elementFiles, len(byElement))
	for e, fs := range byElement {
		ix.files[e] = newElementFiles(fs)
	}
}

// newElementFiles sorts an element's files by key range when every file has
// one and they do not overlap (global sort's merged files), by path
// otherwise (per-partition files, whose keys all overlap).
func newElementFiles(fs []staging.File) elementFiles {
	ranged := !slices.ContainsFunc(fs, func(f staging.File) bool {
		return f.KeyRange == nil || bytes.Compare(f.KeyRange.First, f.KeyRange.Last) > 0
	})
	if ranged {
		slices.SortFunc(fs, func(a, b staging.File) int { return bytes.Compare(a.KeyRange.First, b.KeyRange.First) })
		for i := 1; i < len(fs) && ranged; i++ {
			ranged = bytes.Compare(fs[i-1].KeyRange.Last, fs[i].KeyRange.First) < 0
		}
	}
	if !ranged {
		slices.SortFunc(fs, func(a, b staging.File) int { return strings.Compare(a.Path, b.Path) })
	}
	return elementFiles{files: fs, ranged: ranged}
}

// overlapping returns the files that may hold keys in [lo, hi): by binary
// search the run of files whose key range meets it, or every file when the
// files have no key ranges.
func (ef elementFiles) overlapping(lo, hi []byte) []staging.File {
	if !ef.ranged {
		return ef.files
	}
	fs := ef.files
	i := sort.Search(len(fs), func(i int) bool { return bytes.Compare(fs[i].KeyRange.Last, lo) >= 0 })
	j := sort.Search(len(fs), func(j int) bool { return hi != nil && bytes.Compare(fs[j].KeyRange.First, hi) >= 0 })
	return fs[i:max(i, j)]
}

// Stats returns the reads made so far.
func (ix *Index) Stats() Stats {
	return Stats{Files: ix.opened, Requests: ix.stats.Requests(), Bytes: ix.stats.Bytes()}
}

// Run answers q. When a file of the version it reads is gone because
// retention removed the version (a newer task published, keepVersions),
// Run opens the version the pointer names now and answers from it; if that
// one is gone too, the error (a storage.ErrNotFound) says which version was
// retired.
func (ix *Index) Run(ctx context.Context, q Query) (table.Element, []Hit, error) {
	elem, hits, err := ix.run(ctx, q)
	if err == nil {
		return elem, hits, nil
	}
	read := ix.jobID
	if err := ix.follow(ctx, err); err != nil {
		return table.Element{}, nil, err
	}
	elem, hits, err = ix.run(ctx, q)
	if err != nil {
		return table.Element{}, nil, ix.retired(read, ix.jobID, err)
	}
	return elem, hits, nil
}

func (ix *Index) run(ctx context.Context, q Query) (table.Element, []Hit, error) {
	ef, ok := ix.files[q.Element]
	if !ok {
		if slices.Contains(ix.task.ElementIDs, q.Element) {
			// Built, but every partition was empty: empty partitions
			// commit no files.
			return table.Element{ID: q.Element, Type: ix.task.ElementType}, nil, nil
		}
		return table.Element{}, nil, fmt.Errorf("%w: element %d is not in this index", retry.ErrInvalidInput, q.Element)
	}
	// The extension says what kind of element the files hold.
	first := ef.files[0].Path
	fulltext := strings.HasSuffix(first, "."+staging.ExtFulltext)
	if strings.HasSuffix(first, "."+bleveExt) {
		return table.Element{}, nil, fmt.Errorf("%w: %w: element %d was built as Bleve indexes (%s), fulltext format 0, which this version no longer reads; rebuild it with this version (a new jobID)",
			retry.ErrInvalidInput, ftindex.ErrOldFormat, q.Element, first)
	}
	switch {
	case fulltext && q.Match == "":
		return table.Element{}, nil, fmt.Errorf("%w: element %d is a fulltext element: use --match", retry.ErrInvalidInput, q.Element)
	case !fulltext && q.Match != "":
		return table.Element{}, nil, fmt.Errorf("%w: element %d is an index element: use --eq or --range", retry.ErrInvalidInput, q.Element)
	case fulltext:
		return ix.match(ctx, ef, q)
	}
	return ix.lookup(ctx, ef, q)
}

// table returns the opened index file at key, opening it on first use.
func (ix *Index) table(ctx context.Context, key string) (*sstindex.Reader, error) {
	if r, ok := ix.tables[key]; ok {
		return r, nil
	}
	r, err := sstindex.OpenObjectReader(ctx, ix.out, key, &ix.stats)
	if err != nil {
		return nil, err
	}
	ix.opened++
	ix.tables[key] = r
	return r, nil
}

// element returns the description of an index element, which every file of
// it holds: read from its first file once.
func (ix *Index) element(ctx context.Context, id int64, ef elementFiles) (table.Element, error) {
	if e, ok := ix.elems[id]; ok {
		return e, nil
	}
	r, err := ix.table(ctx, ef.files[0].Path)
	if err != nil {
		return table.Element{}, err
	}
	e, err := r.Element()
	if err != nil {
		return table.Element{}, fmt.Errorf("%s: %w", storage.ObjectURI(ix.out.URI(), ef.files[0].Path), err)
	}
	ix.elems[id] = e
	return e, nil
}

func (ix *Index) lookup(ctx context.Context, ef elementFiles, q Query) (table.Element, []Hit, error) {
	elem, err := ix.element(ctx, q.Element, ef)
	if err != nil {
		return elem, nil, err
	}
	lo, hi, err := bounds(elem, q)
	if err != nil {
		return elem, nil, err
	}
	type entry struct{ key, handle []byte }
	var entries []entry
	for _, f := range ef.overlapping(lo, hi) {
		r, err := ix.table(ctx, f.Path)
		if err != nil {
			return elem, nil, err
		}
		err = r.Scan(lo, hi, func(k, h []byte) error {
			entries = append(entries, entry{bytes.Clone(k), bytes.Clone(h)})
			return nil
		})
		if err != nil {
			return elem, nil, fmt.Errorf("%s: %w", storage.ObjectURI(ix.out.URI(), f.Path), err)
		}
	}
	// Per-partition files cover disjoint rows, so a sort by key merges them
	// into the element's global key order; key-ranged files come in that
	// order already.
	if !ef.ranged {
		slices.SortFunc(entries, func(a, b entry) int { return bytes.Compare(a.key, b.key) })
	}
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

func (ix *Index) match(ctx context.Context, ef elementFiles, q Query) (table.Element, []Hit, error) {
	parts, ok := ix.text[q.Element]
	if !ok {
		for _, f := range ef.files {
			part, err := ix.partition(ctx, f.Path)
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

// partition opens the fulltext file at key.
func (ix *Index) partition(ctx context.Context, key string) (*ftindex.Partition, error) {
	r, err := sstindex.OpenObject(ctx, ix.out, key, &ix.stats)
	if err != nil {
		return nil, err
	}
	ix.opened++
	return ftindex.FromReader(storage.ObjectURI(ix.out.URI(), key), r)
}

// Close releases the opened files.
func (ix *Index) Close() error {
	ix.release()
	return nil
}

// release closes the opened files and forgets what was read from them.
func (ix *Index) release() {
	for _, parts := range ix.text {
		closeAll(parts)
	}
	for _, r := range ix.tables {
		r.Close()
	}
	clear(ix.text)
	clear(ix.tables)
	clear(ix.elems)
}

func closeAll(parts []*ftindex.Partition) {
	for _, p := range parts {
		p.Close()
	}
}
