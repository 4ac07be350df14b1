package storage_test

import (
	"context"
	"io"
	"strings"
	"testing"

	"github.com/indexbuild/indexbuild/internal/storage"
	"github.com/indexbuild/indexbuild/internal/storage/storagetest"
)

// plainBucket hides the store's range reads, like a test wrapper would.
type plainBucket struct{ storage.Bucket }

func TestNewRangeReader(t *testing.T) {
	const data = "0123456789"
	tests := []struct {
		off, n int64
		want   string
	}{{0, -1, data}, {3, 4, "3456"}, {8, -1, "89"}, {8, 10, "89"}, {10, -1, ""}}
	for _, store := range storagetest.Stores() {
		t.Run(store.Name, func(t *testing.T) {
			b := store.Open(t)
			if err := b.Write(context.Background(), "k", strings.NewReader(data)); err != nil {
				t.Fatal(err)
			}
			for _, bucket := range []storage.Bucket{b, plainBucket{b}} {
				for _, tt := range tests {
					r, err := storage.NewRangeReader(context.Background(), bucket, "k", tt.off, tt.n)
					if err != nil {
						t.Fatalf("%T [%d,+%d): %v", bucket, tt.off, tt.n, err)
					}
					got, err := io.ReadAll(r)
					r.Close()
					if err != nil || string(got) != tt.want {
						t.Errorf("%T [%d,+%d) = %q, %v; want %q", bucket, tt.off, tt.n, got, err, tt.want)
					}
				}
			}
		})
	}
}
