package sstindex

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/indexbuild/indexbuild/internal/keyenc"
	"github.com/indexbuild/indexbuild/internal/storage/storagetest"
	"github.com/indexbuild/indexbuild/internal/table"
)

// TestOpenObjectReadsRanges: a point lookup on a stored SSTable of many
// blocks reads a small part of it, a full scan reads it in few requests,
// and both see what a local open sees.
func TestOpenObjectReadsRanges(t *testing.T) {
	const entries = 300_000
	elem := table.Element{ID: 3, Name: "ix", Type: "index", Columns: []table.Column{{Name: "n", Type: table.TypeInt}}}
	w := NewWriter(elem, t.TempDir(), 16<<20)
	for i := range entries {
		if err := w.Add([]table.Value{{Kind: table.Int, Int: int64(i)}}, fmt.Sprintf("h%07d", i)); err != nil {
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
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, store := range storagetest.Stores() {
		t.Run(store.Name, func(t *testing.T) {
			b := store.Open(t)
			if err := b.Write(ctx, "x.sst", bytes.NewReader(data)); err != nil {
				t.Fatal(err)
			}

			var point ReadStats
			r, err := OpenObjectReader(ctx, b, "x.sst", &point)
			if err != nil {
				t.Fatal(err)
			}
			key := keyenc.AppendValue(nil, table.Value{Kind: table.Int, Int: 123_456})
			var got []string
			if err := r.Scan(key, append(key, 0xff), func(_, h []byte) error { got = append(got, string(h)); return nil }); err != nil {
				t.Fatal(err)
			}
			if len(got) != 1 || got[0] != "h0123456" {
				t.Fatalf("point lookup = %v, want [h0123456]", got)
			}
			t.Logf("file %d bytes; point lookup: %d bytes in %d requests", len(data), point.Bytes(), point.Requests())
			if point.Bytes() == 0 || point.Bytes() > int64(len(data))/16 {
				t.Fatalf("point lookup read %d bytes of a %d-byte file in %d requests", point.Bytes(), len(data), point.Requests())
			}
			if err := r.Close(); err != nil {
				t.Fatal(err)
			}

			var scan ReadStats
			r, err = OpenObjectReader(ctx, b, "x.sst", &scan)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			n := 0
			if err := r.Scan(nil, nil, func(_, h []byte) error {
				if want := fmt.Sprintf("h%07d", n); string(h) != want {
					return fmt.Errorf("entry %d is %s, want %s", n, h, want)
				}
				n++
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			if n != entries {
				t.Fatalf("scan saw %d entries, want %d", n, entries)
			}
			t.Logf("scan: %d bytes in %d requests", scan.Bytes(), scan.Requests())
			// Read-ahead: a scan is not one request per 4 KiB block.
			if blocks := int64(len(data)) / 4096; scan.Requests() > blocks/8 {
				t.Fatalf("scan of %d bytes took %d requests", len(data), scan.Requests())
			}
			if e, err := r.Element(); err != nil || e.ID != elem.ID {
				t.Fatalf("Element() = %+v, %v", e, err)
			}
		})
	}
}
