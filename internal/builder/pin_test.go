package builder_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/indexbuild/indexbuild/internal/builder"
	"github.com/indexbuild/indexbuild/internal/commit"
	"github.com/indexbuild/indexbuild/internal/gentable"
	"github.com/indexbuild/indexbuild/internal/output"
	"github.com/indexbuild/indexbuild/internal/retry"
	"github.com/indexbuild/indexbuild/internal/rows"
	"github.com/indexbuild/indexbuild/internal/staging"
	"github.com/indexbuild/indexbuild/internal/storage"
	"github.com/indexbuild/indexbuild/internal/storage/storagetest"
	"github.com/indexbuild/indexbuild/internal/taskmeta"
)

// buildPartition builds partition p of n of task from src into the task's
// version of out.
func buildPartition(t *testing.T, src, out storage.Bucket, task taskmeta.Meta, p, n int) (storage.Bucket, error) {
	t.Helper()
	v := output.Version(out, task.JobID)
	_, err := builder.Build(context.Background(), builder.Config{
		Meta: task, Partition: p, Partitions: n, Source: src, Output: v, TmpDir: t.TempDir(), SortBudget: 1 << 20,
	})
	return v, err
}

// buildPartitions builds every partition of task from src into the task's
// version of out, and returns the version.
func buildPartitions(t *testing.T, src, out storage.Bucket, task taskmeta.Meta, partitions int) storage.Bucket {
	t.Helper()
	var v storage.Bucket
	for p := range partitions {
		var err error
		if v, err = buildPartition(t, src, out, task, p, partitions); err != nil {
			t.Fatalf("partition %d: %v", p, err)
		}
	}
	return v
}

func readSnapshot(t *testing.T, v storage.Bucket) (staging.Snapshot, []byte) {
	t.Helper()
	data, err := storage.ReadAll(context.Background(), v, staging.SnapshotKey)
	if err != nil {
		t.Fatal(err)
	}
	snap, err := staging.DecodeSnapshot(data)
	if err != nil {
		t.Fatal(err)
	}
	return snap, data
}

// TestSnapshotRecord: the first worker records every data file's key, size
// and version, and for Parquet the row-group weights its footer gives; the
// other workers plan from that record, and say so in their metadata.
func TestSnapshotRecord(t *testing.T) {
	ctx := context.Background()
	for _, format := range []rows.Format{rows.JSONL, rows.Parquet} {
		t.Run(string(format), func(t *testing.T) {
			src := generate(t, gentable.Options{Rows: 300, Files: 3, Format: format, RowGroupRows: 40})
			src.Write(ctx, "_SUCCESS", strings.NewReader(""))
			out := storagetest.Mem().Open(t)
			v, err := buildPartition(t, src, out, indexTask, 0, 2)
			if err != nil {
				t.Fatal(err)
			}
			snap, data := readSnapshot(t, v)
			listed, _ := src.List(ctx, "")
			var want []string
			for _, o := range listed {
				if _, ok, _ := rows.Classify(o.Key, o.Size, ""); ok {
					want = append(want, o.Key)
				}
			}
			if len(snap.Files) != 3 || snap.Source != src.URI() || snap.TakenAt.IsZero() {
				t.Fatalf("snapshot %+v, data files %v", snap, want)
			}
			sc := &rows.Scanner{Open: opener{src}}
			for i, f := range snap.Files {
				now, err := storage.StatVersion(ctx, src, f.Key)
				if err != nil || f.Key != want[i] || f.Size != now.Size || f.Version != now.Token || f.Version == "" {
					t.Errorf("file %d: %+v, now %+v (%v)", i, f, now, err)
				}
				rf, _, _ := rows.Classify(f.Key, f.Size, "")
				pieces, err := sc.Pieces(ctx, rf)
				if err != nil || !slices.Equal(f.Pieces, pieces) || (format == rows.Parquet) != (len(f.Pieces) > 0) {
					t.Errorf("%s: pieces %v, footer says %v (%v)", f.Key, f.Pieces, pieces, err)
				}
			}
			// A file added now is not part of the task: partition 1 plans
			// from the record and leaves it alone.
			src.Write(ctx, "part-99999."+string(format), bytes.NewReader(mustRead(t, src, want[0])))
			if _, err := buildPartition(t, src, out, indexTask, 1, 2); err != nil {
				t.Fatal(err)
			}
			if _, again := readSnapshot(t, v); !bytes.Equal(again, data) {
				t.Fatal("partition 1 replaced the snapshot")
			}
			for p := range 2 {
				m, _, err := staging.ReadPartitionMeta(ctx, v, p)
				if err != nil || m.Snapshot != staging.SnapshotDigest(data) {
					t.Errorf("partition %d built from snapshot %q, want %q (%v)", p, m.Snapshot, staging.SnapshotDigest(data), err)
				}
			}
			sum, err := commit.Finalize(ctx, out, commit.Options{Task: indexTask, Partitions: 2})
			if err != nil || sum.Rows != 300 {
				t.Fatalf("finalize: %+v, %v; want the snapshot's 300 rows", sum, err)
			}
			m, err := commit.ReadMarker(ctx, v)
			if err != nil || m.Source == nil || m.Source.SHA256 != staging.SnapshotDigest(data) {
				t.Fatalf("marker source %+v, %v", m.Source, err)
			}
			if kept := mustRead(t, v, commit.SourceKey); !bytes.Equal(kept, data) {
				t.Fatal("the committed version does not keep the snapshot")
			}
		})
	}
}

func mustRead(t *testing.T, b storage.Bucket, key string) []byte {
	t.Helper()
	data, err := storage.ReadAll(context.Background(), b, key)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

type opener struct{ b storage.Bucket }

func (o opener) OpenRange(ctx context.Context, key string, off, n int64) (io.ReadCloser, error) {
	return storage.NewRangeReader(ctx, o.b, key, off, n)
}

// TestInputPinnedOnEveryStore changes the table between the first and the
// second partition of a task, on every store: a file added is not read (the
// index is exactly the snapshot; it used to get 227 rows of neither
// listing), a file that changed or vanished is stale metadata naming it and
// what changed.
func TestInputPinnedOnEveryStore(t *testing.T) {
	ctx := context.Background()
	const file = "part-00000.jsonl"
	tests := []struct {
		name   string
		change func(t *testing.T, src storage.Bucket, data []byte)
		want   func(data []byte) string // nil: builds, from the snapshot
	}{
		{"file added", func(t *testing.T, src storage.Bucket, data []byte) {
			src.Write(ctx, "part-00001.jsonl", bytes.NewReader(data))
		}, nil},
		{"file grown", func(t *testing.T, src storage.Bucket, data []byte) {
			src.Write(ctx, file, bytes.NewReader(append(slices.Clone(data), data[:bytes.IndexByte(data, '\n')+1]...)))
		}, func(data []byte) string {
			return fmt.Sprintf("%s: size %d at task start, %d now", file, len(data), len(data)+bytes.IndexByte(data, '\n')+1)
		}},
		{"file rewritten, same size", func(t *testing.T, src storage.Bucket, data []byte) {
			changed := slices.Clone(data)
			i := bytes.Index(changed, []byte(`"year":`)) + len(`"year":`)
			changed[i] = '1' + (changed[i]-'0')%8 // another digit
			src.Write(ctx, file, bytes.NewReader(changed))
		}, func([]byte) string { return fmt.Sprintf("%s: version ", file) }},
		{"file vanished", func(t *testing.T, src storage.Bucket, data []byte) {
			src.Delete(ctx, file)
		}, func(data []byte) string {
			return fmt.Sprintf("%s: listed at task start (%d bytes), gone now", file, len(data))
		}},
	}
	for _, store := range storagetest.Stores() {
		t.Run(store.Name, func(t *testing.T) {
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					src := generateOn(t, store, gentable.Options{Rows: 300, Files: 1, Format: rows.JSONL})
					data := mustRead(t, src, file)
					out := storagetest.Mem().Open(t)
					// Both partitions read the one file, split by bytes.
					if _, err := buildPartition(t, src, out, indexTask, 0, 2); err != nil {
						t.Fatal(err)
					}
					tt.change(t, src, data)
					_, err := buildPartition(t, src, out, indexTask, 1, 2)
					if tt.want == nil {
						if err != nil {
							t.Fatal(err)
						}
						sum, err := commit.Finalize(ctx, out, commit.Options{Task: indexTask, Partitions: 2})
						if err != nil || sum.Rows != 300 {
							t.Fatalf("finalize: %+v, %v; want exactly the snapshot's 300 rows", sum, err)
						}
						return
					}
					want := tt.want(data)
					if retry.ExitCode(err) != retry.ExitStaleMeta || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), src.URI()) {
						t.Fatalf("err = %v (exit %d), want stale metadata saying %q", err, retry.ExitCode(err), want)
					}
					var changed *staging.SourceChangedError
					if !errors.As(err, &changed) || changed.Pinned.Key != file {
						t.Fatalf("err = %#v, want a SourceChangedError for %s", err, file)
					}
					// A retry fails the same way, before reading anything.
					if _, again := buildPartition(t, src, out, indexTask, 1, 2); again == nil || again.Error() != err.Error() {
						t.Fatalf("retry: %v, first try %v", again, err)
					}
				})
			}
		})
	}
}

// changingBucket rewrites key (appending a line) right after the first
// reader of it opens: the worker reads the old bytes, and only the check
// after its last row can tell.
type changingBucket struct {
	storage.Bucket
	key  string
	once sync.Once
}

func (b *changingBucket) NewReader(ctx context.Context, key string) (io.ReadCloser, error) {
	r, err := b.Bucket.NewReader(ctx, key)
	if err == nil && key == b.key {
		b.once.Do(func() {
			data := mustDataOf(ctx, b.Bucket, key)
			b.Bucket.Write(ctx, key, bytes.NewReader(append(data, data[:bytes.IndexByte(data, '\n')+1]...)))
		})
	}
	return r, err
}

func mustDataOf(ctx context.Context, b storage.Bucket, key string) []byte {
	data, _ := storage.ReadAll(ctx, b, key)
	return data
}

func TestFileChangedWhileReadIsStale(t *testing.T) {
	src := generate(t, gentable.Options{Rows: 300, Files: 1, Format: rows.JSONL})
	changing := &changingBucket{Bucket: src, key: "part-00000.jsonl"}
	_, err := buildPartition(t, changing, storagetest.Mem().Open(t), indexTask, 0, 1)
	if retry.ExitCode(err) != retry.ExitStaleMeta || !strings.Contains(err.Error(), "part-00000.jsonl: size") {
		t.Fatalf("err = %v, want stale metadata naming the file", err)
	}
}

// TestHiddenPathsAreNotData: anything under a path component starting with
// "_" or "." is some tool's own (a failed Spark job's _temporary/, Delta's
// _delta_log/, .spark-staging/): the books table with a copy of its data in
// each used to index 600 rows instead of 300.
func TestHiddenPathsAreNotData(t *testing.T) {
	ctx := context.Background()
	src := generate(t, gentable.Options{Rows: 300, Files: 1, Format: rows.JSONL})
	data := mustRead(t, src, "part-00000.jsonl")
	for _, key := range []string{"_temporary/0/part-00000.jsonl", ".spark-staging/part-00000.jsonl", "_delta_log/00000000000000000000.json", "sub/.part-00000.jsonl.crc", "sub/_SUCCESS"} {
		src.Write(ctx, key, bytes.NewReader(data))
	}
	out := storagetest.Mem().Open(t)
	snap, _ := readSnapshot(t, buildPartitions(t, src, out, indexTask, 2))
	if len(snap.Files) != 1 || snap.Files[0].Key != "part-00000.jsonl" {
		t.Fatalf("snapshot lists %+v", snap.Files)
	}
	sum, err := commit.Finalize(ctx, out, commit.Options{Task: indexTask, Partitions: 2})
	if err != nil || sum.Rows != 300 {
		t.Fatalf("finalize: %+v, %v; want 300 rows", sum, err)
	}
}

// TestManyFilesCheckedByListing: a share of more than a few files is
// checked against one listing of the table instead of a stat per file.
func TestManyFilesCheckedByListing(t *testing.T) {
	ctx := context.Background()
	src := generate(t, gentable.Options{Rows: 400, Files: 40, Format: rows.CSV})
	out := storagetest.Mem().Open(t)
	if _, err := buildPartition(t, src, out, indexTask, 0, 2); err != nil {
		t.Fatal(err)
	}
	const last = "part-00039.csv"
	src.Write(ctx, last, bytes.NewReader(append(mustRead(t, src, last), "\n"...)))
	_, err := buildPartition(t, src, out, indexTask, 1, 2)
	if retry.ExitCode(err) != retry.ExitStaleMeta || !strings.Contains(err.Error(), last+": size") {
		t.Fatalf("err = %v, want stale metadata naming %s", err, last)
	}
}

// TestFinalizeCommitsOneSnapshot: a partition built from another input
// snapshot than the task's (a worker of another build of the task's
// version, or one from before inputs were pinned) is stale metadata for
// finalize: it commits nothing.
func TestFinalizeCommitsOneSnapshot(t *testing.T) {
	ctx := context.Background()
	for name, digest := range map[string]string{"another snapshot": strings.Repeat("ab", 32), "no snapshot": ""} {
		t.Run(name, func(t *testing.T) {
			src := generate(t, gentable.Options{Rows: 100, Files: 2, Format: rows.JSONL})
			out := storagetest.Mem().Open(t)
			v := buildPartitions(t, src, out, indexTask, 2)
			m, _, err := staging.ReadPartitionMeta(ctx, v, 1)
			if err != nil {
				t.Fatal(err)
			}
			m.Snapshot = digest
			if err := staging.WritePartitionMeta(ctx, v, m); err != nil {
				t.Fatal(err)
			}
			_, err = commit.Finalize(ctx, out, commit.Options{Task: indexTask, Partitions: 2})
			if retry.ExitCode(err) != retry.ExitStaleMeta || !strings.Contains(err.Error(), "partition 1 was built from input snapshot") {
				t.Fatalf("err = %v, want stale metadata naming partition 1", err)
			}
			if _, err := commit.ReadMarker(ctx, v); !errors.Is(err, storage.ErrNotFound) {
				t.Fatalf("a marker was written: %v", err)
			}
		})
	}
}
