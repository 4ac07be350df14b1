package sstindex

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/indexbuild/indexbuild/internal/keyenc"
	"github.com/indexbuild/indexbuild/internal/staging"
	"github.com/indexbuild/indexbuild/internal/table"
)

func TestWriteScan(t *testing.T) {
	ints := func(vs ...int64) [][]table.Value {
		out := make([][]table.Value, len(vs))
		for i, v := range vs {
			out[i] = []table.Value{{Kind: table.Int, Int: v}}
		}
		return out
	}
	null := [][]table.Value{{{}}}
	tests := []struct {
		name    string
		unique  bool
		rows    [][]table.Value
		lo, hi  int64
		want    []string
		wantDup bool
	}{
		{name: "duplicates kept", rows: ints(5, -3, 5, 9, 5), lo: 5, hi: 5, want: []string{"r0", "r2", "r4"}},
		{name: "range crosses sign", rows: ints(5, -3, 0, 9, -10), lo: -3, hi: 5, want: []string{"r1", "r2", "r0"}},
		{name: "unique violation", unique: true, rows: ints(1, 2, 1), wantDup: true},
		{name: "unique allows NULLs", unique: true, rows: append(null, null...), lo: 0, hi: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			elem := table.Element{ID: 7, Name: "ix", Type: "index", Unique: tt.unique, Columns: []table.Column{{Name: "n", Type: table.TypeInt}}}
			w := NewWriter(elem, t.TempDir(), 1<<20)
			for i, r := range tt.rows {
				if err := w.Add(r, "r"+string(rune('0'+i))); err != nil {
					t.Fatal(err)
				}
			}
			path := filepath.Join(t.TempDir(), "x.sst")
			f, err := os.Create(path)
			if err != nil {
				t.Fatal(err)
			}
			n, err := w.Finish(f)
			var dup *DuplicateError
			if tt.wantDup {
				if !errors.As(err, &dup) {
					t.Fatalf("Finish = %v, want DuplicateError", err)
				}
				return
			}
			if err != nil || n.Entries != int64(len(tt.rows)) {
				t.Fatalf("Finish = %d entries, %v", n.Entries, err)
			}
			r, err := Open(context.Background(), path)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			lo := keyenc.AppendValue(nil, table.Value{Kind: table.Int, Int: tt.lo})
			hi := keyenc.PrefixEnd(keyenc.AppendValue(nil, table.Value{Kind: table.Int, Int: tt.hi}))
			var got []string
			if err := r.Scan(lo, hi, func(_, h []byte) error { got = append(got, string(h)); return nil }); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tt.want) {
				t.Fatalf("scan = %v, want %v", got, tt.want)
			}
			var all int
			if err := r.Scan(nil, nil, func(_, _ []byte) error { all++; return nil }); err != nil || all != len(tt.rows) {
				t.Fatalf("full scan saw %d entries (%v), want %d: the description must not show up", all, err, len(tt.rows))
			}
			if e, err := r.Element(); err != nil || e.ID != elem.ID || e.Unique != elem.Unique || e.Columns[0] != elem.Columns[0] {
				t.Fatalf("Element = %+v, %v", e, err)
			}
		})
	}
}

func TestDuplicateNamesIndexKeyAndRows(t *testing.T) {
	elem := table.Element{ID: 2, Name: "idx_isbn", Type: "index", Unique: true, Columns: []table.Column{{Name: "isbn", Type: table.TypeString}, {Name: "n", Type: table.TypeInt}}}
	w := NewWriter(elem, t.TempDir(), 1<<20)
	defer w.Close()
	for _, h := range []string{"912", "7", "8"} {
		n := int64(1)
		if h == "8" {
			n = 2
		}
		if err := w.Add([]table.Value{{Kind: table.String, Str: "978-1"}, {Kind: table.Int, Int: n}}, h); err != nil {
			t.Fatal(err)
		}
	}
	f, err := os.Create(filepath.Join(t.TempDir(), "x.sst"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = w.Finish(f)
	want := `unique index 2 (idx_isbn): duplicate key ("978-1", 1) in rows "7" and "912"`
	if err == nil || err.Error() != want {
		t.Fatalf("Finish = %v, want %s", err, want)
	}
}

// TestSamples checks the samples Finish returns: at most MaxSamples,
// ascending column values (no handle) of evenly spaced entries, and the
// entry count.
func TestSamples(t *testing.T) {
	for _, n := range []int{0, 1, 5, staging.MaxSamples, staging.MaxSamples + 1, 1000} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			elem := table.Element{ID: 3, Name: "ix", Type: "index", Columns: []table.Column{{Name: "n", Type: table.TypeInt}}}
			w := NewWriter(elem, t.TempDir(), 1<<20)
			// Values n-1..0 in reverse, each twice (two handles).
			for i := n - 1; i >= 0; i-- {
				for _, h := range []string{"a", "b"} {
					if err := w.Add([]table.Value{{Kind: table.Int, Int: int64(i)}}, fmt.Sprint(h, i)); err != nil {
						t.Fatal(err)
					}
				}
			}
			f, err := os.Create(filepath.Join(t.TempDir(), "x.sst"))
			if err != nil {
				t.Fatal(err)
			}
			s, err := w.Finish(f)
			if err != nil {
				t.Fatal(err)
			}
			entries := 2 * n
			if s.Element != 3 || s.Entries != int64(entries) || len(s.Keys) != min(entries, staging.MaxSamples) {
				t.Fatalf("samples: element %d, %d entries, %d keys; want 3, %d, %d", s.Element, s.Entries, len(s.Keys), entries, min(entries, staging.MaxSamples))
			}
			for i, k := range s.Keys {
				// Sample i is entry (2i+1)*entries/(2k), whose value is half its position.
				pos := (2*i + 1) * entries / (2 * len(s.Keys))
				want := keyenc.AppendValue(nil, table.Value{Kind: table.Int, Int: int64(pos / 2)})
				if !bytes.Equal(k, want) {
					t.Fatalf("sample %d = %x, want the value of entry %d (%x)", i, k, pos, want)
				}
			}
		})
	}
}
