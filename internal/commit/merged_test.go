package commit_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"strings"
	"testing"

	"github.com/indexbuild/indexbuild/internal/commit"
	"github.com/indexbuild/indexbuild/internal/retry"
	"github.com/indexbuild/indexbuild/internal/staging"
	"github.com/indexbuild/indexbuild/internal/storage"
	"github.com/indexbuild/indexbuild/internal/storage/storagetest"
	"github.com/indexbuild/indexbuild/internal/taskmeta"
)

func TestFinalizeCommitsMergedRanges(t *testing.T) {
	for _, s := range storagetest.Stores() {
		t.Run(s.Name, func(t *testing.T) {
			b := s.Open(t)
			defaultMerged.stage(t, b, task(), nil)
			fb := withFaults(t, b, nil)
			sum, err := commit.CommitVersion(ctx, fb, defaultMerged.opts())
			if err != nil {
				t.Fatal(err)
			}
			m := assertCommitted(t, b, defaultMerged.want(t))
			if sum.Files != 6 || sum.Partitions != 3 || m.Partitions != 3 || sum.Rows != 30 {
				t.Errorf("summary = %+v, marker partitions %d; want 6 files of 3 ranges, 30 rows", sum, m.Partitions)
			}
			// The marker carries each range's key range, in order of n.
			for _, f := range m.Files {
				var n int
				var element int64
				if _, err := fmt.Sscanf(f.Path, "part_%d_%d.sst", &n, &element); err != nil {
					t.Fatal(err)
				}
				lo, hi := defaultMerged.rowsOf(n)
				if f.KeyRange == nil || !bytes.Equal(f.KeyRange.First, entryKey(lo)) || !bytes.Equal(f.KeyRange.Last, entryKey(hi-1)) {
					t.Errorf("%s: key range %+v, want rows %d..%d", f.Path, f.KeyRange, lo, hi-1)
				}
			}
			if left := storagetest.Objects(t, b, staging.Prefix); len(left) != 0 {
				t.Errorf("staging not cleaned up (part files and merge files alike): %v", keys(left))
			}
			again, err := commit.CommitVersion(ctx, fb, defaultMerged.opts())
			if err != nil || !again.AlreadyCommitted || again.Files != sum.Files || fb.marker != 1 {
				t.Fatalf("second finalize = %+v, %v (%d markers)", again, err, fb.marker)
			}
		})
	}
}

// TestFinalizeRefusesBadMergedRanges: a merged layout that is incomplete,
// of another task or snapshot, or inconsistent fails with its own error
// class and message, and nothing is copied.
func TestFinalizeRefusesBadMergedRanges(t *testing.T) {
	element3 := func(m *staging.MergeMeta) *staging.MergedElement {
		for i := range m.Elements {
			if m.Elements[i].Element == 3 {
				return &m.Elements[i]
			}
		}
		panic("no element 3")
	}
	inRange := func(r int, f func(m *staging.MergeMeta)) func(m *staging.MergeMeta) {
		return func(m *staging.MergeMeta) {
			if m.Range == r {
				f(m)
			}
		}
	}
	tests := []struct {
		name   string
		change func(m *staging.MergeMeta)           // range metadata as staged
		damage func(t *testing.T, b storage.Bucket) // after staging
		opts   func(o *commit.Options)
		code   int
		want   string
	}{
		{name: "missing range", damage: deleteKey(staging.MergeMetaKey(2)),
			code: retry.ExitRetryable, want: "key ranges [2] of 4 have no metadata"},
		{name: "range of another task", change: inRange(1, func(m *staging.MergeMeta) { m.Task = otherJobBuild() }),
			code: retry.ExitStaleMeta, want: staging.MergeMetaKey(1) + " was written for job 8"},
		{name: "range of another snapshot", change: inRange(1, func(m *staging.MergeMeta) { m.Snapshot = strings.Repeat("cd", 32) }),
			code: retry.ExitStaleMeta, want: "key range 1 was built from input snapshot"},
		{name: "ranges do not abut", change: inRange(2, func(m *staging.MergeMeta) { element3(m).Lower = bound(21) }),
			code: retry.ExitInvalidInput, want: "element 3: key range 2 starts at"},
		{name: "file keys outside its range", change: inRange(1, func(m *staging.MergeMeta) { element3(m).File.KeyRange.Last = entryKey(20) }),
			code: retry.ExitInvalidInput, want: "outside key range 1"},
		{name: "entries lost", change: inRange(1, func(m *staging.MergeMeta) { element3(m).Entries-- }),
			code: retry.ExitInvalidInput, want: "hold 29 entries of element 3, the partitions 30 rows"},
		{name: "more ranges staged than finalize expects", opts: func(o *commit.Options) { o.MergeRanges = 3 },
			code: retry.ExitInvalidInput, want: "key range 0 was staged as one of 4 key ranges, finalize expects 3"},
		{name: "per-partition finalize of a merged build", opts: func(o *commit.Options) { o.MergeRanges = 0 },
			code: retry.ExitInvalidInput, want: "key range 0 was staged as one of 4 key ranges, finalize expects 0"},
		{name: "merged file missing", damage: deleteKey(staging.MergeFileKey(1, 4)),
			code: retry.ExitRetryable, want: "staged file " + staging.MergeFileKey(1, 4) + " of key range 1 is missing"},
		{name: "partition metadata missing", damage: deleteKey(staging.PartitionMetaKey(1)),
			code: retry.ExitRetryable, want: "partitions [1] of 3 have no metadata"},
		{name: "fulltext task", opts: func(o *commit.Options) { o.Task.ElementType = taskmeta.ElementTypeFulltext },
			code: retry.ExitInvalidInput, want: "merged key ranges are for index elements"},
		{name: "local merge of more than one range", opts: func(o *commit.Options) { o.LocalMerge = failMerge },
			code: retry.ExitInvalidInput, want: "a local merge commits 1 key range, not 4"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := storagetest.Mem().Open(t)
			defaultMerged.stage(t, b, task(), tt.change)
			if tt.damage != nil {
				tt.damage(t, b)
			}
			opts := defaultMerged.opts()
			if tt.opts != nil {
				tt.opts(&opts)
			}
			before := storagetest.Objects(t, b, "")
			_, err := commit.CommitVersion(ctx, withFaults(t, b, nil), opts)
			if retry.ExitCode(err) != tt.code || !strings.Contains(fmt.Sprint(err), tt.want) {
				t.Fatalf("Finalize = %v, want exit %d and %q", err, tt.code, tt.want)
			}
			if after := storagetest.Objects(t, b, ""); !maps.Equal(after, before) {
				t.Fatalf("a refused finalize changed the output")
			}
		})
	}
}

func deleteKey(key string) func(t *testing.T, b storage.Bucket) {
	return func(t *testing.T, b storage.Bucket) {
		if err := b.Delete(ctx, key); err != nil {
			t.Fatal(err)
		}
	}
}

func failMerge(context.Context, storage.Bucket) error {
	return errors.New("the merge must not run")
}

// localMerged is a one-range merge of defaultBuild, as `finalize
// --merge-local` makes it.
var localMerged = mergedBuild{parts: defaultBuild}

// stagingMerge is a LocalMerge that stages localMerged's range the way the
// merge does, counting its runs.
func stagingMerge(t *testing.T, runs *int) func(context.Context, storage.Bucket) error {
	return func(_ context.Context, b storage.Bucket) error {
		*runs++
		localMerged.stageRange(t, b, task(), 0, nil)
		return nil
	}
}

func TestFinalizeMergesLocally(t *testing.T) {
	b := storagetest.Mem().Open(t)
	defaultBuild.stage(t, b, task())
	opts := localMerged.opts()
	runs := 0
	opts.LocalMerge = stagingMerge(t, &runs)
	fb := withFaults(t, b, nil)
	fb.localMerge = true
	sum, err := commit.CommitVersion(ctx, fb, opts)
	if err != nil {
		t.Fatal(err)
	}
	if runs != 1 || sum.Partitions != 1 || sum.Files != 2 {
		t.Fatalf("merge ran %d times, summary %+v; want 1 run, one range of 2 files", runs, sum)
	}
	assertCommitted(t, b, localMerged.want(t))

	// Committed: the merge is not run again.
	again, err := commit.CommitVersion(ctx, fb, opts)
	if err != nil || !again.AlreadyCommitted || runs != 1 {
		t.Fatalf("rerun = %+v, %v after %d merges; want already committed without merging", again, err, runs)
	}
}

// TestFinalizeLocalMergeFails: the merge's error, with its class, ends
// finalize before anything is committed.
func TestFinalizeLocalMergeFails(t *testing.T) {
	dup := fmt.Errorf("%w: unique index 3 (idx_3): duplicate key (\"k007\") in rows \"7\" and \"912\"", retry.ErrInvalidInput)
	b := storagetest.Mem().Open(t)
	defaultBuild.stage(t, b, task())
	before := storagetest.Objects(t, b, "")
	opts := localMerged.opts()
	opts.LocalMerge = func(context.Context, storage.Bucket) error { return dup }
	_, err := commit.CommitVersion(ctx, withFaults(t, b, nil), opts)
	if !errors.Is(err, dup) || retry.ExitCode(err) != retry.ExitInvalidInput {
		t.Fatalf("Finalize = %v, want the merge's invalid input", err)
	}
	if after := storagetest.Objects(t, b, ""); !maps.Equal(after, before) {
		t.Fatalf("a failed merge changed the output")
	}
}

// TestVerifyChecksKeyRanges: a merged file whose real keys are not its
// listed key range is named, whether the file or the marker is wrong.
func TestVerifyChecksKeyRanges(t *testing.T) {
	file := func(m *commit.Marker, path string) *staging.File {
		for i := range m.Files {
			if m.Files[i].Path == path {
				return &m.Files[i]
			}
		}
		t.Fatalf("marker lists no %s", path)
		return nil
	}
	// replaceFile puts element 3's SSTable of rows at path and lists it
	// with its own size and SHA-256, its key range left as it was: only
	// the keys can tell.
	replaceFile := func(path string, rows []int) func(t *testing.T, b storage.Bucket) {
		return func(t *testing.T, b storage.Bucket) {
			data := sstable(t, 3, rows)
			if err := b.Write(ctx, path, bytes.NewReader(data)); err != nil {
				t.Fatal(err)
			}
			rewriteMarker(t, b, func(m *commit.Marker) {
				f := file(m, path)
				m.Bytes += int64(len(data)) - f.Size
				kr := f.KeyRange
				*f = fileOf(f.Path, 3, data)
				f.KeyRange = kr
			})
		}
	}
	tests := []struct {
		name   string
		damage func(t *testing.T, b storage.Bucket)
		want   string
	}{
		{"intact", func(*testing.T, storage.Bucket) {}, ""},
		{"file holds other keys, size and checksum listed", replaceFile("part_1_3.sst", span(10, 19)),
			fmt.Sprintf("part_1_3.sst holds keys %x..%x, the marker gives it key range %x..%x", entryKey(10), entryKey(18), entryKey(10), entryKey(19))},
		{"file of many blocks holds other keys", replaceFile("part_1_3.sst", span(10, 999)),
			fmt.Sprintf("part_1_3.sst holds keys %x..%x, the marker gives it key range %x..%x", entryKey(10), entryKey(998), entryKey(10), entryKey(19))},
		{"file without entries", replaceFile("part_1_3.sst", nil),
			fmt.Sprintf("part_1_3.sst has no entries, the marker gives it key range %x..%x", entryKey(10), entryKey(19))},
		{"marker's key range narrower than the file", func(t *testing.T, b storage.Bucket) {
			rewriteMarker(t, b, func(m *commit.Marker) { file(m, "part_2_4.sst").KeyRange.First = entryKey(21) })
		}, fmt.Sprintf("part_2_4.sst holds keys %x..%x, the marker gives it key range %x..%x", entryKey(20), entryKey(29), entryKey(21), entryKey(29))},
		{"overlapping key ranges", func(t *testing.T, b storage.Bucket) {
			rewriteMarker(t, b, func(m *commit.Marker) { file(m, "part_0_3.sst").KeyRange.Last = entryKey(15) })
		}, `files "part_0_3.sst" and "part_1_3.sst" of element 3: key ranges overlap or are out of order`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := storagetest.Mem().Open(t)
			defaultMerged.stage(t, b, task(), nil)
			if _, err := commit.CommitVersion(ctx, b, defaultMerged.opts()); err != nil {
				t.Fatal(err)
			}
			tt.damage(t, b)
			_, err := commit.Verify(ctx, b, 2)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Verify = %v", err)
				}
				return
			}
			var ve *commit.VerifyError
			if !errors.As(err, &ve) || retry.ExitCode(err) != retry.ExitInvalidInput || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Verify = %v, want a *VerifyError (exit 4) with %q", err, tt.want)
			}
		})
	}
}

// TestFinalizeLocalMergeLosesToAConcurrentCommit: a merge that fails because
// another finalizer committed (and removed staging) meanwhile ends in that
// finalizer's commit, not in the merge's error.
func TestFinalizeLocalMergeLosesToAConcurrentCommit(t *testing.T) {
	b := storagetest.Mem().Open(t)
	defaultBuild.stage(t, b, task())
	opts := localMerged.opts()
	runs := 0
	winner := opts
	winner.LocalMerge = stagingMerge(t, &runs)
	opts.LocalMerge = func(ctx context.Context, v storage.Bucket) error {
		if _, err := commit.CommitVersion(ctx, v, winner); err != nil {
			t.Fatalf("the other finalizer: %v", err)
		}
		return fmt.Errorf("%w: %s vanished", storage.ErrNotFound, staging.PartitionMetaKey(0))
	}
	sum, err := commit.CommitVersion(ctx, b, opts)
	if err != nil || !sum.AlreadyCommitted || runs != 1 {
		t.Fatalf("Finalize = %+v, %v; want the other finalizer's commit", sum, err)
	}
	assertCommitted(t, b, localMerged.want(t))
}
