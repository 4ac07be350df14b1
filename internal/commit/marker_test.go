package commit_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/indexbuild/indexbuild/internal/commit"
	"github.com/indexbuild/indexbuild/internal/staging"
)

func validMarker() commit.Marker {
	sha := strings.Repeat("ab", 32)
	return commit.Marker{
		FormatVersion: commit.FormatVersion, Task: task(), Partitions: 2, Rows: 9, Bytes: 30,
		CommittedAt: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
		Files: []staging.File{
			{Path: "part_0_3.sst", Element: 3, Size: 10, SHA256: sha},
			{Path: "part_1_4.sst", Element: 4, Size: 20, SHA256: sha},
		},
	}
}

// rangedMarker is validMarker in the merged layout: element 3 in two key
// ranges, ["a1", "b9"] and ["c1", "d9"].
func rangedMarker() commit.Marker {
	m := validMarker()
	m.Files[1].Path, m.Files[1].Element = "part_1_3.sst", 3
	m.Files[0].KeyRange = &staging.KeyRange{First: []byte("a1"), Last: []byte("b9")}
	m.Files[1].KeyRange = &staging.KeyRange{First: []byte("c1"), Last: []byte("d9")}
	return m
}

func TestMarkerProblems(t *testing.T) {
	tests := []struct {
		name   string
		marker func() commit.Marker // validMarker when nil
		change func(m *commit.Marker)
		want   string // "" for a valid marker
	}{
		{"valid", nil, func(*commit.Marker) {}, ""},
		{"staged path", nil, func(m *commit.Marker) { m.Files[0].Path = "staging/part_0_3.sst" }, "under staging/"},
		{"not a final name", nil, func(m *commit.Marker) { m.Files[0].Path = "x/part_0_3.sst" }, "not a committed file name"},
		{"element mismatch", nil, func(m *commit.Marker) { m.Files[0].Element = 4 }, "listed as element 4"},
		{"foreign element", nil, func(m *commit.Marker) { m.Files[0].Path, m.Files[0].Element = "part_0_9.sst", 9 }, "not one of the task's elements"},
		{"sparse partitions", nil, func(m *commit.Marker) { m.Files[1].Path = "part_2_4.sst" }, "partition 2 listed"},
		{"partition count", nil, func(m *commit.Marker) { m.Partitions = 3 }, "cover 2 partitions"},
		{"bytes", nil, func(m *commit.Marker) { m.Bytes = 31 }, "bytes 31"},
		{"duplicate", nil, func(m *commit.Marker) { m.Files[1] = m.Files[0]; m.Bytes = 20 }, "listed twice"},
		{"no time", nil, func(m *commit.Marker) { m.CommittedAt = time.Time{} }, "committedAt"},
		{"version", nil, func(m *commit.Marker) { m.FormatVersion = 2 }, "formatVersion 2"},

		{"key ranges", rangedMarker, func(*commit.Marker) {}, ""},
		{"key ranges listed out of order, ordered by n", rangedMarker, func(m *commit.Marker) { m.Files[0], m.Files[1] = m.Files[1], m.Files[0] }, ""},
		{"one key in a file", rangedMarker, func(m *commit.Marker) { m.Files[0].KeyRange.Last = []byte("a1") }, ""},
		{"overlapping key ranges", rangedMarker, func(m *commit.Marker) { m.Files[1].KeyRange.First = []byte("b9") },
			`files "part_0_3.sst" and "part_1_3.sst" of element 3: key ranges overlap or are out of order`},
		{"key ranges out of order", rangedMarker, func(m *commit.Marker) {
			m.Files[0].KeyRange, m.Files[1].KeyRange = m.Files[1].KeyRange, m.Files[0].KeyRange
		}, "key ranges overlap or are out of order"},
		{"key range first above last", rangedMarker, func(m *commit.Marker) { m.Files[0].KeyRange.First = []byte("b99") },
			`file "part_0_3.sst": key range first 623939 is above last 6239`},
		{"files with and without key ranges", rangedMarker, func(m *commit.Marker) { m.Files[1].KeyRange = nil },
			"element 3 has files with and without key ranges"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := validMarker()
			if tt.marker != nil {
				m = tt.marker()
			}
			tt.change(&m)
			p := strings.Join(m.Problems(), "; ")
			if tt.want == "" {
				if p != "" {
					t.Fatalf("Problems = %s", p)
				}
				return
			}
			if !strings.Contains(p, tt.want) {
				t.Fatalf("Problems = %q, want %q", p, tt.want)
			}
			data, err := commit.EncodeMarker(m)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := commit.DecodeMarker(data); !errors.Is(err, commit.ErrBadMarker) {
				t.Fatalf("DecodeMarker = %v, want ErrBadMarker", err)
			}
		})
	}
}

// FuzzDecodeMarker: the decoder never panics, what it accepts has no
// problems and survives an encode/decode round trip, and it never accepts a
// staging/ path.
func FuzzDecodeMarker(f *testing.F) {
	data, err := commit.EncodeMarker(validMarker())
	if err != nil {
		f.Fatal(err)
	}
	f.Add(data)
	f.Add([]byte(strings.Replace(string(data), `"part_0_3.sst"`, `"staging/part_0_3.sst"`, 1)))
	f.Add([]byte(`{"formatVersion":1,"task":{"jobID":1,"schemaID":1,"tableID":1,"elementType":"fulltext","elementIDs":[1]},"partitions":0,"files":[],"rows":0,"bytes":0,"committedAt":"2026-01-01T00:00:00Z"}`))
	if data, err = commit.EncodeMarker(rangedMarker()); err != nil {
		f.Fatal(err)
	}
	f.Add(data)
	f.Add([]byte(`{"formatVersion":1} {}`))
	f.Add([]byte(`{"files":null,"unknown":1}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := commit.DecodeMarker(data)
		if err != nil {
			return
		}
		if p := m.Problems(); len(p) > 0 {
			t.Fatalf("accepted a marker with problems: %v", p)
		}
		for _, f := range m.Files {
			if strings.HasPrefix(f.Path, staging.Prefix) {
				t.Fatalf("accepted staged path %s", f.Path)
			}
		}
		enc, err := commit.EncodeMarker(m)
		if err != nil {
			t.Fatal(err)
		}
		again, err := commit.DecodeMarker(enc)
		if err != nil {
			t.Fatalf("re-decode: %v", err)
		}
		if !reflect.DeepEqual(m, again) {
			t.Fatalf("round trip changed the marker:\n%+v\n%+v", m, again)
		}
	})
}
