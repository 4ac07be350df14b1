package querycmd

import (
	"errors"
	"strings"
	"testing"

	"github.com/indexbuild/indexbuild/internal/query"
	"github.com/indexbuild/indexbuild/internal/retry"
)

func TestCutRange(t *testing.T) {
	for _, tc := range []struct {
		args   []string
		rest   string
		bounds *[2]string
		err    bool
	}{
		{[]string{"--element=1", "--range", "-5", "10"}, "--element=1", &[2]string{"-5", "10"}, false},
		{[]string{"-range", "a", "b", "-o", "json"}, "-o json", &[2]string{"a", "b"}, false},
		{[]string{"--eq", "x"}, "--eq x", nil, false},
		{[]string{"--range", "1"}, "", nil, true},
	} {
		rest, bounds, err := CutRange(tc.args)
		if (err != nil) != tc.err || strings.Join(rest, " ") != tc.rest || (bounds == nil) != (tc.bounds == nil) || (bounds != nil && *bounds != *tc.bounds) {
			t.Errorf("CutRange(%q) = %q %v %v", tc.args, rest, bounds, err)
		}
		if err != nil && !errors.Is(err, retry.ErrInvalidInput) {
			t.Errorf("CutRange error %v is not invalid input", err)
		}
	}
}

func TestValidate(t *testing.T) {
	r := &[2]string{"1", "2"}
	for _, tc := range []struct {
		q      query.Query
		output string
		ok     bool
	}{
		{query.Query{Element: 1, Eq: []string{"x"}}, "text", true},
		{query.Query{Element: 1, Range: r}, "json", true},
		{query.Query{Element: 1, Match: "a b"}, "text", true},
		{query.Query{Element: 1}, "text", false},
		{query.Query{Eq: []string{"x"}}, "text", false},
		{query.Query{Element: 1, Eq: []string{"x"}, Match: "y"}, "text", false},
		{query.Query{Element: 1, Eq: []string{"x"}}, "yaml", false},
	} {
		err := Validate(tc.q, tc.output)
		if (err == nil) != tc.ok || (err != nil && !errors.Is(err, retry.ErrInvalidInput)) {
			t.Errorf("Validate(%+v, %q) = %v", tc.q, tc.output, err)
		}
	}
}
