package builder

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"os"
	"path"
	"path/filepath"
	"slices"

	"github.com/indexbuild/indexbuild/internal/commit"
	"github.com/indexbuild/indexbuild/internal/ftindex"
	"github.com/indexbuild/indexbuild/internal/rows"
	"github.com/indexbuild/indexbuild/internal/sstindex"
	"github.com/indexbuild/indexbuild/internal/staging"
	"github.com/indexbuild/indexbuild/internal/storage"
	"github.com/indexbuild/indexbuild/internal/table"
	"github.com/indexbuild/indexbuild/internal/taskmeta"
)

// DefaultSampleTarget is about how many entries per element CheckSource
// compares by key.
const DefaultSampleTarget = 1000

// SourceCheck is a committed version to check against the table its task
// pinned (`indexbuild verify --source`, in the spirit of ADMIN CHECK INDEX).
type SourceCheck struct {
	// Source is the table; Version the committed version, whose Marker
	// lists the element files and the input snapshot (commit.SourceKey).
	Source       storage.Bucket
	Version      storage.Bucket
	Marker       commit.Marker
	SourceFormat rows.Format
	// TmpDir receives the element files while they are read.
	TmpDir string
	// SampleTarget: about this many keys per element are compared by name;
	// 0 means DefaultSampleTarget.
	SampleTarget int
}

// SourceReport is what CheckSource read.
type SourceReport struct {
	Files    int   // data files of the snapshot
	Rows     int64 // rows read from them
	Elements []ElementReport
}

// ElementReport is what one element holds.
type ElementReport struct {
	ID      int64
	Entries int64 // index entries or fulltext documents
	Sampled int   // keys compared by name
}

// CheckSource re-reads the version's pinned input and checks that every
// element of its index holds exactly one entry per row: per element, the
// number of entries equals the number of rows, an order-independent
// checksum of all entry keys (index: the encoded columns and handle;
// fulltext: the handle) equals the rows' one, and the keys of a sample
// chosen by key hash (the same keys on both sides) match one for one, so a
// difference can be named. The first difference of each element comes back
// in a *commit.VerifyError; a pinned file that changed since the task is
// stale metadata (*staging.SourceChangedError): the table no longer holds
// what was indexed.
func CheckSource(ctx context.Context, c SourceCheck) (SourceReport, error) {
	var rep SourceReport
	snap, err := pinnedSnapshot(ctx, c.Version, c.Marker)
	if err != nil {
		return rep, err
	}
	tbl, err := LoadTable(ctx, c.Source)
	if err != nil {
		return rep, err
	}
	elements, err := tbl.Resolve(c.Marker.Task)
	if err != nil {
		return rep, err
	}
	cols, colPos, pkPos := decodedColumns(tbl, elements)
	sc := &rows.Scanner{Open: bucketOpener{c.Source}, Columns: cols}
	shares, _, err := planShare(snap, c.SourceFormat, 0, 1)
	if err != nil {
		return rep, err
	}
	pinned := pinnedFiles(shares)
	rep.Files = len(pinned)
	if err := checkPinned(ctx, c.Source, snap.Source, pinned); err != nil {
		return rep, err
	}

	every := uint64(max(1, c.Marker.Rows/int64(cmp.Or(c.SampleTarget, DefaultSampleTarget))))
	seed := maphash.MakeSeed()
	want := make([]*tally, len(elements))
	for i := range want {
		want[i] = newTally(seed, every)
	}
	var key, vals = []byte(nil), make([][]table.Value, len(elements))
	for i := range vals {
		vals[i] = make([]table.Value, len(colPos[i]))
	}
	err = scanShares(ctx, sc, shares, tbl, pkPos, func(sh int, rec *rows.Record, handle string) error {
		for i, ix := range elements {
			key = key[:0]
			if ix.Type == taskmeta.ElementTypeFulltext {
				key = append(key, handle...)
			} else {
				for j, p := range colPos[i] {
					vals[i][j] = rec.Values[p]
				}
				key = sstindex.AppendKey(key, vals[i], handle)
			}
			want[i].add(key, handle, sampleRef{share: sh, pos: rec.Pos})
		}
		rep.Rows++
		return nil
	})
	if err == nil {
		err = checkPinned(ctx, c.Source, snap.Source, pinned)
	}
	if err != nil {
		return rep, err
	}

	var problems []string
	for i, ix := range elements {
		got, err := c.entries(ctx, ix, seed, every)
		if err != nil {
			return rep, err
		}
		rep.Elements = append(rep.Elements, ElementReport{ID: ix.ID, Entries: got.n, Sampled: len(want[i].sample)})
		if p := firstDifference(ctx, sc, shares, ix, want[i], got); p != "" {
			problems = append(problems, p)
		}
	}
	if len(problems) > 0 {
		return rep, &commit.VerifyError{Problems: problems}
	}
	return rep, nil
}

// pinnedSnapshot reads the input snapshot the marker lists and checks it is
// the one the version committed.
func pinnedSnapshot(ctx context.Context, v storage.Bucket, m commit.Marker) (staging.Snapshot, error) {
	if m.Source == nil {
		return staging.Snapshot{}, &commit.VerifyError{Problems: []string{fmt.Sprintf(
			"%s lists no input snapshot (the index was built before inputs were pinned): there is no source to check it against", commit.MarkerKey)}}
	}
	snap, digest, err := staging.ReadSnapshot(ctx, v, commit.SourceKey)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return snap, &commit.VerifyError{Problems: []string{fmt.Sprintf("%s is missing", commit.SourceKey)}}
	case err != nil:
		return snap, err
	case digest != m.Source.SHA256:
		return snap, &commit.VerifyError{Problems: []string{fmt.Sprintf("%s has sha256 %s, the marker lists %s", commit.SourceKey, digest, m.Source.SHA256)}}
	}
	return snap, nil
}

// entries tallies the committed entries of element ix.
func (c SourceCheck) entries(ctx context.Context, ix table.Index, seed maphash.Seed, every uint64) (*tally, error) {
	t := newTally(seed, every)
	for _, f := range c.Marker.Files {
		if f.Element != ix.ID {
			continue
		}
		local, err := download(ctx, c.Version, f.Path, c.TmpDir)
		if err != nil {
			return nil, err
		}
		ref := sampleRef{file: f.Path}
		if ix.Type == taskmeta.ElementTypeFulltext {
			err = fulltextEntries(ctx, local, func(handle string) { t.add([]byte(handle), handle, ref) })
		} else {
			err = indexEntries(ctx, local, func(key, handle []byte) { t.add(key, string(handle), ref) })
		}
		os.Remove(local)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f.Path, err)
		}
	}
	return t, nil
}

func indexEntries(ctx context.Context, local string, fn func(key, handle []byte)) error {
	r, err := sstindex.Open(ctx, local)
	if err != nil {
		return err
	}
	defer r.Close()
	return r.Scan(nil, nil, func(key, handle []byte) error {
		fn(key, handle)
		return nil
	})
}

func fulltextEntries(ctx context.Context, local string, fn func(handle string)) error {
	p, err := ftindex.Open(ctx, local)
	if err != nil {
		return err
	}
	defer p.Close()
	var n uint64
	err = p.EachHandle(func(h string) error {
		fn(h)
		n++
		return nil
	})
	if err == nil && n != p.Meta.Docs {
		err = fmt.Errorf("%d handles for %d documents", n, p.Meta.Docs)
	}
	return err
}

// download copies key of b into dir and returns the local path.
func download(ctx context.Context, b storage.Bucket, key, dir string) (string, error) {
	r, err := b.NewReader(ctx, key)
	if err != nil {
		return "", err
	}
	defer r.Close()
	f, err := os.CreateTemp(dir, path.Base(key)+"-*")
	if err != nil {
		return "", err
	}
	_, err = io.Copy(f, r)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(f.Name())
		return "", err
	}
	return filepath.Clean(f.Name()), nil
}

// tally is one side of an element's comparison: how many keys, the sum of
// their hashes (equal sums: equal multisets, but for a 2^-64 chance), and
// the keys whose hash falls in the sample.
type tally struct {
	seed   maphash.Seed
	every  uint64
	n      int64
	sum    uint64
	sample map[string]sampleRef
}

// sampleRef says where a sampled key came from: a row (share and position)
// or a committed file.
type sampleRef struct {
	handle string
	share  int
	pos    int64
	file   string
	twice  bool // the same key came twice
}

func newTally(seed maphash.Seed, every uint64) *tally {
	return &tally{seed: seed, every: every, sample: map[string]sampleRef{}}
}

func (t *tally) add(key []byte, handle string, ref sampleRef) {
	h := maphash.Bytes(t.seed, key)
	t.n++
	t.sum += h
	if (h>>1)%t.every != 0 {
		return
	}
	if old, dup := t.sample[string(key)]; dup {
		old.twice = true
		t.sample[string(key)] = old
		return
	}
	ref.handle = handle
	t.sample[string(key)] = ref
}

// firstDifference compares the rows' tally with the element's and names the
// first difference found, "" when there is none.
func firstDifference(ctx context.Context, sc *rows.Scanner, shares []share, ix table.Index, want, got *tally) string {
	name := fmt.Sprintf("element %d (%s)", ix.ID, ix.Name)
	keys := slices.Sorted(func(yield func(string) bool) {
		for k := range want.sample {
			if !yield(k) {
				return
			}
		}
		for k := range got.sample {
			if _, both := want.sample[k]; !both && !yield(k) {
				return
			}
		}
	})
	for _, k := range keys {
		w, inRows := want.sample[k]
		g, inIndex := got.sample[k]
		switch {
		case !inIndex:
			return fmt.Sprintf("%s: the row at %s (handle %q) has no entry; %d entries for %d rows",
				name, sc.Location(ctx, shares[w.share].file, w.pos), w.handle, got.n, want.n)
		case !inRows:
			return fmt.Sprintf("%s: the entry for handle %q in %s matches no row of the task's input; %d entries for %d rows",
				name, g.handle, g.file, got.n, want.n)
		case g.twice && !w.twice:
			return fmt.Sprintf("%s: the row at %s (handle %q) has more than one entry (%s); %d entries for %d rows",
				name, sc.Location(ctx, shares[w.share].file, w.pos), w.handle, g.file, got.n, want.n)
		}
	}
	switch {
	case got.n != want.n:
		return fmt.Sprintf("%s: %d entries for %d rows (no sampled key differs)", name, got.n, want.n)
	case got.sum != want.sum:
		return fmt.Sprintf("%s: %d entries for %d rows, but their keys differ from the rows' (checksum; no sampled key differs)", name, got.n, want.n)
	}
	return ""
}
