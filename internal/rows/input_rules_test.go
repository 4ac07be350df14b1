package rows

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/indexbuild/indexbuild/internal/partition"
	"github.com/indexbuild/indexbuild/internal/retry"
	"github.com/indexbuild/indexbuild/internal/table"
)

var ruleColumns = []table.Column{{Name: "id", Type: table.TypeInt}, {Name: "s", Type: table.TypeString}}

// scanFile scans all of one in-memory file and returns its rows or the
// first error.
func scanFile(t *testing.T, name, data string) ([][]table.Value, error) {
	t.Helper()
	f, ok, err := Classify(name, int64(len(data)), "")
	if err != nil || !ok {
		t.Fatalf("Classify(%s): %v %v", name, ok, err)
	}
	sc := &Scanner{Open: memOpener{name: []byte(data)}, Columns: ruleColumns}
	sp := partition.Split{Path: name, End: f.Size}
	if f.Gzip {
		sp = partition.Split{Path: name, End: 1, Pieces: true}
	}
	var out [][]table.Value
	err = sc.Scan(context.Background(), f, sp, func(r *Record) error {
		out = append(out, append([]table.Value(nil), r.Values...))
		return nil
	})
	return out, err
}

func gz(s string) string {
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	w.Write([]byte(s))
	w.Close()
	return b.String()
}

// TestByteOrderMarkSkipped: a UTF-8 BOM at the start of a CSV (as
// spreadsheets save them) or JSONL file is not part of the first line. It
// used to make the CSV header's first name "\ufeffid": `line 1 column "id":
// missing from the header`.
func TestByteOrderMarkSkipped(t *testing.T) {
	const bom = "\xef\xbb\xbf"
	for _, tt := range []struct{ name, data string }{
		{"t.csv", bom + "id,s\n1,a\n2,b\n"},
		{"t.jsonl", bom + `{"id":1,"s":"a"}` + "\n" + `{"id":2,"s":"b"}` + "\n"},
		{"t.csv.gz", gz(bom + "id,s\n1,a\n2,b\n")},
		{"t.jsonl.gz", gz(bom + `{"id":1,"s":"a"}` + "\n" + `{"id":2,"s":"b"}` + "\n")},
	} {
		got, err := scanFile(t, tt.name, tt.data)
		if err != nil || len(got) != 2 || got[0][0].Int != 1 || got[1][1].Str != "b" {
			t.Errorf("%s: %v, %v", tt.name, got, err)
		}
	}
	// Only at the start of the file: elsewhere it is data, and a string
	// holding it is valid UTF-8.
	got, err := scanFile(t, "t.csv", "id,s\n1,"+bom+"a\n")
	if err != nil || got[0][1].Str != bom+"a" {
		t.Errorf("BOM inside a field: %v, %v", got, err)
	}
}

// TestBadInputNamed: duplicate JSON keys and invalid UTF-8 in a decoded
// string column are invalid input naming file, line and column, whatever
// the escapes. `{"year":1999,"year":2001}` used to index 2001 silently;
// invalid UTF-8 was stored raw, or as U+FFFD when another escape in the
// same string sent it through encoding/json.
func TestBadInputNamed(t *testing.T) {
	good := `{"id":1,"s":"ok"}` + "\n"
	tests := []struct {
		name, file, data string
		line             int64
		column           string
		utf8             bool // the error is ErrInvalidUTF8
	}{
		{"duplicate wanted key", "t.jsonl", good + `{"id":2,"s":"a","s":"b"}` + "\n", 2, "s", false},
		{"duplicate key of another column", "t.jsonl", good + good + `{"id":3,"s":"a","x":1,"x":2}` + "\n", 3, "x", false},
		{"duplicate key spelled with an escape", "t.jsonl", `{"id":1,"s":"a","\u0073":"b"}` + "\n", 1, "s", false},
		{"raw invalid UTF-8", "t.jsonl", good + "{\"id\":2,\"s\":\"a\xffb\"}\n", 2, "s", true},
		{"raw invalid UTF-8 next to an escape", "t.jsonl", "{\"id\":2,\"s\":\"a\\n\xc3\"}\n", 1, "s", true},
		{"unpaired high surrogate", "t.jsonl", good + `{"id":2,"s":"x\ud800y"}` + "\n", 2, "s", true},
		{"unpaired low surrogate", "t.jsonl", `{"id":2,"s":"\udc00"}` + "\n", 1, "s", true},
		{"two high surrogates", "t.jsonl", `{"id":2,"s":"\ud800\ud800"}` + "\n", 1, "s", true},
		{"CSV invalid UTF-8", "t.csv", "id,s\n1,a\n2,\"b\xfe\"\n", 3, "s", true},
		{"gzip JSONL invalid UTF-8", "t.jsonl.gz", gz(good + "{\"id\":2,\"s\":\"\xed\xa0\x80\"}\n"), 2, "s", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := scanFile(t, tt.file, tt.data)
			var inv *retry.InvalidInputError
			if !errors.As(err, &inv) || retry.ExitCode(err) != retry.ExitInvalidInput {
				t.Fatalf("err = %v, want invalid input", err)
			}
			if inv.File != tt.file || inv.Line != tt.line || inv.Column != tt.column {
				t.Errorf("at %s line %d column %q, want %s line %d column %q (%v)", inv.File, inv.Line, inv.Column, tt.file, tt.line, tt.column, err)
			}
			if errors.Is(err, table.ErrInvalidUTF8) != tt.utf8 {
				t.Errorf("invalid UTF-8: %v, want %v (%v)", errors.Is(err, table.ErrInvalidUTF8), tt.utf8, err)
			}
		})
	}
}

// TestJSONStringsDecodeLikeEncodingJSON: every escape decodes as
// encoding/json decodes it when the text is valid.
func TestJSONStringsDecodeLikeEncodingJSON(t *testing.T) {
	for _, s := range []string{`plain`, `\"\\\/\b\f\n\r\t`, `\u00e9\u4e2d`, `\ud83d\ude00 emoji`, `tab\tend`, `é 中 😀`, `\uFFFD`} {
		line := `{"id":1,"s":"` + s + `"}`
		var want struct{ S string }
		if err := json.Unmarshal([]byte(line), &want); err != nil {
			t.Fatal(err)
		}
		got, err := scanFile(t, "t.jsonl", line+"\n")
		if err != nil || got[0][1].Str != want.S {
			t.Errorf("%s: %v, %v; encoding/json %q", s, got, err, want.S)
		}
	}
}

// FuzzJSONLikeEncodingJSON: where encoding/json decodes a line of valid
// UTF-8 into an object without repeated keys, the decoder agrees with it on
// every column; where it fails, so does the decoder.
func FuzzJSONLikeEncodingJSON(f *testing.F) {
	for _, s := range []string{`{"id":1,"s":"x"}`, `{"s":"\u00e9","id":-3,"o":{"s":1}}`, `{"id":1,"s":"a","s":"b"}`, ` { "id" : 2 , "s" : null } `, `{"id":1,"s":"\ud800"}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		d := newJSONDecoder(ruleColumns)
		out := make([]table.Value, len(ruleColumns))
		err := d.decode([]byte(line), out)
		var ref map[string]json.RawMessage
		refErr := json.Unmarshal([]byte(line), &ref)
		if refErr != nil {
			if err == nil {
				t.Fatalf("%q decoded, encoding/json: %v", line, refErr)
			}
			return
		}
		if err != nil || !utf8.ValidString(line) || strings.Contains(line, `\u`) {
			return // refusals of what encoding/json accepts are tested above
		}
		for i, c := range ruleColumns {
			var want any
			json.Unmarshal(ref[c.Name], &want)
			switch v := want.(type) {
			case string:
				if out[i].Str != v {
					t.Fatalf("%q column %s: %q, encoding/json %q", line, c.Name, out[i].Str, v)
				}
			case float64:
				if out[i].Int != int64(v) {
					t.Fatalf("%q column %s: %v, encoding/json %v", line, c.Name, out[i], v)
				}
			}
		}
	})
}
