package storage_test

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/indexbuild/indexbuild/internal/retry"
	"github.com/indexbuild/indexbuild/internal/storage"
	"github.com/indexbuild/indexbuild/internal/storage/storagetest"
)

// TestRequirePreconditionsRefusesAStoreThatIgnoresThem: the first
// create-if-absent and the first compare-and-swap through a store that
// ignores their conditions fail permanently (exit 4), naming the store and
// the precondition, and the proof stores nothing but the same bytes again.
func TestRequirePreconditionsRefusesAStoreThatIgnoresThem(t *testing.T) {
	for _, s := range storagetest.Stores() {
		t.Run(s.Name, func(t *testing.T) {
			inner := s.Open(t)
			for _, tt := range []struct {
				op    string
				write func(b storage.Bucket) error
			}{
				{"create", func(b storage.Bucket) error {
					return b.Create(context.Background(), "m/marker", strings.NewReader("first"))
				}},
				{"replace from no revision", func(b storage.Bucket) error {
					return b.Replace(context.Background(), "p/new", strings.NewReader("first"), storage.NoRevision)
				}},
				{"replace from a revision", func(b storage.Bucket) error {
					ctx := context.Background()
					if err := inner.Write(ctx, "p/old", strings.NewReader("old")); err != nil {
						return err
					}
					_, rev, err := inner.ReadRevision(ctx, "p/old")
					if err != nil {
						t.Fatal(err)
					}
					return b.Replace(ctx, "p/old", strings.NewReader("first"), rev)
				}},
			} {
				ignoring := &storagetest.IgnoresPreconditions{Bucket: inner}
				b := storage.RequirePreconditions(ignoring)
				err := tt.write(b)
				if !errors.Is(err, storage.ErrPreconditionsIgnored) || !errors.Is(err, storage.ErrPermanent) ||
					retry.ExitCode(err) != retry.ExitInvalidInput || !strings.Contains(err.Error(), inner.URI()) {
					t.Fatalf("%s through a store that ignores preconditions: %v (exit %d); want a permanent error naming the store, exit 4",
						tt.op, err, retry.ExitCode(err))
				}
				if ignoring.Writes.Load() != 2 {
					t.Errorf("%s: %d conditional writes, want the write and its proof", tt.op, ignoring.Writes.Load())
				}
				// Still refused on the next write: nothing proved it.
				if err := tt.write(b); !errors.Is(err, storage.ErrPreconditionsIgnored) {
					t.Errorf("%s again: %v", tt.op, err)
				}
			}
		})
	}
}

// TestRequirePreconditionsTrustsAProvedStore: on every real store the
// proof passes, costs one extra conditional write per kind, and leaves the
// first write's content.
func TestRequirePreconditionsTrustsAProvedStore(t *testing.T) {
	for _, s := range storagetest.Stores() {
		t.Run(s.Name, func(t *testing.T) {
			ctx := context.Background()
			counting := &countsConditional{Bucket: s.Open(t)}
			b := storage.RequirePreconditions(counting)
			for i, key := range []string{"a", "b", "c"} {
				if err := b.Create(ctx, key, strings.NewReader(key)); err != nil {
					t.Fatal(err)
				}
				if err := b.Replace(ctx, "p", strings.NewReader(key), revisionOf(t, b, "p")); err != nil {
					t.Fatal(err)
				}
				if want := i + 1 + 1; counting.creates != want || counting.replaces != want {
					t.Fatalf("after %d writes of each: %d creates, %d replaces; want %d (one proof each)", i+1, counting.creates, counting.replaces, want)
				}
				if got, err := storage.ReadAll(ctx, b, key); err != nil || string(got) != key {
					t.Fatalf("%s = %q, %v", key, got, err)
				}
			}
			// The same content again: the revision does not change where it
			// is a content hash or an MD5 ETag; the proof must still pass.
			fresh := storage.RequirePreconditions(counting)
			if err := fresh.Replace(ctx, "p", strings.NewReader("c"), revisionOf(t, b, "p")); err != nil {
				t.Fatalf("replace with the same content: %v", err)
			}
		})
	}
}

func revisionOf(t *testing.T, b storage.Bucket, key string) storage.Revision {
	t.Helper()
	_, rev, err := b.ReadRevision(context.Background(), key)
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		t.Fatal(err)
	}
	return rev
}

type countsConditional struct {
	storage.Bucket
	creates, replaces int
}

func (c *countsConditional) Create(ctx context.Context, key string, r io.Reader) error {
	c.creates++
	return c.Bucket.Create(ctx, key, r)
}

func (c *countsConditional) Replace(ctx context.Context, key string, r io.Reader, rev storage.Revision) error {
	c.replaces++
	return c.Bucket.Replace(ctx, key, r, rev)
}
