package commit_test

import (
	"context"
	"errors"
	"maps"
	"strings"
	"testing"

	"github.com/indexbuild/indexbuild/internal/commit"
	"github.com/indexbuild/indexbuild/internal/staging"
	"github.com/indexbuild/indexbuild/internal/storage"
	"github.com/indexbuild/indexbuild/internal/storage/storagetest"
)

// misdirected copies one chosen source's bytes from another object of the
// same size: a copy that went wrong, reported truthfully by the store.
type misdirected struct {
	*faultBucket
	src, from string
}

func (m *misdirected) Copy(ctx context.Context, dst, src string) (storage.Copied, error) {
	if src == m.src {
		src = m.from
	}
	return m.faultBucket.Copy(ctx, dst, src)
}

// TestFinalizeChecksCopies: a copy holding other bytes than its source is
// caught before the marker, whether the store reports a checksum of the copy
// (checked as it finishes) or not (checked by listing and reading back), and
// nothing under staging/ is touched.
func TestFinalizeChecksCopies(t *testing.T) {
	for _, s := range storagetest.Stores() {
		for _, blind := range []bool{false, true} {
			name := s.Name
			if blind {
				name += "/no-copy-checksums"
			}
			t.Run(name, func(t *testing.T) {
				b := s.Open(t)
				defaultBuild.stage(t, b, task())
				victim := staging.PartFileKey(2, 4, staging.ExtIndex)
				junk := "junk/" + victim
				if err := b.Write(ctx, junk, strings.NewReader(strings.Repeat("x", defaultBuild.size))); err != nil {
					t.Fatal(err)
				}
				staged := objects(t, b, staging.Prefix)
				fb := withFaults(t, b, nil)
				fb.blindCopies = blind
				_, err := commit.Finalize(ctx, &misdirected{faultBucket: fb, src: victim, from: junk}, defaultBuild.opts())
				if err == nil {
					t.Fatal("Finalize committed a copy with other bytes than its source")
				}
				if !strings.Contains(err.Error(), commit.FinalKey(1, 4, staging.ExtIndex)) {
					t.Errorf("error %q does not name the bad copy", err)
				}
				if _, err := commit.ReadMarker(ctx, b); !errors.Is(err, storage.ErrNotFound) {
					t.Fatalf("marker written: %v", err)
				}
				if got := objects(t, b, staging.Prefix); !maps.Equal(got, staged) {
					t.Fatal("staging changed although no marker was written")
				}
				// A retry with a sound copy commits, overwriting the bad file.
				if _, err := commit.Finalize(ctx, withFaults(t, b, nil), defaultBuild.opts()); err != nil {
					t.Fatal(err)
				}
				if err := b.Delete(ctx, junk); err != nil {
					t.Fatal(err)
				}
				assertCommitted(t, b, defaultBuild)
			})
		}
	}
}

// TestFinalizeRefusesCorruptStagedFile: a staged file whose bytes differ from
// the SHA-256 its worker recorded, at the recorded size, is never committed
// where the copy's SHA-256 is known (file://, mem://, S3 with additional
// checksums) or the copy is read back (file:// without copy checksums).
// Without copy checksums, stores that list MD5s compare the copy with its
// source instead, as before.
func TestFinalizeRefusesCorruptStagedFile(t *testing.T) {
	for _, s := range storagetest.Stores() {
		for _, blind := range []bool{false, true} {
			name := s.Name
			if blind {
				if s.Name != "file" {
					continue // listed MD5s: copy against source
				}
				name += "/no-copy-checksums"
			}
			t.Run(name, func(t *testing.T) {
				b := s.Open(t)
				defaultBuild.stage(t, b, task())
				victim := staging.PartFileKey(0, 3, staging.ExtIndex)
				if err := b.Write(ctx, victim, strings.NewReader(strings.Repeat("y", defaultBuild.size))); err != nil {
					t.Fatal(err)
				}
				fb := withFaults(t, b, nil)
				fb.blindCopies = blind
				_, err := commit.Finalize(ctx, fb, defaultBuild.opts())
				if err == nil || !strings.Contains(err.Error(), "sha256") {
					t.Fatalf("Finalize = %v, want a SHA-256 mismatch", err)
				}
				if _, err := commit.ReadMarker(ctx, b); !errors.Is(err, storage.ErrNotFound) {
					t.Fatalf("marker written: %v", err)
				}
			})
		}
	}
}
