package merge_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/indexbuild/indexbuild/internal/gentable"
	"github.com/indexbuild/indexbuild/internal/merge"
	"github.com/indexbuild/indexbuild/internal/rows"
	"github.com/indexbuild/indexbuild/internal/sstindex"
	"github.com/indexbuild/indexbuild/internal/staging"
	"github.com/indexbuild/indexbuild/internal/storage"
	"github.com/indexbuild/indexbuild/internal/storage/storagetest"
)

// BenchmarkMerge merges every range of a 4-partition build of 200,000 rows
// (four index elements) on file://, one range after the other, and reports
// beside it the build of all partitions, one after the other
// (build-seconds), and the bytes the merge read per byte the build staged.
func BenchmarkMerge(b *testing.B) {
	src := storagetest.Mem().Open(b)
	if err := gentable.Generate(ctx, src, gentable.Options{Rows: 200000, Seed: 11, Files: 3, Format: rows.JSONL}); err != nil {
		b.Fatal(err)
	}
	task := booksTask(4)
	out := storagetest.File().Open(b)
	start := time.Now()
	stage(b, src, out, task)
	build := time.Since(start)
	var staged int64
	for p := range task.Partitions {
		m, _, err := staging.ReadPartitionMeta(ctx, out, p)
		if err != nil {
			b.Fatal(err)
		}
		staged += m.Bytes
	}
	for _, ranges := range []int{1, 4} {
		b.Run(fmt.Sprintf("ranges=%d", ranges), func(b *testing.B) {
			stats := &sstindex.ReadStats{}
			for b.Loop() {
				for r := range ranges {
					if err := out.Delete(ctx, staging.MergeMetaKey(r)); err != nil && !errors.Is(err, storage.ErrNotFound) {
						b.Fatal(err)
					}
					cfg := config(b, out, task, r, ranges)
					cfg.Stats = stats
					if _, err := merge.Run(ctx, cfg); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.ReportMetric(build.Seconds(), "build-seconds")
			b.ReportMetric(float64(stats.Bytes())/float64(b.N)/float64(staged), "read/staged")
		})
	}
}
