// Package ftindex writes and reads the files of `fulltext` elements: one
// Bleve index per partition and element, packed into a single tar file
// because the worker contract allows one file per partition per element.
//
// Every indexed column is a text field analyzed with Bleve's "standard"
// analyzer (Unicode word segmentation, lower-casing, English stop words).
// Scoring is BM25 so that a search over all partitions (an index alias with
// global scoring) computes term statistics over the whole table: a row's
// score does not depend on how the table was partitioned.
package ftindex

import (
	"github.com/blevesearch/bleve/v2"
	"github.com/blevesearch/bleve/v2/analysis/analyzer/standard"
	"github.com/blevesearch/bleve/v2/mapping"
	index "github.com/blevesearch/bleve_index_api"
)

// Mapping is the index mapping for a fulltext element over fields.
func Mapping(fields []string) *mapping.IndexMappingImpl {
	m := bleve.NewIndexMapping()
	m.ScoringModel = index.BM25Scoring
	m.DefaultAnalyzer = standard.Name
	doc := bleve.NewDocumentStaticMapping()
	for _, f := range fields {
		fm := bleve.NewTextFieldMapping()
		fm.Analyzer = standard.Name
		// Only handles come back from a search: no stored values, term
		// vectors or _all field, which keeps the files small.
		fm.Store = false
		fm.IncludeTermVectors = false
		fm.IncludeInAll = false
		doc.AddFieldMappingsAt(f, fm)
	}
	m.DefaultMapping = doc
	return m
}

// Terms returns the terms the index stores for text, in order: what a
// match query for text looks up. Tests use it to check searches by brute
// force.
func Terms(text string) []string {
	a := Mapping(nil).AnalyzerNamed(standard.Name)
	var out []string
	for _, tok := range a.Analyze([]byte(text)) {
		out = append(out, string(tok.Term))
	}
	return out
}
