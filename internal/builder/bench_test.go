package builder_test

// Benchmarks of the worker against its floor. Run with
//
//	INDEXBUILD_BENCH_ROWS=1000000 go test ./internal/builder -run '^$' -bench . -benchtime 1x
//
// (default 100,000 rows). rows/s is reported per benchmark; peak-RSS-MB is
// the max RSS of a real `indexbuild build` process.

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/objstorage/objstorageprovider"
	"github.com/cockroachdb/pebble/v2/sstable"

	"github.com/indexbuild/indexbuild/internal/builder"
	"github.com/indexbuild/indexbuild/internal/commit"
	"github.com/indexbuild/indexbuild/internal/gentable"
	"github.com/indexbuild/indexbuild/internal/keyenc"
	"github.com/indexbuild/indexbuild/internal/output"
	"github.com/indexbuild/indexbuild/internal/partition"
	"github.com/indexbuild/indexbuild/internal/rows"
	"github.com/indexbuild/indexbuild/internal/storage"
	"github.com/indexbuild/indexbuild/internal/table"
	"github.com/indexbuild/indexbuild/internal/taskmeta"
)

var benchIndexTask = taskmeta.Meta{JobID: 1, SchemaID: 1, TableID: 100, ElementType: taskmeta.ElementTypeIndex, ElementIDs: []int64{gentable.IndexYear, gentable.IndexAuthorTitle}}

var benchFulltextTask = taskmeta.Meta{JobID: 2, SchemaID: 1, TableID: 100, ElementType: taskmeta.ElementTypeFulltext, ElementIDs: []int64{gentable.FulltextDesc}}

var bench struct {
	once sync.Once
	dir  string // file:// table
	rows int
	err  error
}

// benchTable generates the benchmark table once per process, as one JSONL
// file in a temporary directory TestMain removes.
func benchTable(b *testing.B) (string, int) {
	bench.once.Do(func() {
		bench.rows = 100000
		if s := os.Getenv("INDEXBUILD_BENCH_ROWS"); s != "" {
			bench.rows, bench.err = strconv.Atoi(s)
		}
		bench.dir, _ = os.MkdirTemp("", "indexbuild-bench-*")
		src, err := storage.Open(context.Background(), "file://"+bench.dir)
		if err == nil {
			err = gentable.Generate(context.Background(), src, gentable.Options{Rows: bench.rows, Seed: 1, Files: 1, Format: rows.JSONL})
			src.Close()
		}
		if bench.err == nil {
			bench.err = err
		}
	})
	if bench.err != nil {
		b.Fatal(bench.err)
	}
	return bench.dir, bench.rows
}

func TestMain(m *testing.M) {
	code := m.Run()
	if bench.dir != "" {
		os.RemoveAll(bench.dir)
	}
	os.Exit(code)
}

func openBench(b *testing.B, dir string) storage.Bucket {
	bk, err := storage.Open(context.Background(), "file://"+dir)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { bk.Close() })
	return bk
}

func benchBuild(b *testing.B, task taskmeta.Meta) {
	dir, n := benchTable(b)
	src := openBench(b, dir)
	cpu0 := cpuSeconds()
	for b.Loop() {
		out := openBench(b, b.TempDir())
		_, err := builder.Build(context.Background(), builder.Config{Meta: task, Partitions: 1, Source: src, Output: out, TmpDir: b.TempDir()})
		if err != nil {
			b.Fatal(err)
		}
	}
	report(b, n, cpu0)
}

func BenchmarkBuildIndex(b *testing.B)    { benchBuild(b, benchIndexTask) }
func BenchmarkBuildFulltext(b *testing.B) { benchBuild(b, benchFulltextTask) }

// BenchmarkVerifySource times `indexbuild verify --source` (CheckSource)
// of the index BenchmarkBuildIndex builds, against the same table: its
// cost is to be read next to that benchmark's, in the same run.
func BenchmarkVerifySource(b *testing.B) {
	dir, n := benchTable(b)
	src := openBench(b, dir)
	out := openBench(b, b.TempDir())
	ctx := context.Background()
	v := output.Version(out, benchIndexTask.JobID)
	_, err := builder.Build(ctx, builder.Config{Meta: benchIndexTask, Partitions: 1, Source: src, Output: v, TmpDir: b.TempDir()})
	if err == nil {
		_, err = commit.Finalize(ctx, out, commit.Options{Task: benchIndexTask, Partitions: 1})
	}
	m, err := commit.ReadMarker(ctx, v)
	if err != nil {
		b.Fatal(err)
	}
	cpu0 := cpuSeconds()
	for b.Loop() {
		rep, err := builder.CheckSource(ctx, builder.SourceCheck{Source: src, Version: v, Marker: m, TmpDir: b.TempDir()})
		if err != nil || rep.Rows != int64(n) {
			b.Fatalf("%+v, %v", rep, err)
		}
	}
	report(b, n, cpu0)
}

// scanAll decodes the whole table's columns names (in that order), the
// floor of every build: no build can be faster than reading its input.
func scanAll(b *testing.B, dir string, names []string, fn func(*rows.Record)) {
	cat := gentable.Catalog(1, 100)
	var cols []table.Column
	for _, name := range names {
		c, _ := cat.Column(name)
		cols = append(cols, c)
	}
	info, err := os.Stat(filepath.Join(dir, "part-00000.jsonl"))
	if err != nil {
		b.Fatal(err)
	}
	sc := &rows.Scanner{Open: fileOpener(dir), Columns: cols}
	f := rows.File{Path: "part-00000.jsonl", Size: info.Size(), Format: rows.JSONL}
	err = sc.Scan(context.Background(), f, partition.Split{Path: f.Path, End: f.Size}, func(r *rows.Record) error {
		fn(r)
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
}

// columns are the columns a build of task decodes: its elements' and the
// primary key, which is the row handle.
func columns(task taskmeta.Meta) []string {
	cat := gentable.Catalog(1, 100)
	var names []string
	for _, id := range task.ElementIDs {
		ix, _ := cat.Index(id)
		names = append(names, ix.Columns...)
	}
	return append(names, cat.PrimaryKey)
}

// BenchmarkFloorDecodeIndex and BenchmarkFloorDecodeFulltext only decode the
// rows the builds read.
func BenchmarkFloorDecodeIndex(b *testing.B)    { benchDecode(b, benchIndexTask) }
func BenchmarkFloorDecodeFulltext(b *testing.B) { benchDecode(b, benchFulltextTask) }

func benchDecode(b *testing.B, task taskmeta.Meta) {
	dir, n := benchTable(b)
	cpu0 := cpuSeconds()
	for b.Loop() {
		var count int
		scanAll(b, dir, columns(task), func(*rows.Record) { count++ })
		if count != n {
			b.Fatalf("decoded %d rows, want %d", count, n)
		}
	}
	report(b, n, cpu0)
}

// BenchmarkFloorSortWriteIndex is the index build without the worker:
// decode, encode keys, sort in memory, write one SSTable per element with
// Pebble's writer. No staging, no spilling, no checksums.
func BenchmarkFloorSortWriteIndex(b *testing.B) {
	dir, n := benchTable(b)
	cpu0 := cpuSeconds()
	for b.Loop() {
		// Keys and handles of idx_year and idx_author_title, the way the
		// builder lays them out.
		type kv struct{ k, v []byte }
		keys := make([][]kv, 2)
		scanAll(b, dir, columns(benchIndexTask), func(r *rows.Record) {
			// Values: year, author, title, id.
			handle := []byte(r.Values[3].Text())
			k0 := append(keyenc.AppendValue(nil, r.Values[0]), handle...)
			k1 := append(keyenc.AppendValue(keyenc.AppendValue(nil, r.Values[1]), r.Values[2]), handle...)
			keys[0], keys[1] = append(keys[0], kv{k0, handle}), append(keys[1], kv{k1, handle})
		})
		for i := range keys {
			slices.SortFunc(keys[i], func(a, b kv) int { return bytes.Compare(a.k, b.k) })
			f, err := os.Create(filepath.Join(b.TempDir(), fmt.Sprint(i)))
			if err != nil {
				b.Fatal(err)
			}
			w := sstable.NewWriter(objstorageprovider.NewRemoteWritable(f), sstable.WriterOptions{TableFormat: sstable.TableFormatPebblev4})
			for _, e := range keys[i] {
				if err := w.Set(e.k, e.v); err != nil {
					b.Fatal(err)
				}
			}
			if err := w.Close(); err != nil {
				b.Fatal(err)
			}
			if len(keys[i]) != n {
				b.Fatalf("%d keys", len(keys[i]))
			}
		}
	}
	report(b, n, cpu0)
}

// BenchmarkWorkerRSS runs the real binary on the table and reports its peak
// resident memory: the number that sizes a worker pod.
func BenchmarkWorkerRSS(b *testing.B) {
	dir, n := benchTable(b)
	bin := filepath.Join(b.TempDir(), "indexbuild")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/indexbuild/indexbuild/cmd/indexbuild").CombinedOutput(); err != nil {
		b.Fatalf("go build: %v\n%s", err, out)
	}
	for _, task := range []taskmeta.Meta{benchIndexTask, benchFulltextTask} {
		b.Run(task.ElementType, func(b *testing.B) {
			var peak, cpu float64
			for b.Loop() {
				cmd := exec.Command(bin, "build", "--partitions=1", "--partition=0",
					"--source=file://"+dir, "--output=file://"+b.TempDir(), "--tmp-dir="+b.TempDir(), "--termination-log=", "--progress-interval=1h",
					"--job-id="+strconv.FormatInt(task.JobID, 10), "--schema-id=1", "--table-id=100",
					"--element-type="+task.ElementType, "--element-ids="+taskmeta.FormatIDs(task.ElementIDs))
				out, err := cmd.CombinedOutput()
				if err != nil {
					b.Fatalf("build: %v\n%s", err, out)
				}
				// The worker logs its VmHWM: ProcessState.SysUsage's maxrss
				// would include this test process's size (see PeakRSS).
				m := peakLine.FindSubmatch(out)
				if m == nil {
					b.Fatalf("no peak RSS in the worker's log:\n%s", out)
				}
				mib, _ := strconv.ParseFloat(string(m[1]), 64)
				peak = max(peak, mib)
				cpu += (cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()).Seconds()
			}
			b.ReportMetric(peak, "peak-RSS-MiB")
			b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
			b.ReportMetric(cpu/float64(b.N), "cpu-s/op")
		})
	}
}

// cpuSeconds is the user and system CPU time of this process so far. On a
// shared machine it compares builds more fairly than wall-clock time.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

// report adds rows/s and CPU seconds per run to a benchmark that started
// its clock (and CPU count) at cpu0.
func report(b *testing.B, rows int, cpu0 float64) {
	b.ReportMetric(float64(rows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
	b.ReportMetric((cpuSeconds()-cpu0)/float64(b.N), "cpu-s/op")
}

var peakLine = regexp.MustCompile(`peak RSS ([0-9.]+) MiB`)

type fileOpener string

func (d fileOpener) OpenRange(_ context.Context, path string, off, _ int64) (io.ReadCloser, error) {
	f, err := os.Open(filepath.Join(string(d), path))
	if err != nil {
		return nil, err
	}
	if _, err := f.Seek(off, 0); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}
