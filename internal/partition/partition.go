// Package partition assigns a table's data to worker partitions. It is pure
// logic: every worker computes the same plan from the same listing, so no
// coordinator has to hand out work and a retried worker reads exactly the
// rows its earlier attempt read.
//
// The table is laid out end to end as one weighted line: each data file
// contributes its pieces in listing order. Partition p owns the interval
// [p*W/N, (p+1)*W/N) of the total weight W. A piece that can be cut anywhere
// (an uncompressed JSONL or CSV file, weighted by bytes) is cut at the
// interval boundaries; an atomic piece (a gzip file, a Parquet row group) goes
// wholly to the partition whose interval holds its midpoint. Splitting inside
// files keeps partitions balanced when there are fewer files than partitions.
package partition

import (
	"math/bits"
)

// Source is one data file as the planner sees it.
type Source struct {
	Path string
	// Size is the weight of a splittable file, in bytes. Ignored when
	// Pieces is set.
	Size int64
	// Pieces are the weights of the file's atomic pieces in order (Parquet
	// row groups, or a single piece for a compressed file). Nil means the
	// file is splittable at any byte.
	Pieces []int64
}

// Split is a partition's share of one file: either the byte range
// [Start, End) of a splittable file, or the atomic pieces [Start, End) by
// index.
type Split struct {
	Path   string
	Pieces bool // Start and End index pieces rather than bytes
	Start  int64
	End    int64
}

// Plan returns partition p's splits, in file order, out of n partitions.
// Together the plans of partitions 0..n-1 cover every byte and every piece
// exactly once.
func Plan(sources []Source, p, n int) []Split {
	if n <= 0 || p < 0 || p >= n {
		return nil
	}
	var total int64
	for _, s := range sources {
		total += weight(s)
	}
	lo, hi := bound(total, p, n), bound(total, p+1, n)
	var out []Split
	var base int64 // weight before the current file
	for _, s := range sources {
		if s.Pieces == nil {
			// Splittable: intersect [base, base+Size) with [lo, hi).
			start, end := max(lo, base), min(hi, base+s.Size)
			if start < end {
				out = append(out, Split{Path: s.Path, Start: start - base, End: end - base})
			}
			base += s.Size
			continue
		}
		first, last := int64(-1), int64(-1)
		for i, w := range s.Pieces {
			if owner(base+w/2, total, n) == p {
				if first < 0 {
					first = int64(i)
				}
				last = int64(i)
			}
			base += w
		}
		if first >= 0 {
			out = append(out, Split{Path: s.Path, Pieces: true, Start: first, End: last + 1})
		}
	}
	return out
}

func weight(s Source) int64 {
	if s.Pieces == nil {
		return s.Size
	}
	var w int64
	for _, p := range s.Pieces {
		w += p
	}
	return w
}

// bound is floor(total*p/n) without overflowing int64 for large tables.
func bound(total int64, p, n int) int64 {
	hi, lo := bits.Mul64(uint64(total), uint64(p))
	q, _ := bits.Div64(hi, lo, uint64(n))
	return int64(q)
}

// owner is the partition whose interval holds weight position x.
func owner(x, total int64, n int) int {
	if total == 0 {
		return 0
	}
	hi, lo := bits.Mul64(uint64(x), uint64(n))
	q, _ := bits.Div64(hi, lo, uint64(total))
	return min(int(q), n-1)
}
