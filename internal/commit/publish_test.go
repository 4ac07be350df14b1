package commit_test

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/indexbuild/indexbuild/internal/commit"
	"github.com/indexbuild/indexbuild/internal/output"
	"github.com/indexbuild/indexbuild/internal/retry"
	"github.com/indexbuild/indexbuild/internal/staging"
	"github.com/indexbuild/indexbuild/internal/storage"
	"github.com/indexbuild/indexbuild/internal/storage/storagetest"
	"github.com/indexbuild/indexbuild/internal/taskmeta"
)

var owner = output.Owner{Namespace: "ns-a", Name: "books"}

// job is task() under another jobID.
func job(id int64) taskmeta.Meta {
	m := task()
	m.JobID = id
	return m
}

// outputOpts are Finalize options for task of defaultBuild on an owned root.
func outputOpts(task taskmeta.Meta, keep int) commit.Options {
	o := defaultBuild.opts()
	o.Task, o.Owner, o.KeepVersions = task, owner, keep
	return o
}

// publishJob stages defaultBuild as task in its version and finalizes it.
func publishJob(t testing.TB, root storage.Bucket, task taskmeta.Meta, keep int) {
	t.Helper()
	defaultBuild.stage(t, output.Version(root, task.JobID), task)
	if _, err := commit.Finalize(ctx, withFaults(t, root, nil), outputOpts(task, keep)); err != nil {
		t.Fatalf("finalize job %d: %v", task.JobID, err)
	}
}

// versionsOf lists the versions under root: jobID -> "committed" or
// "staging" (no marker).
func versionsOf(t testing.TB, root storage.Bucket) map[int64]string {
	t.Helper()
	list, err := root.List(ctx, output.VersionsPrefix)
	if err != nil {
		t.Fatal(err)
	}
	out := map[int64]string{}
	for _, a := range list {
		id, rest, ok := output.ParseVersionKey(a.Key)
		if !ok {
			t.Errorf("stray key %s", a.Key)
			continue
		}
		if rest == commit.MarkerKey {
			out[id] = "committed"
		} else if out[id] == "" {
			out[id] = "staging"
		}
	}
	return out
}

// assertPublished: root's pointer names job, whose version holds exactly
// defaultBuild's files and verifies, and nothing is left under its staging/.
func assertPublished(t testing.TB, root storage.Bucket, jobID int64) {
	t.Helper()
	m, p, err := commit.VerifyOutput(ctx, root, 2)
	if err != nil {
		t.Fatalf("VerifyOutput: %v", err)
	}
	if p.JobID != jobID || m.Task.JobID != jobID {
		t.Fatalf("published job %d (marker job %d), want %d", p.JobID, m.Task.JobID, jobID)
	}
	assertCommitted(t, output.Version(root, jobID), defaultBuild.want())
	if left := storagetest.Objects(t, root, output.VersionPrefix(jobID)+staging.Prefix); len(left) != 0 {
		t.Errorf("staging of the published version left: %v", keys(left))
	}
}

// TestFinalizeOutputCrashAtEveryStep: an output publishing jobs 5 and 6,
// with the staging of a failed job 4, gets job 7 finalized with keep 2.
// Finalize stops after each single mutation (claim, copies, marker,
// staging cleanup, pointer, retention), then runs again. At every stop a
// reader finds a complete published version (6 or 7); the rerun converges on
// one marker and one pointer move to 7, versions 6 and 7 kept, 4 and 5 gone.
func TestFinalizeOutputCrashAtEveryStep(t *testing.T) {
	for _, s := range storagetest.Stores() {
		t.Run(s.Name, func(t *testing.T) {
			setup := func(t *testing.T) storage.Bucket {
				root := s.Open(t)
				publishJob(t, root, job(5), 2)
				publishJob(t, root, job(6), 2)
				defaultBuild.stage(t, output.Version(root, 4), job(4))
				defaultBuild.stage(t, output.Version(root, 7), task())
				return root
			}
			opts := outputOpts(task(), 2)
			ref := setup(t)
			counter := withFaults(t, ref, nil)
			if _, err := commit.Finalize(ctx, counter, opts); err != nil {
				t.Fatal(err)
			}
			// 4 copies, 1 marker, 8 staging deletes, 1 pointer, 5 deletes of
			// version 5, 8 of version 4's staging. The owner was claimed by
			// job 5 already.
			if counter.faults.Mutations() != 27 || counter.publishes != 1 {
				t.Fatalf("reference run: %d mutations, %d publishes; want 27 and 1", counter.faults.Mutations(), counter.publishes)
			}
			for stop := 0; stop <= counter.faults.Mutations(); stop++ {
				t.Run(fmt.Sprintf("stop=%d", stop), func(t *testing.T) {
					root := setup(t)
					crashing := withFaults(t, root, storagetest.CrashAfter(stop))
					_, crashErr := commit.Finalize(ctx, crashing, opts)
					if crashing.publishes == 0 && (crashErr == nil || retry.ExitCode(crashErr) != retry.ExitRetryable) {
						t.Fatalf("crash before the pointer moved: err = %v, want retryable", crashErr)
					}
					// Readers see a whole version at every stop.
					want := int64(6)
					if crashing.publishes == 1 {
						want = 7
					}
					if _, p, err := commit.VerifyOutput(ctx, root, 2); err != nil || p.JobID != want {
						t.Fatalf("after the crash: published job %d, %v; want %d", p.JobID, err, want)
					}

					rerun := withFaults(t, storagetest.Reopen(t, root), nil)
					sum, err := commit.Finalize(ctx, rerun, opts)
					if err != nil {
						t.Fatalf("rerun: %v", err)
					}
					if crashing.marker+rerun.marker != 1 || crashing.publishes+rerun.publishes != 1 {
						t.Fatalf("markers %d+%d, pointer moves %d+%d; want one each", crashing.marker, rerun.marker, crashing.publishes, rerun.publishes)
					}
					if sum.Version != "versions/7/" || !strings.HasSuffix(strings.Split(sum.MarkerURI, "?")[0], "/versions/7/metadata.json") || !strings.HasSuffix(strings.Split(sum.PointerURI, "?")[0], "/current.json") {
						t.Errorf("summary %+v", sum)
					}
					assertPublished(t, root, 7)
					if got := versionsOf(t, root); !maps.Equal(got, map[int64]string{6: "committed", 7: "committed"}) {
						t.Fatalf("versions after rerun: %v", got)
					}
				})
			}
		})
	}
}

// TestConcurrentFinalizeOutput: four finalizers of one task at once, each
// with its own handle: all succeed, one marker, one pointer move.
func TestConcurrentFinalizeOutput(t *testing.T) {
	for _, s := range storagetest.Stores() {
		t.Run(s.Name, func(t *testing.T) {
			root := s.Open(t)
			publishJob(t, root, job(6), 2)
			defaultBuild.stage(t, output.Version(root, 7), task())
			const n = 4
			handles := make([]*faultBucket, n)
			errs := make([]error, n)
			var wg sync.WaitGroup
			for i := range n {
				handles[i] = withFaults(t, storagetest.Reopen(t, root), nil)
				wg.Go(func() { _, errs[i] = commit.Finalize(ctx, handles[i], outputOpts(task(), 2)) })
			}
			wg.Wait()
			markers, publishes := 0, 0
			for i := range n {
				if errs[i] != nil {
					t.Errorf("finalizer %d: %v", i, errs[i])
				}
				markers += handles[i].marker
				publishes += handles[i].publishes
			}
			if markers != 1 || publishes != 1 {
				t.Fatalf("%d markers, %d pointer moves; want 1 and 1", markers, publishes)
			}
			assertPublished(t, root, 7)
		})
	}
}

// TestOlderTaskNeverReplacesNewer: a finalize of job N-1 after job N was
// published, or racing it to the pointer, or its worker, is superseded
// (exit 3, naming both jobs) and the pointer stays at N.
func TestOlderTaskNeverReplacesNewer(t *testing.T) {
	const wantMsg = "publishes job 8, newer than this task's job 7: change spec.jobID to a value above 8"
	for _, s := range storagetest.Stores() {
		t.Run(s.Name+"/started after", func(t *testing.T) {
			root := s.Open(t)
			publishJob(t, root, job(8), 2)
			defaultBuild.stage(t, output.Version(root, 7), task())
			before := storagetest.Objects(t, root, "")
			_, err := commit.Finalize(ctx, withFaults(t, root, nil), outputOpts(task(), 2))
			if retry.ExitCode(err) != retry.ExitStaleMeta || !strings.Contains(err.Error(), wantMsg) {
				t.Fatalf("finalize of job 7 after 8: %v", err)
			}
			if after := storagetest.Objects(t, root, ""); !maps.Equal(before, after) {
				t.Fatalf("a superseded finalize changed the output")
			}
			if _, err := commit.OpenTask(ctx, root, task(), owner); retry.ExitCode(err) != retry.ExitStaleMeta || !strings.Contains(err.Error(), wantMsg) {
				t.Fatalf("worker of job 7 after 8: %v", err)
			}
			if v, err := commit.OpenTask(ctx, root, job(8), owner); err != nil || v.URI() != storage.ObjectURI(root.URI(), "versions/8/") {
				t.Fatalf("worker of the published job: %v", err)
			}
			assertPublished(t, root, 8)
		})
		t.Run(s.Name+"/racing", func(t *testing.T) {
			root := s.Open(t)
			defaultBuild.stage(t, output.Version(root, 7), task())
			defaultBuild.stage(t, output.Version(root, 8), job(8))
			// Job 8 publishes while job 7 is about to move the pointer: 7
			// read no pointer, so its conditional replace fails and it
			// finds 8 on reading again.
			newer := withFaults(t, storagetest.Reopen(t, root), nil)
			raced := false
			older := withFaults(t, root, func(op, key string) bool {
				if op == "replace" && !raced {
					raced = true
					if _, err := commit.Finalize(ctx, newer, outputOpts(job(8), 2)); err != nil {
						t.Errorf("finalize of job 8: %v", err)
					}
				}
				return false
			})
			_, err := commit.Finalize(ctx, older, outputOpts(task(), 2))
			if !raced || retry.ExitCode(err) != retry.ExitStaleMeta || !strings.Contains(err.Error(), wantMsg) {
				t.Fatalf("raced finalize of job 7: %v (raced %v)", err, raced)
			}
			if older.publishes != 0 || newer.publishes != 1 {
				t.Fatalf("pointer moves: job 7 %d, job 8 %d", older.publishes, newer.publishes)
			}
			assertPublished(t, root, 8)
		})
	}
}

// TestRetention publishes jobs 1..6 with keep K; before the last publish,
// job 3 failed (staging only), job 5 was never finalized (staging only) and
// job 9 is building (staging only, above the published job).
func TestRetention(t *testing.T) {
	tests := []struct {
		keep int
		want map[int64]string
	}{
		{1, map[int64]string{6: "committed", 9: "staging"}},
		{2, map[int64]string{4: "committed", 6: "committed", 9: "staging"}},
		{3, map[int64]string{2: "committed", 4: "committed", 6: "committed", 9: "staging"}},
		{10, map[int64]string{1: "committed", 2: "committed", 4: "committed", 6: "committed", 9: "staging"}},
	}
	for _, s := range storagetest.Stores() {
		for _, tt := range tests {
			t.Run(fmt.Sprintf("%s/keep=%d", s.Name, tt.keep), func(t *testing.T) {
				root := s.Open(t)
				for _, id := range []int64{1, 2, 4} {
					publishJob(t, root, job(id), 10)
				}
				for _, id := range []int64{3, 5, 9} {
					defaultBuild.stage(t, output.Version(root, id), job(id))
				}
				publishJob(t, root, job(6), tt.keep)
				if got := versionsOf(t, root); !maps.Equal(got, tt.want) {
					t.Fatalf("versions: %v, want %v", got, tt.want)
				}
				assertPublished(t, root, 6)
				// The kept older versions are whole.
				for id, state := range tt.want {
					if state == "committed" && id != 6 {
						if _, err := commit.Verify(ctx, output.Version(root, id), 2); err != nil {
							t.Errorf("kept version %d: %v", id, err)
						}
					}
				}
			})
		}
	}
}

// TestRetentionFailuresAreNotFatal: deletes failing during retention are
// logged; the publish stands, and the next finalize removes the rest.
func TestRetentionFailuresAreNotFatal(t *testing.T) {
	root := storagetest.File().Open(t)
	publishJob(t, root, job(5), 1)
	defaultBuild.stage(t, output.Version(root, 6), job(6))
	failing := withFaults(t, root, func(op, key string) bool {
		return op == "delete" && strings.HasPrefix(key, output.VersionPrefix(5))
	})
	if _, err := commit.Finalize(ctx, failing, outputOpts(job(6), 1)); err != nil {
		t.Fatalf("retention failure made finalize fail: %v", err)
	}
	if got := versionsOf(t, root); got[5] != "committed" {
		t.Fatalf("version 5 should still be there (its deletes failed): %v", got)
	}
	assertPublished(t, root, 6)
	publishJob(t, root, job(6), 1) // a retry: already published, retention again
	if got := versionsOf(t, root); !maps.Equal(got, map[int64]string{6: "committed"}) {
		t.Fatalf("versions after the retry: %v", got)
	}
}

// TestOwnerMismatchWritesNothing: finalize and workers of another
// IndexBuild fail with exit 5 naming the owner and the output, and leave
// every object as it was; the same namespace/name keeps working.
func TestOwnerMismatchWritesNothing(t *testing.T) {
	for _, s := range storagetest.Stores() {
		t.Run(s.Name, func(t *testing.T) {
			root := s.Open(t)
			publishJob(t, root, job(6), 2)
			defaultBuild.stage(t, output.Version(root, 7), task())
			before := storagetest.Objects(t, root, "")
			other := outputOpts(task(), 2)
			other.Owner = output.Owner{Namespace: "ns-b", Name: "books"}
			_, err := commit.Finalize(ctx, withFaults(t, root, nil), other)
			if retry.ExitCode(err) != retry.ExitOutputInUse || !strings.Contains(err.Error(), "belongs to IndexBuild ns-a/books") || !strings.Contains(err.Error(), root.URI()) {
				t.Fatalf("finalize of another owner: %v", err)
			}
			if _, err := commit.OpenTask(ctx, root, task(), other.Owner); !errors.Is(err, retry.ErrOutputInUse) {
				t.Fatalf("worker of another owner: %v", err)
			}
			if after := storagetest.Objects(t, root, ""); !maps.Equal(before, after) {
				t.Fatalf("objects changed: before %v, after %v", slices.Sorted(maps.Keys(before)), slices.Sorted(maps.Keys(after)))
			}
			// A recreated object of the same namespace/name.
			if _, err := commit.Finalize(ctx, withFaults(t, root, nil), outputOpts(task(), 2)); err != nil {
				t.Fatal(err)
			}
			assertPublished(t, root, 7)
		})
	}
}

// TestReadersFollowThePointer: OpenPublished names the published version;
// no pointer is not committed yet; metadata.json at the root without a
// pointer is the old layout, refused with a clear message.
func TestReadersFollowThePointer(t *testing.T) {
	root := storagetest.Mem().Open(t)
	if _, _, err := commit.OpenPublished(ctx, root); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("empty output: %v, want not found", err)
	}
	if _, _, err := commit.VerifyOutput(ctx, root, 1); !errors.Is(err, commit.ErrVerify) || !strings.Contains(err.Error(), "nothing published") {
		t.Fatalf("verify of an empty output: %v", err)
	}
	publishJob(t, root, job(6), 2)
	publishJob(t, root, task(), 2)
	v, p, err := commit.OpenPublished(ctx, root)
	if err != nil || p.JobID != 7 || p.Marker != "versions/7/metadata.json" || v.URI() != "mem:///versions/7/" {
		t.Fatalf("OpenPublished = %v, %+v, %v", v, p, err)
	}

	old := storagetest.Mem().Open(t)
	defaultBuild.stage(t, old, task())
	if _, err := commit.CommitVersion(ctx, old, defaultBuild.opts()); err != nil {
		t.Fatal(err)
	}
	if _, _, err := commit.OpenPublished(ctx, old); !errors.Is(err, commit.ErrOldLayout) || retry.ExitCode(err) != retry.ExitInvalidInput || !strings.Contains(err.Error(), "older release") {
		t.Fatalf("old layout: %v", err)
	}
}

// TestFinalizeRefusesAStoreThatIgnoresPreconditions: on a store that
// stores conditional writes whatever their conditions, finalize ends with
// a permanent error naming the store (exit 4) at its first conditional
// write, and publishes nothing: with an owner, the claim is that write and
// nothing is copied; without one, the version's marker is, and the pointer
// never moves.
func TestFinalizeRefusesAStoreThatIgnoresPreconditions(t *testing.T) {
	for _, s := range storagetest.Stores() {
		for _, withOwner := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s/owner=%v", s.Name, withOwner), func(t *testing.T) {
				inner := s.Open(t)
				defaultBuild.stage(t, output.Version(inner, 7), task())
				root := storage.RequirePreconditions(&storagetest.IgnoresPreconditions{Bucket: inner})
				opts := outputOpts(task(), 2)
				if !withOwner {
					opts.Owner = output.Owner{}
				}
				_, err := commit.Finalize(ctx, withFaults(t, root, nil), opts)
				if !errors.Is(err, storage.ErrPreconditionsIgnored) || retry.ExitCode(err) != retry.ExitInvalidInput || !strings.Contains(err.Error(), inner.URI()) {
					t.Fatalf("finalize on a store that ignores preconditions: %v (exit %d); want exit 4 naming the store", err, retry.ExitCode(err))
				}
				if _, err := inner.Attributes(ctx, output.PointerKey); !errors.Is(err, storage.ErrNotFound) {
					t.Errorf("pointer after the refusal: %v; want none", err)
				}
				if finals := storagetest.Objects(t, inner, output.VersionPrefix(7)+"part_"); withOwner && len(finals) != 0 {
					t.Errorf("copied %v after the claim was refused", keys(finals))
				}
			})
		}
	}
}
