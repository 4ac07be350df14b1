package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/indexbuild/indexbuild/internal/retry"
	"github.com/indexbuild/indexbuild/internal/summary"
	"github.com/indexbuild/indexbuild/internal/taskmeta"
)

// files lists the files under dir, relative to it.
func files(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(dir, path)
			out = append(out, filepath.ToSlash(rel))
		}
		return err
	})
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return out
}

// TestOutputLifecycleCommands: --owner on build, finalize and
// delete-output, --keep-versions, and their exit codes.
func TestOutputLifecycleCommands(t *testing.T) {
	dir := t.TempDir()
	outDir := filepath.Join(dir, "out")
	uri := "file://" + outDir
	src := "file://" + filepath.Join(dir, "src")
	meta := func(job int64) taskmeta.Meta {
		return taskmeta.Meta{JobID: job, SchemaID: 1, TableID: 42, ElementType: taskmeta.ElementTypeIndex, ElementIDs: []int64{5}, Partitions: 2}
	}
	taskFlags := func(job string) []string {
		return []string{"--job-id=" + job, "--schema-id=1", "--table-id=42", "--element-type=index", "--element-ids=5", "--partitions=2"}
	}
	finalize := func(job, owner string, extra ...string) (int, string, string) {
		args := append([]string{"finalize", "--output=" + uri, "--termination-log=", "--owner=" + owner}, taskFlags(job)...)
		return runCmd(t, append(args, extra...)...)
	}
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(outDir, "notes.txt"), []byte("not ours"), 0o644); err != nil {
		t.Fatal(err)
	}

	stageOutput(t, uri, meta(7))
	code, out, errOut := finalize("7", "ns-a/books", "--keep-versions=1")
	if code != 0 {
		t.Fatalf("finalize job 7: exit %d %s", code, errOut)
	}
	if sum, err := summary.ParseCommit(strings.TrimSpace(out)); err != nil || sum.Version != "versions/7/" || sum.PointerURI != uri+"/current.json" {
		t.Fatalf("summary %+v, %v", sum, err)
	}

	// Another IndexBuild: exit 5 naming the owner and the output, nothing written.
	before := files(t, outDir)
	for name, args := range map[string][]string{
		"build":         append([]string{"build", "--partition=0", "--source=" + src, "--output=" + uri, "--termination-log=", "--owner=ns-b/books"}, taskFlags("8")...),
		"finalize":      append([]string{"finalize", "--output=" + uri, "--termination-log=", "--owner=ns-b/books"}, taskFlags("8")...),
		"delete-output": {"delete-output", "--output=" + uri, "--owner=ns-b/books"},
	} {
		code, _, errOut := runCmd(t, args...)
		if code != retry.ExitOutputInUse || !strings.Contains(errOut, "belongs to IndexBuild ns-a/books, not ns-b/books") || !strings.Contains(errOut, uri) {
			t.Errorf("%s by another owner: exit %d, %q", name, code, errOut)
		}
	}
	if after := files(t, outDir); !slices.Equal(before, after) {
		t.Fatalf("another owner changed the output: %v -> %v", before, after)
	}

	// Job 8 publishes; with keep 1, version 7 goes.
	stageOutput(t, uri, meta(8))
	if code, _, errOut := finalize("8", "ns-a/books", "--keep-versions=1"); code != 0 {
		t.Fatalf("finalize job 8: exit %d %s", code, errOut)
	}
	if _, err := os.Stat(filepath.Join(outDir, "versions", "7")); err == nil {
		if left := files(t, filepath.Join(outDir, "versions", "7")); len(left) > 0 {
			t.Errorf("version 7 kept with --keep-versions=1: %v", left)
		}
	}
	if code, out, errOut := runCmd(t, "verify", "--output="+uri); code != 0 || !strings.HasPrefix(out, "ok: versions/8/") {
		t.Fatalf("verify: exit %d %q %q", code, out, errOut)
	}

	// An older task's worker and finalize are superseded: exit 3.
	for name, args := range map[string][]string{
		"build":    append([]string{"build", "--partition=0", "--source=" + src, "--output=" + uri, "--termination-log=", "--owner=ns-a/books"}, taskFlags("7")...),
		"finalize": append([]string{"finalize", "--output=" + uri, "--termination-log=", "--owner=ns-a/books"}, taskFlags("7")...),
	} {
		code, _, errOut := runCmd(t, args...)
		if code != retry.ExitStaleMeta || !strings.Contains(errOut, "publishes job 8, newer than this task's job 7: change spec.jobID to a value above 8") {
			t.Errorf("%s of job 7 after job 8: exit %d, %q", name, code, errOut)
		}
	}

	// delete-output removes the layout and only it, and again is a no-op.
	for range 2 {
		if code, _, errOut := runCmd(t, "delete-output", "--output="+uri, "--owner=ns-a/books"); code != 0 {
			t.Fatalf("delete-output: exit %d %s", code, errOut)
		}
		if left := files(t, outDir); !slices.Equal(left, []string{"notes.txt"}) {
			t.Fatalf("left after delete-output: %v", left)
		}
	}
	if code, _, errOut := runCmd(t, "verify", "--output="+uri); code != retry.ExitInvalidInput || !strings.Contains(errOut, "nothing published") {
		t.Errorf("verify of a deleted output: exit %d, %q", code, errOut)
	}
}

// TestDeleteOutputLeavesAnUnownedRoot: an index built with the CLI (no
// --owner, so no _owner.json) is nobody's: an IndexBuild's delete-output
// exits 5 saying so and leaves it; without --owner (by hand) it goes.
func TestDeleteOutputLeavesAnUnownedRoot(t *testing.T) {
	outDir := filepath.Join(t.TempDir(), "out")
	uri := "file://" + outDir
	stageOutput(t, uri, taskmeta.Meta{JobID: 1, SchemaID: 1, TableID: 42, ElementType: taskmeta.ElementTypeIndex, ElementIDs: []int64{5}, Partitions: 2})
	if code, _, errOut := runCmd(t, "finalize", "--output="+uri, "--termination-log=", "--job-id=1", "--schema-id=1", "--table-id=42",
		"--element-type=index", "--element-ids=5", "--partitions=2"); code != 0 {
		t.Fatalf("finalize: exit %d %s", code, errOut)
	}
	before := files(t, outDir)
	code, _, errOut := runCmd(t, "delete-output", "--output="+uri, "--owner=ns-a/books")
	if code != retry.ExitOutputInUse || !strings.Contains(errOut, "has no _owner.json, so no IndexBuild owns it and IndexBuild ns-a/books leaves it as it is") {
		t.Fatalf("delete-output of an unowned root: exit %d, %q", code, errOut)
	}
	if after := files(t, outDir); !slices.Equal(before, after) {
		t.Fatalf("a refused delete changed the output: %v -> %v", before, after)
	}
	if code, _, errOut := runCmd(t, "delete-output", "--output="+uri); code != 0 {
		t.Fatalf("delete-output without --owner: exit %d %s", code, errOut)
	}
	if left := files(t, outDir); len(left) != 0 {
		t.Fatalf("left after delete-output: %v", left)
	}
}

func TestOutputFlagsRejectBadValues(t *testing.T) {
	task := []string{"--job-id=1", "--schema-id=1", "--table-id=1", "--element-type=index", "--element-ids=1"}
	for _, args := range [][]string{
		append([]string{"finalize", "--output=mem://", "--partitions=1", "--keep-versions=0"}, task...),
		append([]string{"finalize", "--output=mem://", "--partitions=1", "--owner=nonamespace"}, task...),
		append([]string{"build", "--output=mem://", "--source=mem://", "--owner=a/b/c"}, task...),
		{"delete-output"},
		{"delete-output", "--output=mem://", "--owner=x"},
		{"delete-output", "--output=mem://", "extra"},
	} {
		if code, _, errOut := runCmd(t, args...); code != retry.ExitInvalidInput {
			t.Errorf("%v: exit %d, want %d (%s)", args, code, retry.ExitInvalidInput, errOut)
		}
	}
}
