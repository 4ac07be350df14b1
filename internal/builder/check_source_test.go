package builder_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/indexbuild/indexbuild/internal/builder"
	"github.com/indexbuild/indexbuild/internal/commit"
	"github.com/indexbuild/indexbuild/internal/gentable"
	"github.com/indexbuild/indexbuild/internal/retry"
	"github.com/indexbuild/indexbuild/internal/rows"
	"github.com/indexbuild/indexbuild/internal/storage"
	"github.com/indexbuild/indexbuild/internal/storage/storagetest"
	"github.com/indexbuild/indexbuild/internal/taskmeta"
)

// commitTask builds and finalizes every partition of task over src and
// returns the committed version and its marker.
func commitTask(t *testing.T, src storage.Bucket, task taskmeta.Meta, partitions int) (storage.Bucket, commit.Marker) {
	t.Helper()
	out := storagetest.Mem().Open(t)
	v := buildPartitions(t, src, out, task, partitions)
	if _, err := commit.Finalize(context.Background(), out, commit.Options{Task: task, Partitions: partitions}); err != nil {
		t.Fatal(err)
	}
	m, err := commit.ReadMarker(context.Background(), v)
	if err != nil {
		t.Fatal(err)
	}
	return v, m
}

func checkSource(t *testing.T, src, v storage.Bucket, m commit.Marker) (builder.SourceReport, error) {
	return builder.CheckSource(context.Background(), builder.SourceCheck{Source: src, Version: v, Marker: m, TmpDir: t.TempDir(), SampleTarget: 1 << 30})
}

// TestCheckSourceAgrees: an index built from a table checks out against it:
// one entry per row in every element.
func TestCheckSourceAgrees(t *testing.T) {
	for _, task := range []taskmeta.Meta{indexTask, fulltextTask} {
		src := generate(t, gentable.Options{Rows: 500, Files: 3, Format: rows.Parquet, RowGroupRows: 60})
		v, m := commitTask(t, src, task, 3)
		for _, sample := range []int{0, 1 << 30} {
			rep, err := builder.CheckSource(context.Background(), builder.SourceCheck{Source: src, Version: v, Marker: m, TmpDir: t.TempDir(), SampleTarget: sample})
			if err != nil || rep.Rows != 500 || rep.Files != 3 || len(rep.Elements) != len(task.ElementIDs) {
				t.Fatalf("%s: %+v, %v", task.ElementType, rep, err)
			}
			for _, e := range rep.Elements {
				if e.Entries != 500 || e.Sampled == 0 {
					t.Errorf("%s element %d: %+v", task.ElementType, e.ID, e)
				}
			}
		}
	}
}

// TestCheckSourceNamesTheFirstDifference puts the element files of an index
// built from another table under the version and expects the difference
// named: the row without its entry, the entry without its row.
func TestCheckSourceNamesTheFirstDifference(t *testing.T) {
	ctx := context.Background()
	table := generate(t, gentable.Options{Rows: 200, Files: 1, Format: rows.JSONL})
	data := mustRead(t, table, "part-00000.jsonl")
	lines := bytes.SplitAfter(data, []byte("\n"))
	tests := []struct {
		name  string
		other []byte // the data file the committed files were built from
		task  taskmeta.Meta
		want  []string
	}{
		{"row missing", bytes.Join(append(lines[:16:16], lines[17:]...), nil), indexTask,
			[]string{"element 1 (idx_year): the row at part-00000.jsonl line 17 (handle \"16\") has no entry; 199 entries for 200 rows"}},
		{"row missing, fulltext", bytes.Join(append(lines[:16:16], lines[17:]...), nil), fulltextTask,
			[]string{"element 5 (ft_description): the row at part-00000.jsonl line 17 (handle \"16\") has no entry"}},
		{"value changed", bytes.Replace(data, []byte(`{"id":7,`), []byte(`{"id":70000,`), 1), indexTask,
			[]string{`element 1 (idx_year): the row at part-00000.jsonl line 8 (handle "7") has no entry; 200 entries for 200 rows`}},
		{"row added", append(append([]byte(nil), data...), row(`"id":1`, `"id":5000`, `"isbn":"a"`, `"isbn":"zz"`)...), indexTask,
			[]string{`element 1 (idx_year): the entry for handle "5000" in part_1_1.sst matches no row of the task's input; 201 entries for 200 rows`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, m := commitTask(t, table, tt.task, 2)
			other := booksSource(t, map[string]string{"part-00000.jsonl": string(tt.other)})
			ov, om := commitTask(t, other, tt.task, 2)
			for _, f := range om.Files {
				if err := v.Write(ctx, f.Path, bytes.NewReader(mustRead(t, ov, f.Path))); err != nil {
					t.Fatal(err)
				}
			}
			_, err := checkSource(t, table, v, m)
			var verr *commit.VerifyError
			if !errors.As(err, &verr) || retry.ExitCode(err) != retry.ExitInvalidInput {
				t.Fatalf("err = %v, want a VerifyError (exit 4)", err)
			}
			if len(verr.Problems) != len(tt.task.ElementIDs) {
				t.Errorf("%d problems, want one per element: %v", len(verr.Problems), verr.Problems)
			}
			for _, w := range tt.want {
				if !strings.Contains(verr.Problems[0], w) {
					t.Errorf("first problem %q lacks %q", verr.Problems[0], w)
				}
			}
		})
	}
}

// TestCheckSourceOfAChangedTable: a table that changed since the task is no
// longer what was indexed: stale metadata naming the file. A marker without
// an input snapshot cannot be checked against a source.
func TestCheckSourceOfAChangedTable(t *testing.T) {
	ctx := context.Background()
	src := generate(t, gentable.Options{Rows: 100, Files: 2, Format: rows.CSV})
	v, m := commitTask(t, src, indexTask, 2)
	if _, err := checkSource(t, src, v, m); err != nil {
		t.Fatal(err)
	}
	src.Write(ctx, "part-00001.csv", bytes.NewReader(append(mustRead(t, src, "part-00001.csv"), "\n"...)))
	_, err := checkSource(t, src, v, m)
	if retry.ExitCode(err) != retry.ExitStaleMeta || !strings.Contains(err.Error(), "part-00001.csv: size") {
		t.Fatalf("err = %v, want stale metadata naming part-00001.csv", err)
	}
	m.Source = nil
	if _, err := checkSource(t, src, v, m); retry.ExitCode(err) != retry.ExitInvalidInput || !strings.Contains(err.Error(), "no input snapshot") {
		t.Fatalf("marker without a snapshot: %v", err)
	}
}
