package sstindex

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/indexbuild/indexbuild/internal/keyenc"
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
			if err != nil || n != int64(len(tt.rows)) {
				t.Fatalf("Finish = %d, %v", n, err)
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
