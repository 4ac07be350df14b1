package commit_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/indexbuild/indexbuild/internal/commit"
	"github.com/indexbuild/indexbuild/internal/keyenc"
	"github.com/indexbuild/indexbuild/internal/sstindex"
	"github.com/indexbuild/indexbuild/internal/staging"
	"github.com/indexbuild/indexbuild/internal/storage"
	"github.com/indexbuild/indexbuild/internal/table"
	"github.com/indexbuild/indexbuild/internal/taskmeta"
)

// mergedBuild is a build whose partitions (parts, staged as usual) the
// merge stage merged into key ranges. Every element holds one entry per row
// 0..rows-1 of the partitions: column value value(i), handle "<i>". Range r
// holds the rows from bounds[r-1] (0 for range 0) up to bounds[r] (all
// rows for the last range), in one real SSTable per element.
type mergedBuild struct {
	parts  build
	bounds []int // ascending row numbers; ranges = len(bounds)+1
}

// defaultMerged merges defaultBuild's 30 rows into 4 ranges of which the
// last holds nothing: ranges 0..2 commit as n = 0..2.
var defaultMerged = mergedBuild{parts: defaultBuild, bounds: []int{10, 20, 30}}

func (mb mergedBuild) ranges() int { return len(mb.bounds) + 1 }

// rows is the partitions' row count as stageParts records it.
func (mb mergedBuild) rows() int {
	n := 0
	for p := range mb.parts.files {
		n += int(mb.parts.rowCount(p))
	}
	return n
}

// rowsOf is range r's rows [lo, hi).
func (mb mergedBuild) rowsOf(r int) (lo, hi int) {
	hi = mb.rows()
	if r > 0 {
		lo = min(mb.bounds[r-1], hi)
	}
	if r < len(mb.bounds) {
		hi = min(mb.bounds[r], hi)
	}
	return lo, hi
}

func value(i int) table.Value { return table.Value{Kind: table.String, Str: fmt.Sprintf("k%03d", i)} }

// bound is the range boundary at row i: its encoded column value.
func bound(i int) []byte { return keyenc.AppendValue(nil, value(i)) }

func entryKey(i int) []byte { return sstindex.AppendKey(nil, []table.Value{value(i)}, fmt.Sprint(i)) }

func testElement(id int64) table.Element {
	return table.Element{ID: id, Name: fmt.Sprintf("idx_%d", id), Type: taskmeta.ElementTypeIndex,
		Columns: []table.Column{{Name: "k", Type: table.TypeString}}}
}

var (
	tablesMu sync.Mutex
	tables   = map[string][]byte{}
)

// span is the rows [lo, hi).
func span(lo, hi int) []int {
	rows := make([]int, 0, max(hi-lo, 0))
	for i := lo; i < hi; i++ {
		rows = append(rows, i)
	}
	return rows
}

// sstable returns the bytes of element's SSTable of rows, written by
// sstindex's Writer (once per process).
func sstable(t testing.TB, element int64, rows []int) []byte {
	t.Helper()
	tablesMu.Lock()
	defer tablesMu.Unlock()
	name := fmt.Sprint(element, rows)
	if data, ok := tables[name]; ok {
		return data
	}
	dir := t.TempDir()
	w := sstindex.NewWriter(testElement(element), dir, 1<<20)
	defer w.Close()
	for _, i := range rows {
		if err := w.Add([]table.Value{value(i)}, fmt.Sprint(i)); err != nil {
			t.Fatal(err)
		}
	}
	f, err := os.Create(filepath.Join(dir, "out.sst"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Finish(f); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(f.Name())
	if err != nil {
		t.Fatal(err)
	}
	tables[name] = data
	return data
}

// fileOf describes data staged or committed at key.
func fileOf(key string, element int64, data []byte) staging.File {
	sum := sha256.Sum256(data)
	return staging.File{Path: key, Element: element, Size: int64(len(data)), SHA256: hex.EncodeToString(sum[:])}
}

// mergeMeta is range r's merge metadata (and its files' bytes by key) as a
// merge pod of meta writes it.
func (mb mergedBuild) mergeMeta(t testing.TB, meta taskmeta.Meta, r int) (staging.MergeMeta, map[string][]byte) {
	m := staging.MergeMeta{FormatVersion: staging.FormatVersion, Task: meta, Range: r, Ranges: mb.ranges()}
	files := map[string][]byte{}
	lo, hi := mb.rowsOf(r)
	for _, e := range meta.ElementIDs {
		el := staging.MergedElement{Element: e, Entries: int64(hi - lo)}
		if r > 0 {
			el.Lower = bound(mb.bounds[r-1])
		}
		if r < len(mb.bounds) {
			el.Upper = bound(mb.bounds[r])
		}
		if hi > lo {
			key := staging.MergeFileKey(r, e)
			files[key] = sstable(t, e, span(lo, hi))
			f := fileOf(key, e, files[key])
			f.KeyRange = &staging.KeyRange{First: entryKey(lo), Last: entryKey(hi - 1)}
			el.File = &f
		}
		m.Elements = append(m.Elements, el)
	}
	return m, files
}

// stage stages the partitions and then every range's merge output; change,
// if not nil, alters each range's metadata before it is written.
func (mb mergedBuild) stage(t testing.TB, b storage.Bucket, meta taskmeta.Meta, change func(*staging.MergeMeta)) {
	t.Helper()
	mb.parts.stage(t, b, meta)
	for r := range mb.ranges() {
		mb.stageRange(t, b, meta, r, change)
	}
}

// stageRange stages range r's merged files and, last, its metadata, the
// way the merge does.
func (mb mergedBuild) stageRange(t testing.TB, b storage.Bucket, meta taskmeta.Meta, r int, change func(*staging.MergeMeta)) {
	t.Helper()
	m, files := mb.mergeMeta(t, meta, r)
	for _, e := range m.Elements {
		if e.File == nil {
			continue
		}
		f, err := staging.WriteMergeFile(ctx, b, r, e.Element, bytes.NewReader(files[e.File.Path]))
		if err != nil {
			t.Fatal(err)
		}
		if f.SHA256 != e.File.SHA256 || f.Size != e.File.Size {
			t.Fatalf("staged %s as %+v, want %+v", f.Path, f, *e.File)
		}
	}
	if change != nil {
		change(&m)
	}
	if err := staging.WriteMergeMeta(ctx, b, m); err != nil {
		t.Fatal(err)
	}
}

// want is what a commit of the merged build leaves at final names: the
// ranges with entries, numbered densely.
func (mb mergedBuild) want(t testing.TB) map[string]string {
	out := map[string]string{}
	n := 0
	for r := range mb.ranges() {
		lo, hi := mb.rowsOf(r)
		if hi == lo {
			continue
		}
		for _, e := range task().ElementIDs {
			out[commit.FinalKey(n, e, staging.ExtIndex)] = string(sstable(t, e, span(lo, hi)))
		}
		n++
	}
	return out
}

func (mb mergedBuild) opts() commit.Options {
	o := mb.parts.opts()
	o.MergeRanges = mb.ranges()
	return o
}

// sortedBuild is build workers' real output: 3 partitions of SSTables
// whose key ranges overlap.
var sortedBuild = build{files: [][]int64{{3, 4}, {3, 4}, {3, 4}}, sorted: true}

// sortedTask is the task of sortedBuild: the merge reads its partition
// count from the task.
func sortedTask() taskmeta.Meta {
	m := task()
	m.Partitions = len(sortedBuild.files)
	return m
}
