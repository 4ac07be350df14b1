package ftindex

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/blevesearch/bleve/v2/analysis/analyzer/standard"
	"github.com/blevesearch/bleve/v2/registry"

	"github.com/indexbuild/indexbuild/internal/retry"
	"github.com/indexbuild/indexbuild/internal/table"
)

var docs = []string{
	"the quick brown fox", "a lazy dog sleeps", "Quick thinking, quick acting",
	"Über schnelle Füchse", "brown bread and brown butter", "", "fox and dog and fox",
	"東京 タワー", "dog", "nothing to see", "ΟΔΥΣΣΕΥΣ Ⱥⱥ straße 3.14 don't e-mail",
}

var element = table.Element{ID: 1, Name: "ft", Type: "fulltext", Columns: []table.Column{{Name: "body", Type: table.TypeString}}}

// write builds one partition file of e from rows under the given handles
// and opens it.
func write(t *testing.T, e table.Element, budget int, rows [][]table.Value, handles []string) *Partition {
	t.Helper()
	w, err := NewWriter(t.TempDir(), e, budget)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	for i, r := range rows {
		if err := w.Add(r, handles[i]); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(t.TempDir(), "part.ft")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Finish(f); err != nil {
		t.Fatal(err)
	}
	p, err := Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func text(s string) table.Value {
	if s == "" {
		return table.Value{}
	}
	return table.Value{Kind: table.String, Str: s}
}

// build indexes docs split round-robin into n partitions.
func build(t *testing.T, n int) []*Partition {
	t.Helper()
	var out []*Partition
	for p := range n {
		var rows [][]table.Value
		var handles []string
		for i := p; i < len(docs); i += n {
			rows = append(rows, []table.Value{text(docs[i])})
			handles = append(handles, fmt.Sprintf("row%d", i))
		}
		out = append(out, write(t, element, 1<<20, rows, handles))
	}
	return out
}

func TestSearchScoresIndependentOfPartitioning(t *testing.T) {
	one, three := build(t, 1), build(t, 3)
	for _, q := range []string{"fox", "brown dog", "QUICK", "füchse", "タワー", "ὀδυσσεύς ⱥⱥ", "absent"} {
		t.Run(q, func(t *testing.T) {
			want, err := Search(context.Background(), one, q, 0)
			if err != nil {
				t.Fatal(err)
			}
			got, err := Search(context.Background(), three, q, 0)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(want) {
				t.Fatalf("3 partitions: %v, 1 partition: %v", got, want)
			}
			for i := range got {
				if got[i].Handle != want[i].Handle || math.Abs(got[i].Score-want[i].Score) > 1e-9 {
					t.Fatalf("hit %d: 3 partitions %v, 1 partition %v", i, got[i], want[i])
				}
			}
			// Brute force: a row matches when it shares a term with q.
			var brute []string
			for i, d := range docs {
				if slices.ContainsFunc(Terms(d), func(term string) bool { return slices.Contains(Terms(q), term) }) {
					brute = append(brute, fmt.Sprintf("row%d", i))
				}
			}
			var handles []string
			for _, h := range got {
				handles = append(handles, h.Handle)
			}
			slices.Sort(handles)
			if !slices.Equal(handles, brute) {
				t.Fatalf("hits %v, brute force %v", handles, brute)
			}
		})
	}
}

// TestTermsAreBlevesStandardAnalyzer pins the analysis to what format 0
// indexed with, so queries mean what they meant.
func TestTermsAreBlevesStandardAnalyzer(t *testing.T) {
	std, err := registry.NewCache().AnalyzerNamed(standard.Name)
	if err != nil {
		t.Fatal(err)
	}
	texts := append(docs, "İstanbul ǅemal ΣΊΣΥΦΟΣ Ⱦⱥ ÀÉÎ the THE And 42 x²", "🙂 물고기 Москва")
	// Random text around the spaces the analyzer cuts at first.
	pieces := strings.Split("a|Z|q9|0|7| | |  |\t|\n|.|,|'|_|:|;|-|é|\u0301|\u200d|東|京|タ|カ|한|א|\"|🙂|Σ|σ|x²|İ|ǅ|The|AND|ok|3.5|1,000|don't", "|")
	rng := rand.New(rand.NewPCG(1, 2))
	for range 20000 {
		var b strings.Builder
		for range rng.IntN(12) {
			b.WriteString(pieces[rng.IntN(len(pieces))])
		}
		texts = append(texts, b.String())
	}
	for _, d := range texts {
		var want []string
		for _, tok := range std.Analyze([]byte(d)) {
			want = append(want, string(tok.Term))
		}
		if got := Terms(d); !slices.Equal(got, want) {
			t.Errorf("Terms(%q) = %q, Bleve's standard analyzer: %q", d, got, want)
		}
	}
}

// TestSpilledRunsGiveTheSameFile builds one partition of many rows and
// several columns with the smallest budget (many runs, long posting lists
// across chunks) and with a large one, and compares every search.
func TestSpilledRunsGiveTheSameFile(t *testing.T) {
	e := element
	e.Columns = []table.Column{{Name: "a", Type: table.TypeString}, {Name: "b", Type: table.TypeString}}
	vocab := strings.Fields("alpha beta gamma delta epsilon zeta eta theta iota kappa lambda Ünïcödé 東京")
	var rows [][]table.Value
	var handles []string
	for i := range 3 * chunkPostings {
		var ws []string
		for j := range 1 + i%7 {
			ws = append(ws, vocab[(i*j+i/3)%len(vocab)])
		}
		if i%5 == 0 {
			ws = append(ws, fmt.Sprintf("rare%d", i))
		}
		b := text(strings.Join(ws[:len(ws)/2], " "))
		if i%11 == 0 {
			b = table.Value{}
		}
		rows = append(rows, []table.Value{text(strings.Join(ws, " ")), b})
		handles = append(handles, fmt.Sprintf("h-%06d", i))
	}
	small := write(t, e, 0, rows, handles)
	large := write(t, e, 1<<30, rows, handles)
	for _, q := range []string{"alpha", "東京 zeta", "rare35", "ünïcödé kappa rare0", "missing"} {
		for _, limit := range []int{0, 10} {
			a, err := Search(context.Background(), []*Partition{small}, q, limit)
			if err != nil {
				t.Fatal(err)
			}
			b, err := Search(context.Background(), []*Partition{large}, q, limit)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(a, b) {
				t.Fatalf("%q limit %d: spilled %d hits, in memory %d hits", q, limit, len(a), len(b))
			}
			if q != "missing" && len(a) == 0 {
				t.Fatalf("%q: no hits", q)
			}
		}
	}
}

func TestHandleBlocks(t *testing.T) {
	for _, hs := range [][]string{
		{"0", "1", "2", "-7", "9223372036854775807", "-9223372036854775808"},
		{"007", "7"}, // not canonical: strings
		{"file.csv:10", "file.csv:200", "file.csv:3", "other:1", "", "ü"},
	} {
		var in [][]byte
		for _, h := range hs {
			in = append(in, []byte(h))
		}
		got, err := decodeHandles(appendHandles(nil, in))
		if err != nil || !slices.Equal(got, hs) {
			t.Errorf("round trip of %q = %q, %v", hs, got, err)
		}
	}
}

func TestBitPacking(t *testing.T) {
	for _, vs := range [][]uint32{{0, 0, 0}, {1, 0, 1, 1}, {5, 1 << 31, 3}, {7, 6, 5, 4, 3, 2, 1, 0, 255}} {
		w := bitWidth(vs)
		b := appendPacked(nil, vs, w)
		if len(b) != packedLen(len(vs), w) {
			t.Errorf("%v: %d bytes, want %d", vs, len(b), packedLen(len(vs), w))
		}
		got := make([]uint32, len(vs))
		if rest, err := unpack(got, append(b, 0xAA), w); err != nil || !slices.Equal(got, vs) || len(rest) != 1 {
			t.Errorf("%v: unpacked %v, rest %v, %v", vs, got, rest, err)
		}
	}
}

// TestOldFormatRejected: a format-0 file (a tar of a Bleve index) gets a
// clear error, classified as invalid input.
func TestOldFormatRejected(t *testing.T) {
	path := filepath.Join(t.TempDir(), "part_0_5.bleve")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	tw := tar.NewWriter(f)
	tw.WriteHeader(&tar.Header{Name: "index_meta.json", Mode: 0o644, Size: 2, Typeflag: tar.TypeReg})
	tw.Write([]byte("{}"))
	tw.Close()
	f.Close()
	_, err = Open(context.Background(), path)
	if !errors.Is(err, ErrOldFormat) || !errors.Is(err, retry.ErrInvalidInput) || !strings.Contains(err.Error(), "Bleve") {
		t.Fatalf("Open = %v, want a format error naming Bleve", err)
	}
}

// TestEmptyPartitionAndAddAfterFinish: a file without rows opens and matches
// nothing; a row added after Finish is an error, not a lost row.
func TestEmptyPartitionAndAddAfterFinish(t *testing.T) {
	w, err := NewWriter(t.TempDir(), element, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "empty.ft")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Finish(f); err != nil {
		t.Fatal(err)
	}
	if err := w.Add([]table.Value{text("fox")}, "late"); err == nil {
		t.Fatal("Add after Finish succeeded")
	}
	w.Close()
	p, err := Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if hits, err := Search(context.Background(), []*Partition{p}, "fox", 0); err != nil || len(hits) != 0 {
		t.Fatalf("Search = %v, %v; want no hits", hits, err)
	}
}
