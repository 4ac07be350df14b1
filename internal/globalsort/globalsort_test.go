package globalsort

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/indexbuild/indexbuild/internal/keyenc"
	"github.com/indexbuild/indexbuild/internal/staging"
	"github.com/indexbuild/indexbuild/internal/table"
)

func key(v int64) []byte { return keyenc.AppendValue(nil, table.Value{Kind: table.Int, Int: v}) }

func keys(vs ...int64) [][]byte {
	out := make([][]byte, len(vs))
	for i, v := range vs {
		out[i] = key(v)
	}
	return out
}

// span returns the values lo..hi-1.
func span(lo, hi int64) []int64 {
	var out []int64
	for v := lo; v < hi; v++ {
		out = append(out, v)
	}
	return out
}

func repeat(v int64, n int) []int64 {
	out := make([]int64, n)
	for i := range out {
		out[i] = v
	}
	return out
}

func part(entries int64, vs ...int64) staging.ElementSamples {
	return staging.ElementSamples{Element: 1, Entries: entries, Keys: keys(vs...)}
}

func TestBoundaries(t *testing.T) {
	pads := func(n int) [][]byte {
		var out [][]byte
		for p := []byte{0xff}; len(out) < n; p = append(bytes.Clone(p), 0) {
			out = append(out, p)
		}
		return out
	}
	tests := []struct {
		name    string
		samples []staging.ElementSamples
		ranges  int
		want    [][]byte
	}{
		{"one range", []staging.ElementSamples{part(100, span(0, 100)...)}, 1, nil},
		{"uniform", []staging.ElementSamples{part(100, span(0, 100)...)}, 4, keys(25, 50, 75)},
		{"two partitions interleaved", []staging.ElementSamples{
			part(50, 0, 2, 4, 6, 8, 10, 12, 14, 16, 18),
			part(50, 1, 3, 5, 7, 9, 11, 13, 15, 17, 19),
		}, 2, keys(10)},
		{"weights: a partition with more entries per sample pulls the boundary", []staging.ElementSamples{
			part(10, span(0, 10)...),   // 1 entry per sample
			part(900, span(10, 19)...), // 100 entries per sample
		}, 2, keys(15)}, // 510 entries below 15, 410 below 14: half is 455
		{"skewed: a value heavier than a range takes it whole", []staging.ElementSamples{
			part(100, append(repeat(5, 90), span(6, 16)...)...),
		}, 4, keys(6, 10, 13)}, // 90, then 10 split 4, 3, 3
		{"few distinct values: trailing ranges empty", []staging.ElementSamples{
			part(60, append(append(repeat(1, 20), repeat(2, 20)...), repeat(3, 20)...)...),
		}, 5, append(keys(2, 3), pads(2)...)},
		{"more ranges than values", []staging.ElementSamples{part(3, 7, 8, 9)}, 8, append(keys(8, 9), pads(5)...)},
		{"no samples: everything in range 0", nil, 3, pads(2)},
		{"partitions without samples or entries", []staging.ElementSamples{{Element: 1}, {Element: 1, Entries: 5}}, 2, pads(1)},
		{"keys no column value can have are ignored", []staging.ElementSamples{
			{Element: 1, Entries: 4, Keys: [][]byte{key(1), key(2), {}, {0xff, 1}}},
		}, 2, keys(2)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Boundaries(tt.samples, tt.ranges)
			if !slices.EqualFunc(got, tt.want, bytes.Equal) {
				t.Fatalf("Boundaries = %x, want %x", got, tt.want)
			}
			if len(got) != max(tt.ranges-1, 0) {
				t.Fatalf("%d boundaries for %d ranges", len(got), tt.ranges)
			}
			for i := 1; i < len(got); i++ {
				if bytes.Compare(got[i-1], got[i]) >= 0 {
					t.Fatalf("boundaries not strictly increasing at %d: %x", i, got)
				}
			}
		})
	}
}

// TestBoundariesBalanceSkewedData plans ranges from the samples of sorted
// partitions of skewed data (as sstindex.Writer takes them) and counts the
// entries that land in each range: within a few samples' worth of equal.
func TestBoundariesBalanceSkewedData(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	const partitions, perPartition, ranges = 8, 5000, 16
	var all []int64
	var samples []staging.ElementSamples
	for range partitions {
		vs := make([]int64, perPartition)
		for i := range vs {
			// Exponential-ish: small values far more frequent.
			vs[i] = int64(rng.ExpFloat64() * 1e6)
		}
		slices.Sort(vs)
		all = append(all, vs...)
		k := staging.MaxSamples
		s := staging.ElementSamples{Element: 1, Entries: perPartition}
		for i := range k {
			s.Keys = append(s.Keys, key(vs[(2*i+1)*perPartition/(2*k)]))
		}
		samples = append(samples, s)
	}
	b := Boundaries(samples, ranges)
	counts := make([]int, ranges)
	for _, v := range all {
		r, _ := slices.BinarySearchFunc(b, key(v), func(bound, k []byte) int {
			if bytes.Compare(bound, k) <= 0 {
				return -1
			}
			return 1
		})
		counts[r]++
	}
	want := len(all) / ranges
	for r, c := range counts {
		// A sample stands for ~39 entries; allow a few per partition.
		if c < want*3/4 || c > want*5/4 {
			t.Fatalf("range %d holds %d entries, want about %d (all: %v)", r, c, want, counts)
		}
	}
}

// TestBoundariesDeterministic: the order partitions are read in does not
// change the plan.
func TestBoundariesDeterministic(t *testing.T) {
	var samples []staging.ElementSamples
	for p := range 10 {
		samples = append(samples, part(int64(1000+p*37), span(int64(p*3), int64(p*3+50))...))
	}
	want := Boundaries(samples, 7)
	rng := rand.New(rand.NewPCG(3, 4))
	for i := range 20 {
		shuffled := slices.Clone(samples)
		rng.Shuffle(len(shuffled), func(a, b int) { shuffled[a], shuffled[b] = shuffled[b], shuffled[a] })
		if got := Boundaries(shuffled, 7); !slices.EqualFunc(got, want, bytes.Equal) {
			t.Fatalf("shuffle %d: %x, want %x", i, got, want)
		}
	}
}

func TestRange(t *testing.T) {
	b := keys(10, 20)
	tests := []struct {
		r            int
		lower, upper []byte
	}{{0, nil, key(10)}, {1, key(10), key(20)}, {2, key(20), nil}}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.r), func(t *testing.T) {
			lo, hi := Range(b, tt.r)
			if !bytes.Equal(lo, tt.lower) || !bytes.Equal(hi, tt.upper) || (lo == nil) != (tt.lower == nil) || (hi == nil) != (tt.upper == nil) {
				t.Fatalf("Range(%d) = [%x, %x), want [%x, %x)", tt.r, lo, hi, tt.lower, tt.upper)
			}
		})
	}
	if lo, hi := Range(nil, 0); lo != nil || hi != nil {
		t.Fatalf("one range: [%x, %x), want open", lo, hi)
	}
}
