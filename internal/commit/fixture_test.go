package commit_test

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/indexbuild/indexbuild/internal/commit"
	"github.com/indexbuild/indexbuild/internal/staging"
	"github.com/indexbuild/indexbuild/internal/storage"
	"github.com/indexbuild/indexbuild/internal/storage/storagetest"
	"github.com/indexbuild/indexbuild/internal/taskmeta"
)

var ctx = context.Background()

func task() taskmeta.Meta {
	return taskmeta.Meta{JobID: 7, SchemaID: 1, TableID: 42, ElementType: taskmeta.ElementTypeIndex, ElementIDs: []int64{3, 4}}
}

func otherJob() taskmeta.Meta {
	m := task()
	m.JobID, m.ElementIDs = 8, []int64{9}
	return m
}

// build describes staged partitions: files[p] lists the elements partition
// p staged (empty: an empty partition).
type build struct {
	files [][]int64
	size  int // bytes per file
	// sorted: the files are build workers' real output, SSTables of the
	// rows i = p, p+P, ... of 0..sortedRows-1 (P partitions), so the
	// partitions' key ranges overlap and only a merge sorts them into one.
	sorted bool
}

// sortedRows is the row count of a sorted build.
const sortedRows = 30

// rows are the rows partition p holds of a sorted build.
func (bd build) rows(p int) []int {
	var rows []int
	for i := p; i < sortedRows; i += len(bd.files) {
		rows = append(rows, i)
	}
	return rows
}

// rowCount is partition p's row count.
func (bd build) rowCount(p int) int64 {
	if bd.sorted {
		return int64(len(bd.rows(p)))
	}
	return int64(10 * p)
}

// data is partition p's staged file of element.
func (bd build) data(t testing.TB, p int, element int64) []byte {
	if bd.sorted {
		return sstable(t, element, bd.rows(p))
	}
	return content(p, element, bd.size)
}

// defaultBuild has an empty partition in the middle, so dense renumbering
// is exercised: partitions 0 and 2 commit as 0 and 1.
var defaultBuild = build{files: [][]int64{{3, 4}, {}, {3, 4}}, size: 3000}

func content(p int, element int64, size int) []byte {
	line := fmt.Sprintf("partition %d element %d\n", p, element)
	return bytes.Repeat([]byte(line), size/len(line)+1)[:size]
}

// stage writes the build the way workers do: task manifest, part files,
// partition metadata.
func (bd build) stage(t testing.TB, b storage.Bucket, meta taskmeta.Meta) {
	t.Helper()
	if err := staging.EnsureTaskManifest(ctx, b, meta); err != nil {
		t.Fatal(err)
	}
	bd.stageParts(t, b, meta)
}

// stageParts writes part files and partition metadata, no manifest.
func (bd build) stageParts(t testing.TB, b storage.Bucket, meta taskmeta.Meta) {
	t.Helper()
	for p, elements := range bd.files {
		pm := staging.PartitionMeta{Task: meta, Partition: p, Partitions: len(bd.files), Rows: bd.rowCount(p)}
		for _, e := range elements {
			f, err := staging.WritePartFile(ctx, b, p, e, staging.ExtIndex, bytes.NewReader(bd.data(t, p, e)))
			if err != nil {
				t.Fatal(err)
			}
			pm.Files = append(pm.Files, f)
			pm.Bytes += f.Size
		}
		if err := staging.WritePartitionMeta(ctx, b, pm); err != nil {
			t.Fatal(err)
		}
	}
}

// want is what a commit of the build must leave at final names.
func (bd build) want() map[string]string {
	out := map[string]string{}
	n := 0
	for p, elements := range bd.files {
		if len(elements) == 0 {
			continue
		}
		for _, e := range elements {
			out[commit.FinalKey(n, e, staging.ExtIndex)] = string(content(p, e, bd.size))
		}
		n++
	}
	return out
}

func (bd build) opts() commit.Options {
	return commit.Options{Task: task(), Partitions: len(bd.files)}
}

// finals returns the committed-looking objects: everything outside staging/
// except the marker.
func finals(t testing.TB, b storage.Bucket) map[string]string {
	t.Helper()
	out := storagetest.Objects(t, b, "")
	maps.DeleteFunc(out, func(k, _ string) bool {
		return k == commit.MarkerKey || strings.HasPrefix(k, staging.Prefix)
	})
	return out
}

// assertCommitted checks a finished commit: final files are exactly want
// (final name to bytes), the marker lists exactly them and no staging/
// path, and Verify agrees.
func assertCommitted(t testing.TB, b storage.Bucket, want map[string]string) commit.Marker {
	t.Helper()
	if got := finals(t, b); !maps.Equal(got, want) {
		t.Fatalf("final files:\n got %v\nwant %v", keys(got), keys(want))
	}
	m, err := commit.Verify(ctx, b, 4)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	listed := map[string]bool{}
	for _, f := range m.Files {
		if strings.HasPrefix(f.Path, staging.Prefix) {
			t.Errorf("marker lists staged path %s", f.Path)
		}
		listed[f.Path] = true
	}
	if len(listed) != len(want) {
		t.Errorf("marker lists %d files, want %d", len(listed), len(want))
	}
	for k := range want {
		if !listed[k] {
			t.Errorf("marker does not list %s", k)
		}
	}
	return m
}

func keys(m map[string]string) []string {
	return slices.Sorted(maps.Keys(m))
}

// rewriteMarker changes b's commit marker in place, as only damage would.
func rewriteMarker(t testing.TB, b storage.Bucket, f func(m *commit.Marker)) {
	t.Helper()
	m, err := commit.ReadMarker(ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	f(&m)
	data, err := commit.EncodeMarker(m)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Write(ctx, commit.MarkerKey, bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
}
