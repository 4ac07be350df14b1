package table

import (
	"errors"
	"strings"
	"testing"

	"github.com/indexbuild/indexbuild/internal/retry"
)

const catalog = `{"schemaID":1,"tableID":10,"columns":[{"name":"id","type":"int"},{"name":"body","type":"string"},{"name":"score","type":"float"}],
"primaryKey":"id","indexes":[{"id":1,"name":"by_score","columns":["score"],"type":"index"},{"id":2,"name":"ft","columns":["body"],"type":"fulltext"}]}`

func TestParse(t *testing.T) {
	tests := []struct {
		name, edit, with string
		want             string // "" valid, else substring of the error
	}{
		{name: "valid"},
		{name: "unknown field", edit: `"primaryKey"`, with: `"primary_key"`, want: "unknown field"},
		{name: "unknown type", edit: `"type":"float"`, with: `"type":"decimal"`, want: "unknown type"},
		{name: "index on missing column", edit: `["score"]`, with: `["nope"]`, want: `"nope" does not exist`},
		{name: "fulltext on a number", edit: `["body"]`, with: `["score"]`, want: "not string"},
		{name: "duplicate index ID", edit: `"id":2`, with: `"id":1`, want: "unique"},
		{name: "float primary key", edit: `"primaryKey":"id"`, with: `"primaryKey":"score"`, want: "int or string"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(strings.Replace(catalog, tt.edit, tt.with, 1)))
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) || !errors.Is(err, retry.ErrInvalidInput) {
				t.Fatalf("Parse = %v, want invalid input containing %q", err, tt.want)
			}
		})
	}
}

func TestParseTextNullAndErrors(t *testing.T) {
	tests := []struct {
		typ, s string
		want   Value
		err    bool
	}{
		{TypeInt, "", Value{}, false},
		{TypeInt, "-7", Value{Kind: Int, Int: -7}, false},
		{TypeInt, "7.0", Value{}, true},
		{TypeFloat, "NaN", Value{}, true},
		{TypeFloat, "1e3", Value{Kind: Float, Float: 1000}, false},
		{TypeBool, "true", BoolValue(true), false},
		{TypeString, "x", Value{Kind: String, Str: "x"}, false},
	}
	for _, tt := range tests {
		got, err := ParseText(tt.typ, tt.s)
		if (err != nil) != tt.err || got != tt.want {
			t.Errorf("ParseText(%s, %q) = %v, %v", tt.typ, tt.s, got, err)
		}
		if err == nil && got.Text() != tt.s && tt.s != "1e3" {
			t.Errorf("Text(%v) = %q, want %q", got, got.Text(), tt.s)
		}
	}
}
