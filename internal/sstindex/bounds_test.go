package sstindex

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/indexbuild/indexbuild/internal/table"
)

// TestEntryBounds: the first and last entry, never the element description
// stored after them; none for a file without entries.
func TestEntryBounds(t *testing.T) {
	elem := table.Element{ID: 3, Name: "ix", Type: "index", Columns: []table.Column{{Name: "n", Type: table.TypeInt}}}
	key := func(i int) []byte {
		return AppendKey(nil, []table.Value{{Kind: table.Int, Int: int64(i)}}, fmt.Sprint(i))
	}
	for _, n := range []int{0, 1, 5000} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			w := NewWriter(elem, t.TempDir(), 1<<20)
			for i := range n {
				if err := w.Add([]table.Value{{Kind: table.Int, Int: int64(i)}}, fmt.Sprint(i)); err != nil {
					t.Fatal(err)
				}
			}
			path := filepath.Join(t.TempDir(), "x.sst")
			f, err := os.Create(path)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := w.Finish(f); err != nil {
				t.Fatal(err)
			}
			r, err := OpenTable(context.Background(), path)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			first, last, err := EntryBounds(r)
			if err != nil {
				t.Fatal(err)
			}
			var wantFirst, wantLast []byte
			if n > 0 {
				wantFirst, wantLast = key(0), key(n-1)
			}
			if !bytes.Equal(first, wantFirst) || !bytes.Equal(last, wantLast) {
				t.Fatalf("EntryBounds = %x, %x; want %x, %x", first, last, wantFirst, wantLast)
			}
		})
	}
}
