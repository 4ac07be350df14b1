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
	"github.com/indexbuild/indexbuild/internal/output"
	"github.com/indexbuild/indexbuild/internal/staging"
	"github.com/indexbuild/indexbuild/internal/storage"
	"github.com/indexbuild/indexbuild/internal/storage/storagetest"
	"github.com/indexbuild/indexbuild/internal/taskmeta"
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
// process spent instead, which other processes' load does not skew (for the
// servers it leaves out the server's share). It runs on file:// and on every
// real server (s3: versitygw, gcs: fake-gcs-server, azure: Azurite);
// `make bench-finalize` prints one run of each.
//
//	go test -run '^$' -bench . ./internal/commit/
func BenchmarkFinalize(b *testing.B) {
	for _, s := range append([]storagetest.Store{storagetest.File()}, storagetest.Servers()...) {
		for _, n := range []int{8, 64, 512} {
			b.Run(fmt.Sprintf("%s/files=%d", s.Name, n), func(b *testing.B) {
				benchFinalize(b, s, n)
			})
		}
	}
}

// benchPerPartition and benchFileSize shape the staging of the benchmarks: n files of size bytes, 8
// elements per partition.
const benchPerPartition, benchFileSize = 8, 64 << 10

func benchTask(jobID int64) taskmeta.Meta {
	meta := task()
	meta.JobID, meta.ElementIDs = jobID, []int64{1, 2, 3, 4, 5, 6, 7, 8}
	return meta
}

// benchStage stages n files of meta in bk the way workers do.
func benchStage(b *testing.B, bk storage.Bucket, meta taskmeta.Meta, n int) []staging.File {
	partitions := n / benchPerPartition
	data := bytes.Repeat([]byte("0123456789abcdef"), benchFileSize/16)
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
	return files
}

// BenchmarkPublish times what the output layout adds to a finalize: the
// owner check, the superseded check, the pointer's conditional replace and
// retention. Every iteration stages three fresh locations (untimed) and
// times, back to back, the finalize of before versioned outputs
// (CommitVersion on a location of its own: copies, marker, cleanup) and two
// whole Finalizes of an owned output root: "first", a root with nothing
// published (retention finds nothing to remove), and "steady", a root with
// two published versions of n files each and keep 2, so retention removes
// the oldest version (n files and its marker), as every publish does in a
// steady state. The ratios are of sums over all iterations.
//
//	go test -run '^$' -bench Publish -benchtime 3x ./internal/commit/
func BenchmarkPublish(b *testing.B) {
	for _, s := range append([]storagetest.Store{storagetest.File()}, storagetest.Servers()...) {
		for _, n := range []int{8, 64, 512} {
			b.Run(fmt.Sprintf("%s/files=%d", s.Name, n), func(b *testing.B) {
				benchPublish(b, s, n)
			})
		}
	}
}

func benchPublish(b *testing.B, s storagetest.Store, n int) {
	root := s.Open(b)
	partitions := n / benchPerPartition
	opts := func(jobID int64) commit.Options {
		return commit.Options{Task: benchTask(jobID), Partitions: partitions, CopyParallelism: benchParallelism,
			Owner: output.Owner{Namespace: "bench", Name: "out"}, KeepVersions: 2}
	}
	var base, first, steady time.Duration
	timed := func(d *time.Duration, f func() error) {
		start := time.Now()
		if err := f(); err != nil {
			b.Fatal(err)
		}
		*d += time.Since(start)
	}
	b.ResetTimer()
	for i := range b.N {
		b.StopTimer()
		old := storagetest.OpenURI(b, storage.ObjectURI(root.URI(), fmt.Sprintf("base%d", i)))
		benchStage(b, old, benchTask(3), n)
		fresh := storagetest.OpenURI(b, storage.ObjectURI(root.URI(), fmt.Sprintf("first%d", i)))
		benchStage(b, output.Version(fresh, 3), benchTask(3), n)
		busy := storagetest.OpenURI(b, storage.ObjectURI(root.URI(), fmt.Sprintf("steady%d", i)))
		for _, job := range []int64{1, 2, 3} {
			benchStage(b, output.Version(busy, job), benchTask(job), n)
			if job < 3 {
				if _, err := commit.Finalize(ctx, busy, opts(job)); err != nil {
					b.Fatal(err)
				}
			}
		}
		runtime.GC()
		// Write back what staging dirtied (here or in the S3 server), so
		// that no run pays for the staging of another.
		syscall.Sync()
		b.StartTimer()
		runs := []func(){
			func() { timed(&base, func() error { _, err := commit.CommitVersion(ctx, old, opts(3)); return err }) },
			func() { timed(&first, func() error { _, err := commit.Finalize(ctx, fresh, opts(3)); return err }) },
			func() { timed(&steady, func() error { _, err := commit.Finalize(ctx, busy, opts(3)); return err }) },
		}
		// Rotate the order, so none always gets the warmer turn.
		for j := range runs {
			runs[(i+j)%len(runs)]()
		}
		b.StopTimer()
		if _, p, err := commit.OpenPublished(ctx, busy); err != nil || p.JobID != 3 {
			b.Fatalf("steady root publishes %d, %v", p.JobID, err)
		}
		if list, err := busy.List(ctx, output.VersionPrefix(1)); err != nil || len(list) != 0 {
			b.Fatalf("retention left %d objects of version 1, %v", len(list), err)
		}
		b.StartTimer()
	}
	ms := func(d time.Duration) float64 { return float64(d) / 1e6 / float64(b.N) }
	b.ReportMetric(ms(base), "finalize-ms/op")
	b.ReportMetric(ms(first), "first-ms/op")
	b.ReportMetric(ms(steady), "steady-ms/op")
	b.ReportMetric(float64(first)/float64(base), "first-ratio")
	b.ReportMetric(float64(steady)/float64(base), "steady-ratio")
}

func benchFinalize(b *testing.B, s storagetest.Store, n int) {
	root := s.Open(b)
	meta := benchTask(task().JobID)
	partitions := n / benchPerPartition
	const size = benchFileSize
	stage := func(name string) (storage.Bucket, []staging.File) {
		bk := storagetest.OpenURI(b, storage.ObjectURI(root.URI(), name))
		return bk, benchStage(b, bk, meta, n)
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
