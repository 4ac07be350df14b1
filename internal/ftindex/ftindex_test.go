package ftindex

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"slices"
	"testing"

	"github.com/indexbuild/indexbuild/internal/table"
)

var docs = []string{
	"the quick brown fox", "a lazy dog sleeps", "Quick thinking, quick acting",
	"Über schnelle Füchse", "brown bread and brown butter", "", "fox and dog and fox",
	"東京 タワー", "dog", "nothing to see",
}

// build indexes docs split round-robin into n partitions.
func build(t *testing.T, n int) []*Partition {
	t.Helper()
	var out []*Partition
	for p := range n {
		w, err := NewWriter(t.TempDir(), table.Element{ID: 1, Name: "ft", Type: "fulltext", Columns: []table.Column{{Name: "body", Type: table.TypeString}}})
		if err != nil {
			t.Fatal(err)
		}
		for i := p; i < len(docs); i += n {
			v := table.Value{Kind: table.String, Str: docs[i]}
			if docs[i] == "" {
				v = table.Value{}
			}
			if err := w.Add([]table.Value{v}, fmt.Sprintf("row%d", i)); err != nil {
				t.Fatal(err)
			}
		}
		var buf bytes.Buffer
		if err := w.Finish(&buf); err != nil {
			t.Fatal(err)
		}
		idx, err := Unpack(&buf, t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { idx.Close() })
		out = append(out, idx)
	}
	return out
}

func TestSearchScoresIndependentOfPartitioning(t *testing.T) {
	one, three := build(t, 1), build(t, 3)
	for _, q := range []string{"fox", "brown dog", "QUICK", "füchse", "タワー", "absent"} {
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
