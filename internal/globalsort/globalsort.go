// Package globalsort plans the key ranges of the merge stage of global
// sort: from the key samples the build workers record (staging
// ElementSamples), the boundaries that cut an element's entries into R
// ranges of about equal size. It is pure and deterministic: every merge pod
// computes the same plan from the same partition metadata, whatever order
// it reads them in.
package globalsort

import (
	"bytes"
	"cmp"
	"math/bits"
	"slices"

	"github.com/indexbuild/indexbuild/internal/keyenc"
	"github.com/indexbuild/indexbuild/internal/staging"
)

// aboveAll is above every encoded column value. Boundaries for ranges that
// get no samples are built from it, so those ranges are empty.
var aboveAll = keyenc.AboveAll()

// weighted is one distinct sampled column value and the entries it stands
// for.
type weighted struct {
	key    []byte
	weight uint64
}

// Boundaries returns the ranges-1 boundaries that cut the entries the
// samples describe (one element's samples from every partition) into
// ranges key ranges: range r holds the column values in [boundary r-1,
// boundary r), the first and last ranges open below and above.
//
// A sample stands for Entries/len(Keys) entries of its partition (in whole
// entries: the shares of one partition add up to its Entries exactly).
// Walking the distinct sampled values in order, each range closes at the
// first value with at least its share of the weight not yet in a range
// below it, so a value heavier than a range (which no boundary can split)
// leaves the ranges after it an even share of the rest: weighted quantiles
// of what remains. Boundaries are sampled column values, strictly
// increasing, so equal column values always fall in one range. When the
// samples offer fewer distinct values than that (few distinct keys, one
// value heavier than a range, no samples at all), the remaining boundaries
// lie above every column value and the trailing ranges are empty.
func Boundaries(samples []staging.ElementSamples, ranges int) [][]byte {
	if ranges <= 1 {
		return nil
	}
	keys, total := distinct(samples)
	out := make([][]byte, 0, ranges-1)
	var below, base uint64 // weight of keys[:j], and below the last boundary
	j := 0
	for i := 1; i < ranges; i++ {
		// Range i-1 closes at the first key with at least its share of
		// what is left, (total-base)/left, below it and above the last
		// boundary: (below-base)*left >= total-base, in 128 bits. (It
		// always takes a key: keys[j] has weight, so never an empty range
		// and never the same boundary twice.)
		left := uint64(ranges - i + 1)
		for j < len(keys) && less128(below-base, left, 1, total-base) {
			below += keys[j].weight
			j++
		}
		if j == len(keys) {
			break
		}
		out = append(out, keys[j].key)
		base = below
	}
	// The rest lie above every column value, strictly increasing.
	for pad := aboveAll; len(out) < ranges-1; pad = append(bytes.Clone(pad), 0) {
		out = append(out, pad)
	}
	return out
}

// Range returns the bounds [lower, upper) of range r of the plan with the
// given boundaries; nil is open (range 0's lower, the last range's upper).
func Range(boundaries [][]byte, r int) (lower, upper []byte) {
	if r > 0 {
		lower = boundaries[r-1]
	}
	if r < len(boundaries) {
		upper = boundaries[r]
	}
	return lower, upper
}

// distinct returns the distinct sampled column values, ascending, each with
// the weight of all its samples, and the total weight. Samples that cannot
// be column values (empty, or not below aboveAll) are ignored.
func distinct(samples []staging.ElementSamples) ([]weighted, uint64) {
	var all []weighted
	for _, s := range samples {
		n := uint64(len(s.Keys))
		if n == 0 || s.Entries <= 0 {
			continue
		}
		entries := uint64(s.Entries)
		for i, k := range s.Keys {
			// Sample i's share: entries (i*E/n, (i+1)*E/n], whole entries.
			w := (uint64(i+1)*entries)/n - (uint64(i)*entries)/n
			if len(k) == 0 || bytes.Compare(k, aboveAll) >= 0 || w == 0 {
				continue
			}
			all = append(all, weighted{key: k, weight: w})
		}
	}
	slices.SortStableFunc(all, func(a, b weighted) int { return bytes.Compare(a.key, b.key) })
	var out []weighted
	var total uint64
	for _, w := range all {
		total += w.weight
		if len(out) > 0 && bytes.Equal(out[len(out)-1].key, w.key) {
			out[len(out)-1].weight += w.weight
			continue
		}
		out = append(out, w)
	}
	return out, total
}

// less128 reports whether a*b < c*d, exactly.
func less128(a, b, c, d uint64) bool {
	hi1, lo1 := bits.Mul64(a, b)
	hi2, lo2 := bits.Mul64(c, d)
	return cmp.Or(cmp.Compare(hi1, hi2), cmp.Compare(lo1, lo2)) < 0
}
