package main

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/indexbuild/indexbuild/internal/gentable"
	"github.com/indexbuild/indexbuild/internal/retry"
	"github.com/indexbuild/indexbuild/internal/rows"
	"github.com/indexbuild/indexbuild/internal/storage"
	"github.com/indexbuild/indexbuild/internal/storage/storagetest"
	"github.com/indexbuild/indexbuild/internal/summary"
)

// buildAndFinalize runs every partition and finalize of a task through the
// command line; it returns the task flags.
func buildAndFinalize(t *testing.T, src, out string, partitions int) []string {
	t.Helper()
	task := buildTask(t, src, out, partitions)
	if code, _, stderr := runCmd(t, append([]string{"finalize", "--output=" + out, "--termination-log="}, task...)...); code != 0 {
		t.Fatalf("finalize: %d %s", code, stderr)
	}
	return task
}

// buildTask runs every partition of a task on the books table's elements
// 1, 2 and 4 through the command line; it returns the task flags.
func buildTask(t *testing.T, src, out string, partitions int) []string {
	t.Helper()
	task := []string{"--job-id=3", "--schema-id=1", "--table-id=100", "--element-type=index", "--element-ids=1,2,4", "--partitions=" + strconv.Itoa(partitions), "--source=" + src}
	for p := range partitions {
		t.Setenv("JOB_COMPLETION_INDEX", strconv.Itoa(p))
		if code, _, stderr := runCmd(t, append([]string{"build", "--output=" + out, "--termination-log="}, task...)...); code != 0 {
			t.Fatalf("build partition %d: exit %d\n%s", p, code, stderr)
		}
	}
	return task
}

// TestVerifySourceCommand: verify --source re-reads the task's pinned input
// and finds one entry per row; once the table changed it says so (exit 3,
// naming the file).
func TestVerifySourceCommand(t *testing.T) {
	dir := t.TempDir()
	src, out := "file://"+filepath.Join(dir, "src"), "file://"+filepath.Join(dir, "out")
	if code, _, stderr := runCmd(t, "gen-table", "--rows=300", "--files=2", "--format=jsonl", "--out="+src); code != 0 {
		t.Fatalf("gen-table: %d %s", code, stderr)
	}
	buildAndFinalize(t, src, out, 3)
	for _, flag := range []string{"--source", "--source=" + src} {
		code, stdout, stderr := runCmd(t, "verify", "--output="+out, flag, "--tmp-dir="+t.TempDir())
		if code != 0 || !strings.Contains(stdout, "ok: source "+src+": 2 files, 300 rows; element 1: 300 entries") {
			t.Fatalf("verify %s: exit %d\n%s%s", flag, code, stdout, stderr)
		}
	}
	data, err := os.ReadFile(filepath.Join(dir, "src", "part-00001.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "src", "part-00001.jsonl"), append(data, data[:20]...), 0o644)
	code, _, stderr := runCmd(t, "verify", "--output="+out, "--source")
	if code != retry.ExitStaleMeta || !strings.Contains(stderr, "part-00001.jsonl: size "+strconv.Itoa(len(data))+" at task start, "+strconv.Itoa(len(data)+20)+" now") {
		t.Fatalf("verify --source of a changed table: exit %d\n%s", code, stderr)
	}
	// Without --source the committed files still verify.
	if code, _, stderr := runCmd(t, "verify", "--output="+out); code != 0 {
		t.Fatalf("verify: %d %s", code, stderr)
	}
}

// TestUnhealableStorageExits4: a store that refuses for good (no such
// bucket, bad credentials, a file store's permission error) ends the
// partition with exit 4, InvalidInput, quoting the store; it used to exit 1
// and be retried to the backoff limit.
func TestUnhealableStorageExits4(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	src := "file://" + filepath.Join(dir, "src")
	if code, _, stderr := runCmd(t, "gen-table", "--rows=20", "--format=jsonl", "--out="+src); code != 0 {
		t.Fatalf("gen-table: %d %s", code, stderr)
	}
	s3 := storagetest.StartS3(t)
	b := storagetest.OpenURI(t, s3)
	if err := gentable.Generate(ctx, b, gentable.Options{Rows: 20, Format: rows.JSONL}); err != nil {
		t.Fatal(err)
	}
	task := []string{"--job-id=3", "--schema-id=1", "--table-id=100", "--element-type=index", "--element-ids=1", "--partitions=1", "--partition=0"}
	tests := []struct {
		name, source, output string
		env                  [2]string
		want                 []string
	}{
		// /sys refuses mkdir even to root: EPERM, or EACCES for others.
		{"file:// output without permission", src, "file:///sys/indexbuild-test-output", [2]string{}, []string{"permanent storage error", "/sys/indexbuild-test-output"}},
		{"no such bucket", strings.Replace(s3, "s3://test/", "s3://no-such-bucket/", 1), "file://" + filepath.Join(dir, "out1"), [2]string{}, []string{"storage refused, and retrying cannot change that", "NoSuchBucket"}},
		{"wrong secret", s3, "file://" + filepath.Join(dir, "out2"), [2]string{"AWS_SECRET_ACCESS_KEY", "wrong"}, []string{"permanent storage error", "SignatureDoesNotMatch"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.env[0] != "" {
				t.Setenv(tt.env[0], tt.env[1])
			}
			termination := filepath.Join(t.TempDir(), "termination-log")
			code, _, stderr := runCmd(t, append([]string{"build", "--source=" + tt.source, "--output=" + tt.output, "--termination-log=" + termination}, task...)...)
			if code != retry.ExitInvalidInput {
				t.Fatalf("exit %d, want %d\n%s", code, retry.ExitInvalidInput, stderr)
			}
			msg, _ := os.ReadFile(termination)
			sum, err := summary.ParseWorker(string(msg))
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range tt.want {
				if !strings.Contains(sum.Error, w) {
					t.Errorf("summary error %q lacks %q", sum.Error, w)
				}
			}
		})
	}
	if !storage.Unhealable(&storage.Error{Kind: storage.ErrRetryable, Err: &os.PathError{Op: "mkdir", Path: "x", Err: syscall.EROFS}}) {
		t.Error("a read-only file store is not unhealable")
	}
}
