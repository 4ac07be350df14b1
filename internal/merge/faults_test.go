package merge_test

import (
	"fmt"
	"maps"
	"testing"

	"github.com/indexbuild/indexbuild/internal/merge"
	"github.com/indexbuild/indexbuild/internal/retry"
	"github.com/indexbuild/indexbuild/internal/staging"
	"github.com/indexbuild/indexbuild/internal/storage"
	"github.com/indexbuild/indexbuild/internal/storage/storagetest"
)

// TestMergeCrashAtEveryWrite merges every range of a staged build, stopping
// the process after each single mutation (every later call fails), then
// runs every range again: the rerun converges on the same merge files and
// metadata as an uncrashed run, byte for byte, and the partitions' staging
// is never touched. On mem, file and S3 (a real server).
func TestMergeCrashAtEveryWrite(t *testing.T) {
	const ranges = 3
	task := booksTask(3)
	template := storagetest.Mem().Open(t)
	stage(t, books(t, 600), template, task)
	built := storagetest.Objects(t, template, "")

	mergeAll := func(t *testing.T, b storage.Bucket) error {
		for r := range ranges {
			if _, err := merge.Run(ctx, config(t, b, task, r, ranges)); err != nil {
				return err
			}
		}
		return nil
	}
	for _, s := range []storagetest.Store{storagetest.Mem(), storagetest.File(), storagetest.S3()} {
		t.Run(s.Name, func(t *testing.T) {
			root := s.Open(t)
			n := 0
			fresh := func() storage.Bucket {
				n++
				b := storage.Sub(root, fmt.Sprintf("run%d/", n))
				copyObjects(t, template, b)
				return b
			}

			ref := fresh()
			counter := storagetest.WithFaults(ref, nil)
			if err := mergeAll(t, counter); err != nil {
				t.Fatal(err)
			}
			// Per range: a file per element with entries, then the metadata.
			want := mergeObjects(t, ref)
			if counter.Mutations() != len(want) || len(want) < 2*ranges {
				t.Fatalf("reference run made %d mutations and staged %d objects", counter.Mutations(), len(want))
			}
			for stop := range counter.Mutations() + 1 {
				t.Run(fmt.Sprintf("stop=%d", stop), func(t *testing.T) {
					b := fresh()
					crashing := storagetest.WithFaults(b, storagetest.CrashAfter(stop))
					crashErr := mergeAll(t, crashing)
					if stop < counter.Mutations() && (crashErr == nil || retry.ExitCode(crashErr) != retry.ExitRetryable) {
						t.Fatalf("crash after %d writes: err = %v, want retryable", stop, crashErr)
					}
					if err := mergeAll(t, b); err != nil {
						t.Fatalf("rerun: %v", err)
					}
					if got := mergeObjects(t, b); !maps.Equal(got, want) {
						t.Fatalf("after a crash and a rerun the merge staged %v, want %v (or other bytes)", keysOf(got), keysOf(want))
					}
					for key, data := range storagetest.Objects(t, b, "") {
						if _, merged := want[key]; !merged && built[key] != data {
							t.Fatalf("%s changed", key)
						}
					}
					for r := range ranges {
						if _, ok, err := staging.ReadMergeMeta(ctx, b, r); !ok || err != nil {
							t.Fatalf("range %d metadata after rerun: %v, %v", r, ok, err)
						}
					}
				})
			}
		})
	}
}
