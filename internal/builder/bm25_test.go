package builder_test

import (
	"cmp"
	"context"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/indexbuild/indexbuild/internal/ftindex"
	"github.com/indexbuild/indexbuild/internal/gentable"
	"github.com/indexbuild/indexbuild/internal/query"
	"github.com/indexbuild/indexbuild/internal/rows"
	"github.com/indexbuild/indexbuild/internal/table"
)

// bm25 scores every row for text the textbook way, straight from the rows:
// for each field and distinct query term, idf = ln(1 + (N − df + 0.5) /
// (df + 0.5)) and tf·(k1 + 1) / (tf + k1·(1 − b + b·dl/avgdl)), with
// k1 = 1.2, b = 0.75, N all rows (NULLs included), dl the field's terms in
// the row. It returns the top k handles with their scores, best first, ties
// by handle.
func bm25(rowsOf [][]table.Value, cols []int, text string, k int) []query.Hit {
	const k1, b = 1.2, 0.75
	terms := slices.Compact(slices.Sorted(slices.Values(ftindex.Terms(text))))
	n := float64(len(rowsOf))
	scores := make([]float64, len(rowsOf))
	for _, c := range cols {
		tfs := make([]map[string]int, len(rowsOf))
		var total float64
		df := map[string]float64{}
		for i, r := range rowsOf {
			tfs[i] = map[string]int{}
			ts := ftindex.Terms(r[c].Str) // NULL: no terms
			total += float64(len(ts))
			for _, t := range ts {
				if tfs[i][t] == 0 {
					df[t]++
				}
				tfs[i][t]++
			}
		}
		avg := total / n
		for _, t := range terms {
			if df[t] == 0 {
				continue
			}
			idf := math.Log(1 + (n-df[t]+0.5)/(df[t]+0.5))
			for i := range rowsOf {
				if tf := float64(tfs[i][t]); tf > 0 {
					dl := float64(len(ftindex.Terms(rowsOf[i][c].Str)))
					scores[i] += idf * tf * (k1 + 1) / (tf + k1*(1-b+b*dl/avg))
				}
			}
		}
	}
	var hits []query.Hit
	for i, s := range scores {
		if s > 0 {
			hits = append(hits, query.Hit{Handle: strconv.FormatInt(rowsOf[i][0].Int, 10), Score: s})
		}
	}
	slices.SortFunc(hits, func(a, b query.Hit) int {
		return cmp.Or(cmp.Compare(b.Score, a.Score), cmp.Compare(a.Handle, b.Handle))
	})
	return hits[:min(k, len(hits))]
}

// TestMatchTopKIsBM25 compares the top hits of match queries, on one and on
// several partitions, with BM25 computed by brute force over the raw rows.
func TestMatchTopKIsBM25(t *testing.T) {
	opt := gentable.Options{Rows: 1500, Files: 2, Format: rows.CSV, Seed: 7}
	src := generate(t, opt)
	cat := gentable.Catalog(1, 100)
	rowsOf := make([][]table.Value, opt.Rows)
	for i := range rowsOf {
		rowsOf[i] = gentable.Row(opt.Seed, i)
	}
	elements := map[int64][]int{
		gentable.FulltextDesc:  {cat.ColumnIndex("description")},
		gentable.FulltextTitle: {cat.ColumnIndex("title"), cat.ColumnIndex("description")},
	}
	words := strings.Fields("fox river winter Über straße café 東京 물고기 Москва ελπίδα harbor kingdom absentword The")
	rng := rand.New(rand.NewPCG(3, 4))
	for _, partitions := range []int{1, 4} {
		ix := buildAll(t, src, fulltextTask, partitions)
		for n := range 40 {
			var qw []string
			for range 1 + rng.IntN(3) {
				qw = append(qw, words[rng.IntN(len(words))])
			}
			text := strings.Join(qw, " ")
			if len(ftindex.Terms(text)) == 0 {
				continue
			}
			elem := gentable.FulltextDesc
			if n%2 == 1 {
				elem = gentable.FulltextTitle
			}
			k := []int{1, 10, 100}[n%3]
			_, got, err := ix.Run(context.Background(), query.Query{Element: elem, Match: text, Limit: k})
			if err != nil {
				t.Fatal(err)
			}
			want := bm25(rowsOf, elements[elem], text, k)
			if len(got) != len(want) {
				t.Fatalf("%d partitions, element %d, %q top %d: %d hits, BM25 %d", partitions, elem, text, k, len(got), len(want))
			}
			for i := range got {
				if got[i].Handle != want[i].Handle || math.Abs(got[i].Score-want[i].Score) > 1e-9*want[i].Score {
					t.Fatalf("%d partitions, element %d, %q top %d, hit %d: %+v, BM25 %+v", partitions, elem, text, k, i, got[i], want[i])
				}
			}
		}
	}
}
