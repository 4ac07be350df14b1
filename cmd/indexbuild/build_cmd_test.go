package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/indexbuild/indexbuild/internal/retry"
	"github.com/indexbuild/indexbuild/internal/summary"
)

// TestBuildFinalizeQueryCommands drives the data plane end to end through
// its command line, the way the operator's pods do.
func TestBuildFinalizeQueryCommands(t *testing.T) {
	dir := t.TempDir()
	src, out := "file://"+filepath.Join(dir, "src"), "file://"+filepath.Join(dir, "out")
	if code, _, stderr := runCmd(t, "gen-table", "--rows=300", "--files=2", "--format=csv", "--out="+src); code != 0 {
		t.Fatalf("gen-table: %d %s", code, stderr)
	}
	// Workers and finalize get the same task flags, as the operator passes them.
	task := []string{"--job-id=3", "--schema-id=1", "--table-id=100", "--element-type=index", "--element-ids=1,3", "--partitions=3", "--source=" + src}
	termination := filepath.Join(dir, "termination-log")
	var rows int64
	for p := range 3 {
		t.Setenv("JOB_COMPLETION_INDEX", strconv.Itoa(p))
		args := append([]string{"build", "--output=" + out, "--termination-log=" + termination}, task...)
		code, stdout, stderr := runCmd(t, args...)
		if code != 0 {
			t.Fatalf("build partition %d: exit %d\n%s", p, code, stderr)
		}
		msg, err := os.ReadFile(termination)
		if err != nil {
			t.Fatal(err)
		}
		sum, err := summary.ParseWorker(string(msg))
		if err != nil || sum.Partition != p || strings.TrimSpace(stdout) != string(msg) {
			t.Fatalf("summary %+v (%v); stdout %q", sum, err, stdout)
		}
		if !strings.Contains(stderr, "% of share read") {
			t.Errorf("no progress on stderr: %q", stderr)
		}
		rows += sum.Rows
	}
	if rows != 300 {
		t.Fatalf("partitions built %d rows, want 300", rows)
	}
	if code, _, stderr := runCmd(t, append([]string{"finalize", "--output=" + out, "--termination-log="}, task...)...); code != 0 {
		t.Fatalf("finalize: %d %s", code, stderr)
	}
	code, stdout, stderr := runCmd(t, "query", "--index="+out, "--element=3", "--range", "-10", "10.5", "-o", "json")
	if code != 0 {
		t.Fatalf("query: %d %s", code, stderr)
	}
	var res struct {
		Element struct{ Name string }
		Hits    []struct{ Handle string }
	}
	if err := json.Unmarshal([]byte(stdout), &res); err != nil || res.Element.Name != "idx_price" || len(res.Hits) == 0 {
		t.Fatalf("query output %q: %v", stdout, err)
	}
	// --stats: the same answer, and on stderr what it read, by ranges, of
	// the three partitions' files.
	code, statsOut, stderr := runCmd(t, "query", "--index="+out, "--element=3", "--range", "-10", "10.5", "-o", "json", "--stats")
	if code != 0 || statsOut != stdout || !regexp.MustCompile(`^read [1-9][0-9]* bytes in [1-9][0-9]* requests, 3 files opened\n$`).MatchString(stderr) {
		t.Fatalf("query --stats: %d %q %q", code, statsOut, stderr)
	}

	// A missing element is stale metadata, named with table and job.
	t.Setenv("JOB_COMPLETION_INDEX", "0")
	code, _, stderr = runCmd(t, "build", "--partitions=1", "--source="+src, "--output="+out+"2", "--termination-log=",
		"--job-id=4", "--schema-id=1", "--table-id=100", "--element-type=index", "--element-ids=1,77")
	if code != retry.ExitStaleMeta || !strings.Contains(stderr, "element 77 not found in table 100 (job 4)") {
		t.Fatalf("missing element: exit %d, %q", code, stderr)
	}
}
