package staging_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"github.com/indexbuild/indexbuild/internal/retry"
	"github.com/indexbuild/indexbuild/internal/staging"
	"github.com/indexbuild/indexbuild/internal/storage"
	"github.com/indexbuild/indexbuild/internal/storage/storagetest"
	"github.com/indexbuild/indexbuild/internal/taskmeta"
)

func task() taskmeta.Meta {
	return taskmeta.Meta{JobID: 7, SchemaID: 1, TableID: 42, ElementType: taskmeta.ElementTypeIndex, ElementIDs: []int64{3, 4}}
}

func TestTaskManifest(t *testing.T) {
	ctx := context.Background()
	b := storagetest.Mem().Open(t)
	if err := staging.EnsureTaskManifest(ctx, b, task()); err != nil {
		t.Fatal(err)
	}
	same := task()
	same.ElementIDs = []int64{4, 3}
	if err := staging.EnsureTaskManifest(ctx, b, same); err != nil {
		t.Fatalf("same task, elements reordered: %v", err)
	}
	other := task()
	other.JobID, other.ElementIDs = 8, []int64{9}
	err := staging.EnsureTaskManifest(ctx, b, other)
	if retry.ExitCode(err) != retry.ExitStaleMeta {
		t.Fatalf("other job: %v, want stale metadata", err)
	}
	for _, want := range []string{"job 7", "job 8", "table 42", "elements [3,4]", "elements [9]", staging.TaskManifestKey} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("message %q lacks %q", err, want)
		}
	}
	if got, _ := staging.ReadTaskManifest(ctx, b); got.JobID != 7 {
		t.Fatalf("manifest overwritten: %+v", got)
	}
}

func TestPartitionRoundTrip(t *testing.T) {
	ctx := context.Background()
	b := storagetest.Mem().Open(t)
	f, err := staging.WritePartFile(ctx, b, 2, 3, staging.ExtIndex, strings.NewReader("sorted keys"))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte("sorted keys"))
	want := staging.File{Path: "staging/part_2_3.sst", Element: 3, Size: 11, SHA256: hex.EncodeToString(sum[:])}
	if f != want {
		t.Fatalf("WritePartFile = %+v, want %+v", f, want)
	}
	if _, exists, err := staging.ReadPartitionMeta(ctx, b, 2); exists || err != nil {
		t.Fatalf("ReadPartitionMeta before write: exists=%v err=%v", exists, err)
	}
	m := staging.PartitionMeta{Task: task(), Partition: 2, Partitions: 4, Files: []staging.File{f}, Rows: 5, Bytes: 11}
	if err := staging.WritePartitionMeta(ctx, b, m); err != nil {
		t.Fatal(err)
	}
	got, exists, err := staging.ReadPartitionMeta(ctx, b, 2)
	if err != nil || !exists || got.Rows != 5 || got.FormatVersion != staging.FormatVersion || got.Files[0] != f {
		t.Fatalf("ReadPartitionMeta = %+v, %v, %v", got, exists, err)
	}
	// A retried worker of the same task may rewrite its metadata...
	if err := staging.WritePartitionMeta(ctx, b, m); err != nil {
		t.Fatal(err)
	}
	// ...a worker of another task may not.
	stale := m
	stale.Task.JobID = 8
	if err := staging.WritePartitionMeta(ctx, b, stale); !errors.Is(err, retry.ErrStaleMeta) {
		t.Fatalf("overwrite by another job = %v, want stale metadata", err)
	}
	if got, _, _ := staging.ReadPartitionMeta(ctx, b, 2); got.Task.JobID != 7 {
		t.Fatal("stale writer overwrote partition metadata")
	}
}

func TestWritePartitionMetaRejectsInconsistentMeta(t *testing.T) {
	b := storagetest.Mem().Open(t)
	sha := strings.Repeat("a", 64)
	tests := map[string]staging.PartitionMeta{
		"file of another partition": {Task: task(), Partition: 1, Partitions: 2, Files: []staging.File{{Path: "staging/part_0_3.sst", Element: 3, SHA256: sha}}},
		"element not in task":       {Task: task(), Partition: 0, Partitions: 1, Files: []staging.File{{Path: "staging/part_0_5.sst", Element: 5, SHA256: sha}}},
		"bytes do not add up":       {Task: task(), Partition: 0, Partitions: 1, Files: []staging.File{{Path: "staging/part_0_3.sst", Element: 3, Size: 2, SHA256: sha}}, Bytes: 3},
		"bad checksum":              {Task: task(), Partition: 0, Partitions: 1, Files: []staging.File{{Path: "staging/part_0_3.sst", Element: 3, SHA256: "xyz"}}},
		"partition out of range":    {Task: task(), Partition: 2, Partitions: 2},
		"final path":                {Task: task(), Partition: 0, Partitions: 1, Files: []staging.File{{Path: "part_0_3.sst", Element: 3, SHA256: sha}}},
	}
	for name, m := range tests {
		t.Run(name, func(t *testing.T) {
			err := staging.WritePartitionMeta(context.Background(), b, m)
			if !errors.Is(err, retry.ErrInvalidInput) {
				t.Fatalf("WritePartitionMeta = %v, want invalid input", err)
			}
			if _, err := b.Attributes(context.Background(), staging.PartitionMetaKey(m.Partition)); !errors.Is(err, storage.ErrNotFound) {
				t.Fatalf("invalid metadata was written: %v", err)
			}
		})
	}
}

func TestKeys(t *testing.T) {
	if p, ok := staging.ParsePartitionMetaKey(staging.PartitionMetaKey(12)); !ok || p != 12 {
		t.Errorf("ParsePartitionMetaKey round trip = %d, %v", p, ok)
	}
	p, e, ext, ok := staging.ParsePartFileKey(staging.PartFileKey(3, 99, staging.ExtFulltext))
	if !ok || p != 3 || e != 99 || ext != "ft" {
		t.Errorf("ParsePartFileKey round trip = %d %d %q %v", p, e, ext, ok)
	}
	for _, k := range []string{"staging/_task.json", "staging/part_01.json", "staging/part_-1.json", "staging/part_1_2.sst", "part_1.json", "staging/part_x.json"} {
		if _, ok := staging.ParsePartitionMetaKey(k); ok {
			t.Errorf("ParsePartitionMetaKey(%q) accepted", k)
		}
	}
	for _, k := range []string{"staging/part_1.json", "staging/part_1_2", "staging/part_1_02.sst", "staging/part_1_0.sst", "staging/part_1_2.a.b", "part_1_2.sst"} {
		if _, _, _, ok := staging.ParsePartFileKey(k); ok {
			t.Errorf("ParsePartFileKey(%q) accepted", k)
		}
	}
}
