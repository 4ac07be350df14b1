//go:build unix

package globalsortbench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/pprof/profile"

	"github.com/indexbuild/indexbuild/internal/builder"
	"github.com/indexbuild/indexbuild/internal/commit"
	"github.com/indexbuild/indexbuild/internal/gentable"
	"github.com/indexbuild/indexbuild/internal/merge"
	"github.com/indexbuild/indexbuild/internal/output"
	"github.com/indexbuild/indexbuild/internal/query"
	"github.com/indexbuild/indexbuild/internal/rows"
	"github.com/indexbuild/indexbuild/internal/storage"
	"github.com/indexbuild/indexbuild/internal/storage/storagetest"
	"github.com/indexbuild/indexbuild/internal/summary"
	"github.com/indexbuild/indexbuild/internal/taskmeta"
)

// settings are the benchmark's knobs, from the environment (make
// bench-global-sort passes its variables of the same names).
type settings struct {
	Rows       int     // GLOBALSORT_ROWS
	Partitions []int   // GLOBALSORT_PARTITIONS, comma-separated
	Elements   []int64 // GLOBALSORT_ELEMENTS: the index task's elements (gentable IDs)
	// QueryElement is the unique element point queries ask
	// (GLOBALSORT_QUERY_ELEMENT, one of Elements).
	QueryElement int64
	Queries      int // GLOBALSORT_QUERIES: point queries per store and P
	// Parallel is how many processes of a stage run at once
	// (GLOBALSORT_PARALLEL; the machine's CPUs) and DuckDB's threads.
	Parallel int
	// Ranges are the merge's range counts to measure for each P > 1
	// (GLOBALSORT_RANGES, comma-separated): "auto" (the operator's rule
	// from the staged bytes), "P" (one per partition, its rule when the
	// size is unknown) or a number.
	Ranges []string
	// DuckDB is the node_modules directory holding @duckdb/node-api
	// (DUCKDB_NODE_PATH, what hack/install-duckdb.sh prints).
	DuckDB string
}

func loadSettings(b *testing.B) settings {
	s := settings{Rows: 1_000_000, Partitions: []int{1, 16, 64}, Elements: []int64{gentable.IndexYear, gentable.IndexAuthorTitle, gentable.IndexISBN},
		QueryElement: gentable.IndexISBN, Queries: 200, Parallel: runtime.NumCPU(), Ranges: []string{"auto", "P"}, DuckDB: os.Getenv("DUCKDB_NODE_PATH")}
	ints := func(name string, set func([]int64)) {
		v := os.Getenv(name)
		if v == "" {
			return
		}
		var out []int64
		for _, f := range strings.Split(v, ",") {
			n, err := strconv.ParseInt(strings.TrimSpace(f), 10, 64)
			if err != nil || n < 1 {
				b.Fatalf("%s=%q: want positive integers, comma-separated", name, v)
			}
			out = append(out, n)
		}
		set(out)
	}
	ints("GLOBALSORT_ROWS", func(v []int64) { s.Rows = int(v[0]) })
	ints("GLOBALSORT_PARTITIONS", func(v []int64) {
		s.Partitions = nil
		for _, p := range v {
			s.Partitions = append(s.Partitions, int(p))
		}
	})
	ints("GLOBALSORT_ELEMENTS", func(v []int64) { s.Elements = v })
	ints("GLOBALSORT_QUERY_ELEMENT", func(v []int64) { s.QueryElement = v[0] })
	ints("GLOBALSORT_QUERIES", func(v []int64) { s.Queries = int(v[0]) })
	ints("GLOBALSORT_PARALLEL", func(v []int64) { s.Parallel = int(v[0]) })
	if v := os.Getenv("GLOBALSORT_RANGES"); v != "" {
		s.Ranges = strings.Split(v, ",")
	}
	for _, rule := range s.Ranges {
		if n, err := strconv.Atoi(rule); rule != "auto" && rule != "P" && (err != nil || n < 1) {
			b.Fatalf("GLOBALSORT_RANGES=%q: want auto, P or positive integers, comma-separated", strings.Join(s.Ranges, ","))
		}
	}
	if s.DuckDB == "" {
		b.Fatal("DUCKDB_NODE_PATH is not set: run `make bench-global-sort` (it installs DuckDB's Node.js client with hack/install-duckdb.sh)")
	}
	cat := gentable.Catalog(1, 100)
	if ix, ok := cat.Index(s.QueryElement); !ok || !ix.Unique || !slices.Contains(s.Elements, s.QueryElement) {
		b.Fatalf("GLOBALSORT_QUERY_ELEMENT %d must be a unique index among the task's elements %v", s.QueryElement, s.Elements)
	}
	return s
}

// The operator's automatic range count (spec.merge.ranges unset): one
// range per autoRangeBytes of staged bytes, at most one per partition.
// Below localMergeBytes it runs no merge Job: finalize merges the task as
// one range in its own process (--merge-local); the bench runs that same
// work as merge range 0 of 1 and finalize --merge-ranges 1, to time the
// merge apart.
const (
	autoRangeBytes  = 256 << 20
	localMergeBytes = 64 << 20
)

// rangeCounts are the distinct range counts of the rules for p partitions
// and the bytes its workers staged, with the rules that gave them.
func (s settings) rangeCounts(p int, staged int64) (counts []int, rules []string) {
	for _, rule := range s.Ranges {
		var n int
		switch rule {
		case "P":
			n = p
		case "auto":
			n = int(min(max((staged+autoRangeBytes-1)/autoRangeBytes, 1), int64(p)))
			if staged < localMergeBytes {
				rule = "auto, finalize --merge-local's work"
			}
		default:
			n, _ = strconv.Atoi(rule)
		}
		if i := slices.Index(counts, n); i >= 0 {
			rules[i] += " = " + rule
			continue
		}
		counts, rules = append(counts, n), append(rules, rule)
	}
	return counts, rules
}

const seed = 1 // gen-table's default seed

// BenchmarkGlobalSort runs once, whatever b.N: per partition count P, the
// P build workers, the merge (R ranges, when P > 1 and this tree has
// `indexbuild merge`) and finalize, each stage's processes `Parallel` at a
// time as the `indexbuild` binary (no cluster), then cold point queries
// (open the published index, one lookup, close: what `indexbuild query`
// does) on file:// and on a real S3 server (versitygw) holding a copy of
// the output; beside it DuckDB on the same CSV and threads, and a CPU
// profile of one P=1 build in this process. It prints markdown tables.
//
//	make bench-global-sort
func BenchmarkGlobalSort(b *testing.B) {
	s := loadSettings(b)
	ctx := context.Background()
	work := b.TempDir()
	ib := buildBinary(b, work)
	feats := features(b, ib)
	tableDir := filepath.Join(work, "table")
	csvBytes := generateTable(b, ctx, s, tableDir)
	s3Root := storagetest.StartS3(b)
	env := os.Environ() // the S3 credentials StartS3 set

	loadBefore := loadAverage()
	b.ResetTimer()
	var runs []run
	var mergeProfile *stagedTask // the last P's staging, for profileMerge
	for _, p := range s.Partitions {
		t := buildTask(b, ctx, s, ib, env, work, tableDir, p)
		counts, rules := []int{0}, []string{""}
		if p > 1 && feats.Merge && feats.MergeRanges {
			counts, rules = s.rangeCounts(p, t.StagedBytes)
			mergeProfile = &stagedTask{Meta: t.Meta, Ranges: counts[len(counts)-1], Dir: copyDir(b, t.Dir, filepath.Join(work, "merge-profile"))}
		}
		for i, ranges := range counts {
			r := finishTask(b, ctx, s, ib, env, work, t, ranges, i == len(counts)-1)
			r.Rule = rules[i]
			r.Queries = map[string]queryStats{}
			for _, store := range []struct{ name, uri string }{
				{"file", "file://" + r.OutDir},
				{"s3", copyToS3(b, ctx, r.OutDir, s3Root, filepath.Base(r.OutDir))},
			} {
				r.Queries[store.name] = pointQueries(b, ctx, s, store.uri)
			}
			runs = append(runs, r)
		}
	}
	duck := map[string]duckRun{}
	for _, mode := range []string{"per-index", "load-once"} {
		duck[mode] = runDuckDB(b, ctx, s, env, tableDir, filepath.Join(work, "duckdb"), mode)
	}
	prof := profileBuild(b, ctx, s, tableDir, filepath.Join(work, "profile"))
	var mprof *profiled
	if mergeProfile != nil {
		mp := profileMerge(b, ctx, *mergeProfile)
		mprof = &mp
	}
	b.StopTimer()

	fmt.Printf("\nLoad average (1, 5, 15 min) when the runs started: %s; when they ended: %s.\n", loadBefore, loadAverage())
	printTables(os.Stdout, s, feats, csvBytes, runs, duck, prof, mprof)
	for _, r := range runs {
		if r.Merge != nil {
			b.ReportMetric(r.Merge.Wall.Seconds()/r.Build.Wall.Seconds(), fmt.Sprintf("merge/build-P%d-R%d", r.P, r.Ranges))
		}
	}
}

// loadAverage is the machine's load average (other engineers' jobs), or
// "unknown".
func loadAverage() string {
	data, err := os.ReadFile("/proc/loadavg")
	if f := strings.Fields(string(data)); err == nil && len(f) >= 3 {
		return strings.Join(f[:3], ", ")
	}
	return "unknown"
}

// buildBinary builds cmd/indexbuild into dir.
func buildBinary(b *testing.B, dir string) string {
	bin := filepath.Join(dir, "indexbuild")
	cmd := exec.Command("go", "build", "-o", bin, "github.com/indexbuild/indexbuild/cmd/indexbuild")
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("go build cmd/indexbuild: %v\n%s", err, out)
	}
	return bin
}

// feature says which parts of the global sort the binary under test has:
// the branches land one at a time, and what is missing prints as "n/a".
type feature struct {
	Merge       bool // indexbuild merge
	MergeRanges bool // indexbuild finalize --merge-ranges
}

func features(b *testing.B, ib string) feature {
	help := func(args ...string) string {
		out, _ := exec.Command(ib, args...).CombinedOutput() // usage exits non-zero on some
		return string(out)
	}
	return feature{
		Merge:       strings.Contains(help("help"), "merge"),
		MergeRanges: strings.Contains(help("finalize", "-h"), "merge-ranges"),
	}
}

// generateTable writes the gen-table CSV table (one file, seed 1) to dir
// and returns the CSV's size.
func generateTable(b *testing.B, ctx context.Context, s settings, dir string) int64 {
	out, err := storage.Open(ctx, "file://"+dir)
	if err != nil {
		b.Fatal(err)
	}
	defer out.Close()
	if err := gentable.Generate(ctx, out, gentable.Options{Rows: s.Rows, Seed: seed, Files: 1, Format: rows.CSV}); err != nil {
		b.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(dir, "part-00000.csv"))
	if err != nil {
		b.Fatal(err)
	}
	return fi.Size()
}

func taskMeta(s settings, tableDir string, p int) taskmeta.Meta {
	return taskmeta.Meta{JobID: int64(p), SchemaID: 1, TableID: 100, ElementType: taskmeta.ElementTypeIndex,
		ElementIDs: s.Elements, Source: "file://" + tableDir, Partitions: p}
}

// taskArgs are the taskmeta flags of m.
func taskArgs(m taskmeta.Meta) []string {
	ids := make([]string, len(m.ElementIDs))
	for i, id := range m.ElementIDs {
		ids[i] = strconv.FormatInt(id, 10)
	}
	return []string{"--job-id", strconv.FormatInt(m.JobID, 10), "--schema-id", strconv.FormatInt(m.SchemaID, 10),
		"--table-id", strconv.FormatInt(m.TableID, 10), "--element-type", m.ElementType,
		"--element-ids", strings.Join(ids, ","), "--source", m.Source, "--partitions", strconv.Itoa(m.Partitions)}
}

// stage is one stage's processes.
type stage struct {
	Wall  time.Duration // first start to last end
	Procs []proc
}

// cpu is the stage's processes' CPU time.
func (st stage) cpu() time.Duration {
	var d time.Duration
	for _, p := range st.Procs {
		d += p.CPU
	}
	return d
}

func (st stage) maxRSS() int64 {
	var m int64
	for _, p := range st.Procs {
		m = max(m, p.MaxRSS)
	}
	return m
}

// stagedTask is a task whose build workers have staged their partitions.
type stagedTask struct {
	Meta        taskmeta.Meta
	Dir         string // the output root
	Build       stage
	StagedBytes int64
	Ranges      int // for profileMerge
}

// run is one partition count's task, merged into one range count.
type run struct {
	P, Ranges int // Ranges 0: no merge (P == 1, or not in this tree)
	Rule      string
	OutDir    string
	Build     stage
	Merge     *stage
	Finalize  stage
	// Files is the committed files per element; KeyRanges how many of
	// them the marker gives a key range.
	Files, KeyRanges map[int64]int
	StagedBytes      int64
	Queries          map[string]queryStats // by store
}

// stageRun runs one stage's n processes of ib, s.Parallel at a time.
func stageRun(b *testing.B, ctx context.Context, s settings, env []string, ib string, n int, args func(i int) []string) stage {
	st := stage{Procs: make([]proc, n)}
	var err error
	st.Wall, err = runPool(ctx, n, s.Parallel, func(ctx context.Context, i int) error {
		var perr error
		st.Procs[i], perr = runProc(ctx, env, ib, args(i)...)
		return perr
	})
	if err != nil {
		b.Fatal(err)
	}
	return st
}

// commonArgs are the flags every stage's processes of a task take.
func commonArgs(meta taskmeta.Meta, dir string) []string {
	return append(taskArgs(meta), "--output", "file://"+dir, "--termination-log=")
}

// buildTask runs the P build workers of the task into a new output root.
func buildTask(b *testing.B, ctx context.Context, s settings, ib string, env []string, work, tableDir string, p int) stagedTask {
	t := stagedTask{Meta: taskMeta(s, tableDir, p), Dir: filepath.Join(work, fmt.Sprintf("staged-%d", p))}
	tmp := filepath.Join(work, "tmp")
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		b.Fatal(err)
	}
	t.Build = stageRun(b, ctx, s, env, ib, p, func(i int) []string {
		return append(append([]string{"build"}, commonArgs(t.Meta, t.Dir)...), "--partition", strconv.Itoa(i), "--tmp-dir", tmp, "--progress-interval=1h")
	})
	for _, pr := range t.Build.Procs {
		var w summary.Worker
		if err := json.Unmarshal(pr.lastJSONLine(), &w); err != nil {
			b.Fatalf("build summary: %v", err)
		}
		t.StagedBytes += w.Bytes
	}
	return t
}

// finishTask merges the staged task into ranges key ranges (0: no merge)
// and finalizes it, in a copy of its output root unless last (the last
// range count takes the staged root itself).
func finishTask(b *testing.B, ctx context.Context, s settings, ib string, env []string, work string, t stagedTask, ranges int, last bool) run {
	r := run{P: t.Meta.Partitions, Ranges: ranges, Build: t.Build, StagedBytes: t.StagedBytes,
		OutDir: filepath.Join(work, fmt.Sprintf("out-%d-%d", t.Meta.Partitions, ranges))}
	if last {
		if err := os.Rename(t.Dir, r.OutDir); err != nil {
			b.Fatal(err)
		}
	} else {
		copyDir(b, t.Dir, r.OutDir)
	}
	tmp := filepath.Join(work, "tmp")
	common := commonArgs(t.Meta, r.OutDir)
	finalize := append([]string{"finalize"}, common...)
	if ranges > 0 {
		st := stageRun(b, ctx, s, env, ib, ranges, func(i int) []string {
			return append(append([]string{"merge"}, common...), "--range", strconv.Itoa(i), "--ranges", strconv.Itoa(ranges), "--tmp-dir", tmp)
		})
		r.Merge = &st
		finalize = append(finalize, "--merge-ranges", strconv.Itoa(ranges))
	}
	r.Finalize = stageRun(b, ctx, s, env, ib, 1, func(int) []string { return finalize })

	root, err := storage.Open(ctx, "file://"+r.OutDir)
	if err != nil {
		b.Fatal(err)
	}
	defer root.Close()
	v, _, err := commit.OpenPublished(ctx, root)
	if err != nil {
		b.Fatal(err)
	}
	m, err := commit.ReadMarker(ctx, v)
	if err != nil {
		b.Fatal(err)
	}
	r.Files, r.KeyRanges = map[int64]int{}, map[int64]int{}
	for _, f := range m.Files {
		r.Files[f.Element]++
		if f.KeyRange != nil {
			r.KeyRanges[f.Element]++
		}
	}
	return r
}

// copyDir copies the tree at src to dst (which must not exist) and returns dst.
func copyDir(b *testing.B, src, dst string) string {
	if err := os.CopyFS(dst, os.DirFS(src)); err != nil {
		b.Fatal(err)
	}
	return dst
}

// copyToS3 writes every object of the output root at dir under prefix of
// the S3 bucket at root and returns the copy's URI.
func copyToS3(b *testing.B, ctx context.Context, dir, root, prefix string) string {
	uri := strings.Replace(root, "s3://test/out?", "s3://test/"+prefix+"?", 1)
	src, err := storage.Open(ctx, "file://"+dir)
	if err != nil {
		b.Fatal(err)
	}
	defer src.Close()
	dst, err := storage.Open(ctx, uri)
	if err != nil {
		b.Fatal(err)
	}
	defer dst.Close()
	objs, err := src.List(ctx, "")
	if err != nil {
		b.Fatal(err)
	}
	for _, o := range objs {
		r, err := src.NewReader(ctx, o.Key)
		if err != nil {
			b.Fatal(err)
		}
		err = dst.Write(ctx, o.Key, r)
		r.Close()
		if err != nil {
			b.Fatal(err)
		}
	}
	return uri
}

// queryStats are the averages of the point queries on one store.
type queryStats struct {
	Bytes, Requests float64 // per query
	Files           float64 // SSTables opened per query (query.Index.Stats)
	TableBytes      float64 // of Bytes, read from SSTables (query.Index.Stats)
	Time            time.Duration
}

// pointQueries asks s.Queries point queries of random rows' values of the
// unique query element, each cold (open the published index, one lookup,
// close), and checks each finds exactly its row.
func pointQueries(b *testing.B, ctx context.Context, s settings, uri string) queryStats {
	root, err := storage.Open(ctx, uri)
	if err != nil {
		b.Fatal(err)
	}
	defer root.Close()
	cat := gentable.Catalog(1, 100)
	ix, _ := cat.Index(s.QueryElement)
	col, pk := cat.ColumnIndex(ix.Columns[0]), cat.ColumnIndex(cat.PrimaryKey)
	rng := rand.New(rand.NewPCG(42, 0)) // the same keys for every P and store
	var st queryStats
	for range s.Queries {
		row := gentable.Row(seed, rng.IntN(s.Rows))
		cb := &countingBucket{Bucket: root}
		start := time.Now()
		index, err := query.Open(ctx, cb)
		if err != nil {
			b.Fatal(err)
		}
		_, hits, err := index.Run(ctx, query.Query{Element: s.QueryElement, Eq: []string{row[col].Text()}})
		index.Close()
		d := time.Since(start)
		st.Files += float64(index.Stats().Files)
		st.TableBytes += float64(index.Stats().Bytes)
		if err != nil {
			b.Fatal(err)
		}
		if len(hits) != 1 || hits[0].Handle != row[pk].Text() {
			b.Fatalf("%s: point query %s = %q: %d hits %v, want row %s", uri, ix.Name, row[col].Text(), len(hits), hits, row[pk].Text())
		}
		st.Bytes += float64(cb.bytes.Load())
		st.Requests += float64(cb.requests.Load())
		st.Time += d
	}
	st.Bytes /= float64(s.Queries)
	st.Requests /= float64(s.Queries)
	st.Files /= float64(s.Queries)
	st.TableBytes /= float64(s.Queries)
	st.Time /= time.Duration(s.Queries)
	return st
}

// duckRun is one run of hack/bench-duckdb.cjs.
type duckRun struct {
	Version     string  `json:"version"`
	LoadSeconds float64 `json:"loadSeconds"`
	Indexes     []struct {
		Name    string  `json:"name"`
		Seconds float64 `json:"seconds"`
		Bytes   int64   `json:"bytes"`
		Rows    int64   `json:"rows"`
	} `json:"indexes"`
	TotalSeconds float64 `json:"totalSeconds"`
	Proc         proc    `json:"-"`
}

func runDuckDB(b *testing.B, ctx context.Context, s settings, env []string, tableDir, outDir, mode string) duckRun {
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		b.Fatal(err)
	}
	cat := gentable.Catalog(1, 100)
	type index struct {
		Name    string   `json:"name"`
		Columns []string `json:"columns"`
	}
	cfg := struct {
		CSV        string  `json:"csv"`
		OutDir     string  `json:"outDir"`
		Threads    int     `json:"threads"`
		PrimaryKey string  `json:"primaryKey"`
		Indexes    []index `json:"indexes"`
	}{CSV: filepath.Join(tableDir, "part-00000.csv"), OutDir: outDir, Threads: s.Parallel, PrimaryKey: cat.PrimaryKey}
	for _, id := range s.Elements {
		ix, _ := cat.Index(id)
		cfg.Indexes = append(cfg.Indexes, index{ix.Name, ix.Columns})
	}
	cfgJSON, err := json.Marshal(cfg)
	if err != nil {
		b.Fatal(err)
	}
	script, err := filepath.Abs(filepath.Join("..", "..", "hack", "bench-duckdb.cjs"))
	if err != nil {
		b.Fatal(err)
	}
	p, err := runProc(ctx, append(slices.Clone(env), "NODE_PATH="+s.DuckDB), "node", script, mode, string(cfgJSON))
	if err != nil {
		b.Fatal(err)
	}
	var d duckRun
	if err := json.Unmarshal(p.lastJSONLine(), &d); err != nil {
		b.Fatalf("bench-duckdb.cjs %s: %v\n%s", mode, err, p.Stdout)
	}
	for _, ix := range d.Indexes {
		if ix.Rows != int64(s.Rows) {
			b.Fatalf("DuckDB %s wrote %d rows of %s, want %d", mode, ix.Rows, ix.Name, s.Rows)
		}
	}
	d.Proc = p
	return d
}

// profiled is a CPU profile by where the time went: the parts (buckets)
// and the functions with the most cumulative CPU.
type profiled struct {
	What    string // what ran under the profiler
	Wall    time.Duration
	Total   time.Duration // CPU in the profile
	Buckets []cpuBucket
	Shares  map[string]time.Duration
	Top     []funcCost
}

// profileBuckets name the parts of a build: the innermost frame of these
// packages on a sample's stack says which part the sample belongs to.
var profileBuckets = []cpuBucket{
	{"parse CSV (rows)", []string{"github.com/indexbuild/indexbuild/internal/rows."}},
	{"encode keys (keyenc)", []string{"github.com/indexbuild/indexbuild/internal/keyenc."}},
	{"sort runs, spill, merge runs (extsort)", []string{"github.com/indexbuild/indexbuild/internal/extsort."}},
	{"write SSTables (sstindex, pebble)", []string{"github.com/indexbuild/indexbuild/internal/sstindex.", "github.com/cockroachdb/pebble"}},
	{"stage, checksum, I/O (storage, staging)", []string{"github.com/indexbuild/indexbuild/internal/storage.", "github.com/indexbuild/indexbuild/internal/staging.", "crypto/"}},
	{"builder (rows to sinks)", []string{"github.com/indexbuild/indexbuild/internal/builder."}},
	{"GC (background)", []string{"runtime.gcBgMarkWorker"}},
}

// mergeBuckets name the parts of a merge, as profileBuckets do a build's.
var mergeBuckets = []cpuBucket{
	{"read partition metadata (JSON)", []string{"encoding/json."}},
	{"checksums (SHA-256)", []string{"crypto/"}},
	{"file and store I/O (syscalls)", []string{"syscall.", "internal/poll."}},
	{"k-way merge, unique check (merge)", []string{"github.com/indexbuild/indexbuild/internal/merge."}},
	{"SSTables: open, iterate, write (sstindex, pebble)", []string{"github.com/indexbuild/indexbuild/internal/sstindex.", "github.com/cockroachdb/pebble"}},
	{"range plan (globalsort)", []string{"github.com/indexbuild/indexbuild/internal/globalsort."}},
	{"staging, storage", []string{"github.com/indexbuild/indexbuild/internal/staging.", "github.com/indexbuild/indexbuild/internal/storage."}},
	{"GC (background)", []string{"runtime.gcBgMarkWorker"}},
}

// openTask opens a task's source and its version of the output root at
// dir (as the data plane's commands do, no owner), closed when b ends.
func openTask(b *testing.B, ctx context.Context, meta taskmeta.Meta, dir string) (src, version storage.Bucket) {
	src, err := storage.Open(ctx, meta.Source)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { src.Close() })
	root, err := storage.Open(ctx, "file://"+dir)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { root.Close() })
	if version, err = commit.OpenTask(ctx, root, meta, output.Owner{}); err != nil {
		b.Fatal(err)
	}
	return src, version
}

// cpuProfile runs fn in this process under the CPU profiler.
func cpuProfile(b *testing.B, what string, buckets []cpuBucket, fn func() error) profiled {
	var buf bytes.Buffer
	if err := pprof.StartCPUProfile(&buf); err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	err := fn()
	wall := time.Since(start)
	pprof.StopCPUProfile()
	if err != nil {
		b.Fatal(err)
	}
	prof, err := profile.Parse(&buf)
	if err != nil {
		b.Fatal(err)
	}
	shares, total := cpuShares(prof, buckets)
	return profiled{What: what, Wall: wall, Total: total, Buckets: buckets, Shares: shares,
		Top: topCumulative(prof, 12, func(name string) bool {
			return strings.HasPrefix(name, "github.com/indexbuild/indexbuild/internal/") || strings.HasPrefix(name, "github.com/cockroachdb/pebble")
		})}
}

// profileMerge merges every key range of a staged task, one after the
// other in this process, under the CPU profiler (what the merge pods run,
// less their processes).
func profileMerge(b *testing.B, ctx context.Context, t stagedTask) profiled {
	src, version := openTask(b, ctx, t.Meta, t.Dir)
	catalog, err := builder.LoadTable(ctx, src)
	if err != nil {
		b.Fatal(err)
	}
	what := fmt.Sprintf("the merge of P=%d into R=%d, every range one after the other", t.Meta.Partitions, t.Ranges)
	return cpuProfile(b, what, mergeBuckets, func() error {
		for r := range t.Ranges {
			cfg := merge.Config{Meta: t.Meta, Output: version, Catalog: catalog, Range: r, Ranges: t.Ranges, TmpDir: b.TempDir()}
			if _, err := merge.Run(ctx, cfg); err != nil {
				return err
			}
		}
		return nil
	})
}

// profileBuild builds partition 0 of 1 in this process under the CPU
// profiler (what `indexbuild build` runs, less the process).
func profileBuild(b *testing.B, ctx context.Context, s settings, tableDir, outDir string) profiled {
	meta := taskMeta(s, tableDir, 1)
	src, version := openTask(b, ctx, meta, outDir)
	return cpuProfile(b, "one P=1 build", profileBuckets, func() error {
		_, err := builder.Build(ctx, builder.Config{Meta: meta, Partition: 0, Partitions: 1, Source: src, Output: version, TmpDir: b.TempDir()})
		return err
	})
}

// printProfile prints a profile's parts and top functions.
func printProfile(w io.Writer, p profiled) {
	share := func(d time.Duration) string {
		return fmt.Sprintf("%.2f s | %.0f%%", d.Seconds(), 100*d.Seconds()/max(p.Total.Seconds(), 1e-9))
	}
	fmt.Fprintf(w, "\nCPU profile of %s in the bench process (%.2f s wall, %.2f s CPU sampled): the parts, each sample counted in the part of the innermost frame on its stack of these packages; then the functions with the most cumulative CPU.\n\n", p.What, p.Wall.Seconds(), p.Total.Seconds())
	fmt.Fprintln(w, "| part | CPU | share |")
	fmt.Fprintln(w, "|---|---|---|")
	for _, b := range append(slices.Clone(p.Buckets), cpuBucket{Name: "other"}) {
		fmt.Fprintf(w, "| %s | %s |\n", b.Name, share(p.Shares[b.Name]))
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| function | cumulative CPU | share |")
	fmt.Fprintln(w, "|---|---|---|")
	for _, fc := range p.Top {
		fmt.Fprintf(w, "| `%s` | %s |\n", shortFuncName(fc.Name), share(fc.Cum))
	}
}

// printTables prints the results as markdown tables.
func printTables(w io.Writer, s settings, f feature, csvBytes int64, runs []run, duck map[string]duckRun, prof profiled, mprof *profiled) {
	cat := gentable.Catalog(1, 100)
	var elems []string
	for _, id := range s.Elements {
		ix, _ := cat.Index(id)
		u := ""
		if ix.Unique {
			u = ", unique"
		}
		elems = append(elems, fmt.Sprintf("%d (%s%s)", id, ix.Name, u))
	}
	na := "n/a (not merged)"
	secs := func(d time.Duration) string { return fmt.Sprintf("%.2f s", d.Seconds()) }
	ratio := func(a, b time.Duration) string { return fmt.Sprintf("%.2f×", a.Seconds()/b.Seconds()) }
	mib := func(n int64) string { return fmt.Sprintf("%.0f MiB", float64(n)/(1<<20)) }

	fmt.Fprintf(w, "\n## Global sort: %d rows (%.0f MB CSV, gen-table seed %d), one `index` task, elements %s\n\n",
		s.Rows, float64(csvBytes)/1e6, seed, strings.Join(elems, ", "))
	fmt.Fprintf(w, "%d CPUs. Each stage's P build workers (R merge ranges) run as `indexbuild` processes, %d at a time (bounded concurrency), no cluster; file:// output. Merge ranges per P: %s (auto: the operator's rule, ceil(staged bytes / 256 MiB) clamped to [1, P]; below 64 MiB the operator has finalize merge in its own process, --merge-local, the same work the bench times as merge range 0 of 1). Each P's build runs once; every R merges and finalizes a copy of its staging. One run on a machine shared with other engineers' jobs: compare the ratios inside a row.\n",
		runtime.NumCPU(), s.Parallel, strings.Join(s.Ranges, ", "))
	fmt.Fprintf(w, "`indexbuild merge`: %v; `finalize --merge-ranges`: %v (the bench runs the merge only when both are in this tree).\n\n", f.Merge, f.MergeRanges)

	fmt.Fprintln(w, "| P | R | build wall | merge wall | finalize wall | (build+merge) / build | merge / build | (build+merge) / build at P=1 | build CPU | merge CPU | peak RSS build / merge | staged bytes | committed files per element (with key range) |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|---|---|---|---|---|")
	base := runs[0].Build.Wall
	for _, r := range runs {
		mergeWall, mergeCPU, mergeRSS, withMerge, mergeRatio := "—", "—", "—", r.Build.Wall, "—"
		switch {
		case r.Merge != nil:
			mergeWall = secs(r.Merge.Wall)
			mergeCPU, mergeRSS = secs(r.Merge.cpu()), mib(r.Merge.maxRSS())
			withMerge += r.Merge.Wall
			mergeRatio = ratio(r.Merge.Wall, r.Build.Wall)
		case r.P > 1:
			mergeWall, mergeCPU, mergeRSS, mergeRatio = na, na, na, na
		}
		var files []string
		for _, id := range s.Elements {
			files = append(files, fmt.Sprintf("%d: %d (%d)", id, r.Files[id], r.KeyRanges[id]))
		}
		total := ratio(withMerge, r.Build.Wall)
		if r.Merge == nil && r.P > 1 {
			total = na
		}
		fmt.Fprintf(w, "| %d | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s / %s | %.1f MB | %s |\n",
			r.P, rangeLabel(r), secs(r.Build.Wall), mergeWall, secs(r.Finalize.Wall), total, mergeRatio, ratio(withMerge, base),
			secs(r.Build.cpu()), mergeCPU, mib(r.Build.maxRSS()), mergeRSS, float64(r.StagedBytes)/1e6, strings.Join(files, ", "))
	}

	qix, _ := cat.Index(s.QueryElement)
	fmt.Fprintf(w, "\nPoint queries on %s, cold (open the published index, one lookup, close: what `indexbuild query` does), average of %d random rows' keys, each checked to find exactly its row. Bytes are object bytes read (pointer, marker, SSTable ranges), requests every read call (list, attributes, reads); files are the SSTables the query opened and SSTable bytes the part of the bytes read from them (the rest: pointer and commit marker, whose size grows with the files it lists).\n\n", qix.Name, s.Queries)
	fmt.Fprintln(w, "| P | R | committed files | files opened / query | SSTable bytes / query | file:// bytes / query | file:// requests | file:// time / query | S3 bytes / query | S3 requests | S3 time / query |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|---|---|---|")
	for _, r := range runs {
		fq, sq := r.Queries["file"], r.Queries["s3"]
		fmt.Fprintf(w, "| %d | %s | %d | %.1f | %s | %s | %.1f | %.2f ms | %s | %.1f | %.2f ms |\n", r.P, rangeLabel(r), r.Files[s.QueryElement], fq.Files, humanBytes(fq.TableBytes),
			humanBytes(fq.Bytes), fq.Requests, ms(fq.Time), humanBytes(sq.Bytes), sq.Requests, ms(sq.Time))
	}

	var best, bestCPU time.Duration
	for _, mode := range []string{"per-index", "load-once"} {
		if d := duck[mode].Proc.Wall; best == 0 || d < best {
			best = d
		}
		if d := duck[mode].Proc.CPU; bestCPU == 0 || d < bestCPU {
			bestCPU = d
		}
	}
	fmt.Fprintf(w, "\nAgainst DuckDB %s (@duckdb/node-api, threads=%d) on the same CSV: one Parquet file per index, (index columns, id) ORDER BY all of them. Walls are whole processes (node start included) for both; target: build + merge ≤ 0.8× DuckDB's best wall. CPU (user + system, all processes of the job) is the steadier figure on a busy machine.\n\n", duck["per-index"].Version, s.Parallel)
	fmt.Fprintln(w, "| job | wall | CPU | wall / DuckDB best | CPU / DuckDB best | detail |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|")
	for _, mode := range []string{"per-index", "load-once"} {
		d := duck[mode]
		var parts []string
		if d.LoadSeconds > 0 {
			parts = append(parts, fmt.Sprintf("CREATE TABLE AS read_csv %.2f s", d.LoadSeconds))
		}
		for _, ix := range d.Indexes {
			parts = append(parts, fmt.Sprintf("%s %.2f s (%.1f MB)", ix.Name, ix.Seconds, float64(ix.Bytes)/1e6))
		}
		what := map[string]string{"per-index": "DuckDB: read_csv + ORDER BY + COPY TO parquet, per index", "load-once": "DuckDB: CREATE TABLE AS read_csv once, then ORDER BY + COPY per index"}[mode]
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s; peak RSS %s |\n", what, secs(d.Proc.Wall), secs(d.Proc.CPU), ratio(d.Proc.Wall, best), ratio(d.Proc.CPU, bestCPU), strings.Join(parts, ", "), mib(d.Proc.MaxRSS))
	}
	for _, r := range runs {
		job, wall, cpu := fmt.Sprintf("indexbuild P=%d build", r.P), r.Build.Wall, r.Build.cpu()
		if r.Merge != nil {
			job = fmt.Sprintf("indexbuild P=%d build + merge R=%d", r.P, r.Ranges)
		}
		detail := "no merge (one partition)"
		switch {
		case r.Merge != nil:
			wall += r.Merge.Wall
			cpu += r.Merge.cpu()
			detail = fmt.Sprintf("build %s + merge %s", secs(r.Build.Wall), secs(r.Merge.Wall))
		case r.P > 1:
			detail = "merge " + na + ": build alone"
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s; finalize %s more |\n", job, secs(wall), secs(cpu), ratio(wall, best), ratio(cpu, bestCPU), detail, secs(r.Finalize.Wall))
	}

	fmt.Fprintln(w, "\nWhere the time goes. Build workers, summed over the P workers (worker-seconds, from their stderr lines): scan = process start to the end of the scan (catalog, input pin, CSV decode, key encoding, in-memory sort runs and spills); write = to the last staged element (merging sort runs, writing SSTables, staging them); rest = partition metadata and exit. Merge: the pods' own elapsedSeconds (summary.Merge).")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| P | R | build scan | build write | build rest | per worker (wall avg) | merge elapsed (sum) | per merge pod (avg) |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|")
	for _, r := range runs {
		var scan, write, rest, wall time.Duration
		for _, p := range r.Build.Procs {
			sc, wr, re, ok := workerPhases(p)
			if !ok {
				continue
			}
			scan, write, rest, wall = scan+sc, write+wr, rest+re, wall+p.Wall
		}
		merge, per := "—", "—"
		if r.Merge != nil {
			var sum float64
			for _, p := range r.Merge.Procs {
				var m summary.Merge
				if err := json.Unmarshal(p.lastJSONLine(), &m); err == nil {
					sum += m.ElapsedSeconds
				}
			}
			merge, per = fmt.Sprintf("%.2f s", sum), fmt.Sprintf("%.3f s", sum/float64(len(r.Merge.Procs)))
		} else if r.P > 1 {
			merge, per = na, na
		}
		fmt.Fprintf(w, "| %d | %s | %s | %s | %s | %.3f s | %s | %s |\n", r.P, rangeLabel(r), secs(scan), secs(write), secs(rest), wall.Seconds()/float64(len(r.Build.Procs)), merge, per)
	}

	printProfile(w, prof)
	if mprof == nil {
		fmt.Fprintf(w, "\nMerge profile: %s.\n", na)
		return
	}
	printProfile(w, *mprof)
}

// shortFuncName is a profile's function name without the module paths
// and with generic type arguments elided.
func shortFuncName(name string) string {
	if i, j := strings.Index(name, "["), strings.LastIndex(name, "]"); i >= 0 && j > i {
		name = name[:i] + "[…]" + name[j+1:]
	}
	return strings.TrimPrefix(strings.TrimPrefix(name, "github.com/indexbuild/indexbuild/"), "github.com/")
}

// rangeLabel says how a run merged: its range count and the rule that
// chose it, "—" without a merge.
func rangeLabel(r run) string {
	if r.Merge == nil {
		return "—"
	}
	return fmt.Sprintf("%d (%s)", r.Ranges, r.Rule)
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func humanBytes(n float64) string {
	switch {
	case n >= 1e6:
		return fmt.Sprintf("%.1f MB", n/1e6)
	case n >= 1e3:
		return fmt.Sprintf("%.1f kB", n/1e3)
	}
	return fmt.Sprintf("%.0f B", n)
}
