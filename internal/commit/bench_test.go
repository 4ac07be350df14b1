package commit_test

import (
	"bytes"
	"fmt"
	"testing"

	"golang.org/x/sync/errgroup"

	"github.com/indexbuild/indexbuild/internal/commit"
	"github.com/indexbuild/indexbuild/internal/staging"
	"github.com/indexbuild/indexbuild/internal/storage"
	"github.com/indexbuild/indexbuild/internal/storage/storagetest"
	"github.com/indexbuild/indexbuild/internal/taskmeta"
)

// BenchmarkFinalize times a whole finalize of n staged files (8 elements
// per partition, 64 KiB each) next to the floor: the store's own copy calls
// for the same files at the same parallelism. Finalize adds listing,
// metadata reads, copy checks, the marker and cleanup on top.
//
//	go test -run '^$' -bench . ./internal/commit/
func BenchmarkFinalize(b *testing.B) {
	for _, s := range []storagetest.Store{storagetest.File(), storagetest.S3()} {
		for _, n := range []int{8, 64, 512} {
			b.Run(fmt.Sprintf("%s/files=%d/finalize", s.Name, n), func(b *testing.B) {
				benchCommit(b, s, n, func(bk storage.Bucket, bd benchBuild) error {
					_, err := commit.Finalize(ctx, bk, commit.Options{Task: bd.task, Partitions: bd.partitions, CopyParallelism: benchParallelism})
					return err
				})
			})
			b.Run(fmt.Sprintf("%s/files=%d/copy-floor", s.Name, n), func(b *testing.B) {
				benchCommit(b, s, n, func(bk storage.Bucket, bd benchBuild) error {
					g, gctx := errgroup.WithContext(ctx)
					g.SetLimit(benchParallelism)
					for i, f := range bd.files {
						g.Go(func() error { return bk.Copy(gctx, fmt.Sprintf("copy_%d", i), f.Path) })
					}
					return g.Wait()
				})
			})
		}
	}
}

const benchParallelism = commit.DefaultCopyParallelism

type benchBuild struct {
	task       taskmeta.Meta
	partitions int
	files      []staging.File
}

// benchCommit stages n files into a fresh location per iteration (untimed)
// and times run on it.
func benchCommit(b *testing.B, s storagetest.Store, n int, run func(storage.Bucket, benchBuild) error) {
	const perPartition, size = 8, 64 << 10
	root := s.Open(b)
	bd := benchBuild{task: task(), partitions: n / perPartition}
	bd.task.ElementIDs = []int64{1, 2, 3, 4, 5, 6, 7, 8}
	data := bytes.Repeat([]byte("0123456789abcdef"), size/16)
	b.SetBytes(int64(n * size))
	b.ResetTimer()
	for i := range b.N {
		b.StopTimer()
		bk := storagetest.OpenURI(b, commit.ObjectURI(root.URI(), fmt.Sprintf("iter%d", i)))
		bd.files = bd.files[:0]
		for p := range bd.partitions {
			pm := staging.PartitionMeta{Task: bd.task, Partition: p, Partitions: bd.partitions}
			for _, e := range bd.task.ElementIDs {
				f, err := staging.WritePartFile(ctx, bk, p, e, staging.ExtIndex, bytes.NewReader(data))
				if err != nil {
					b.Fatal(err)
				}
				pm.Files = append(pm.Files, f)
				pm.Bytes += f.Size
			}
			if err := staging.WritePartitionMeta(ctx, bk, pm); err != nil {
				b.Fatal(err)
			}
			bd.files = append(bd.files, pm.Files...)
		}
		b.StartTimer()
		if err := run(bk, bd); err != nil {
			b.Fatal(err)
		}
	}
}
