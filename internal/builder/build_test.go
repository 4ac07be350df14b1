package builder_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/indexbuild/indexbuild/internal/builder"
	"github.com/indexbuild/indexbuild/internal/commit"
	"github.com/indexbuild/indexbuild/internal/gentable"
	"github.com/indexbuild/indexbuild/internal/output"
	"github.com/indexbuild/indexbuild/internal/query"
	"github.com/indexbuild/indexbuild/internal/retry"
	"github.com/indexbuild/indexbuild/internal/rows"
	"github.com/indexbuild/indexbuild/internal/sstindex"
	"github.com/indexbuild/indexbuild/internal/staging"
	"github.com/indexbuild/indexbuild/internal/storage"
	"github.com/indexbuild/indexbuild/internal/storage/storagetest"
	"github.com/indexbuild/indexbuild/internal/taskmeta"
)

func config(t *testing.T, src, out storage.Bucket, task taskmeta.Meta) builder.Config {
	return builder.Config{Meta: task, Partition: 0, Partitions: 1, Source: src, Output: out, TmpDir: t.TempDir()}
}

func TestStaleMetadataExits3(t *testing.T) {
	src := generate(t, gentable.Options{Rows: 20, Format: rows.JSONL})
	with := func(f func(*taskmeta.Meta)) taskmeta.Meta {
		m := indexTask
		m.ElementIDs = slices.Clone(m.ElementIDs)
		f(&m)
		return m
	}
	tests := []struct {
		name string
		task taskmeta.Meta
		want []string // substrings of the message
	}{
		{"missing element", with(func(m *taskmeta.Meta) { m.ElementIDs = []int64{1, 99} }), []string{"element 99", "table 100", "job 7"}},
		{"table ID mismatch", with(func(m *taskmeta.Meta) { m.TableID = 101 }), []string{"table 100", "table 101", "job 7"}},
		{"schema ID mismatch", with(func(m *taskmeta.Meta) { m.SchemaID = 2 }), []string{"schema 1", "schema 2"}},
		{"element type mismatch", with(func(m *taskmeta.Meta) { m.ElementType = taskmeta.ElementTypeFulltext }), []string{"element 1", `"index"`, `"fulltext"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := storagetest.Mem().Open(t)
			_, err := builder.Build(context.Background(), config(t, src, out, tt.task))
			if code := retry.ExitCode(err); code != retry.ExitStaleMeta {
				t.Fatalf("exit code %d (%v), want %d", code, err, retry.ExitStaleMeta)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("message %q lacks %q", err, w)
				}
			}
			// Nothing may be staged for a task that is not the catalog's.
			if objs, _ := out.List(context.Background(), ""); len(objs) != 0 {
				t.Errorf("stale task wrote %v", objs)
			}
		})
	}
}

func TestManifestOfAnotherTaskExits3(t *testing.T) {
	src := generate(t, gentable.Options{Rows: 20, Format: rows.JSONL})
	out := storagetest.Mem().Open(t)
	other := indexTask
	other.ElementIDs = []int64{gentable.IndexYear}
	if _, err := builder.Build(context.Background(), config(t, src, out, other)); err != nil {
		t.Fatal(err)
	}
	_, err := builder.Build(context.Background(), config(t, src, out, indexTask))
	if retry.ExitCode(err) != retry.ExitStaleMeta {
		t.Fatalf("err = %v, want stale metadata", err)
	}
}

func TestBadDataExits4WithLocation(t *testing.T) {
	cat, err := storage.ReadAll(context.Background(), generate(t, gentable.Options{Format: rows.JSONL}), "_table.json")
	if err != nil {
		t.Fatal(err)
	}
	good := `{"id":1,"isbn":"a","title":"t","author":"x","year":2000,"price":1.5,"in_stock":true,"description":"d"}`
	tests := []struct {
		name, file, data string
		line             int64
		column           string
	}{
		{"unparseable JSON", "t.jsonl", good + "\n" + good + "\n{oops\n", 3, ""},
		{"wrong type", "t.jsonl", good + "\n" + strings.Replace(good, `"year":2000`, `"year":"MMXX"`, 1) + "\n", 2, "year"},
		{"missing column", "t.jsonl", strings.Replace(good, `"price":1.5,`, "", 1) + "\n", 1, "price"},
		{"CSV bad float", "t.csv", "id,isbn,title,author,year,price,in_stock,description\n1,a,t,x,2000,1.5,true,d\n2,b,t,x,2000,cheap,true,d\n", 3, "price"},
		{"CSV missing header column", "t.csv", "id,isbn,title,author,price,in_stock,description\n1,a,t,x,1.5,true,d\n", 1, "year"},
		{"CSV quoted newline", "t.csv", "id,isbn,title,author,year,price,in_stock,description\n1,a,\"t\nu\",x,2000,1.5,true,d\n", 2, ""},
		{"NULL primary key", "t.jsonl", strings.Replace(good, `"id":1`, `"id":null`, 1) + "\n", 0, "id"},
		{"corrupt gzip", "t.jsonl.gz", "\x1f\x8b\x08\x00garbage", 0, ""},
		{"duplicate in unique index", "t.jsonl", good + "\n" + strings.Replace(good, `"id":1`, `"id":2`, 1) + "\n", 0, "isbn"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := storagetest.Mem().Open(t)
			src.Write(context.Background(), "_table.json", bytes.NewReader(cat))
			src.Write(context.Background(), tt.file, strings.NewReader(tt.data))
			_, err := builder.Build(context.Background(), config(t, src, storagetest.Mem().Open(t), indexTask))
			var inv *retry.InvalidInputError
			if !errors.As(err, &inv) || retry.ExitCode(err) != retry.ExitInvalidInput {
				t.Fatalf("err = %v, want InvalidInputError (exit 4)", err)
			}
			if tt.line > 0 && (inv.File != tt.file || inv.Line != tt.line) {
				t.Errorf("location %s line %d, want %s line %d (%v)", inv.File, inv.Line, tt.file, tt.line, err)
			}
			if !strings.Contains(inv.Column, tt.column) {
				t.Errorf("column %q, want %q (%v)", inv.Column, tt.column, err)
			}
		})
	}
}

// flakyBucket fails every read of one object the way a network does.
type flakyBucket struct {
	storage.Bucket
	key string
}

func (b flakyBucket) NewReader(ctx context.Context, key string) (io.ReadCloser, error) {
	if key == b.key {
		return nil, errors.New("connection reset by peer")
	}
	return b.Bucket.NewReader(ctx, key)
}

func TestStorageFailureExits1(t *testing.T) {
	src := generate(t, gentable.Options{Rows: 50, Format: rows.JSONL})
	_, err := builder.Build(context.Background(), config(t, flakyBucket{src, "part-00000.jsonl"}, storagetest.Mem().Open(t), indexTask))
	if err == nil || retry.ExitCode(err) != retry.ExitRetryable {
		t.Fatalf("err = %v, want a retryable failure (exit 1)", err)
	}
}

func TestRerunAfterCommitIsNoOp(t *testing.T) {
	src := generate(t, gentable.Options{Rows: 50, Format: rows.JSONL})
	root := storagetest.Mem().Open(t)
	out, err := commit.OpenTask(context.Background(), root, indexTask, output.Owner{}) // the task's version
	if err != nil {
		t.Fatal(err)
	}
	cfg := config(t, src, out, indexTask)
	if _, err := builder.Build(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	if _, err := commit.Finalize(context.Background(), root, commit.Options{Task: indexTask, Partitions: 1}); err != nil {
		t.Fatal(err)
	}
	sum, err := builder.Build(context.Background(), cfg)
	if err != nil || !sum.AlreadyDone {
		t.Fatalf("re-run after commit: %+v, %v", sum, err)
	}
	if staged, _ := out.List(context.Background(), staging.Prefix); len(staged) != 0 {
		t.Fatalf("re-run after commit staged %v", staged)
	}
	other := indexTask
	other.JobID++
	if _, err := builder.Build(context.Background(), config(t, src, out, other)); retry.ExitCode(err) != retry.ExitStaleMeta {
		t.Fatalf("another job over a committed output: %v, want stale metadata", err)
	}
}

func TestRerunIsNoOp(t *testing.T) {
	src := generate(t, gentable.Options{Rows: 200, Files: 2, Format: rows.CSV})
	out := storagetest.Mem().Open(t)
	cfg := config(t, src, out, indexTask)
	cfg.Partitions = 2
	first, err := builder.Build(context.Background(), cfg)
	if err != nil || first.AlreadyDone {
		t.Fatalf("first run: %+v, %v", first, err)
	}
	before, _ := out.List(context.Background(), "")
	// Break the source: a second run that did any work would fail.
	src.Write(context.Background(), "part-00000.csv", strings.NewReader("garbage\n"))
	again, err := builder.Build(context.Background(), cfg)
	if err != nil || !again.AlreadyDone || again.Rows != first.Rows || again.Bytes != first.Bytes {
		t.Fatalf("re-run: %+v, %v; first %+v", again, err, first)
	}
	after, _ := out.List(context.Background(), "")
	if !slices.EqualFunc(before, after, func(a, b storage.Attrs) bool { return a.Key == b.Key && a.Size == b.Size }) {
		t.Fatalf("re-run changed the output: %v -> %v", before, after)
	}
	// A staged file gone missing means the partition is not done.
	meta, _, _ := staging.ReadPartitionMeta(context.Background(), out, 0)
	out.Delete(context.Background(), meta.Files[0].Path)
	if _, err := builder.Build(context.Background(), cfg); err == nil {
		t.Fatal("rebuild over a broken source succeeded: it did not notice the missing file")
	}
}

// TestFormatsGiveIdenticalIndexes builds the same rows from JSONL, CSV,
// Parquet and gzip JSONL and compares every entry of every element file.
func TestFormatsGiveIdenticalIndexes(t *testing.T) {
	variants := []gentable.Options{
		{Format: rows.JSONL}, {Format: rows.CSV}, {Format: rows.Parquet, RowGroupRows: 64}, {Format: rows.JSONL, Gzip: true},
	}
	var want []string
	for i, opt := range variants {
		opt.Rows, opt.Seed, opt.Files = 500, 3, 2
		src := generate(t, opt)
		out := storagetest.Mem().Open(t)
		cfg := config(t, src, out, indexTask)
		cfg.Partitions = 3
		for p := range 3 {
			cfg.Partition = p
			if _, err := builder.Build(context.Background(), cfg); err != nil {
				t.Fatalf("%s: %v", opt.Format, err)
			}
		}
		got := dumpEntries(t, out, 3)
		if i == 0 {
			want = got
			if len(want) != 4*500 {
				t.Fatalf("%d entries, want %d", len(want), 4*500)
			}
			continue
		}
		if !slices.Equal(got, want) {
			t.Fatalf("%s (gzip %v) entries differ from JSONL", opt.Format, opt.Gzip)
		}
	}
}

// TestFormatsGiveIdenticalFulltext builds the fulltext elements from each
// format and compares the answers, scores included, of term queries.
func TestFormatsGiveIdenticalFulltext(t *testing.T) {
	queries := []query.Query{
		{Element: gentable.FulltextDesc, Match: "winter harbor"},
		{Element: gentable.FulltextTitle, Match: "Über straße 東京"},
		{Element: gentable.FulltextDesc, Match: "MOUNTAIN", Limit: 5},
	}
	var want [][]query.Hit
	for i, format := range []rows.Format{rows.JSONL, rows.CSV, rows.Parquet} {
		src := generate(t, gentable.Options{Rows: 300, Seed: 5, Files: 2, Format: format, RowGroupRows: 50})
		ix := buildAll(t, src, fulltextTask, 3)
		for j, q := range queries {
			_, hits, err := ix.Run(context.Background(), q)
			if err != nil {
				t.Fatal(err)
			}
			if i == 0 {
				if len(hits) == 0 {
					t.Fatalf("%q matches nothing: the comparison would prove little", q.Match)
				}
				want = append(want, hits)
				continue
			}
			if !slices.Equal(hits, want[j]) {
				t.Fatalf("%s: %q gives %v, JSONL gives %v", format, q.Match, hits, want[j])
			}
		}
	}
}

// dumpEntries lists every (element, key, handle) of the staged SSTables.
func dumpEntries(t *testing.T, out storage.Bucket, partitions int) []string {
	var entries []string
	for p := range partitions {
		meta, ok, err := staging.ReadPartitionMeta(context.Background(), out, p)
		if !ok || err != nil {
			t.Fatalf("partition %d meta: %v", p, err)
		}
		for _, f := range meta.Files {
			data, err := storage.ReadAll(context.Background(), out, f.Path)
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(t.TempDir(), "f.sst")
			os.WriteFile(path, data, 0o644)
			r, err := sstindex.Open(context.Background(), path)
			if err != nil {
				t.Fatal(err)
			}
			r.Scan(nil, nil, func(k, h []byte) error {
				entries = append(entries, string(rune(f.Element))+string(k)+"\x00"+string(h))
				return nil
			})
			r.Close()
		}
	}
	slices.Sort(entries)
	return entries
}

// TestPartitionMetaRecordsSamples: every partition records, per index
// element, its entry count and ascending column-value samples that are the
// keys of its staged file; fulltext elements record none.
func TestPartitionMetaRecordsSamples(t *testing.T) {
	ctx := context.Background()
	src := generate(t, gentable.Options{Rows: 600, Seed: 3, Format: rows.JSONL})
	for _, task := range []taskmeta.Meta{indexTask, fulltextTask} {
		t.Run(task.ElementType, func(t *testing.T) {
			out := storagetest.Mem().Open(t)
			for p := range 2 {
				cfg := config(t, src, out, task)
				cfg.Partition, cfg.Partitions = p, 2
				if _, err := builder.Build(ctx, cfg); err != nil {
					t.Fatal(err)
				}
			}
			for p := range 2 {
				meta, _, err := staging.ReadPartitionMeta(ctx, out, p)
				if err != nil {
					t.Fatal(err)
				}
				if task.ElementType == taskmeta.ElementTypeFulltext {
					if len(meta.Samples) != 0 {
						t.Fatalf("fulltext partition %d recorded samples %v", p, meta.Samples)
					}
					continue
				}
				if len(meta.Samples) != len(task.ElementIDs) {
					t.Fatalf("partition %d: %d element samples, want %d", p, len(meta.Samples), len(task.ElementIDs))
				}
				for i, s := range meta.Samples {
					if s.Element != task.ElementIDs[i] || s.Entries != meta.Rows || len(s.Keys) != staging.MaxSamples {
						t.Fatalf("partition %d samples %d: element %d, %d entries, %d keys; want %d, %d, %d",
							p, i, s.Element, s.Entries, len(s.Keys), task.ElementIDs[i], meta.Rows, staging.MaxSamples)
					}
					if !slices.IsSortedFunc(s.Keys, bytes.Compare) {
						t.Fatalf("partition %d element %d: samples not ascending", p, s.Element)
					}
					cols := columnValues(t, out, meta, s.Element)
					for _, k := range s.Keys {
						if _, found := slices.BinarySearchFunc(cols, k, bytes.Compare); !found {
							t.Fatalf("partition %d element %d: sample %x is no column value of the staged file", p, s.Element, k)
						}
					}
				}
			}
		})
	}
}

// columnValues returns the column values (key without handle) of element's
// staged file of a partition, in key order.
func columnValues(t *testing.T, out storage.Bucket, meta staging.PartitionMeta, element int64) [][]byte {
	i := slices.IndexFunc(meta.Files, func(f staging.File) bool { return f.Element == element })
	data, err := storage.ReadAll(context.Background(), out, meta.Files[i].Path)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "f.sst")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	r, err := sstindex.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var cols [][]byte
	if err := r.Scan(nil, nil, func(k, h []byte) error {
		cols = append(cols, bytes.Clone(k[:len(k)-len(h)]))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return cols
}
