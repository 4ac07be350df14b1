package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/indexbuild/indexbuild/internal/commit"
	"github.com/indexbuild/indexbuild/internal/retry"
	"github.com/indexbuild/indexbuild/internal/summary"
)

// TestFinalizeMergedCommands drives the merged layout through the command
// line: one table built in 3 partitions and committed per partition, after
// two merge pods (finalize --merge-ranges 2), and merged by finalize itself
// (--merge-local) answers every query alike; verify checks the merged
// files' key ranges.
func TestFinalizeMergedCommands(t *testing.T) {
	dir := t.TempDir()
	src := "file://" + filepath.Join(dir, "src")
	if code, _, stderr := runCmd(t, "gen-table", "--rows=300", "--files=2", "--format=csv", "--out="+src); code != 0 {
		t.Fatalf("gen-table: %d %s", code, stderr)
	}
	task := []string{"--job-id=3", "--schema-id=1", "--table-id=100", "--element-type=index", "--element-ids=1,3,4", "--partitions=3", "--source=" + src}
	queries := [][]string{
		{"--element=1", "--range", "1990", "2005"},
		{"--element=3", "--range", "-10", "10.5"},
		{"--element=4", "--range", "0", "z"},
	}
	layouts := []struct {
		name     string
		merges   int // merge pods run before finalize, one per range
		finalize []string
		files    int // committed files: 3 elements per partition or range
	}{
		{"partitions", 0, nil, 9},
		{"merge-jobs", 2, []string{"--merge-ranges=2"}, 6},
		{"merge-local", 0, []string{"--merge-local", "--tmp-dir=" + t.TempDir()}, 3},
	}
	var want [][]string // hits of each query, from the first layout
	for _, l := range layouts {
		t.Run(l.name, func(t *testing.T) {
			out := "file://" + filepath.Join(dir, l.name)
			for p := range 3 {
				t.Setenv("JOB_COMPLETION_INDEX", strconv.Itoa(p))
				if code, _, stderr := runCmd(t, append([]string{"build", "--output=" + out, "--termination-log="}, task...)...); code != 0 {
					t.Fatalf("build partition %d: exit %d\n%s", p, code, stderr)
				}
			}
			for r := range l.merges {
				args := append([]string{"merge", "--output=" + out, "--termination-log=", "--range=" + strconv.Itoa(r), "--ranges=" + strconv.Itoa(l.merges)}, task...)
				if code, _, stderr := runCmd(t, args...); code != 0 {
					t.Fatalf("merge range %d: exit %d\n%s", r, code, stderr)
				}
			}
			args := append(append([]string{"finalize", "--output=" + out, "--termination-log="}, l.finalize...), task...)
			code, stdout, stderr := runCmd(t, args...)
			if code != 0 {
				t.Fatalf("finalize: exit %d\n%s", code, stderr)
			}
			sum, err := summary.ParseCommit(strings.TrimSpace(stdout))
			if err != nil || sum.Files != l.files || sum.Rows != 300 {
				t.Fatalf("finalize summary %+v (%v), want %d files of 300 rows", sum, err, l.files)
			}
			if code, stdout, stderr := runCmd(t, "verify", "--output="+out); code != 0 {
				t.Fatalf("verify: exit %d\n%s%s", code, stdout, stderr)
			}
			data, err := os.ReadFile(filepath.Join(dir, l.name, "versions", "3", commit.MarkerKey))
			if err != nil {
				t.Fatal(err)
			}
			m, err := commit.DecodeMarker(data)
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range m.Files {
				if merged := l.finalize != nil; (f.KeyRange != nil) != merged {
					t.Errorf("%s: key range %v in a layout merged=%v", f.Path, f.KeyRange, merged)
				}
			}
			for i, q := range queries {
				hits := queryHits(t, out, q)
				if want == nil || len(want) <= i {
					want = append(want, hits)
					if len(hits) == 0 {
						t.Fatalf("query %v has no hits: a test that cannot tell layouts apart", q)
					}
					continue
				}
				if !slices.Equal(hits, want[i]) {
					t.Errorf("query %v: %d hits, the per-partition layout %d", q, len(hits), len(want[i]))
				}
			}
		})
	}
}

// queryHits runs a query and returns its hits' handles, sorted.
func queryHits(t *testing.T, out string, q []string) []string {
	t.Helper()
	code, stdout, stderr := runCmd(t, append([]string{"query", "--index=" + out, "-o", "json"}, q...)...)
	if code != 0 {
		t.Fatalf("query %v: exit %d %s", q, code, stderr)
	}
	var res struct{ Hits []struct{ Handle string } }
	if err := json.Unmarshal([]byte(stdout), &res); err != nil {
		t.Fatalf("query output %q: %v", stdout, err)
	}
	var handles []string
	for _, h := range res.Hits {
		handles = append(handles, h.Handle)
	}
	slices.Sort(handles)
	return handles
}

func TestFinalizeRejectsBadMergeFlags(t *testing.T) {
	uri := "file://" + filepath.Join(t.TempDir(), "out")
	task := []string{"--output=" + uri, "--termination-log=", "--job-id=1", "--schema-id=1", "--table-id=1", "--element-ids=1", "--partitions=2"}
	for _, tc := range []struct {
		name  string
		flags []string
		want  string
	}{
		{"negative ranges", []string{"--element-type=index", "--merge-ranges=-1"}, "--merge-ranges must be at least 0"},
		{"local merge of 2 ranges", []string{"--element-type=index", "--merge-local", "--merge-ranges=2"}, "1 (or unset) with --merge-local"},
		{"not a number", []string{"--element-type=index", "--merge-ranges=two"}, "invalid value"},
		{"ranges of a fulltext task", []string{"--element-type=fulltext", "--merge-ranges=2"}, "merged key ranges are for index elements"},
		{"local merge of a fulltext task", []string{"--element-type=fulltext", "--merge-local"}, "merged key ranges are for index elements"},
	} {
		code, _, stderr := runCmd(t, append(append([]string{"finalize"}, task...), tc.flags...)...)
		if code != retry.ExitInvalidInput || !strings.Contains(stderr, tc.want) {
			t.Errorf("%s: exit %d, want %d with %q: %s", tc.name, code, retry.ExitInvalidInput, tc.want, stderr)
		}
	}
	if files(t, filepath.Dir(strings.TrimPrefix(uri, "file://"))) != nil {
		t.Errorf("refused finalizes wrote to the output")
	}
}

// TestFinalizeMergeLocalFindsDuplicates: a unique index with one key in two
// partitions builds, and finalize --merge-local ends with exit 4 naming the
// key and both rows; nothing is committed or published.
func TestFinalizeMergeLocalFindsDuplicates(t *testing.T) {
	dir := t.TempDir()
	src, out := "file://"+filepath.Join(dir, "src"), "file://"+filepath.Join(dir, "out")
	if code, _, stderr := runCmd(t, "gen-table", "--rows=300", "--files=2", "--format=csv", "--out="+src); code != 0 {
		t.Fatalf("gen-table: %d %s", code, stderr)
	}
	// Row 912 at the end of the last file repeats row 7's isbn.
	last := filepath.Join(dir, "src", "part-00001.csv")
	data, err := os.ReadFile(last)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(last, append(data, "912,978-1-0000000007,copy,Someone,2001,1.5,true,\n"...), 0o644); err != nil {
		t.Fatal(err)
	}
	task := []string{"--job-id=3", "--schema-id=1", "--table-id=100", "--element-type=index", "--element-ids=4", "--partitions=3", "--source=" + src}
	for p := range 3 {
		t.Setenv("JOB_COMPLETION_INDEX", strconv.Itoa(p))
		if code, _, stderr := runCmd(t, append([]string{"build", "--output=" + out, "--termination-log="}, task...)...); code != 0 {
			t.Fatalf("build partition %d: exit %d\n%s", p, code, stderr)
		}
	}
	code, stdout, stderr := runCmd(t, append([]string{"finalize", "--merge-local", "--output=" + out, "--termination-log="}, task...)...)
	want := `unique index 4 (idx_isbn): duplicate key ("978-1-0000000007") in rows "7" and "912"`
	if code != retry.ExitInvalidInput || !strings.Contains(stderr, want) || !strings.Contains(stdout, `"error"`) {
		t.Fatalf("finalize --merge-local: exit %d, want %d with %q\nstdout %s\nstderr %s", code, retry.ExitInvalidInput, want, stdout, stderr)
	}
	for _, f := range files(t, filepath.Join(dir, "out")) {
		if f == "current.json" || strings.HasSuffix(f, commit.MarkerKey) || strings.HasPrefix(f, "versions/3/part_") {
			t.Errorf("%s exists after a failed merge", f)
		}
	}
}
