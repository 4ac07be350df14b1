package commit_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strings"
	"sync"
	"testing"

	"github.com/indexbuild/indexbuild/internal/commit"
	"github.com/indexbuild/indexbuild/internal/merge"
	"github.com/indexbuild/indexbuild/internal/retry"
	"github.com/indexbuild/indexbuild/internal/staging"
	"github.com/indexbuild/indexbuild/internal/storage"
	"github.com/indexbuild/indexbuild/internal/storage/storagetest"
	"github.com/indexbuild/indexbuild/internal/taskmeta"
)

func TestFinalizeCommitsAndIsIdempotent(t *testing.T) {
	for _, s := range storagetest.Stores() {
		t.Run(s.Name, func(t *testing.T) {
			b := s.Open(t)
			defaultBuild.stage(t, b, task())
			fb := withFaults(t, b, nil)
			sum, err := commit.CommitVersion(ctx, fb, defaultBuild.opts())
			if err != nil {
				t.Fatal(err)
			}
			m := assertCommitted(t, b, defaultBuild.want())
			if sum.AlreadyCommitted || sum.Files != 4 || sum.Partitions != 2 || sum.Rows != 30 || sum.Bytes != 4*3000 {
				t.Errorf("summary = %+v", sum)
			}
			if !strings.Contains(sum.MarkerURI, commit.MarkerKey) {
				t.Errorf("marker URI %q", sum.MarkerURI)
			}
			if left := storagetest.Objects(t, b, staging.Prefix); len(left) != 0 {
				t.Errorf("staging not cleaned up: %v", keys(left))
			}

			again, err := commit.CommitVersion(ctx, fb, defaultBuild.opts())
			if err != nil || !again.AlreadyCommitted || again.Files != sum.Files || again.Rows != sum.Rows || !again.CommittedAt.Equal(m.CommittedAt) {
				t.Fatalf("second finalize = %+v, %v", again, err)
			}
			if fb.marker != 1 {
				t.Fatalf("%d markers created", fb.marker)
			}
		})
	}
}

// layout is a staged build finalize commits: per-partition files, merged
// key ranges, or partitions finalize merges itself.
type layout struct {
	name  string
	stage func(t testing.TB, b storage.Bucket)
	opts  func(t testing.TB) commit.Options
	// want is what the commit leaves at final names; nil: what a finalize
	// that did not crash left.
	want func(t testing.TB) map[string]string
	// mutations a finalize of it makes
	mutations int
}

func layouts() []layout {
	return []layout{
		{
			name: "partitions", stage: func(t testing.TB, b storage.Bucket) { defaultBuild.stage(t, b, task()) },
			opts: func(testing.TB) commit.Options { return defaultBuild.opts() },
			want: func(testing.TB) map[string]string { return defaultBuild.want() },
			// 4 copies, 1 marker, 4 part files + 3 partition metadata + 1 manifest deleted.
			mutations: 13,
		},
		{
			name: "merged", stage: func(t testing.TB, b storage.Bucket) { defaultMerged.stage(t, b, task(), nil) },
			opts: func(testing.TB) commit.Options { return defaultMerged.opts() }, want: defaultMerged.want,
			// 6 copies, 1 marker; deleted: 4 part files, 3 partition
			// metadata, 6 merged files, 4 merge metadata, 1 manifest.
			mutations: 25,
		},
		{
			name: "merged locally", stage: func(t testing.TB, b storage.Bucket) { sortedBuild.stage(t, b, sortedTask()) }, opts: localMergeOpts,
			// 2 merged files and their metadata staged, 2 copies, 1
			// marker; deleted: 6 part files, 3 partition metadata, 2
			// merged files, 1 merge metadata, 1 manifest.
			mutations: 19,
		},
	}
}

// localMergeOpts finalizes sortedTask merging it in process with the real
// merge (merge.Run), as `finalize --merge-local` does.
func localMergeOpts(t testing.TB) commit.Options {
	return commit.Options{Task: sortedTask(), Partitions: len(sortedBuild.files), MergeRanges: 1,
		LocalMerge: func(ctx context.Context, v storage.Bucket) error {
			_, err := merge.Run(ctx, merge.Config{Meta: sortedTask(), Output: v, Range: 0, Ranges: 1, TmpDir: t.TempDir()})
			return err
		}}
}

// TestFinalizeCrashAtEveryStep stops finalize after each single mutation
// (the process dies: every later call fails), then runs it again. The
// faultBucket checks no source goes before the marker exists; here: a
// marker, once there, lists intact files; the rerun converges on one marker
// and the expected bytes.
func TestFinalizeCrashAtEveryStep(t *testing.T) {
	for _, s := range storagetest.Stores() {
		for _, l := range layouts() {
			for _, par := range []int{1, 4} {
				t.Run(fmt.Sprintf("%s/%s/parallelism=%d", s.Name, l.name, par), func(t *testing.T) {
					opts := l.opts(t)
					opts.CopyParallelism = par
					merges := opts.LocalMerge != nil

					ref := s.Open(t)
					l.stage(t, ref)
					counter := withFaults(t, ref, nil)
					counter.localMerge = merges
					if _, err := commit.CommitVersion(ctx, counter, opts); err != nil {
						t.Fatal(err)
					}
					if counter.faults.Mutations() != l.mutations {
						t.Fatalf("reference run made %d mutations, want %d", counter.faults.Mutations(), l.mutations)
					}
					want := finals(t, ref)
					if l.want != nil {
						want = l.want(t)
					}
					assertCommitted(t, ref, want)

					for stop := 0; stop <= counter.faults.Mutations(); stop++ {
						t.Run(fmt.Sprintf("stop=%d", stop), func(t *testing.T) {
							b := s.Open(t)
							l.stage(t, b)
							staged := storagetest.Objects(t, b, staging.Prefix)

							crashing := withFaults(t, b, storagetest.CrashAfter(stop))
							crashing.localMerge = merges
							_, crashErr := commit.CommitVersion(ctx, crashing, opts)
							if crashing.marker == 0 {
								if crashErr == nil || retry.ExitCode(crashErr) != retry.ExitRetryable {
									t.Fatalf("crash before the marker: err = %v, want retryable", crashErr)
								}
								got := storagetest.Objects(t, b, staging.Prefix)
								if merges { // what the merge staged so far
									maps.DeleteFunc(got, func(k, _ string) bool { return strings.HasPrefix(k, staging.Prefix+"merge_") })
								}
								if !maps.Equal(got, staged) {
									t.Fatalf("staging changed before the marker existed")
								}
							} else if _, err := commit.Verify(ctx, b, 1); err != nil {
								t.Fatalf("marker present after crash but output does not verify: %v", err)
							}

							rerun := withFaults(t, b, nil)
							rerun.localMerge = merges
							sum, err := commit.CommitVersion(ctx, rerun, opts)
							if err != nil {
								t.Fatalf("rerun: %v", err)
							}
							if crashing.marker+rerun.marker != 1 {
								t.Fatalf("markers created: %d in the crashed run, %d in the rerun", crashing.marker, rerun.marker)
							}
							if sum.AlreadyCommitted != (crashing.marker == 1) {
								t.Errorf("rerun AlreadyCommitted = %v after a crashed run that created %d markers", sum.AlreadyCommitted, crashing.marker)
							}
							assertCommitted(t, b, want)
						})
					}
				})
			}
		}
	}
}

func TestFinalizeReplacesCorruptFinalFiles(t *testing.T) {
	for _, s := range []storagetest.Store{storagetest.Mem(), storagetest.File()} {
		t.Run(s.Name, func(t *testing.T) {
			b := s.Open(t)
			defaultBuild.stage(t, b, task())
			want := defaultBuild.want()
			i := 0
			for key, data := range want {
				junk := map[int]string{0: data[:len(data)/2], 1: strings.Repeat("x", len(data)), 2: data + "tail"}[i%3]
				if err := b.Write(ctx, key, strings.NewReader(junk)); err != nil {
					t.Fatal(err)
				}
				i++
			}
			if _, err := commit.CommitVersion(ctx, withFaults(t, b, nil), defaultBuild.opts()); err != nil {
				t.Fatal(err)
			}
			assertCommitted(t, b, defaultBuild.want())
		})
	}
}

func TestFinalizeMarkerWriteFails(t *testing.T) {
	b := storagetest.Mem().Open(t)
	defaultBuild.stage(t, b, task())
	staged := storagetest.Objects(t, b, staging.Prefix)
	failing := withFaults(t, b, func(op, key string) bool { return op == "create" && key == commit.MarkerKey })
	_, err := commit.CommitVersion(ctx, failing, defaultBuild.opts())
	if !errors.Is(err, storage.ErrRetryable) || retry.ExitCode(err) != retry.ExitRetryable {
		t.Fatalf("Finalize = %v, want a retryable error", err)
	}
	if got := storagetest.Objects(t, b, staging.Prefix); !maps.Equal(got, staged) {
		t.Fatal("staging changed although no marker was written")
	}
	if _, err := commit.ReadMarker(ctx, b); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("ReadMarker = %v, want not found", err)
	}
	if _, err := commit.CommitVersion(ctx, withFaults(t, b, nil), defaultBuild.opts()); err != nil {
		t.Fatal(err)
	}
	assertCommitted(t, b, defaultBuild.want())
}

func TestFinalizeCleanupFails(t *testing.T) {
	b := storagetest.Mem().Open(t)
	defaultBuild.stage(t, b, task())
	failing := withFaults(t, b, func(op, _ string) bool { return op == "delete" })
	if _, err := commit.CommitVersion(ctx, failing, defaultBuild.opts()); err != nil {
		t.Fatalf("a cleanup failure must not fail the commit: %v", err)
	}
	if len(storagetest.Objects(t, b, staging.Prefix)) == 0 {
		t.Fatal("fault injection did not leave staging behind")
	}
	m := assertCommitted(t, b, defaultBuild.want())
	// A stray object under staging/ is not part of the commit either.
	if err := b.Write(ctx, staging.Prefix+"stray", strings.NewReader("x")); err != nil {
		t.Fatal(err)
	}
	sum, err := commit.CommitVersion(ctx, withFaults(t, b, nil), defaultBuild.opts())
	if err != nil || !sum.AlreadyCommitted || sum.Files != len(m.Files) {
		t.Fatalf("finalize after leftover staging = %+v, %v", sum, err)
	}
	assertCommitted(t, b, defaultBuild.want())
}

// TestConcurrentFinalizers runs four finalizers at once, each with its own
// handle on the output as separate pods would have: all succeed, one marker.
func TestConcurrentFinalizers(t *testing.T) {
	for _, s := range storagetest.Stores() {
		for _, l := range layouts() {
			t.Run(s.Name+"/"+l.name, func(t *testing.T) {
				opts := l.opts(t)
				b := s.Open(t)
				l.stage(t, b)
				const n = 4
				var wg sync.WaitGroup
				handles := make([]*faultBucket, n)
				errs := make([]error, n)
				committed := make([]bool, n)
				for i := range n {
					handles[i] = withFaults(t, storagetest.Reopen(t, b), nil)
					// A local merge may stage its range again after another
					// finalizer's marker: leftovers no marker lists.
					handles[i].lateMerges = opts.LocalMerge != nil
					handles[i].localMerge = opts.LocalMerge != nil
					wg.Go(func() {
						sum, err := commit.CommitVersion(ctx, handles[i], opts)
						errs[i], committed[i] = err, err == nil && !sum.AlreadyCommitted
					})
				}
				wg.Wait()
				markers, writers := 0, 0
				for i := range n {
					if errs[i] != nil {
						t.Errorf("finalizer %d: %v", i, errs[i])
					}
					markers += handles[i].marker
					if committed[i] {
						writers++
					}
				}
				if markers != 1 || writers != 1 {
					t.Fatalf("%d markers created, %d finalizers report writing one; want 1 and 1", markers, writers)
				}
				if l.want != nil {
					assertCommitted(t, b, l.want(t))
				} else if _, err := commit.Verify(ctx, b, 2); err != nil {
					t.Fatal(err)
				}
			})
		}
	}
}

// TestFinalizeRefusesStaleStaging: anything from another task in the output
// fails with stale metadata naming job, table and element IDs, and nothing
// is copied.
func TestFinalizeRefusesStaleStaging(t *testing.T) {
	tests := []struct {
		name  string
		setup func(t *testing.T, b storage.Bucket)
		where string
	}{
		{"task manifest of another job", func(t *testing.T, b storage.Bucket) {
			if err := staging.EnsureTaskManifest(ctx, b, otherJob()); err != nil {
				t.Fatal(err)
			}
			defaultBuild.stageParts(t, b, task())
		}, staging.TaskManifestKey},
		{"partition of another job", func(t *testing.T, b storage.Bucket) {
			defaultBuild.stage(t, b, task())
			stale := staging.PartitionMeta{Task: otherJob(), Partition: 1, Partitions: 3}
			if err := b.Delete(ctx, staging.PartitionMetaKey(1)); err != nil {
				t.Fatal(err)
			}
			if err := staging.WritePartitionMeta(ctx, b, stale); err != nil {
				t.Fatal(err)
			}
		}, staging.PartitionMetaKey(1)},
		{"marker of another job", func(t *testing.T, b storage.Bucket) {
			other := storagetest.Mem().Open(t)
			defaultBuild.stage(t, other, otherJobBuild())
			opts := defaultBuild.opts()
			opts.Task = otherJobBuild()
			if _, err := commit.CommitVersion(ctx, other, opts); err != nil {
				t.Fatal(err)
			}
			for key, data := range storagetest.Objects(t, other, "") {
				if err := b.Write(ctx, key, strings.NewReader(data)); err != nil {
					t.Fatal(err)
				}
			}
			defaultBuild.stage(t, b, task())
		}, commit.MarkerKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := storagetest.Mem().Open(t)
			tt.setup(t, b)
			before := storagetest.Objects(t, b, "")
			_, err := commit.CommitVersion(ctx, withFaults(t, b, nil), defaultBuild.opts())
			if retry.ExitCode(err) != retry.ExitStaleMeta {
				t.Fatalf("Finalize = %v, want stale metadata (exit 3)", err)
			}
			for _, want := range []string{tt.where, "job 7", "job 8", "table 42", "elements [3,4]"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("message %q lacks %q", err, want)
				}
			}
			if after := storagetest.Objects(t, b, ""); !maps.Equal(after, before) {
				t.Fatalf("stale finalize changed the output")
			}
		})
	}
}

// otherJobBuild is another job of the same elements, so defaultBuild can
// stage for it.
func otherJobBuild() taskmeta.Meta {
	m := task()
	m.JobID = 8
	return m
}

// TestFinalizeReadsListedMetadataBeyondTheEagerOnes: partition metadata not
// read ahead of the listing (beyond maxEagerMetas) is read once listed, and
// a partition missing there is still reported.
func TestFinalizeReadsListedMetadataBeyondTheEagerOnes(t *testing.T) {
	defer commit.SetMaxEagerMetas(1)()
	b := storagetest.Mem().Open(t)
	defaultBuild.stage(t, b, task())
	if _, err := commit.CommitVersion(ctx, withFaults(t, b, nil), defaultBuild.opts()); err != nil {
		t.Fatal(err)
	}
	assertCommitted(t, b, defaultBuild.want())

	b = storagetest.Mem().Open(t)
	defaultBuild.stage(t, b, task())
	if err := b.Delete(ctx, staging.PartitionMetaKey(1)); err != nil {
		t.Fatal(err)
	}
	_, err := commit.CommitVersion(ctx, withFaults(t, b, nil), defaultBuild.opts())
	if retry.ExitCode(err) != retry.ExitRetryable || !strings.Contains(err.Error(), "partitions [1] of 3") {
		t.Fatalf("Finalize = %v, want partition 1 reported missing", err)
	}
}

func TestFinalizeRefusesIncompleteStaging(t *testing.T) {
	tests := []struct {
		name       string
		partitions int
		drop       string
		code       int
	}{
		{"partition metadata missing", 3, staging.PartitionMetaKey(2), retry.ExitRetryable},
		{"staged file missing", 3, staging.PartFileKey(2, 4, staging.ExtIndex), retry.ExitRetryable},
		{"other partition count", 4, "", retry.ExitInvalidInput},
		{"fewer partitions than staged", 2, "", retry.ExitInvalidInput},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := storagetest.Mem().Open(t)
			defaultBuild.stage(t, b, task())
			if tt.drop != "" {
				if err := b.Delete(ctx, tt.drop); err != nil {
					t.Fatal(err)
				}
			}
			opts := defaultBuild.opts()
			opts.Partitions = tt.partitions
			_, err := commit.CommitVersion(ctx, withFaults(t, b, nil), opts)
			if retry.ExitCode(err) != tt.code {
				t.Fatalf("Finalize = %v, want exit %d", err, tt.code)
			}
			if got := finals(t, b); len(got) != 0 {
				t.Fatalf("files copied although staging is incomplete: %v", keys(got))
			}
			if _, err := commit.ReadMarker(ctx, b); !errors.Is(err, storage.ErrNotFound) {
				t.Fatalf("marker written: %v", err)
			}
		})
	}
}
