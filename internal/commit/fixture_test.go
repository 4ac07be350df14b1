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
		pm := staging.PartitionMeta{Task: meta, Partition: p, Partitions: len(bd.files), Rows: int64(10 * p)}
		for _, e := range elements {
			f, err := staging.WritePartFile(ctx, b, p, e, staging.ExtIndex, bytes.NewReader(content(p, e, bd.size)))
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

// objects returns every object's content under prefix ("" for all).
func objects(t testing.TB, b storage.Bucket, prefix string) map[string]string {
	t.Helper()
	list, err := b.List(ctx, prefix)
	if err != nil {
		t.Fatal(err)
	}
	out := make(map[string]string, len(list))
	for _, a := range list {
		data, err := storage.ReadAll(ctx, b, a.Key)
		if err != nil {
			t.Fatal(err)
		}
		out[a.Key] = string(data)
	}
	return out
}

// finals returns the committed-looking objects: everything outside staging/
// except the marker.
func finals(t testing.TB, b storage.Bucket) map[string]string {
	t.Helper()
	out := objects(t, b, "")
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
