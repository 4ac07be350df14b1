// Package globalsortbench is `make bench-global-sort`: one run of the data
// plane of an `index` task on a generated CSV table at several partition
// counts — build workers, the global sort's merge, finalize, point queries
// on file:// and a real S3 server — beside DuckDB doing the same job on the
// same CSV and cores. The benchmark is BenchmarkGlobalSort (bench_test.go);
// this file holds what it measures with.
package globalsortbench

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"fmt"
	"io"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/google/pprof/profile"
	"golang.org/x/sync/errgroup"

	"github.com/indexbuild/indexbuild/internal/storage"
)

// countingBucket counts what a reader asks of a store: every request that
// reads (listings, attributes, whole and ranged object reads) and the
// object bytes those reads return. Ranged reads stay ranged through it.
type countingBucket struct {
	storage.Bucket
	requests atomic.Int64
	bytes    atomic.Int64
}

func (c *countingBucket) List(ctx context.Context, prefix string) ([]storage.Attrs, error) {
	c.requests.Add(1)
	return c.Bucket.List(ctx, prefix)
}

func (c *countingBucket) Attributes(ctx context.Context, key string) (storage.Attrs, error) {
	c.requests.Add(1)
	return c.Bucket.Attributes(ctx, key)
}

func (c *countingBucket) NewReader(ctx context.Context, key string) (io.ReadCloser, error) {
	c.requests.Add(1)
	r, err := c.Bucket.NewReader(ctx, key)
	if err != nil {
		return nil, err
	}
	return &countingReader{ReadCloser: r, n: &c.bytes}, nil
}

func (c *countingBucket) NewRangeReader(ctx context.Context, key string, offset, length int64) (io.ReadCloser, error) {
	c.requests.Add(1)
	r, err := storage.NewRangeReader(ctx, c.Bucket, key, offset, length)
	if err != nil {
		return nil, err
	}
	return &countingReader{ReadCloser: r, n: &c.bytes}, nil
}

func (c *countingBucket) ReadRevision(ctx context.Context, key string) ([]byte, storage.Revision, error) {
	c.requests.Add(1)
	data, rev, err := c.Bucket.ReadRevision(ctx, key)
	c.bytes.Add(int64(len(data)))
	return data, rev, err
}

type countingReader struct {
	io.ReadCloser
	n *atomic.Int64
}

func (r *countingReader) Read(p []byte) (int, error) {
	n, err := r.ReadCloser.Read(p)
	r.n.Add(int64(n))
	return n, err
}

// stampedLine is one line a process wrote to stderr and when, from its start.
type stampedLine struct {
	At   time.Duration
	Text string
}

// proc is one finished process.
type proc struct {
	Wall   time.Duration
	CPU    time.Duration // user + system
	MaxRSS int64         // bytes
	Stdout []byte
	Stderr []stampedLine
}

// lastJSONLine is the last line of the process's stdout: the data plane's
// summary.
func (p proc) lastJSONLine() []byte {
	lines := bytes.Split(bytes.TrimSpace(p.Stdout), []byte("\n"))
	return lines[len(lines)-1]
}

// runProc runs a command to its end, stamping its stderr lines as they
// come; a failure quotes the end of its stderr.
func runProc(ctx context.Context, env []string, name string, args ...string) (proc, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = env
	var stdout bytes.Buffer
	cmd.Stdout = &stdout
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return proc{}, err
	}
	var p proc
	var wg sync.WaitGroup
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return proc{}, err
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 4<<20)
		for sc.Scan() {
			p.Stderr = append(p.Stderr, stampedLine{At: time.Since(start), Text: sc.Text()})
		}
	}()
	wg.Wait() // stderr is read to its end before Wait closes the pipe
	err = cmd.Wait()
	p.Wall = time.Since(start)
	p.Stdout = stdout.Bytes()
	if st := cmd.ProcessState; st != nil {
		p.CPU = st.UserTime() + st.SystemTime()
		if ru, ok := st.SysUsage().(*syscall.Rusage); ok {
			p.MaxRSS = ru.Maxrss << 10
		}
	}
	if err != nil {
		var tail []string
		for _, l := range p.Stderr[max(0, len(p.Stderr)-10):] {
			tail = append(tail, l.Text)
		}
		return p, fmt.Errorf("%s %s: %w\n%s", name, strings.Join(args, " "), err, strings.Join(tail, "\n"))
	}
	return p, nil
}

// runPool runs fn(0..n-1), at most limit at a time, and returns the wall
// time from the first start to the last end; the first error stops it.
func runPool(ctx context.Context, n, limit int, fn func(ctx context.Context, i int) error) (time.Duration, error) {
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(limit)
	start := time.Now()
	for i := range n {
		g.Go(func() error { return fn(ctx, i) })
	}
	err := g.Wait()
	return time.Since(start), err
}

// workerPhases splits a build worker's run by its stderr lines (with
// --progress-interval longer than the run, it prints the final progress
// line when its scan ends and one line per staged element file):
// scan is from the process start to the scan's end (loading the catalog,
// pinning the input, decoding rows, encoding keys and sorting them in
// memory-bounded runs); write is from there to the last staged element
// (merging the runs, writing the SSTables and uploading them); rest is
// what follows (partition metadata, exit). ok is false when the lines are
// not there.
func workerPhases(p proc) (scan, write, rest time.Duration, ok bool) {
	var scanEnd, lastStaged time.Duration
	for _, l := range p.Stderr {
		switch {
		case strings.Contains(l.Text, "% of share read"):
			scanEnd = l.At
		case strings.Contains(l.Text, " staged, ") && scanEnd > 0:
			lastStaged = l.At
		}
	}
	if scanEnd == 0 || lastStaged == 0 {
		return 0, 0, 0, false
	}
	return scanEnd, lastStaged - scanEnd, p.Wall - lastStaged, true
}

// cpuBucket names a share of a CPU profile: the samples whose innermost
// frame of a function with one of these name prefixes is on the stack.
type cpuBucket struct {
	Name     string
	Prefixes []string
}

// cpuShares attributes every sample of prof to the bucket of its innermost
// matching frame (buckets listed first win ties in one frame), or to
// "other"; it returns CPU time per bucket and the total.
func cpuShares(prof *profile.Profile, buckets []cpuBucket) (map[string]time.Duration, time.Duration) {
	vi := len(prof.SampleType) - 1 // cpu nanoseconds
	shares := map[string]time.Duration{}
	var total time.Duration
	for _, s := range prof.Sample {
		d := time.Duration(s.Value[vi])
		total += d
		shares[sampleBucket(s, buckets)] += d
	}
	return shares, total
}

func sampleBucket(s *profile.Sample, buckets []cpuBucket) string {
	for _, loc := range s.Location {
		// Inlined functions come first in a location's lines.
		for _, line := range loc.Line {
			if line.Function == nil {
				continue
			}
			for _, b := range buckets {
				for _, p := range b.Prefixes {
					if strings.HasPrefix(line.Function.Name, p) {
						return b.Name
					}
				}
			}
		}
	}
	return "other"
}

// funcCost is a function's cumulative CPU in a profile: the samples with
// it anywhere on the stack.
type funcCost struct {
	Name string
	Cum  time.Duration
}

// topCumulative returns the n functions keep accepts with the most
// cumulative CPU, most first.
func topCumulative(prof *profile.Profile, n int, keep func(name string) bool) []funcCost {
	vi := len(prof.SampleType) - 1
	cum := map[string]time.Duration{}
	for _, s := range prof.Sample {
		seen := map[string]bool{}
		for _, loc := range s.Location {
			for _, line := range loc.Line {
				if line.Function == nil || seen[line.Function.Name] || !keep(line.Function.Name) {
					continue
				}
				seen[line.Function.Name] = true
				cum[line.Function.Name] += time.Duration(s.Value[vi])
			}
		}
	}
	var out []funcCost
	for name, d := range cum {
		out = append(out, funcCost{name, d})
	}
	slices.SortFunc(out, func(a, b funcCost) int {
		if a.Cum != b.Cum {
			return cmp.Compare(b.Cum, a.Cum)
		}
		return strings.Compare(a.Name, b.Name)
	})
	return out[:min(n, len(out))]
}
