package ftindex

import (
	"encoding/binary"
	"fmt"
	"slices"
	"testing"
)

// decodeList reads a list back through its blocks.
func decodeList(t *testing.T, l *postingLists, key string) (docs, freqs []uint32) {
	t.Helper()
	var doc uint64
	err := l.pieces(l.list(key), func(b []byte) error {
		for len(b) > 0 {
			gap, n := binary.Uvarint(b)
			freq, m := binary.Uvarint(b[n:])
			if n <= 0 || m <= 0 {
				return errCorrupt
			}
			b, doc = b[n+m:], doc+gap
			docs, freqs = append(docs, uint32(doc)), append(freqs, uint32(freq))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return docs, freqs
}

func TestPostingListsChainBlocks(t *testing.T) {
	l := newPostingLists(1 << 20)
	defer l.release()
	var wantDocs, wantFreqs []uint32
	for d := uint32(0); d < 200000; d += 7 { // long enough for every block size
		if !l.add([]byte("\x00long"), d, d%300+1) || d%1000 == 0 && !l.add([]byte(fmt.Sprint("\x00t", d)), d, 1) {
			t.Fatalf("budget full at doc %d", d)
		}
		wantDocs, wantFreqs = append(wantDocs, d), append(wantFreqs, d%300+1)
	}
	docs, freqs := decodeList(t, l, "\x00long")
	if !slices.Equal(docs, wantDocs) || !slices.Equal(freqs, wantFreqs) {
		t.Fatalf("decoded %d postings, want %d (or different values)", len(docs), len(wantDocs))
	}
	if d, _ := decodeList(t, l, "\x00t7000"); !slices.Equal(d, []uint32{7000}) {
		t.Fatalf("short list: %d postings", len(d))
	}
	// Fill the budget: add refuses, changing nothing; after reset it accepts.
	n := 0
	for ; l.add([]byte(fmt.Sprint("\x01fill", n)), 1, 1); n++ {
	}
	if got := len(l.index); got != len(l.lists) || len(l.arena) > l.budget {
		t.Fatalf("after a refused add: %d terms, %d lists, arena %d of %d", got, len(l.lists), len(l.arena), l.budget)
	}
	l.reset()
	if !l.add([]byte("\x00long"), 9, 2) {
		t.Fatal("add after reset refused")
	}
	if d, f := decodeList(t, l, "\x00long"); !slices.Equal(d, []uint32{9}) || !slices.Equal(f, []uint32{2}) {
		t.Fatalf("after reset: %v %v", d, f)
	}
}
