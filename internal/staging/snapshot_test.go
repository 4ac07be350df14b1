package staging_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/indexbuild/indexbuild/internal/retry"
	"github.com/indexbuild/indexbuild/internal/staging"
	"github.com/indexbuild/indexbuild/internal/storage/storagetest"
)

func snapshotOf(keys ...string) staging.Snapshot {
	s := staging.Snapshot{FormatVersion: staging.SnapshotFormatVersion, Source: "mem://", TakenAt: time.Unix(1, 0).UTC(), Files: []staging.SourceFile{}}
	for i, k := range keys {
		s.Files = append(s.Files, staging.SourceFile{Key: k, Size: int64(i), Version: "v" + k})
	}
	return s
}

// TestEnsureSnapshotOneWinner: of first workers racing to pin the input,
// exactly one snapshot is stored and every one of them plans from it, on
// every store.
func TestEnsureSnapshotOneWinner(t *testing.T) {
	for _, store := range storagetest.Stores() {
		t.Run(store.Name, func(t *testing.T) {
			b := store.Open(t)
			const n = 8
			digests := make([]string, n)
			snaps := make([]staging.Snapshot, n)
			var wg sync.WaitGroup
			for i := range n {
				wg.Go(func() {
					var err error
					// Each saw another table: i+1 files.
					keys := make([]string, i+1)
					for j := range keys {
						keys[j] = "part-" + string(rune('a'+j)) + ".jsonl"
					}
					snaps[i], digests[i], err = staging.EnsureSnapshot(context.Background(), storagetest.Reopen(t, b), snapshotOf(keys...))
					if err != nil {
						t.Error(err)
					}
				})
			}
			wg.Wait()
			stored, digest, err := staging.ReadSnapshot(context.Background(), b, staging.SnapshotKey)
			if err != nil {
				t.Fatal(err)
			}
			for i := range n {
				if digests[i] != digest || len(snaps[i].Files) != len(stored.Files) {
					t.Errorf("worker %d planned from %d files (%s), the stored snapshot has %d (%s)", i, len(snaps[i].Files), digests[i], len(stored.Files), digest)
				}
			}
		})
	}
}

func TestDecodeSnapshotRefusesWhatItCannotTrust(t *testing.T) {
	good, err := staging.EncodeSnapshot(snapshotOf("a.jsonl", "b.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	if s, err := staging.DecodeSnapshot(good); err != nil || len(s.Files) != 2 || s.Files[1].Version != "vb.jsonl" {
		t.Fatalf("%+v, %v", s, err)
	}
	for name, data := range map[string]string{
		"unknown field": strings.Replace(string(good), `"source"`, `"sauce"`, 1),
		"unsorted":      strings.Replace(string(good), `"a.jsonl"`, `"c.jsonl"`, 1),
		"no version":    strings.Replace(string(good), `"va.jsonl"`, `""`, 1),
		"other format":  strings.Replace(string(good), `"formatVersion":1`, `"formatVersion":2`, 1),
		"trailing data": string(good) + "{}",
		"not JSON":      "garbage",
		"negative size": strings.Replace(string(good), `"size":1`, `"size":-1`, 1),
	} {
		if _, err := staging.DecodeSnapshot([]byte(data)); retry.ExitCode(err) != retry.ExitStaleMeta {
			t.Errorf("%s: %v, want stale metadata", name, err)
		}
	}
}
