package query

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/indexbuild/indexbuild/internal/commit"
	"github.com/indexbuild/indexbuild/internal/ftindex"
	"github.com/indexbuild/indexbuild/internal/output"
	"github.com/indexbuild/indexbuild/internal/staging"
	"github.com/indexbuild/indexbuild/internal/storage"
	"github.com/indexbuild/indexbuild/internal/storage/storagetest"
	"github.com/indexbuild/indexbuild/internal/table"
)

// queryStores are the stores the readers are tested on: S3 for ranged reads
// over HTTP against a real server.
func queryStores() []storagetest.Store {
	return []storagetest.Store{storagetest.Mem(), storagetest.File(), storagetest.S3()}
}

// expect answers q from the rows themselves: the handles of the entries in
// q's key span, in key order.
func expect(t *testing.T, rows []row, q Query) []string {
	t.Helper()
	lo, hi, err := bounds(byAuthorYear, q)
	if err != nil {
		t.Fatal(err)
	}
	sorted := slices.Clone(rows)
	slices.SortFunc(sorted, func(a, b row) int { return bytes.Compare(a.key(), b.key()) })
	out := []string{}
	for _, r := range sorted {
		if k := r.key(); bytes.Compare(k, lo) >= 0 && (hi == nil || bytes.Compare(k, hi) < 0) {
			out = append(out, r.handle)
		}
	}
	return out
}

func authorText(v table.Value) string {
	if v.Kind == table.Null {
		return ""
	}
	return v.Str
}

// sampleQueries are point queries on keys of rows (one column and both),
// NULL, keys before, between and after all keys, and ranges over one, many
// and no files.
func sampleQueries(rows []row) []Query {
	var qs []Query
	for i := 0; i < len(rows); i += max(len(rows)/40, 1) {
		v := rows[i].values
		qs = append(qs,
			Query{Element: byAuthorYear.ID, Eq: []string{authorText(v[0])}},
			Query{Element: byAuthorYear.ID, Eq: []string{authorText(v[0]), strconv.FormatInt(v[1].Int, 10)}})
	}
	for _, s := range []string{"", "0", "m", "zzzzzzzzzzzzzzzzzzzz"} {
		qs = append(qs, Query{Element: byAuthorYear.ID, Eq: []string{s}})
	}
	for _, r := range [][2]string{{"a", "b"}, {"a", "z"}, {"m", "n"}, {"0", "zzzz"}, {"zz", "zzz"}, {"n", "m"}} {
		qs = append(qs, Query{Element: byAuthorYear.ID, Range: &r})
	}
	return qs
}

// TestMergedLayoutAnswersAsPartitions: the same rows committed as
// per-partition files and as key-ranged files (global sort) give the same
// hits in the same order, the rows' own answers, on every store.
func TestMergedLayoutAnswersAsPartitions(t *testing.T) {
	ctx := context.Background()
	rows := authorRows(1, 3000, 1, 10)
	for _, store := range queryStores() {
		t.Run(store.Name, func(t *testing.T) {
			parted, merged := store.Open(t), store.Open(t)
			v := newVersion(t, parted, 1, byAuthorYear)
			v.partitions(byAuthorYear, rows, 5)
			v.publish()
			v = newVersion(t, merged, 1, byAuthorYear)
			v.ranges(byAuthorYear, rows, 7)
			v.publish()
			layouts := map[string]*Index{"partitions": openIndex(t, parted), "key ranges": openIndex(t, merged)}
			if layouts["partitions"].files[byAuthorYear.ID].ranged || !layouts["key ranges"].files[byAuthorYear.ID].ranged {
				t.Fatal("only the merged layout should be read by key ranges")
			}
			hits := 0
			for _, q := range sampleQueries(rows) {
				want := expect(t, rows, q)
				hits += len(want)
				for _, name := range slices.Sorted(maps.Keys(layouts)) {
					elem, got, err := layouts[name].Run(ctx, q)
					if err != nil {
						t.Fatalf("%s: %+v: %v", name, q, err)
					}
					if elem.ID != byAuthorYear.ID || elem.Name != byAuthorYear.Name {
						t.Fatalf("%s: element %+v", name, elem)
					}
					if g := handles(got); !slices.Equal(g, want) {
						t.Fatalf("%s: %+v: hits %q, want %q", name, q, g, want)
					}
				}
			}
			if hits == 0 {
				t.Fatal("no query had any hit")
			}
		})
	}
}

// containing returns the file whose key range holds key.
func containing(t *testing.T, files []staging.File, key []byte) staging.File {
	t.Helper()
	for _, f := range files {
		if bytes.Compare(f.KeyRange.First, key) <= 0 && bytes.Compare(key, f.KeyRange.Last) <= 0 {
			return f
		}
	}
	t.Fatalf("no file holds key %q", key)
	return staging.File{}
}

// TestPointQueryReadsOneFileByRanges: on the merged layout a point query
// opens the one file whose key range holds the key and reads a few blocks
// of it, far less than the file; only the first query of an element on a
// new Index also reads the element's description from its first file. On
// the per-partition layout it opens every file.
func TestPointQueryReadsOneFileByRanges(t *testing.T) {
	ctx := context.Background()
	// 4 files of about 2 MB: many blocks each.
	rows := authorRows(2, 100_000, 1, 60)
	sorted := slices.Clone(rows)
	slices.SortFunc(sorted, func(a, b row) int { return bytes.Compare(a.key(), b.key()) })
	for _, store := range queryStores() {
		t.Run(store.Name, func(t *testing.T) {
			root := store.Open(t)
			v := newVersion(t, root, 1, byAuthorYear)
			files := v.ranges(byAuthorYear, rows, 4)
			v.publish()
			ix := openIndex(t, root)

			pointQuery := func(r row) (staging.File, Stats) {
				t.Helper()
				q := Query{Element: byAuthorYear.ID, Eq: []string{authorText(r.values[0])}}
				before := ix.Stats()
				_, hits, err := ix.Run(ctx, q)
				if err != nil {
					t.Fatal(err)
				}
				if got, want := handles(hits), expect(t, rows, q); !slices.Equal(got, want) || !slices.Contains(got, r.handle) {
					t.Fatalf("%+v: hits %q, want %q", q, got, want)
				}
				after := ix.Stats()
				return containing(t, files, r.key()), Stats{Files: after.Files - before.Files, Requests: after.Requests - before.Requests, Bytes: after.Bytes - before.Bytes}
			}
			opened := func() []string { return slices.Sorted(maps.Keys(ix.tables)) }

			// Cold: the description from file 0, then the file of the key.
			f, s := pointQuery(sorted[len(sorted)*5/8])
			if f.Path == files[0].Path || s.Files != 2 || !slices.Equal(opened(), []string{files[0].Path, f.Path}) {
				t.Fatalf("first point query opened %d files %q, want %s and %s", s.Files, opened(), files[0].Path, f.Path)
			}
			// Warm: exactly the file of the key, a few of its blocks.
			f, s = pointQuery(sorted[len(sorted)*7/8])
			if s.Files != 1 || !slices.Contains(opened(), f.Path) || len(opened()) != 3 {
				t.Fatalf("point query opened %d files %q, want only %s more", s.Files, opened(), f.Path)
			}
			if s.Requests == 0 || s.Bytes*4 > f.Size {
				t.Fatalf("point query read %d bytes in %d requests of a %d-byte file, want a few blocks", s.Bytes, s.Requests, f.Size)
			}
			t.Logf("%s: point query read %d bytes in %d requests of a %d-byte file (opening it included)", store.Name, s.Bytes, s.Requests, f.Size)
			// Again on the same file: nothing opened, fewer bytes still.
			f, s2 := pointQuery(sorted[len(sorted)*7/8+1])
			if s2.Files != 0 || s2.Bytes >= s.Bytes {
				t.Fatalf("repeated point query on %s opened %d files and read %d bytes (first time %d)", f.Path, s2.Files, s2.Bytes, s.Bytes)
			}
			t.Logf("%s: point query on an open file read %d bytes in %d requests", store.Name, s2.Bytes, s2.Requests)

			// The per-partition layout of the same rows: every file.
			proot := store.Open(t)
			v = newVersion(t, proot, 1, byAuthorYear)
			v.partitions(byAuthorYear, rows[:10_000], 3)
			v.publish()
			pix := openIndex(t, proot)
			if _, _, err := pix.Run(ctx, Query{Element: byAuthorYear.ID, Eq: []string{authorText(rows[0].values[0])}}); err != nil {
				t.Fatal(err)
			}
			if pix.Stats().Files != 3 {
				t.Fatalf("per-partition point query opened %d files, want all 3", pix.Stats().Files)
			}
		})
	}
}

// TestOverlapping: the files a key span meets, by binary search over key
// ranges; files without (usable) key ranges are all read.
func TestOverlapping(t *testing.T) {
	file := func(path, first, last string) staging.File {
		return staging.File{Path: path, KeyRange: &staging.KeyRange{First: []byte(first), Last: []byte(last)}}
	}
	ranged := []staging.File{file("part_2_1.sst", "m", "p"), file("part_0_1.sst", "b", "d"), file("part_1_1.sst", "f", "k")}
	paths := func(fs []staging.File) string {
		var s []string
		for _, f := range fs {
			s = append(s, f.Path)
		}
		return strings.Join(s, " ")
	}
	for _, tc := range []struct {
		name   string
		files  []staging.File
		lo, hi string // hi "" is open
		want   string
	}{
		{"inside one", ranged, "c", "c\x00", "part_0_1.sst"},
		{"a file's first key", ranged, "f", "f\x00", "part_1_1.sst"},
		{"a file's last key", ranged, "k", "k\x00", "part_1_1.sst"},
		{"ends at a first key (exclusive)", ranged, "e", "f", ""},
		{"between files", ranged, "l", "l\x00", ""},
		{"before all", ranged, "a", "a\x00", ""},
		{"after all", ranged, "q", "", ""},
		{"across files", ranged, "c", "n", "part_0_1.sst part_1_1.sst part_2_1.sst"},
		{"open above", ranged, "g", "", "part_1_1.sst part_2_1.sst"},
		{"no key ranges", []staging.File{{Path: "part_1_1.sst"}, {Path: "part_0_1.sst"}}, "x", "y", "part_0_1.sst part_1_1.sst"},
		{"one file without", []staging.File{file("part_1_1.sst", "m", "p"), {Path: "part_0_1.sst"}}, "x", "y", "part_0_1.sst part_1_1.sst"},
		{"overlapping ranges", []staging.File{file("part_1_1.sst", "m", "p"), file("part_0_1.sst", "b", "m")}, "x", "y", "part_0_1.sst part_1_1.sst"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var hi []byte
			if tc.hi != "" {
				hi = []byte(tc.hi)
			}
			ef := newElementFiles(slices.Clone(tc.files))
			if got := paths(ef.overlapping([]byte(tc.lo), hi)); got != tc.want {
				t.Fatalf("overlapping [%q, %q) = %q, want %q", tc.lo, tc.hi, got, tc.want)
			}
		})
	}
}

// retain applies retention keeping one version, as finalize does after
// publishing the task's version.
func retain(t *testing.T, root storage.Bucket) {
	t.Helper()
	p, _, found, err := output.ReadPointer(context.Background(), root)
	if err != nil || !found {
		t.Fatalf("pointer: %v (found %v)", err, found)
	}
	commit.Retain(context.Background(), root, p, 1, 1, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if list, err := root.List(context.Background(), output.VersionsPrefix); err != nil || !slices.ContainsFunc(list, func(a storage.Attrs) bool { return strings.HasPrefix(a.Key, output.VersionPrefix(p.JobID)) }) {
		t.Fatalf("versions after retention: %v, %v", list, err)
	}
}

func versionGone(t *testing.T, root storage.Bucket, jobID int64) {
	t.Helper()
	if list, err := root.List(context.Background(), output.VersionPrefix(jobID)); err != nil || len(list) > 0 {
		t.Fatalf("version %d not removed: %v, %v", jobID, list, err)
	}
}

// TestReaderFollowsRetiredVersion: an Index whose version retention removed
// (keepVersions 1, a newer task published) answers from the version the
// pointer names now, index and fulltext alike; when that one is gone too,
// or when the published version itself misses a file, it fails NotFound
// saying which.
func TestReaderFollowsRetiredVersion(t *testing.T) {
	ctx := context.Background()
	all := Query{Element: byAuthorYear.ID, Range: &[2]string{"a", "zzzz"}}
	for _, store := range queryStores() {
		t.Run(store.Name, func(t *testing.T) {
			root := store.Open(t)
			old, next := authorRows(3, 400, 1, 8), authorRows(4, 300, 1001, 8)
			v := newVersion(t, root, 1, byAuthorYear)
			v.ranges(byAuthorYear, old, 3)
			v.publish()
			ix := openIndex(t, root)
			if _, hits, err := ix.Run(ctx, all); err != nil || !slices.Equal(handles(hits), expect(t, old, all)) {
				t.Fatalf("version 1: %q, %v", handles(hits), err)
			}

			v = newVersion(t, root, 2, byAuthorYear)
			v.partitions(byAuthorYear, next, 2)
			v.publish()
			retain(t, root)
			versionGone(t, root, 1)
			_, hits, err := ix.Run(ctx, all)
			if err != nil || !slices.Equal(handles(hits), expect(t, next, all)) {
				t.Fatalf("after version 1 was retired: %q, %v; want version 2's %q", handles(hits), err, expect(t, next, all))
			}
			if ix.jobID != 2 {
				t.Fatalf("reads version %d, want 2", ix.jobID)
			}

			// Version 2 retired, and version 3 gone as well before it is
			// read (its marker removed, as a version 4 would).
			v = newVersion(t, root, 3, byAuthorYear)
			v.ranges(byAuthorYear, old, 2)
			v.publish()
			retain(t, root)
			if err := output.Version(root, 3).Delete(ctx, commit.MarkerKey); err != nil {
				t.Fatal(err)
			}
			_, _, err = ix.Run(ctx, all)
			if !errors.Is(err, storage.ErrNotFound) || !strings.Contains(err.Error(), "version 2 was retired") || !strings.Contains(err.Error(), "version 3") {
				t.Fatalf("err = %v, want NotFound saying version 2 was retired and 3 is gone", err)
			}
			if ix.jobID != 2 || ix.files[byAuthorYear.ID].ranged {
				t.Fatalf("a failed follow left the index on version %d (ranged %v), want version 2 as it was", ix.jobID, ix.files[byAuthorYear.ID].ranged)
			}
		})
	}
}

// TestPublishedVersionMissingAFile: a file gone from the version the pointer
// still names is not retention: no other version is opened, and the error
// says the published version misses a file.
func TestPublishedVersionMissingAFile(t *testing.T) {
	ctx := context.Background()
	root := storagetest.Mem().Open(t)
	rows := authorRows(5, 300, 1, 8)
	v := newVersion(t, root, 1, byAuthorYear)
	files := v.ranges(byAuthorYear, rows, 3)
	v.publish()
	ix := openIndex(t, root)
	if err := output.Version(root, 1).Delete(ctx, files[1].Path); err != nil {
		t.Fatal(err)
	}
	_, _, err := ix.Run(ctx, Query{Element: byAuthorYear.ID, Range: &[2]string{"a", "zzzz"}})
	if !errors.Is(err, storage.ErrNotFound) || !strings.Contains(err.Error(), "published version 1 is damaged") || !strings.Contains(err.Error(), files[1].Path) || ix.jobID != 1 {
		t.Fatalf("err = %v (reading version %d), want NotFound naming the published version 1", err, ix.jobID)
	}
}

// retiringBucket publishes version 2 and retires version 1 the moment
// version 1's marker is first read: an Open racing a finalize.
type retiringBucket struct {
	storage.Bucket
	retire func()
}

func (b *retiringBucket) NewReader(ctx context.Context, key string) (io.ReadCloser, error) {
	if key == output.VersionPrefix(1)+commit.MarkerKey && b.retire != nil {
		retire := b.retire
		b.retire = nil
		retire()
	}
	return b.Bucket.NewReader(ctx, key)
}

// TestOpenFollowsVersionRetiredMeanwhile: Open reads the pointer, and the
// version it names is retired before its marker is read: Open opens the
// version the pointer names now.
func TestOpenFollowsVersionRetiredMeanwhile(t *testing.T) {
	ctx := context.Background()
	mem := storagetest.Mem().Open(t)
	old, next := authorRows(6, 200, 1, 8), authorRows(7, 200, 1001, 8)
	v := newVersion(t, mem, 1, byAuthorYear)
	v.ranges(byAuthorYear, old, 2)
	v.publish()
	root := &retiringBucket{Bucket: mem}
	root.retire = func() {
		v := newVersion(t, mem, 2, byAuthorYear)
		v.ranges(byAuthorYear, next, 2)
		v.publish()
		retain(t, mem)
		versionGone(t, mem, 1)
	}
	ix := openIndex(t, root)
	all := Query{Element: byAuthorYear.ID, Range: &[2]string{"a", "zzzz"}}
	if _, hits, err := ix.Run(ctx, all); err != nil || ix.jobID != 2 || !slices.Equal(handles(hits), expect(t, next, all)) {
		t.Fatalf("version %d: %q, %v; want version 2's rows", ix.jobID, handles(hits), err)
	}
}

var bodies = []string{
	"the quick brown fox", "a lazy dog sleeps", "Quick thinking, quick acting", "brown bread and brown butter",
	"", "fox and dog and fox", "dog", "nothing to see", "the fox jumps over the lazy dog", "foxes are not dogs",
}

// TestFulltextByRanges: a fulltext element's per-partition files read by
// ranges give the hits and scores of one local file of all rows, also after
// retention removed the version they were opened in.
func TestFulltextByRanges(t *testing.T) {
	ctx := context.Background()
	var docs []string
	for i := range 600 {
		docs = append(docs, bodies[i%len(bodies)]+" "+strconv.Itoa(i%7))
	}
	want := localSearch(t, docs, "fox dog", 25)
	for _, store := range queryStores() {
		t.Run(store.Name, func(t *testing.T) {
			root := store.Open(t)
			v := newVersion(t, root, 1, bodyText)
			v.fulltext(bodyText, docs, 3)
			v.publish()
			ix := openIndex(t, root)
			elem, hits, err := ix.Run(ctx, Query{Element: bodyText.ID, Match: "fox dog", Limit: 25})
			if err != nil {
				t.Fatal(err)
			}
			if elem.ID != bodyText.ID || !slices.Equal(hits, want) {
				t.Fatalf("element %d hits %v, want %v", elem.ID, hits, want)
			}
			if s := ix.Stats(); s.Files != 3 || s.Requests == 0 || s.Bytes == 0 {
				t.Fatalf("stats %+v, want 3 files read by ranges", s)
			}

			// Its version retired under the open partitions: the answer
			// comes from the version published now.
			v = newVersion(t, root, 2, bodyText)
			v.fulltext(bodyText, docs[:300], 2)
			v.publish()
			retain(t, root)
			versionGone(t, root, 1)
			_, hits, err = ix.Run(ctx, Query{Element: bodyText.ID, Match: "fox dog", Limit: 25})
			if want := localSearch(t, docs[:300], "fox dog", 25); err != nil || !slices.Equal(hits, want) {
				t.Fatalf("after retention: hits %v, %v; want %v", hits, err, want)
			}
		})
	}
}

// localSearch searches one local fulltext file of all docs.
func localSearch(t *testing.T, docs []string, text string, limit int) []Hit {
	t.Helper()
	p, err := ftindex.Open(context.Background(), writeFulltext(t, bodyText, docs, func(int) bool { return true }))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	hits, err := ftindex.Search(context.Background(), []*ftindex.Partition{p}, text, limit)
	if err != nil || len(hits) == 0 {
		t.Fatalf("local search: %v, %v", hits, err)
	}
	return hits
}
