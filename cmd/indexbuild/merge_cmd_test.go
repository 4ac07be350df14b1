package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/indexbuild/indexbuild/internal/retry"
	"github.com/indexbuild/indexbuild/internal/summary"
)

// TestMergeCommand runs the merge stage through its command line the way
// merge pods do (range from JOB_COMPLETION_INDEX, the catalog checked via
// --source): a summary per range on stdout and in the termination log, a
// rerun is AlreadyDone, and so is every range once the task is committed.
func TestMergeCommand(t *testing.T) {
	dir := t.TempDir()
	src, out := "file://"+filepath.Join(dir, "src"), "file://"+filepath.Join(dir, "out")
	if code, _, stderr := runCmd(t, "gen-table", "--rows=400", "--files=2", "--format=csv", "--out="+src); code != 0 {
		t.Fatalf("gen-table: %d %s", code, stderr)
	}
	task := buildTask(t, src, out, 3)
	termination := filepath.Join(dir, "termination-log")
	mergeRange := func(r int) summary.Merge {
		t.Helper()
		t.Setenv("JOB_COMPLETION_INDEX", strconv.Itoa(r))
		code, stdout, stderr := runCmd(t, append([]string{"merge", "--output=" + out, "--ranges=2", "--termination-log=" + termination, "--tmp-dir=" + t.TempDir()}, task...)...)
		if code != 0 {
			t.Fatalf("merge range %d: exit %d\n%s", r, code, stderr)
		}
		msg, err := os.ReadFile(termination)
		if err != nil {
			t.Fatal(err)
		}
		var sum summary.Merge
		if err := json.Unmarshal(msg, &sum); err != nil || strings.TrimSpace(stdout) != string(msg) || sum.Range != r || sum.Ranges != 2 {
			t.Fatalf("summary %+v (%v); stdout %q", sum, err, stdout)
		}
		return sum
	}
	var entries int64
	for r := range 2 {
		sum := mergeRange(r)
		if sum.AlreadyDone || sum.Files != 3 {
			t.Fatalf("range %d: %+v, want a file per element", r, sum)
		}
		entries += sum.Entries
	}
	if entries != 3*400 {
		t.Fatalf("ranges merged %d entries, want 1200", entries)
	}
	if sum := mergeRange(1); !sum.AlreadyDone || sum.Files != 3 {
		t.Fatalf("rerun: %+v, want AlreadyDone with the files", sum)
	}
	if code, _, stderr := runCmd(t, append([]string{"finalize", "--merge-ranges=2", "--output=" + out, "--termination-log="}, task...)...); code != 0 {
		t.Fatalf("finalize: %d %s", code, stderr)
	}
	if sum := mergeRange(0); !sum.AlreadyDone {
		t.Fatalf("merge after commit: %+v, want AlreadyDone", sum)
	}

	// A catalog that no longer has the element: stale, exit 3.
	t.Setenv("JOB_COMPLETION_INDEX", "0")
	code, stdout, stderr := runCmd(t, "merge", "--output="+out+"2", "--ranges=1", "--termination-log=",
		"--job-id=4", "--schema-id=1", "--table-id=100", "--element-type=index", "--element-ids=1,77", "--partitions=2", "--source="+src)
	if code != retry.ExitStaleMeta || !strings.Contains(stderr, "element 77 not found in table 100 (job 4)") || !strings.Contains(stdout, `"error":`) {
		t.Fatalf("missing element: exit %d, %q, %q", code, stdout, stderr)
	}
}
