package merge_test

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/indexbuild/indexbuild/internal/builder"
	"github.com/indexbuild/indexbuild/internal/gentable"
	"github.com/indexbuild/indexbuild/internal/merge"
	"github.com/indexbuild/indexbuild/internal/rows"
	"github.com/indexbuild/indexbuild/internal/sstindex"
	"github.com/indexbuild/indexbuild/internal/staging"
	"github.com/indexbuild/indexbuild/internal/storage"
	"github.com/indexbuild/indexbuild/internal/storage/storagetest"
	"github.com/indexbuild/indexbuild/internal/table"
	"github.com/indexbuild/indexbuild/internal/taskmeta"
)

var ctx = context.Background()

// booksTask merges every index element of the generated books table.
func booksTask(partitions int) taskmeta.Meta {
	return taskmeta.Meta{JobID: 7, SchemaID: 1, TableID: 100, ElementType: taskmeta.ElementTypeIndex, Partitions: partitions,
		ElementIDs: []int64{gentable.IndexYear, gentable.IndexAuthorTitle, gentable.IndexPrice, gentable.IndexISBN}}
}

// books is a generated books table.
func books(t *testing.T, rowCount int) storage.Bucket {
	t.Helper()
	src := storagetest.Mem().Open(t)
	if err := gentable.Generate(ctx, src, gentable.Options{Rows: rowCount, Seed: 11, Files: 3, Format: rows.JSONL}); err != nil {
		t.Fatal(err)
	}
	return src
}

// peopleCatalog has a unique index on email and a non-unique one on age.
const peopleCatalog = `{"schemaID":1,"tableID":5,"columns":[{"name":"id","type":"int"},{"name":"email","type":"string"},{"name":"age","type":"int"}],
"primaryKey":"id","indexes":[{"id":1,"name":"idx_age","columns":["age"],"type":"index"},{"id":2,"name":"idx_email","columns":["email"],"type":"index","unique":true}]}`

var peopleTask = func(partitions int) taskmeta.Meta {
	return taskmeta.Meta{JobID: 9, SchemaID: 1, TableID: 5, ElementType: taskmeta.ElementTypeIndex, ElementIDs: []int64{1, 2}, Partitions: partitions}
}

// people is a CSV table of n rows with ids 1..n, distinct emails and ages
// 20..59; edit may change row i (0-based) as CSV fields id, email, age.
func people(t *testing.T, n int, edit func(i int, f []string)) storage.Bucket {
	t.Helper()
	var b strings.Builder
	b.WriteString("id,email,age\n")
	for i := range n {
		f := []string{fmt.Sprint(i + 1), fmt.Sprintf("p%04d@example.org", (i*7919)%n), fmt.Sprint(20 + i%40)}
		if edit != nil {
			edit(i, f)
		}
		b.WriteString(strings.Join(f, ",") + "\n")
	}
	src := storagetest.Mem().Open(t)
	for key, data := range map[string]string{table.CatalogName: peopleCatalog, "people.csv": b.String()} {
		if err := src.Write(ctx, key, strings.NewReader(data)); err != nil {
			t.Fatal(err)
		}
	}
	return src
}

// stage builds every partition of task from src into out.
func stage(t testing.TB, src, out storage.Bucket, task taskmeta.Meta) {
	t.Helper()
	for p := range task.Partitions {
		cfg := builder.Config{Meta: task, Partition: p, Partitions: task.Partitions, Source: src, Output: out, TmpDir: t.TempDir()}
		if _, err := builder.Build(ctx, cfg); err != nil {
			t.Fatalf("build partition %d: %v", p, err)
		}
	}
}

func config(t testing.TB, out storage.Bucket, task taskmeta.Meta, r, ranges int) merge.Config {
	return merge.Config{Meta: task, Output: out, Range: r, Ranges: ranges, TmpDir: t.TempDir()}
}

// entry is one index entry of an element.
type entry struct {
	element     int64
	key, handle string
}

// scan returns the entries of the staged SSTable at key.
func scan(t testing.TB, b storage.Bucket, key string, element int64) []entry {
	t.Helper()
	r, err := sstindex.OpenObjectReader(ctx, b, key, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var out []entry
	if err := r.Scan(nil, nil, func(k, h []byte) error {
		out = append(out, entry{element, string(k), string(h)})
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

// partitionEntries returns every entry of the partitions' staged files of
// element, sorted.
func partitionEntries(t testing.TB, b storage.Bucket, task taskmeta.Meta, element int64) []entry {
	t.Helper()
	var out []entry
	for p := range task.Partitions {
		m, _, err := staging.ReadPartitionMeta(ctx, b, p)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range m.Files {
			if f.Element == element {
				out = append(out, scan(t, b, f.Path, element)...)
			}
		}
	}
	slices.SortFunc(out, func(a, b entry) int { return strings.Compare(a.key, b.key) })
	return out
}

// mergeObjects is what the merge stage staged: merge files and metadata.
func mergeObjects(t testing.TB, b storage.Bucket) map[string]string {
	return storagetest.Objects(t, b, staging.Prefix+"merge_")
}

// copyObjects copies every object of from into to.
func copyObjects(t testing.TB, from, to storage.Bucket) {
	t.Helper()
	for key, data := range storagetest.Objects(t, from, "") {
		if err := to.Write(ctx, key, strings.NewReader(data)); err != nil {
			t.Fatal(err)
		}
	}
}

func keysOf(m map[string]string) []string { return slices.Sorted(maps.Keys(m)) }

func gentableCatalog() *table.Table { return gentable.Catalog(1, 100) }

func catalogWithout(t *table.Table, id int64) *table.Table {
	t.Indexes = slices.DeleteFunc(t.Indexes, func(ix table.Index) bool { return ix.ID == id })
	return t
}
