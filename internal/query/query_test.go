package query

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/indexbuild/indexbuild/internal/ftindex"
	"github.com/indexbuild/indexbuild/internal/keyenc"
	"github.com/indexbuild/indexbuild/internal/retry"
	"github.com/indexbuild/indexbuild/internal/staging"
	"github.com/indexbuild/indexbuild/internal/table"
)

func TestBounds(t *testing.T) {
	e := table.Element{ID: 2, Type: "index", Columns: []table.Column{{Name: "author", Type: table.TypeString}, {Name: "year", Type: table.TypeInt}}}
	enc := func(vs ...table.Value) []byte {
		var b []byte
		for _, v := range vs {
			b = keyenc.AppendValue(b, v)
		}
		return b
	}
	ada, y1999 := table.Value{Kind: table.String, Str: "Ada"}, table.Value{Kind: table.Int, Int: 1999}
	tests := []struct {
		name   string
		q      Query
		lo, hi []byte
		bad    bool
	}{
		{name: "eq prefix", q: Query{Eq: []string{"Ada"}}, lo: enc(ada), hi: keyenc.PrefixEnd(enc(ada))},
		{name: "eq full key", q: Query{Eq: []string{"Ada", "1999"}}, lo: enc(ada, y1999), hi: keyenc.PrefixEnd(enc(ada, y1999))},
		{name: "eq NULL", q: Query{Eq: []string{""}}, lo: enc(table.Value{}), hi: keyenc.PrefixEnd(enc(table.Value{}))},
		{name: "range", q: Query{Range: &[2]string{"A", "B"}}, lo: enc(table.Value{Kind: table.String, Str: "A"}), hi: keyenc.PrefixEnd(enc(table.Value{Kind: table.String, Str: "B"}))},
		{name: "too many values", q: Query{Eq: []string{"a", "1", "x"}}, bad: true},
		{name: "not an int", q: Query{Eq: []string{"Ada", "MCMXCIX"}}, bad: true},
		{name: "no condition", q: Query{}, bad: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lo, hi, err := bounds(e, tt.q)
			if tt.bad {
				if !errors.Is(err, retry.ErrInvalidInput) {
					t.Fatalf("err = %v, want invalid input", err)
				}
				return
			}
			if err != nil || !bytes.Equal(lo, tt.lo) || !bytes.Equal(hi, tt.hi) {
				t.Fatalf("bounds = %x, %x, %v; want %x, %x", lo, hi, err, tt.lo, tt.hi)
			}
		})
	}
}

// TestBleveFilesRejected: an element committed as Bleve indexes (fulltext
// format 0) gets a clear error, classified as invalid input, before any
// download.
func TestBleveFilesRejected(t *testing.T) {
	ix := FromFiles(nil, []staging.File{{Path: "part_0_5.bleve", Element: 5}})
	_, _, err := ix.Run(context.Background(), Query{Element: 5, Match: "fox"})
	if !errors.Is(err, ftindex.ErrOldFormat) || !errors.Is(err, retry.ErrInvalidInput) || !strings.Contains(err.Error(), "rebuild") {
		t.Fatalf("err = %v, want the old-format error", err)
	}
}
