package builder_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"

	"github.com/indexbuild/indexbuild/internal/builder"
	"github.com/indexbuild/indexbuild/internal/commit"
	"github.com/indexbuild/indexbuild/internal/ftindex"
	"github.com/indexbuild/indexbuild/internal/gentable"
	"github.com/indexbuild/indexbuild/internal/keyenc"
	"github.com/indexbuild/indexbuild/internal/output"
	"github.com/indexbuild/indexbuild/internal/query"
	"github.com/indexbuild/indexbuild/internal/rows"
	"github.com/indexbuild/indexbuild/internal/storage"
	"github.com/indexbuild/indexbuild/internal/storage/storagetest"
	"github.com/indexbuild/indexbuild/internal/table"
	"github.com/indexbuild/indexbuild/internal/taskmeta"
)

var (
	indexTask    = taskmeta.Meta{JobID: 7, SchemaID: 1, TableID: 100, ElementType: taskmeta.ElementTypeIndex, ElementIDs: []int64{gentable.IndexYear, gentable.IndexAuthorTitle, gentable.IndexPrice, gentable.IndexISBN}}
	fulltextTask = taskmeta.Meta{JobID: 8, SchemaID: 1, TableID: 100, ElementType: taskmeta.ElementTypeFulltext, ElementIDs: []int64{gentable.FulltextDesc, gentable.FulltextTitle}}
)

type shape struct {
	name       string
	opt        gentable.Options
	partitions int
}

var shapes = []shape{
	{"one file many partitions", gentable.Options{Rows: 700, Files: 1, Format: rows.JSONL}, 7},
	{"many files one partition", gentable.Options{Rows: 500, Files: 9, Format: rows.CSV}, 1},
	{"uneven files", gentable.Options{Rows: 900, Files: 5, Uneven: true, Format: rows.Parquet, RowGroupRows: 40}, 4},
	{"more partitions than rows", gentable.Options{Rows: 3, Files: 1, Format: rows.JSONL}, 6},
	{"gzip csv", gentable.Options{Rows: 400, Files: 3, Format: rows.CSV, Gzip: true}, 5},
	{"empty table", gentable.Options{Rows: 0, Files: 1, Format: rows.JSONL}, 2},
}

// buildAll runs every partition of task over src into a new output on the
// same kind of store, finalizes and opens the result.
func buildAll(t *testing.T, src storage.Bucket, task taskmeta.Meta, partitions int) *query.Index {
	return buildAllOn(t, storagetest.Mem(), src, task, partitions)
}

func buildAllOn(t *testing.T, store storagetest.Store, src storage.Bucket, task taskmeta.Meta, partitions int) *query.Index {
	t.Helper()
	ctx := context.Background()
	out := store.Open(t)
	for p := range partitions {
		_, err := builder.Build(ctx, builder.Config{
			Meta: task, Partition: p, Partitions: partitions,
			Source: src, Output: output.Version(out, task.JobID), TmpDir: t.TempDir(), SortBudget: 1 << 20,
		})
		if err != nil {
			t.Fatalf("partition %d: %v", p, err)
		}
	}
	if _, err := commit.Finalize(ctx, out, commit.Options{Task: task, Partitions: partitions}); err != nil {
		t.Fatalf("finalize: %v", err)
	}
	ix, err := query.Open(ctx, out)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ix.Close() })
	return ix
}

func generate(t *testing.T, opt gentable.Options) storage.Bucket {
	return generateOn(t, storagetest.Mem(), opt)
}

func generateOn(t *testing.T, store storagetest.Store, opt gentable.Options) storage.Bucket {
	t.Helper()
	src := store.Open(t)
	if err := gentable.Generate(context.Background(), src, opt); err != nil {
		t.Fatal(err)
	}
	return src
}

// TestRoundTrip builds every partition of tables of several shapes and
// compares hundreds of random queries with a brute-force scan of the rows.
func TestRoundTrip(t *testing.T) {
	for _, sh := range shapes {
		t.Run(sh.name, func(t *testing.T) { roundTrip(t, storagetest.Mem(), sh, 300) })
	}
}

// TestRoundTripStores runs one shape whose files are split by byte range on
// every store, the real S3 server included: range reads, listing and the
// commit protocol all go through the store under test.
func TestRoundTripStores(t *testing.T) {
	sh := shape{"split by bytes", gentable.Options{Rows: 400, Files: 2, Format: rows.CSV}, 3}
	for _, store := range storagetest.Stores() {
		t.Run(store.Name, func(t *testing.T) { roundTrip(t, store, sh, 60) })
	}
}

func roundTrip(t *testing.T, store storagetest.Store, sh shape, queries int) {
	cat := gentable.Catalog(1, 100)
	sh.opt.Seed = 42
	src := generateOn(t, store, sh.opt)
	table := make([][]table.Value, sh.opt.Rows)
	for i := range table {
		table[i] = gentable.Row(sh.opt.Seed, i)
	}
	idx := buildAllOn(t, store, src, indexTask, sh.partitions)
	ft := buildAllOn(t, store, src, fulltextTask, sh.partitions)
	rng := rand.New(rand.NewPCG(9, uint64(sh.opt.Rows)))
	for n := range queries {
		q, want := randomQuery(rng, cat, table, n)
		ix := idx
		if q.Match != "" {
			ix = ft
		}
		_, hits, err := ix.Run(context.Background(), q)
		if err != nil {
			t.Fatalf("%+v: %v", q, err)
		}
		got := make([]string, len(hits))
		for i, h := range hits {
			got[i] = h.Handle
		}
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Fatalf("query %+v (range %v):\n got %v\nwant %v", q, q.Range, got, want)
		}
	}
}

// randomQuery returns query n and its brute-force answer (sorted handles).
// Values come from existing rows most of the time, so queries hit.
func randomQuery(rng *rand.Rand, cat *table.Table, rowsOf [][]table.Value, n int) (query.Query, []string) {
	pick := func(col int) table.Value {
		if len(rowsOf) == 0 || rng.IntN(5) == 0 {
			return gentable.Row(999, rng.IntN(1000))[col] // likely absent
		}
		return rowsOf[rng.IntN(len(rowsOf))][col]
	}
	col := func(name string) int { return cat.ColumnIndex(name) }
	var q query.Query
	var match func(row []table.Value) bool
	switch n % 6 {
	case 0: // point on a non-unique int index
		v := pick(col("year"))
		q = query.Query{Element: gentable.IndexYear, Eq: []string{v.Text()}}
		match = func(r []table.Value) bool { return equal(r[col("year")], v) }
	case 1: // composite prefix: author only, or author and title
		a, ti := pick(col("author")), pick(col("title"))
		q = query.Query{Element: gentable.IndexAuthorTitle, Eq: []string{a.Text()}}
		match = func(r []table.Value) bool { return equal(r[col("author")], a) }
		if rng.IntN(2) == 0 {
			q.Eq = append(q.Eq, ti.Text())
			match = func(r []table.Value) bool { return equal(r[col("author")], a) && equal(r[col("title")], ti) }
		}
	case 2: // point on floats, NULL included
		v := pick(col("price"))
		q = query.Query{Element: gentable.IndexPrice, Eq: []string{v.Text()}}
		match = func(r []table.Value) bool { return equal(r[col("price")], v) }
	case 3: // ranges on int and float columns
		name, elem := "year", gentable.IndexYear
		if rng.IntN(2) == 0 {
			name, elem = "price", gentable.IndexPrice
		}
		lo, hi := pick(col(name)), pick(col(name))
		if lo.Kind == table.Null || hi.Kind == table.Null {
			lo, hi = table.Value{Kind: table.Float, Float: -5}, table.Value{Kind: table.Float, Float: 7.5}
			if name == "year" {
				lo, hi = table.Value{Kind: table.Int, Int: -1950}, table.Value{Kind: table.Int, Int: 1910}
			}
		}
		q = query.Query{Element: elem, Range: &[2]string{lo.Text(), hi.Text()}}
		match = func(r []table.Value) bool {
			v := r[col(name)]
			return v.Kind != table.Null && compare(v, lo) >= 0 && compare(v, hi) <= 0
		}
	case 4: // unique string index
		v := pick(col("isbn"))
		q = query.Query{Element: gentable.IndexISBN, Eq: []string{v.Text()}}
		match = func(r []table.Value) bool { return equal(r[col("isbn")], v) }
	case 5: // terms, over one or two text columns
		words := ftindex.Terms(pick(col("description")).Str + " " + pick(col("title")).Str)
		rng.Shuffle(len(words), func(i, j int) { words[i], words[j] = words[j], words[i] })
		text := "nonexistentterm"
		if len(words) > 0 {
			text = fmt.Sprint(words[:min(len(words), 1+rng.IntN(2))])
			text = text[1 : len(text)-1]
		}
		cols := []int{col("description")}
		q = query.Query{Element: gentable.FulltextDesc, Match: text}
		if rng.IntN(2) == 0 {
			q.Element, cols = gentable.FulltextTitle, []int{col("title"), col("description")}
		}
		terms := ftindex.Terms(text)
		match = func(r []table.Value) bool {
			for _, c := range cols {
				for _, term := range ftindex.Terms(r[c].Str) {
					if slices.Contains(terms, term) {
						return true
					}
				}
			}
			return false
		}
	}
	var want []string
	for _, r := range rowsOf {
		if match(r) {
			want = append(want, strconv.FormatInt(r[0].Int, 10))
		}
	}
	slices.Sort(want)
	return q, want
}

func equal(a, b table.Value) bool { return compare(a, b) == 0 && a.Kind == b.Kind }

// compare orders values the way the index does; brute force uses the
// encoding only through this one call, and TestKeyOrder checks it against
// Go's own comparisons.
func compare(a, b table.Value) int {
	ka, kb := keyenc.AppendValue(nil, a), keyenc.AppendValue(nil, b)
	return slices.Compare(ka, kb)
}
