package rows

import (
	"slices"
	"strings"
	"testing"

	"github.com/indexbuild/indexbuild/internal/table"
)

var fuzzColumns = []table.Column{
	{Name: "i", Type: table.TypeInt}, {Name: "f", Type: table.TypeFloat},
	{Name: "s", Type: table.TypeString}, {Name: "b", Type: table.TypeBool},
}

// FuzzDecodeJSONL: decoding never panics, and a decoded row re-encoded as
// JSON decodes to the same values.
func FuzzDecodeJSONL(f *testing.F) {
	for _, s := range []string{
		`{"i":1,"f":2.5,"s":"x","b":true}`,
		`{"i":null,"f":null,"s":null,"b":null}`,
		`{"i":-9223372036854775808,"f":1e308,"s":"\u00e9\"\\","b":false,"extra":[1]}`,
		`{"i":1.5,"f":"x","s":3,"b":1}`, `[1,2]`, `{"i":1}`, `{`, ``,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		d := newJSONDecoder(fuzzColumns)
		out := make([]table.Value, len(fuzzColumns))
		if err := d.decode([]byte(line), out); err != nil {
			return
		}
		var b strings.Builder
		b.WriteString("{")
		for i, c := range fuzzColumns {
			if i > 0 {
				b.WriteString(",")
			}
			b.WriteString(`"` + c.Name + `":`)
			b.WriteString(jsonText(out[i]))
		}
		b.WriteString("}")
		again := make([]table.Value, len(fuzzColumns))
		if err := d.decode([]byte(b.String()), again); err != nil {
			t.Fatalf("re-encoded %s does not decode: %v", b.String(), err)
		}
		if !slices.Equal(out, again) {
			t.Fatalf("round trip changed %v to %v", out, again)
		}
	})
}

func jsonText(v table.Value) string {
	switch v.Kind {
	case table.Null:
		return "null"
	case table.String:
		var b strings.Builder
		b.WriteByte('"')
		for _, r := range v.Str {
			switch {
			case r == '"' || r == '\\':
				b.WriteString(`\` + string(r))
			case r < 0x20:
				b.WriteString(`\u00` + "0123456789abcdef"[r>>4:r>>4+1] + "0123456789abcdef"[r&15:r&15+1])
			default:
				b.WriteRune(r)
			}
		}
		b.WriteByte('"')
		return b.String()
	}
	return v.Text()
}

// FuzzSplitCSVLine: splitting never panics, and fields quoted back into a
// line split to the same fields.
func FuzzSplitCSVLine(f *testing.F) {
	for _, s := range []string{`a,b,c`, `"a,b",c`, `"x""y",`, `,,`, `"unterminated`, `a"b`, `"a"b`, ``} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		fields, err := splitCSVLine(nil, line)
		if err != nil || strings.ContainsAny(line, "\r\n") {
			return
		}
		quoted := make([]string, len(fields))
		for i, s := range fields {
			quoted[i] = `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
		}
		again, err := splitCSVLine(nil, strings.Join(quoted, ","))
		if err != nil || !slices.Equal(again, fields) {
			t.Fatalf("re-quoted %q split to %q (%v), want %q", strings.Join(quoted, ","), again, err, fields)
		}
	})
}

// FuzzDecodeCSV: decoding a CSV line against a header never panics.
func FuzzDecodeCSV(f *testing.F) {
	for _, s := range []string{`1,2.5,x,true`, `,,,`, `x,y,z,w`, `1,2`, `"1","2","3","true"`} {
		f.Add(s)
	}
	d, err := newCSVDecoder("i,f,s,b", fuzzColumns)
	if err != nil {
		f.Fatal(err)
	}
	out := make([]table.Value, len(fuzzColumns))
	f.Fuzz(func(t *testing.T, line string) {
		if err := d.decode([]byte(line), out); err == nil && out[0].Kind != table.Null && out[0].Kind != table.Int {
			t.Fatalf("int column decoded as %v", out[0])
		}
	})
}
