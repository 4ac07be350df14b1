package query

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/indexbuild/indexbuild/internal/commit"
	"github.com/indexbuild/indexbuild/internal/ftindex"
	"github.com/indexbuild/indexbuild/internal/output"
	"github.com/indexbuild/indexbuild/internal/sstindex"
	"github.com/indexbuild/indexbuild/internal/staging"
	"github.com/indexbuild/indexbuild/internal/storage"
	"github.com/indexbuild/indexbuild/internal/table"
	"github.com/indexbuild/indexbuild/internal/taskmeta"
)

// The fixtures are real committed versions: SSTables written by the
// sstindex and ftindex writers, a commit marker and a published pointer.

var (
	byAuthorYear = table.Element{ID: 2, Name: "idx_author_year", Type: taskmeta.ElementTypeIndex,
		Columns: []table.Column{{Name: "author", Type: table.TypeString}, {Name: "year", Type: table.TypeInt}}}
	bodyText = table.Element{ID: 5, Name: "ft_body", Type: taskmeta.ElementTypeFulltext,
		Columns: []table.Column{{Name: "body", Type: table.TypeString}}}
)

// row is one table row as an element sees it.
type row struct {
	values []table.Value
	handle string
}

func (r row) key() []byte { return sstindex.AppendKey(nil, r.values, r.handle) }

func str(s string) table.Value { return table.Value{Kind: table.String, Str: s} }

// authorRows are n rows of byAuthorYear with handles first, first+1, ...:
// authors repeat (about three rows each, so equal keys meet across
// partitions) and some are NULL. Authors are random letters of the given
// length, which do not compress: long ones make files of many blocks.
func authorRows(seed uint64, n, first, length int) []row {
	rnd := rand.New(rand.NewPCG(seed, 0))
	authors := make([]string, max(n/3, 1))
	for i := range authors {
		b := make([]byte, length)
		for j := range b {
			b[j] = byte('a' + rnd.IntN(26))
		}
		authors[i] = string(b)
	}
	rows := make([]row, n)
	for i := range rows {
		author := str(authors[rnd.IntN(len(authors))])
		if i%97 == 13 {
			author = table.Value{}
		}
		year := table.Value{Kind: table.Int, Int: int64(1900 + rnd.IntN(120))}
		rows[i] = row{values: []table.Value{author, year}, handle: strconv.Itoa(first + i)}
	}
	return rows
}

// version is one committed version in the making.
type version struct {
	t     *testing.T
	root  storage.Bucket
	task  taskmeta.Meta
	files []staging.File
	rows  int64
	parts int // committed partitions (or key ranges)
}

func newVersion(t *testing.T, root storage.Bucket, jobID int64, e table.Element) *version {
	return &version{t: t, root: root, task: taskmeta.Meta{JobID: jobID, SchemaID: 1, TableID: 100,
		ElementType: e.Type, ElementIDs: []int64{e.ID}, Partitions: 1}}
}

// upload stores the local file as committed file n of element e.
func (v *version) upload(n int, e table.Element, local string, kr *staging.KeyRange) staging.File {
	v.t.Helper()
	data, err := os.ReadFile(local)
	if err != nil {
		v.t.Fatal(err)
	}
	ext := staging.ExtIndex
	if e.Type == taskmeta.ElementTypeFulltext {
		ext = staging.ExtFulltext
	}
	sum := sha256.Sum256(data)
	f := staging.File{Path: commit.FinalKey(n, e.ID, ext), Element: e.ID, Size: int64(len(data)), SHA256: hex.EncodeToString(sum[:]), KeyRange: kr}
	if err := output.Version(v.root, v.task.JobID).Write(context.Background(), f.Path, bytes.NewReader(data)); err != nil {
		v.t.Fatal(err)
	}
	v.files = append(v.files, f)
	v.parts = max(v.parts, n+1)
	return f
}

// partitions commits rows as an `index` element in p per-partition files
// (rows dealt round-robin, as the row order of a table split by files).
func (v *version) partitions(e table.Element, rows []row, p int) {
	v.task.Partitions = p
	for n := range p {
		var part []row
		for i := n; i < len(rows); i += p {
			part = append(part, rows[i])
		}
		v.upload(n, e, v.writeIndex(e, part), nil)
	}
	v.rows += int64(len(rows))
}

// ranges commits rows as an `index` element in r files of disjoint key
// ranges, as global sort's merge does: equal column values in one file, each
// file's KeyRange its real first and last key.
func (v *version) ranges(e table.Element, rows []row, r int) []staging.File {
	v.t.Helper()
	sorted := slices.Clone(rows)
	slices.SortFunc(sorted, func(a, b row) int { return bytes.Compare(a.key(), b.key()) })
	cols := func(i int) []byte { return sstindex.AppendKey(nil, sorted[i].values, "") }
	var files []staging.File
	for start := 0; start < len(sorted); {
		end := max(start+1, len(sorted)*(len(files)+1)/r)
		for end < len(sorted) && bytes.Equal(cols(end), cols(end-1)) {
			end++
		}
		local := v.writeIndex(e, sorted[start:end])
		files = append(files, v.upload(len(files), e, local, readKeyRange(v.t, local)))
		start = end
	}
	v.task.Partitions = r
	v.rows += int64(len(rows))
	return files
}

func (v *version) writeIndex(e table.Element, rows []row) string {
	v.t.Helper()
	w := sstindex.NewWriter(e, v.t.TempDir(), 1<<20)
	defer w.Close()
	for _, r := range rows {
		if err := w.Add(r.values, r.handle); err != nil {
			v.t.Fatal(err)
		}
	}
	local := filepath.Join(v.t.TempDir(), "part.sst")
	f, err := os.Create(local)
	if err != nil {
		v.t.Fatal(err)
	}
	if _, err := w.Finish(f); err != nil {
		v.t.Fatal(err)
	}
	return local
}

// readKeyRange reads the first and last entry key of a local index file.
func readKeyRange(t *testing.T, local string) *staging.KeyRange {
	t.Helper()
	r, err := sstindex.Open(context.Background(), local)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var kr staging.KeyRange
	err = r.Scan(nil, nil, func(k, _ []byte) error {
		if kr.First == nil {
			kr.First = bytes.Clone(k)
		}
		kr.Last = bytes.Clone(k)
		return nil
	})
	if err != nil || kr.First == nil {
		t.Fatalf("key range of %s: %v (empty: %v)", local, err, kr.First == nil)
	}
	return &kr
}

// fulltext commits docs as a fulltext element in p per-partition files
// (round-robin) with handles "d0", "d1", ...
func (v *version) fulltext(e table.Element, docs []string, p int) {
	v.t.Helper()
	v.task.Partitions = p
	for n := range p {
		v.upload(n, e, writeFulltext(v.t, e, docs, func(i int) bool { return i%p == n }), nil)
	}
	v.rows += int64(len(docs))
}

// writeFulltext writes the docs that pick picks as a local fulltext file of
// e, doc i with handle "d<i>", and returns its path.
func writeFulltext(t *testing.T, e table.Element, docs []string, pick func(i int) bool) string {
	t.Helper()
	w, err := ftindex.NewWriter(t.TempDir(), e, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	for i, d := range docs {
		if !pick(i) {
			continue
		}
		if err := w.Add([]table.Value{str(d)}, fmt.Sprintf("d%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	local := filepath.Join(t.TempDir(), "part.ft")
	f, err := os.Create(local)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Finish(f); err != nil {
		t.Fatal(err)
	}
	return local
}

// publish writes the version's commit marker and moves the pointer to it.
func (v *version) publish() {
	v.t.Helper()
	ctx := context.Background()
	m := commit.Marker{FormatVersion: commit.FormatVersion, Task: v.task, Partitions: v.parts, Files: v.files, Rows: v.rows, CommittedAt: time.Now().UTC()}
	for _, f := range v.files {
		m.Bytes += f.Size
	}
	data, err := commit.EncodeMarker(m)
	if err != nil {
		v.t.Fatal(err)
	}
	if err := output.Version(v.root, v.task.JobID).Create(ctx, commit.MarkerKey, bytes.NewReader(data)); err != nil {
		v.t.Fatal(err)
	}
	if _, err := commit.Publish(ctx, v.root, v.task, time.Now()); err != nil {
		v.t.Fatal(err)
	}
}

func openIndex(t *testing.T, root storage.Bucket) *Index {
	t.Helper()
	ix, err := Open(context.Background(), root)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ix.Close() })
	return ix
}

func handles(hits []Hit) []string {
	out := make([]string, len(hits))
	for i, h := range hits {
		out[i] = h.Handle
	}
	return out
}
