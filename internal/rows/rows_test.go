package rows

import (
	"bytes"
	"context"
	"io"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/indexbuild/indexbuild/internal/partition"
	"github.com/indexbuild/indexbuild/internal/table"
)

// memOpener serves ranges of in-memory files.
type memOpener map[string][]byte

func (m memOpener) OpenRange(_ context.Context, path string, off, n int64) (io.ReadCloser, error) {
	b := m[path][off:]
	if n >= 0 {
		b = b[:min(n, int64(len(b)))]
	}
	return io.NopCloser(bytes.NewReader(b)), nil
}

// TestSplitsReadEveryLineOnce cuts files at every possible pair of points
// and checks that the splits together yield each line exactly once.
func TestSplitsReadEveryLineOnce(t *testing.T) {
	tests := []struct{ name, data string }{
		{"plain", "a\nbb\nccc\n"},
		{"no trailing newline", "a\nbb\nccc"},
		{"crlf and empty lines", "a\r\n\r\nbb\r\n\n"},
		{"one line", "only"},
		{"empty", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := nonEmptyLines(tt.data)
			n := int64(len(tt.data))
			for cut1 := int64(0); cut1 <= n; cut1++ {
				for cut2 := cut1; cut2 <= n; cut2++ {
					var got []string
					for _, r := range [][2]int64{{0, cut1}, {cut1, cut2}, {cut2, n}} {
						got = append(got, readLines(t, tt.data, r[0], r[1])...)
					}
					if !slices.Equal(got, want) {
						t.Fatalf("cuts %d,%d: got %q, want %q", cut1, cut2, got, want)
					}
				}
			}
		})
	}
}

func nonEmptyLines(s string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSuffix(l, "\r"); l != "" {
			out = append(out, l)
		}
	}
	return out
}

func readLines(t *testing.T, data string, start, end int64) []string {
	r := strings.NewReader(data[max(start-1, 0):])
	lr, err := newLineReader(r, start, end)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for {
		line, _, err := lr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		if len(line) > 0 {
			out = append(out, string(line))
		}
	}
}

// TestScanCSVSplits scans a CSV file in random splits: every split needs
// the header, only split 0 may skip it as a row.
func TestScanCSVSplits(t *testing.T) {
	var b strings.Builder
	b.WriteString("name,n\n")
	for i := range 300 {
		b.WriteString(`"x, ""quoted""",` + strings.Repeat("7", i%5+1) + "\n")
	}
	files := memOpener{"t.csv": []byte(b.String())}
	sc := &Scanner{Open: files, Columns: []table.Column{{Name: "n", Type: table.TypeInt}, {Name: "name", Type: table.TypeString}}}
	f := File{Path: "t.csv", Size: int64(b.Len()), Format: CSV}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 20 {
		parts := 1 + rng.IntN(12)
		var rowsSeen int
		for p := range parts {
			for _, sp := range partition.Plan([]partition.Source{{Path: f.Path, Size: f.Size}}, p, parts) {
				err := sc.Scan(context.Background(), f, sp, func(r *Record) error {
					if r.Values[1].Str != `x, "quoted"` || r.Values[0].Kind != table.Int {
						t.Fatalf("bad row %+v", r.Values)
					}
					rowsSeen++
					return nil
				})
				if err != nil {
					t.Fatal(err)
				}
			}
		}
		if rowsSeen != 300 {
			t.Fatalf("%d partitions: %d rows, want 300", parts, rowsSeen)
		}
	}
}

func TestClassify(t *testing.T) {
	tests := []struct {
		path   string
		forced Format
		want   File
		ok     bool
		err    bool
	}{
		{path: "a.jsonl", want: File{Path: "a.jsonl", Format: JSONL}, ok: true},
		{path: "d/a.csv.gz", want: File{Path: "d/a.csv.gz", Format: CSV, Gzip: true}, ok: true},
		{path: "a.parquet", want: File{Path: "a.parquet", Format: Parquet}, ok: true},
		{path: "a.data", forced: CSV, want: File{Path: "a.data", Format: CSV}, ok: true},
		{path: "_table.json"},
		{path: "d/_SUCCESS"},
		{path: ".hidden.csv"},
		// Any path component, not only the last: other tools' leftovers.
		{path: "_temporary/0/part-00000.jsonl"},
		{path: "_delta_log/00000.json"},
		{path: ".spark-staging/part-1.csv"},
		{path: "year=2020/.part-1.csv.crc"},
		{path: "year=2020/_tmp/a.jsonl"},
		{path: "year=2020/a_b.jsonl", want: File{Path: "year=2020/a_b.jsonl", Format: JSONL}, ok: true},
		{path: "README.md", err: true},
		{path: "a.parquet.gz", err: true},
	}
	for _, tt := range tests {
		got, ok, err := Classify(tt.path, 0, tt.forced)
		if (err != nil) != tt.err || ok != tt.ok || got != tt.want {
			t.Errorf("Classify(%q, %q) = %+v, %v, %v", tt.path, tt.forced, got, ok, err)
		}
	}
}
