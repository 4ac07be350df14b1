package builder_test

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/indexbuild/indexbuild/internal/builder"
	"github.com/indexbuild/indexbuild/internal/gentable"
	"github.com/indexbuild/indexbuild/internal/retry"
	"github.com/indexbuild/indexbuild/internal/rows"
	"github.com/indexbuild/indexbuild/internal/storage"
	"github.com/indexbuild/indexbuild/internal/storage/storagetest"
	"github.com/indexbuild/indexbuild/internal/taskmeta"
)

// booksSource is a source with the books catalog and the given data files.
func booksSource(t *testing.T, files map[string]string) storage.Bucket {
	t.Helper()
	cat, err := storage.ReadAll(context.Background(), generate(t, gentable.Options{Format: rows.JSONL}), "_table.json")
	if err != nil {
		t.Fatal(err)
	}
	src := storagetest.Mem().Open(t)
	src.Write(context.Background(), "_table.json", bytes.NewReader(cat))
	for name, data := range files {
		src.Write(context.Background(), name, strings.NewReader(data))
	}
	return src
}

const goodRow = `{"id":1,"isbn":"a","title":"t","author":"x","year":2000,"price":1.5,"in_stock":true,"description":"d"}`

func row(replace ...string) string { return strings.NewReplacer(replace...).Replace(goodRow) + "\n" }

// TestBadInputIsPermanentAndNamed: every kind of bad input ends the
// partition with exit 4 and a message naming where it is, for index and
// fulltext tasks alike (the UTF-8 cases are in a column both decode:
// columns no element of the task reads are not decoded). A repeated primary key used to fail in the SSTable
// writer ("keys must be added in strictly increasing order", exit 1), so
// every partition was retried to its backoff limit without a cause.
func TestBadInputIsPermanentAndNamed(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string
		want  []string // substrings of the message
	}{
		{"repeated row", map[string]string{"t.jsonl": row() + row()},
			[]string{`t.jsonl column "id"`, `duplicate primary key "1"`, "t.jsonl line 1 and t.jsonl line 2"}},
		{"primary key repeated with other values", map[string]string{"t.jsonl": row() + row(`"id":1`, `"id":2`) + row(`"year":2000`, `"year":1999`, `"isbn":"a"`, `"isbn":"c"`)},
			[]string{`duplicate primary key "1"`, "t.jsonl line 1 and t.jsonl line 3"}},
		{"primary key repeated across files", map[string]string{"a.jsonl": row(), "b.csv": "id,isbn,title,author,year,price,in_stock,description\n1,b,t,x,1990,1.5,true,d\n"},
			[]string{`b.csv column "id"`, `duplicate primary key "1"`, "a.jsonl line 1 and b.csv line 2"}},
		{"duplicate JSON key", map[string]string{"t.jsonl": row() + row(`"id":1`, `"id":2`, `"year":2000`, `"year":1999,"year":2001`)},
			[]string{`t.jsonl line 2 column "year"`, `key "year" appears twice`}},
		{"invalid UTF-8", map[string]string{"t.jsonl": row(`"title":"t"`, "\"title\":\"t\xe9\"")},
			[]string{`t.jsonl line 1 column "title"`, "invalid UTF-8"}},
		{"invalid UTF-8 beside an escape", map[string]string{"t.jsonl": row() + row(`"id":1`, `"id":2`, `"isbn":"a"`, `"isbn":"b"`, `"title":"t"`, "\"title\":\"\\u00e9 \xe9\"")},
			[]string{`t.jsonl line 2 column "title"`, "invalid UTF-8"}},
		{"unpaired surrogate", map[string]string{"t.jsonl": row(`"title":"t"`, `"title":"\udfff"`)},
			[]string{`t.jsonl line 1 column "title"`, `invalid UTF-8: \udfff is an unpaired surrogate`}},
		{"CSV invalid UTF-8", map[string]string{"t.csv": "id,isbn,title,author,year,price,in_stock,description\n1,a,\xff,x,2000,1.5,true,d\n"},
			[]string{`t.csv line 2 column "title"`, "invalid UTF-8"}},
	}
	for _, task := range []taskmeta.Meta{indexTask, fulltextTask} {
		for _, tt := range tests {
			t.Run(task.ElementType+"/"+tt.name, func(t *testing.T) {
				src := booksSource(t, tt.files)
				_, err := builder.Build(context.Background(), config(t, src, storagetest.Mem().Open(t), task))
				if retry.ExitCode(err) != retry.ExitInvalidInput {
					t.Fatalf("err = %v (exit %d), want invalid input (exit 4)", err, retry.ExitCode(err))
				}
				for _, w := range tt.want {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("message %q lacks %q", err, w)
					}
				}
			})
		}
	}
}

// TestByteOrderMarkBuilds: a CSV saved by a spreadsheet (UTF-8 BOM) used to
// fail with `line 1 column "id": missing from the header`.
func TestByteOrderMarkBuilds(t *testing.T) {
	src := booksSource(t, map[string]string{
		"a.csv":   "\xef\xbb\xbfid,isbn,title,author,year,price,in_stock,description\n1,a,t,x,2000,1.5,true,d\n",
		"b.jsonl": "\xef\xbb\xbf" + row(`"id":1`, `"id":2`, `"isbn":"a"`, `"isbn":"b"`),
	})
	sum, err := builder.Build(context.Background(), config(t, src, storagetest.Mem().Open(t), indexTask))
	if err != nil || sum.Rows != 2 {
		t.Fatalf("%+v, %v; want 2 rows", sum, err)
	}
}
