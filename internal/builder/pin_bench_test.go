package builder

// Benchmarks of input pinning against what every worker did before it:
// list the table and read every Parquet footer. Run with
//
//	go test ./internal/builder -run '^$' -bench Pinning -benchtime 3x
//
// Tables of 1,000 and 10,000 data files (20 rows each) on file:// and on
// S3 (versitygw on loopback: every request is a round trip); a worker is
// partition 0 of 8. "listing+footers" is the old per-worker
// plan; "take" is the first worker's snapshot (listing with versions,
// footers read 16 at a time, create-if-absent write); "pinned worker" is
// every other worker: read and decode the snapshot, plan, and check its
// share against the store after reading.

import (
	"context"
	"fmt"
	"testing"

	"github.com/indexbuild/indexbuild/internal/gentable"
	"github.com/indexbuild/indexbuild/internal/partition"
	"github.com/indexbuild/indexbuild/internal/rows"
	"github.com/indexbuild/indexbuild/internal/staging"
	"github.com/indexbuild/indexbuild/internal/storage"
	"github.com/indexbuild/indexbuild/internal/storage/storagetest"
)

const benchPartitions = 8

func BenchmarkPinning(b *testing.B) {
	for _, store := range []storagetest.Store{storagetest.File(), storagetest.S3()} {
		for _, format := range []rows.Format{rows.JSONL, rows.Parquet} {
			for _, files := range []int{1000, 10000} {
				b.Run(fmt.Sprintf("%s/%s/files=%d", store.Name, format, files), func(b *testing.B) {
					benchPinning(b, store.Open(b), format, files)
				})
			}
		}
	}
}

func benchPinning(b *testing.B, src storage.Bucket, format rows.Format, files int) {
	ctx := context.Background()
	if err := gentable.Generate(ctx, src, gentable.Options{Rows: 20 * files, Files: files, Format: format, RowGroupRows: 10}); err != nil {
		b.Fatal(err)
	}
	sc := &rows.Scanner{Open: bucketOpener{src}}
	b.Run("listing+footers", func(b *testing.B) {
		for b.Loop() {
			if n := listAndReadFooters(b, src, sc); n != files {
				b.Fatalf("%d files", n)
			}
		}
	})
	var snap staging.Snapshot
	b.Run("take", func(b *testing.B) {
		for b.Loop() {
			out := storagetest.File().Open(b)
			var err error
			snap, err = TakeSnapshot(ctx, src, src.URI(), sc, "")
			if err == nil {
				_, _, err = staging.EnsureSnapshot(ctx, out, snap)
			}
			if err != nil || len(snap.Files) != files {
				b.Fatal(err)
			}
		}
	})
	out := storagetest.File().Open(b)
	if _, _, err := staging.EnsureSnapshot(ctx, out, snap); err != nil {
		b.Fatal(err)
	}
	b.Run("pinned-worker", func(b *testing.B) {
		for b.Loop() {
			snap, _, err := staging.ReadSnapshot(ctx, out, staging.SnapshotKey)
			if err != nil {
				b.Fatal(err)
			}
			shares, _, err := planShare(snap, "", 0, benchPartitions)
			if err != nil || len(shares) == 0 {
				b.Fatal(err)
			}
			if err := checkPinned(ctx, src, snap.Source, pinnedFiles(shares)); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// listAndReadFooters is how every worker planned before inputs were
// pinned: list the table, read each Parquet file's footer one after the
// other, plan.
func listAndReadFooters(b *testing.B, src storage.Bucket, sc *rows.Scanner) int {
	ctx := context.Background()
	objs, err := src.List(ctx, "")
	if err != nil {
		b.Fatal(err)
	}
	var sources []partition.Source
	for _, o := range objs {
		f, ok, err := rows.Classify(o.Key, o.Size, "")
		if err != nil {
			b.Fatal(err)
		}
		if !ok {
			continue
		}
		pieces, err := sc.Pieces(ctx, f)
		if err != nil {
			b.Fatal(err)
		}
		sources = append(sources, partition.Source{Path: f.Path, Size: f.Size, Pieces: pieces})
	}
	partition.Plan(sources, 0, benchPartitions)
	return len(sources)
}
