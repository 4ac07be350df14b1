//go:build unix

package commit_test

import (
	"bytes"
	"fmt"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/indexbuild/indexbuild/internal/commit"
	"github.com/indexbuild/indexbuild/internal/staging"
	"github.com/indexbuild/indexbuild/internal/storage"
	"github.com/indexbuild/indexbuild/internal/storage/storagetest"
)

// BenchmarkFinalize times a whole finalize of n staged files (8 elements
// per partition, 64 KiB each) against the floor: the store's own copy calls
// for the same files at the same parallelism. Finalize adds listing,
// metadata reads, copy checks, the marker and cleanup on top.
//
// Every iteration stages two fresh locations (untimed) and times the floor
// on one and finalize on the other, back to back, so both see the same load
// on a shared machine; the reported ratio is of their sums. cpu-ratio
// compares the CPU time this process spent instead, which other processes'
// load does not skew (for s3 it leaves out the server's share).
//
//	go test -run '^$' -bench . ./internal/commit/
func BenchmarkFinalize(b *testing.B) {
	for _, s := range []storagetest.Store{storagetest.File(), storagetest.S3()} {
		for _, n := range []int{8, 64, 512} {
			b.Run(fmt.Sprintf("%s/files=%d", s.Name, n), func(b *testing.B) {
				benchFinalize(b, s, n)
			})
		}
	}
}

func benchFinalize(b *testing.B, s storagetest.Store, n int) {
	const perPartition, size = 8, 64 << 10
	root := s.Open(b)
	meta := task()
	meta.ElementIDs = []int64{1, 2, 3, 4, 5, 6, 7, 8}
	partitions := n / perPartition
	data := bytes.Repeat([]byte("0123456789abcdef"), size/16)
	stage := func(name string) (storage.Bucket, []staging.File) {
		bk := storagetest.OpenURI(b, commit.ObjectURI(root.URI(), name))
		var files []staging.File
		for p := range partitions {
			pm := staging.PartitionMeta{Task: meta, Partition: p, Partitions: partitions}
			for _, e := range meta.ElementIDs {
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
			files = append(files, pm.Files...)
		}
		return bk, files
	}

	var floor, finalize, floorCPU, finalizeCPU time.Duration
	b.SetBytes(int64(n * size))
	b.ResetTimer()
	for i := range b.N {
		b.StopTimer()
		floorBucket, files := stage(fmt.Sprintf("floor%d", i))
		finalizeBucket, _ := stage(fmt.Sprintf("finalize%d", i))
		b.StartTimer()

		start, startCPU := time.Now(), cpuTime(b)
		var g errgroup.Group
		g.SetLimit(benchParallelism)
		for j, f := range files {
			g.Go(func() error { return floorBucket.Copy(ctx, fmt.Sprintf("copy_%d", j), f.Path) })
		}
		if err := g.Wait(); err != nil {
			b.Fatal(err)
		}
		floor += time.Since(start)
		floorCPU += cpuTime(b) - startCPU

		start, startCPU = time.Now(), cpuTime(b)
		if _, err := commit.Finalize(ctx, finalizeBucket, commit.Options{Task: meta, Partitions: partitions, CopyParallelism: benchParallelism}); err != nil {
			b.Fatal(err)
		}
		finalize += time.Since(start)
		finalizeCPU += cpuTime(b) - startCPU
	}
	b.ReportMetric(float64(finalize)/1e6/float64(b.N), "finalize-ms/op")
	b.ReportMetric(float64(floor)/1e6/float64(b.N), "floor-ms/op")
	b.ReportMetric(float64(finalize)/float64(floor), "ratio")
	b.ReportMetric(float64(finalizeCPU)/float64(floorCPU), "cpu-ratio")
}

const benchParallelism = commit.DefaultCopyParallelism

// cpuTime is the user and system CPU time this process has used.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
