package gentable

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"gocloud.dev/blob/memblob"

	"github.com/indexbuild/indexbuild/internal/rows"
	"github.com/indexbuild/indexbuild/internal/storage"
)

// TestSampleDataIsGenerated keeps hack/sample-data/books what the docs say
// it is, so the demo data can always be regenerated.
func TestSampleDataIsGenerated(t *testing.T) {
	out := storage.FromBlob("mem://", memblob.OpenBucket(nil))
	defer out.Close()
	if err := Generate(context.Background(), out, Options{Rows: 300, Seed: 1, Files: 2, Format: rows.JSONL}); err != nil {
		t.Fatal(err)
	}
	objs, err := out.List(context.Background(), "")
	if err != nil || len(objs) != 3 {
		t.Fatalf("generated %v, %v", objs, err)
	}
	for _, o := range objs {
		want, err := storage.ReadAll(context.Background(), out, o.Key)
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(filepath.Join("..", "..", "hack", "sample-data", "books", o.Key))
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("hack/sample-data/books/%s differs from gen-table output (%v); regenerate it with: indexbuild gen-table --rows 300 --seed 1 --files 2 --format jsonl", o.Key, err)
		}
	}
}

func TestFileBounds(t *testing.T) {
	tests := []struct {
		n, files int
		uneven   bool
		want     []int
	}{
		{10, 3, false, []int{0, 3, 6, 10}},
		{14, 3, true, []int{0, 1, 5, 14}},
		{0, 2, false, []int{0, 0, 0}},
	}
	for _, tt := range tests {
		got := fileBounds(tt.n, tt.files, tt.uneven)
		if !slices.Equal(got, tt.want) {
			t.Errorf("fileBounds(%d, %d, %v) = %v, want %v", tt.n, tt.files, tt.uneven, got, tt.want)
		}
	}
}
