package storage_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/indexbuild/indexbuild/internal/storage"
	"github.com/indexbuild/indexbuild/internal/storage/storagetest"
)

// TestVersionTokens: a listing and a stat give the same version of an
// object, and any rewrite gives another, also one of the same size; on
// every store, and through Sub.
func TestVersionTokens(t *testing.T) {
	ctx := context.Background()
	for _, store := range storagetest.Stores() {
		t.Run(store.Name, func(t *testing.T) {
			root := store.Open(t)
			for _, b := range []storage.Bucket{root, storage.Sub(root, "sub/")} {
				if err := b.Write(ctx, "d/a.jsonl", strings.NewReader("one\n")); err != nil {
					t.Fatal(err)
				}
				b.Write(ctx, "b.jsonl", strings.NewReader("x"))
				listed, err := storage.ListVersions(ctx, b, "d/")
				if err != nil || len(listed) != 1 || listed[0].Key != "d/a.jsonl" || listed[0].Size != 4 || listed[0].Token == "" {
					t.Fatalf("%s: listed %+v, %v", b.URI(), listed, err)
				}
				stat, err := storage.StatVersion(ctx, b, "d/a.jsonl")
				if err != nil || stat != listed[0] {
					t.Fatalf("%s: stat %+v, listed %+v (%v)", b.URI(), stat, listed[0], err)
				}
				b.Write(ctx, "d/a.jsonl", strings.NewReader("two\n"))
				again, err := storage.StatVersion(ctx, b, "d/a.jsonl")
				if err != nil || again.Size != 4 || again.Token == stat.Token {
					t.Fatalf("%s: after a same-size rewrite %+v, before %+v (%v)", b.URI(), again, stat, err)
				}
				if _, err := storage.StatVersion(ctx, b, "d/gone.jsonl"); !errors.Is(err, storage.ErrNotFound) {
					t.Fatalf("%s: stat of a missing object: %v", b.URI(), err)
				}
			}
		})
	}
}
