package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/indexbuild/indexbuild/internal/output"
	"github.com/indexbuild/indexbuild/internal/retry"
	"github.com/indexbuild/indexbuild/internal/staging"
	"github.com/indexbuild/indexbuild/internal/storage"
	"github.com/indexbuild/indexbuild/internal/summary"
	"github.com/indexbuild/indexbuild/internal/taskmeta"
)

// stageOutput stages two partitions (the second empty) the way workers do,
// in meta's version of the output root.
func stageOutput(t *testing.T, uri string, meta taskmeta.Meta) {
	t.Helper()
	ctx := context.Background()
	root, err := storage.Open(ctx, uri)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	b := output.Version(root, meta.JobID)
	if err := staging.EnsureTaskManifest(ctx, b, meta); err != nil {
		t.Fatal(err)
	}
	f, err := staging.WritePartFile(ctx, b, 0, 5, staging.ExtIndex, strings.NewReader("index bytes"))
	if err != nil {
		t.Fatal(err)
	}
	for p, files := range [][]staging.File{{f}, nil} {
		pm := staging.PartitionMeta{Task: meta, Partition: p, Partitions: 2, Files: files, Rows: 3}
		for _, f := range files {
			pm.Bytes += f.Size
		}
		if err := staging.WritePartitionMeta(ctx, b, pm); err != nil {
			t.Fatal(err)
		}
	}
}

func runCmd(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), args, &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

func TestFinalizeAndVerifyCommands(t *testing.T) {
	dir := t.TempDir()
	uri := "file://" + filepath.Join(dir, "out")
	meta := taskmeta.Meta{JobID: 7, SchemaID: 1, TableID: 42, ElementType: taskmeta.ElementTypeIndex, ElementIDs: []int64{5}, Partitions: 2}
	stageOutput(t, uri, meta)
	termination := filepath.Join(dir, "termination-log")
	taskFlags := meta.Args()
	finalize := append([]string{"finalize", "--output=" + uri, "--termination-log=" + termination}, taskFlags...)

	code, out, errOut := runCmd(t, finalize...)
	if code != 0 {
		t.Fatalf("finalize exit %d: %s", code, errOut)
	}
	sum, err := summary.ParseCommit(strings.TrimSpace(out))
	if err != nil {
		t.Fatal(err)
	}
	if sum.Files != 1 || sum.Partitions != 1 || sum.Rows != 6 || sum.AlreadyCommitted || !strings.HasSuffix(sum.MarkerURI, "/out/versions/7/metadata.json") ||
		sum.Version != "versions/7/" || sum.PointerURI != uri+"/current.json" {
		t.Errorf("summary = %+v", sum)
	}
	if msg, err := os.ReadFile(termination); err != nil || strings.TrimSpace(string(msg)) != strings.TrimSpace(out) {
		t.Errorf("termination message %q (%v), stdout %q", msg, err, out)
	}

	code, out, _ = runCmd(t, finalize...)
	if sum, _ := summary.ParseCommit(strings.TrimSpace(out)); code != 0 || !sum.AlreadyCommitted {
		t.Errorf("second finalize: exit %d, %s", code, out)
	}

	for _, tc := range []struct {
		name, jobFlag, elements, errHas string
	}{
		{"other elements under the same job: stale", "--job-id=7", "--element-ids=6", "elementIDs recorded in metadata.json is [5]"},
		{"an older job: superseded", "--job-id=6", "--element-ids=5", "publishes job 7, newer than this task's job 6: change spec.jobID to a value above 7"},
	} {
		args := append([]string{"finalize", "--output=" + uri, "--termination-log="}, taskFlags...)
		args[3], args[7] = tc.jobFlag, tc.elements
		code, out, errOut := runCmd(t, args...)
		if code != retry.ExitStaleMeta || !strings.Contains(errOut, tc.errHas) || !strings.Contains(out, `"error"`) {
			t.Errorf("%s: exit %d, stdout %q, stderr %q", tc.name, code, out, errOut)
		}
	}

	if code, out, errOut := runCmd(t, "verify", "--output="+uri); code != 0 || !strings.HasPrefix(out, "ok: versions/7/: 1 files") {
		t.Errorf("verify: exit %d, %q %q", code, out, errOut)
	}
	if err := os.WriteFile(filepath.Join(dir, "out", "versions", "7", "part_0_5.sst"), []byte("tampered"), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, _, errOut := runCmd(t, "verify", "--output="+uri); code != retry.ExitInvalidInput || !strings.Contains(errOut, "part_0_5.sst is 8 bytes") {
		t.Errorf("verify of a tampered output: exit %d, %q", code, errOut)
	}
}

func TestCommitCommandsRejectBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"finalize", "--output=mem://", "--partitions=1"},                                                                        // no task metadata
		{"finalize", "--job-id=1", "--schema-id=1", "--table-id=1", "--element-type=index", "--element-ids=1", "--partitions=1"}, // no output
		{"finalize", "--bogus"},
		{"verify"},
		{"verify", "--output=ftp://x/y"},
	} {
		if code, _, errOut := runCmd(t, args...); code != retry.ExitInvalidInput {
			t.Errorf("%v: exit %d, want %d (%s)", args, code, retry.ExitInvalidInput, errOut)
		}
	}
}
