package ftindex

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"slices"

	"github.com/indexbuild/indexbuild/internal/retry"
)

// BM25 parameters (the usual Lucene defaults).
const (
	bm25K1 = 1.2
	bm25B  = 0.75
)

// Hit is one matching row.
type Hit struct {
	Handle string  `json:"handle"`
	Score  float64 `json:"score,omitempty"` // match queries only
}

// Search finds the rows that contain any term of text in any of the
// element's columns, across all partition files of the element, scored
// with BM25 over global statistics.
//
// The statistics (rows, rows per term, average field length) are summed
// over all partitions first and every row is scored against those, adding
// up its fields and terms in a fixed order: the same row gets the same
// score however the table was partitioned.
//
// Hits come best first, ties by handle; limit <= 0 returns all.
func Search(ctx context.Context, parts []*Partition, text string, limit int) ([]Hit, error) {
	terms := slices.Compact(slices.Sorted(slices.Values(Terms(text))))
	if len(terms) == 0 {
		return nil, fmt.Errorf("%w: match query %q has no searchable terms (only stop words or punctuation)", retry.ErrInvalidInput, text)
	}
	if len(parts) == 0 {
		return nil, nil
	}
	fields := len(parts[0].Meta.Element.Columns)
	var docs float64
	fieldLen := make([]float64, fields)
	for _, p := range parts {
		if len(p.Meta.FieldTerms) != fields {
			return nil, fmt.Errorf("fulltext file %s: %d fields, %s has %d", p.name, len(p.Meta.FieldTerms), parts[0].name, fields)
		}
		docs += float64(p.Meta.Docs)
		for f, n := range p.Meta.FieldTerms {
			fieldLen[f] += float64(n)
		}
	}
	scores := make([][]float64, len(parts))
	for f := range fields {
		if fieldLen[f] == 0 {
			continue
		}
		avgLen := fieldLen[f] / docs
		for _, term := range terms {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			prefix := termKey(nil, f, []byte(term))
			var df float64
			for _, p := range parts {
				n, err := p.df(prefix)
				if err != nil {
					return nil, err
				}
				df += float64(n)
			}
			if df == 0 {
				continue
			}
			idf := math.Log(1 + (docs-df+0.5)/(df+0.5))
			for i, p := range parts {
				lengths, err := p.fieldLengths(f)
				if err != nil {
					return nil, err
				}
				if scores[i] == nil {
					scores[i] = make([]float64, p.Meta.Docs)
				}
				s := scores[i]
				err = p.postings(prefix, func(ds, freqs []uint32) {
					for j, d := range ds {
						tf, dl := float64(freqs[j]), float64(lengths[d])
						s[d] += idf * tf * (bm25K1 + 1) / (tf + bm25K1*(1-bm25B+bm25B*dl/avgLen))
					}
				})
				if err != nil {
					return nil, err
				}
			}
		}
	}
	return rank(parts, scores, limit)
}

type candidate struct {
	part   int
	doc    uint32
	score  float64
	handle string
}

// rank turns per-row scores into hits: best first, ties by handle. Handles
// are looked up only for the rows that can make the cut.
func rank(parts []*Partition, scores [][]float64, limit int) ([]Hit, error) {
	var cands []candidate
	for i, s := range scores {
		for d, sc := range s {
			if sc > 0 { // BM25 of a present term is positive
				cands = append(cands, candidate{part: i, doc: uint32(d), score: sc})
			}
		}
	}
	slices.SortFunc(cands, func(a, b candidate) int { return cmp.Compare(b.score, a.score) })
	if limit > 0 && len(cands) > limit {
		// Keep every row tied with the last one: the handle decides.
		cut := limit
		for cut < len(cands) && cands[cut].score == cands[limit-1].score {
			cut++
		}
		cands = cands[:cut]
	}
	// Look handles up in row order, one block at a time.
	slices.SortFunc(cands, func(a, b candidate) int { return cmp.Or(cmp.Compare(a.part, b.part), cmp.Compare(a.doc, b.doc)) })
	var block []string
	bpart, bno := -1, uint32(0)
	for i := range cands {
		c := &cands[i]
		if c.part != bpart || c.doc/handleBlock != bno {
			var err error
			bpart, bno = c.part, c.doc/handleBlock
			if block, err = parts[c.part].handles(bno); err != nil {
				return nil, err
			}
		}
		j := int(c.doc % handleBlock)
		if j >= len(block) {
			return nil, corrupt(parts[c.part].name, errCorrupt)
		}
		c.handle = block[j]
	}
	slices.SortFunc(cands, func(a, b candidate) int {
		return cmp.Or(cmp.Compare(b.score, a.score), cmp.Compare(a.handle, b.handle))
	})
	if limit > 0 && len(cands) > limit {
		cands = cands[:limit]
	}
	hits := make([]Hit, len(cands))
	for i, c := range cands {
		hits[i] = Hit{Handle: c.handle, Score: c.score}
	}
	return hits, nil
}
