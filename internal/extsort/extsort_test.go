package extsort

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

func TestSorterMatchesInMemorySort(t *testing.T) {
	tests := []struct {
		name     string
		n        int
		budget   int
		wantRuns bool
	}{
		{"empty", 0, 1 << 20, false},
		{"fits in memory", 1000, 1 << 20, false},
		{"spills many runs", 60000, 1 << 20, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(1, uint64(tt.n)))
			s := New(t.TempDir(), tt.budget)
			want := make([]string, tt.n)
			for i := range tt.n {
				k := fmt.Sprintf("%08x/%d", rng.Uint32(), i)
				want[i] = k
				if err := s.Add([]byte(k), []byte("v"+k)); err != nil {
					t.Fatal(err)
				}
			}
			if got := s.Runs() > 0; got != tt.wantRuns {
				t.Fatalf("spilled = %v, want %v", got, tt.wantRuns)
			}
			slices.Sort(want)
			var got []string
			err := s.Each(func(k, v []byte) error {
				if !bytes.Equal(v, append([]byte("v"), k...)) {
					t.Fatalf("value %q does not belong to key %q", v, k)
				}
				got = append(got, string(k))
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, want) {
				t.Fatalf("got %d keys, want %d, or order differs", len(got), len(want))
			}
		})
	}
}
