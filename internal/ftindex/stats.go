package ftindex

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/blevesearch/bleve/v2"
	index "github.com/blevesearch/bleve_index_api"

	"github.com/indexbuild/indexbuild/internal/table"
)

// statsName is the file, next to Bleve's own, that holds a partition's
// totals. Bleve ignores files it does not know.
const statsName = "indexbuild-stats.json"

// Stats are the totals of one partition index that global BM25 sums up:
// Bleve keeps document counts but not total field lengths.
type Stats struct {
	// Element describes the element the index belongs to.
	Element table.Element `json:"element"`
	Docs    uint64        `json:"docs"`
	// FieldTerms is the number of term occurrences per field over all
	// documents; divided by the documents it is the average field length.
	FieldTerms map[string]uint64 `json:"fieldTerms"`
}

// writeStats computes the totals of the finished index at dir by walking
// each field's postings once, and stores them in the index directory.
func writeStats(ctx context.Context, dir string, e table.Element) error {
	fields := e.ColumnNames()
	idx, err := bleve.OpenUsing(dir, map[string]any{"read_only": true})
	if err != nil {
		return err
	}
	defer idx.Close()
	r, err := reader(idx)
	if err != nil {
		return err
	}
	defer r.Close()
	st := Stats{Element: e, FieldTerms: make(map[string]uint64, len(fields))}
	if st.Docs, err = r.DocCount(); err != nil {
		return err
	}
	for _, f := range fields {
		dict, err := r.FieldDict(f)
		if err != nil {
			return err
		}
		for {
			e, err := dict.Next()
			if err != nil {
				dict.Close()
				return err
			}
			if e == nil {
				break
			}
			err = eachPosting(ctx, r, f, e.Term, func(d *index.TermFieldDoc) error {
				st.FieldTerms[f] += d.Freq
				return nil
			})
			if err != nil {
				dict.Close()
				return err
			}
		}
		dict.Close()
	}
	b, err := json.Marshal(st)
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, statsName), b, 0o644)
}

func readStats(dir string) (Stats, error) {
	var st Stats
	b, err := os.ReadFile(filepath.Join(dir, statsName))
	if err != nil {
		return st, fmt.Errorf("fulltext index statistics: %w", err)
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return st, fmt.Errorf("fulltext index statistics: %w", err)
	}
	return st, nil
}

func reader(idx bleve.Index) (index.IndexReader, error) {
	adv, err := idx.Advanced()
	if err != nil {
		return nil, err
	}
	return adv.Reader()
}

// eachPosting calls fn for every document that has term in field.
func eachPosting(ctx context.Context, r index.IndexReader, field, term string, fn func(*index.TermFieldDoc) error) error {
	tfr, err := r.TermFieldReader(ctx, []byte(term), field, true, true, false)
	if err != nil {
		return err
	}
	defer tfr.Close()
	var d index.TermFieldDoc
	for {
		doc, err := tfr.Next(&d)
		if err != nil || doc == nil {
			return err
		}
		if err := fn(doc); err != nil {
			return err
		}
	}
}
