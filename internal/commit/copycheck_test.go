package commit_test

import (
	"context"
	"errors"
	"io"
	"maps"
	"strings"
	"sync"
	"testing"

	"github.com/indexbuild/indexbuild/internal/commit"
	"github.com/indexbuild/indexbuild/internal/staging"
	"github.com/indexbuild/indexbuild/internal/storage"
	"github.com/indexbuild/indexbuild/internal/storage/storagetest"
)

// misdirected copies one chosen source's bytes from another object of the
// same size: a copy that went wrong, reported truthfully by the store.
type misdirected struct {
	storage.Bucket
	src, from string
}

func (m *misdirected) Copy(ctx context.Context, dst, src string, opts storage.CopyOptions) (storage.Copied, error) {
	if src == m.src {
		src = m.from
	}
	return m.Bucket.Copy(ctx, dst, src, opts)
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
				staged := storagetest.Objects(t, b, staging.Prefix)
				fb := withFaults(t, b, nil)
				fb.blindCopies = blind
				_, err := commit.CommitVersion(ctx, &misdirected{Bucket: fb, src: victim, from: junk}, defaultBuild.opts())
				if err == nil {
					t.Fatal("Finalize committed a copy with other bytes than its source")
				}
				if !strings.Contains(err.Error(), commit.FinalKey(1, 4, staging.ExtIndex)) {
					t.Errorf("error %q does not name the bad copy", err)
				}
				if _, err := commit.ReadMarker(ctx, b); !errors.Is(err, storage.ErrNotFound) {
					t.Fatalf("marker written: %v", err)
				}
				if got := storagetest.Objects(t, b, staging.Prefix); !maps.Equal(got, staged) {
					t.Fatal("staging changed although no marker was written")
				}
				// A retry with a sound copy commits, overwriting the bad file.
				if _, err := commit.CommitVersion(ctx, withFaults(t, b, nil), defaultBuild.opts()); err != nil {
					t.Fatal(err)
				}
				if err := b.Delete(ctx, junk); err != nil {
					t.Fatal(err)
				}
				assertCommitted(t, b, defaultBuild.want())
			})
		}
	}
}

// TestFinalizeRefusesCorruptStagedFile: a staged file whose bytes differ from
// the SHA-256 its worker recorded, at the recorded size, is never committed
// where the copy's SHA-256 is known (file://, mem://) or the copy is read
// back (file:// without copy checksums). Stores that list MD5s (S3) compare
// the copy with its source instead, as before.
func TestFinalizeRefusesCorruptStagedFile(t *testing.T) {
	for _, s := range []storagetest.Store{storagetest.Mem(), storagetest.File()} {
		for _, blind := range []bool{false, true} {
			name := s.Name
			if blind {
				if s.Name == "mem" {
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
				_, err := commit.CommitVersion(ctx, fb, defaultBuild.opts())
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

// noSourceMD5 lists no MD5s, as S3 lists multipart uploads, and records
// which final files are read or listed.
type noSourceMD5 struct {
	*faultBucket
	mu           sync.Mutex
	finalsRead   []string
	finalsListed bool
}

func (n *noSourceMD5) List(ctx context.Context, prefix string) ([]storage.Attrs, error) {
	list, err := n.faultBucket.List(ctx, prefix)
	for i := range list {
		list[i].MD5 = nil
	}
	if !strings.HasPrefix(prefix, staging.Prefix) {
		n.mu.Lock()
		n.finalsListed = true
		n.mu.Unlock()
	}
	return list, err
}

func (n *noSourceMD5) NewReader(ctx context.Context, key string) (io.ReadCloser, error) {
	if !strings.HasPrefix(key, staging.Prefix) && key != commit.MarkerKey {
		n.mu.Lock()
		n.finalsRead = append(n.finalsRead, key)
		n.mu.Unlock()
	}
	return n.faultBucket.NewReader(ctx, key)
}

// TestFinalizeChecksCopiesOfSourcesWithoutMD5: where the store lists no MD5
// for a staged file (S3 multipart uploads), the copy is checked by a SHA-256
// the store reports for it, not by listing and reading back every copy;
// stores that cannot report one (GCS, Azure) have each copy read back.
func TestFinalizeChecksCopiesOfSourcesWithoutMD5(t *testing.T) {
	for _, s := range storagetest.Stores() {
		t.Run(s.Name, func(t *testing.T) {
			b := s.Open(t)
			defaultBuild.stage(t, b, task())
			nb := &noSourceMD5{faultBucket: withFaults(t, b, nil)}
			if _, err := commit.CommitVersion(ctx, nb, defaultBuild.opts()); err != nil {
				t.Fatal(err)
			}
			switch {
			case s.CopySums.SHA256Asked && (nb.finalsListed || len(nb.finalsRead) > 0):
				t.Errorf("final files listed (%v) or read back (%v)", nb.finalsListed, nb.finalsRead)
			case !s.CopySums.SHA256Asked && len(nb.finalsRead) != len(defaultBuild.want()):
				// No checksum of the copy to be had: each is read back.
				t.Errorf("final files read back: %v, want all %d", nb.finalsRead, len(defaultBuild.want()))
			}
			assertCommitted(t, b, defaultBuild.want())

			// And a copy with other bytes is still caught.
			b = s.Open(t)
			defaultBuild.stage(t, b, task())
			victim := staging.PartFileKey(0, 3, staging.ExtIndex)
			junk := "junk/" + victim
			if err := b.Write(ctx, junk, strings.NewReader(strings.Repeat("x", defaultBuild.size))); err != nil {
				t.Fatal(err)
			}
			nb = &noSourceMD5{faultBucket: withFaults(t, b, nil)}
			if _, err := commit.CommitVersion(ctx, &misdirected{Bucket: nb, src: victim, from: junk}, defaultBuild.opts()); err == nil {
				t.Fatal("Finalize committed a copy with other bytes than its source")
			}
		})
	}
}

// copySizes records the source size each Copy was told.
type copySizes struct {
	storage.Bucket
	mu    sync.Mutex
	sizes map[string]int64
}

func (c *copySizes) Copy(ctx context.Context, dst, src string, opts storage.CopyOptions) (storage.Copied, error) {
	c.mu.Lock()
	c.sizes[src] = opts.Size
	c.mu.Unlock()
	return c.Bucket.Copy(ctx, dst, src, opts)
}

// TestFinalizeTellsCopiesTheirSize: every copy is told its source's staged
// size, which S3 needs to copy a source over 5 GiB in parts
// (storage.TestS3MultipartCopy).
func TestFinalizeTellsCopiesTheirSize(t *testing.T) {
	b := storagetest.Mem().Open(t)
	defaultBuild.stage(t, b, task())
	staged, err := b.List(ctx, staging.Prefix)
	if err != nil {
		t.Fatal(err)
	}
	rec := &copySizes{Bucket: b, sizes: map[string]int64{}}
	if _, err := commit.CommitVersion(ctx, rec, defaultBuild.opts()); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, a := range staged {
		if size, copied := rec.sizes[a.Key]; copied {
			n++
			if size != a.Size {
				t.Errorf("copy of %s told size %d, it has %d", a.Key, size, a.Size)
			}
		}
	}
	if n != len(defaultBuild.want()) {
		t.Errorf("%d copies told their size, want %d", n, len(defaultBuild.want()))
	}
}
