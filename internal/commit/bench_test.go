//go:build unix

package commit_test

import (
	"bytes"
	"fmt"
	"runtime"
	"strings"
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
// per partition, 64 KiB each, staged the way workers stage them, task
// manifest included) against the floor: the store's plain copy calls
// (gocloud's Copy: an in-kernel file copy on file://, CopyObject on S3) for
// the same files at the same parallelism, with no checking at all.
// Finalize adds the marker check, listing, metadata reads, copy checks, the
// marker and cleanup on top.
//
// Every iteration stages two fresh locations (untimed) and times the floor
// on one and finalize on the other, back to back, so both see the same load
// on a shared machine (which goes first alternates); the reported ratios are
// of their sums. bound-ratio is roughly the least a finalize following the
// design can reach: the floor plus two small round trips (one to read the marker
// and staging before copying, one to create the marker after). commit-* is
// finalize up to the created marker (the commit), total-* includes the
// best-effort staging cleanup after it. cpu-* compares the CPU time this
// process spent instead, which other processes' load does not skew (for s3
// it leaves out the server's share).
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
		bk := storagetest.OpenURI(b, storage.ObjectURI(root.URI(), name))
		if err := staging.EnsureTaskManifest(ctx, bk, meta); err != nil {
			b.Fatal(err)
		}
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

	var floor, commit_, total, rtts, floorCPU, commitCPU, totalCPU time.Duration
	runFloor := func(bk storage.Bucket, files []staging.File) {
		plain, ok := storage.Blob(bk)
		if !ok {
			b.Fatal("no gocloud bucket under the floor's bucket")
		}
		start, startCPU := time.Now(), cpuTime(b)
		var g errgroup.Group
		g.SetLimit(benchParallelism)
		for j, f := range files {
			g.Go(func() error { return plain.Copy(ctx, fmt.Sprintf("copy_%d", j), f.Path, nil) })
		}
		if err := g.Wait(); err != nil {
			b.Fatal(err)
		}
		floor += time.Since(start)
		floorCPU += cpuTime(b) - startCPU
	}
	runFinalize := func(bk storage.Bucket) {
		start, startCPU := time.Now(), cpuTime(b)
		committed := func() {
			commit_ += time.Since(start)
			commitCPU += cpuTime(b) - startCPU
		}
		opts := commit.Options{Task: meta, Partitions: partitions, CopyParallelism: benchParallelism}
		if _, err := commit.FinalizeCommitted(ctx, bk, opts, committed); err != nil {
			b.Fatal(err)
		}
		total += time.Since(start)
		totalCPU += cpuTime(b) - startCPU
	}
	// The protocol's least cost beyond the copies: one round trip to read
	// the marker and staging before copying, one to create the marker after.
	// Timed as one small read and one small create-if-absent.
	runRoundTrips := func(bk storage.Bucket, i int) {
		start := time.Now()
		if _, _, err := staging.ReadPartitionMeta(ctx, bk, 0); err != nil {
			b.Fatal(err)
		}
		if err := bk.Create(ctx, fmt.Sprintf("probe%d", i), strings.NewReader("{}")); err != nil {
			b.Fatal(err)
		}
		rtts += time.Since(start)
	}

	b.SetBytes(int64(n * size))
	b.ResetTimer()
	for i := range b.N {
		b.StopTimer()
		floorBucket, files := stage(fmt.Sprintf("floor%d", i))
		finalizeBucket, _ := stage(fmt.Sprintf("finalize%d", i))
		runtime.GC() // staging's garbage is collected on nobody's time
		b.StartTimer()
		// Alternate which goes first, so neither always gets the warmer
		// (or the more loaded) turn.
		if i%2 == 0 {
			runFloor(floorBucket, files)
			runFinalize(finalizeBucket)
		} else {
			runFinalize(finalizeBucket)
			runFloor(floorBucket, files)
		}
		runRoundTrips(floorBucket, i)
	}
	ms := func(d time.Duration) float64 { return float64(d) / 1e6 / float64(b.N) }
	b.ReportMetric(ms(floor), "floor-ms/op")
	b.ReportMetric(ms(commit_), "commit-ms/op")
	b.ReportMetric(ms(total), "total-ms/op")
	b.ReportMetric(ms(rtts), "2rtt-ms/op")
	b.ReportMetric(float64(commit_)/float64(floor), "commit-ratio")
	b.ReportMetric(float64(total)/float64(floor), "total-ratio")
	b.ReportMetric(float64(floor+rtts)/float64(floor), "bound-ratio")
	b.ReportMetric(float64(commitCPU)/float64(floorCPU), "commit-cpu-ratio")
	b.ReportMetric(float64(totalCPU)/float64(floorCPU), "total-cpu-ratio")
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
