package commit_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/indexbuild/indexbuild/internal/commit"
	"github.com/indexbuild/indexbuild/internal/retry"
	"github.com/indexbuild/indexbuild/internal/storage"
	"github.com/indexbuild/indexbuild/internal/storage/storagetest"
)

func TestVerifyNamesEachProblem(t *testing.T) {
	rewrite := func(f func(m *commit.Marker)) func(t *testing.T, b storage.Bucket) {
		return func(t *testing.T, b storage.Bucket) { rewriteMarker(t, b, f) }
	}
	tests := []struct {
		name   string
		damage func(t *testing.T, b storage.Bucket)
		want   []string
	}{
		{"intact", func(*testing.T, storage.Bucket) {}, nil},
		{"file missing and file changed", func(t *testing.T, b storage.Bucket) {
			if err := b.Delete(ctx, "part_0_3.sst"); err != nil {
				t.Fatal(err)
			}
			if err := b.Write(ctx, "part_1_4.sst", strings.NewReader("other bytes")); err != nil {
				t.Fatal(err)
			}
		}, []string{"part_0_3.sst is missing", "part_1_4.sst is 11 bytes, want 3000"}},
		{"same size, other content", func(t *testing.T, b storage.Bucket) {
			if err := b.Write(ctx, "part_0_4.sst", strings.NewReader(strings.Repeat("x", 3000))); err != nil {
				t.Fatal(err)
			}
		}, []string{"part_0_4.sst has sha256"}},
		{"staged path listed", rewrite(func(m *commit.Marker) { m.Files[0].Path = "staging/part_0_3.sst" }),
			[]string{`"staging/part_0_3.sst" is under staging/`, "staging/part_0_3.sst is missing"}},
		{"no marker", func(t *testing.T, b storage.Bucket) {
			if err := b.Delete(ctx, commit.MarkerKey); err != nil {
				t.Fatal(err)
			}
		}, []string{"no commit marker"}},
		{"marker not JSON", func(t *testing.T, b storage.Bucket) {
			if err := b.Write(ctx, commit.MarkerKey, strings.NewReader("{")); err != nil {
				t.Fatal(err)
			}
		}, []string{"bad commit marker"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := storagetest.Mem().Open(t)
			defaultBuild.stage(t, b, task())
			if _, err := commit.CommitVersion(ctx, b, defaultBuild.opts()); err != nil {
				t.Fatal(err)
			}
			tt.damage(t, b)
			_, err := commit.Verify(ctx, b, 2)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Verify = %v", err)
				}
				return
			}
			var ve *commit.VerifyError
			if !errors.As(err, &ve) || retry.ExitCode(err) != retry.ExitInvalidInput {
				t.Fatalf("Verify = %v, want *VerifyError (exit 4)", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("%q lacks %q", err, w)
				}
			}
			if len(ve.Problems) != len(tt.want) {
				t.Errorf("%d problems, want %d: %q", len(ve.Problems), len(tt.want), ve.Problems)
			}
		})
	}
}

func TestVerifyStorageTroubleIsRetryable(t *testing.T) {
	b := storagetest.Mem().Open(t)
	defaultBuild.stage(t, b, task())
	if _, err := commit.CommitVersion(ctx, b, defaultBuild.opts()); err != nil {
		t.Fatal(err)
	}
	failing := withFaults(t, b, func(op, key string) bool { return op == "read" && key == "part_1_3.sst" })
	_, err := commit.Verify(ctx, failing, 2)
	if retry.ExitCode(err) != retry.ExitRetryable || errors.Is(err, commit.ErrVerify) {
		t.Fatalf("Verify = %v, want a retryable storage error", err)
	}
}
