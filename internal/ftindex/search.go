package ftindex

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"slices"

	index "github.com/blevesearch/bleve_index_api"

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
// element's columns, across all partition indexes of the element, scored with BM25 over global statistics.
//
// Bleve's own alias search shares only document counts between indexes, not
// per-term document frequencies, so a row's score would depend on which
// partition it landed in. Here the statistics (documents, documents per
// term, average field length) are summed over all partitions first and every
// row is scored against those, in a fixed order of fields and terms: the
// same row gets the same score however the table was partitioned.
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
	fields := parts[0].Stats.Element.ColumnNames()
	readers := make([]index.IndexReader, 0, len(parts))
	defer func() {
		for _, r := range readers {
			r.Close()
		}
	}()
	var docs float64
	fieldLen := make([]float64, len(fields))
	for _, p := range parts {
		r, err := reader(p.Index)
		if err != nil {
			return nil, err
		}
		readers = append(readers, r)
		docs += float64(p.Stats.Docs)
		for i, f := range fields {
			fieldLen[i] += float64(p.Stats.FieldTerms[f])
		}
	}
	scores := map[string]float64{}
	for i, f := range fields {
		if fieldLen[i] == 0 {
			continue
		}
		avgLen := fieldLen[i] / docs
		for _, term := range terms {
			postings, df, err := collect(ctx, readers, f, term)
			if err != nil {
				return nil, err
			}
			idf := math.Log(1 + (docs-df+0.5)/(df+0.5))
			for _, p := range postings {
				tf, dl := float64(p.freq), p.length
				scores[p.handle] += idf * tf * (bm25K1 + 1) / (tf + bm25K1*(1-bm25B+bm25B*dl/avgLen))
			}
		}
	}
	hits := make([]Hit, 0, len(scores))
	for h, s := range scores {
		hits = append(hits, Hit{Handle: h, Score: s})
	}
	slices.SortFunc(hits, func(a, b Hit) int {
		return cmp.Or(cmp.Compare(b.Score, a.Score), cmp.Compare(a.Handle, b.Handle))
	})
	if limit > 0 && len(hits) > limit {
		hits = hits[:limit]
	}
	return hits, nil
}

type posting struct {
	handle string
	freq   uint64
	length float64 // field length in terms
}

// collect returns the postings of term in field over all readers, and the
// number of documents that have it.
func collect(ctx context.Context, readers []index.IndexReader, field, term string) ([]posting, float64, error) {
	var out []posting
	for _, r := range readers {
		err := eachPosting(ctx, r, field, term, func(d *index.TermFieldDoc) error {
			id, err := r.ExternalID(d.ID)
			if err != nil {
				return err
			}
			// Bleve stores the norm 1/sqrt(length).
			length := 1.0
			if d.Norm > 0 {
				length = math.Round(1 / (d.Norm * d.Norm))
			}
			out = append(out, posting{handle: id, freq: d.Freq, length: length})
			return nil
		})
		if err != nil {
			return nil, 0, err
		}
	}
	return out, float64(len(out)), nil
}
