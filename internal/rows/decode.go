package rows

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/indexbuild/indexbuild/internal/table"
)

// fieldError is a decoding problem in one column ("" for the whole record).
type fieldError struct {
	column string
	err    error
}

func (e *fieldError) Error() string { return fmt.Sprintf("column %q: %v", e.column, e.err) }

var errMissingColumn = errors.New("missing")

// jsonDecoder decodes JSONL lines: each an object whose top-level members
// are the columns. It finds members itself (after json.Valid) instead of
// unmarshalling into a map, which both allocates per line and keeps the
// last of two members with the same key without a word.
type jsonDecoder struct {
	cols  []table.Column
	index map[string]int // column name -> position in cols
	seen  []bool         // per wanted column, in the current line
	keys  [][]byte       // the current line's member keys, for duplicates
}

func newJSONDecoder(cols []table.Column) *jsonDecoder {
	d := &jsonDecoder{cols: cols, index: make(map[string]int, len(cols)), seen: make([]bool, len(cols))}
	for i, c := range cols {
		d.index[c.Name] = i
	}
	return d
}

// decode fills out (one value per wanted column) from a JSON object line.
// Every wanted column must be present; null is how a line says NULL. A key
// that appears twice among the object's members is an error.
func (d *jsonDecoder) decode(line []byte, out []table.Value) error {
	if !json.Valid(line) {
		var v any
		err := json.Unmarshal(line, &v) // only for its message
		return &fieldError{err: fmt.Errorf("not a JSON object: %w", err)}
	}
	i := skipSpace(line, 0)
	if line[i] != '{' {
		return &fieldError{err: fmt.Errorf("not a JSON object: a line starts with %q", line[i])}
	}
	clear(d.seen)
	d.keys = d.keys[:0]
	i = skipSpace(line, i+1)
	for line[i] != '}' {
		keyEnd := skipString(line, i)
		key := line[i+1 : keyEnd-1]
		if bytes.IndexByte(key, '\\') >= 0 {
			var k string
			_ = json.Unmarshal(line[i:keyEnd], &k) // valid JSON: cannot fail
			key = []byte(k)
		}
		if d.repeated(key) {
			return &fieldError{column: string(key), err: fmt.Errorf("key %q appears twice in the object", key)}
		}
		d.keys = append(d.keys, key)
		i = skipSpace(line, skipSpace(line, keyEnd)+1) // past ':'
		valEnd := skipValue(line, i)
		if c, ok := d.index[string(key)]; ok {
			v, err := jsonValue(d.cols[c].Type, line[i:valEnd])
			if err != nil {
				return &fieldError{column: d.cols[c].Name, err: err}
			}
			out[c], d.seen[c] = v, true
		}
		i = skipSpace(line, valEnd)
		if line[i] == ',' {
			i = skipSpace(line, i+1)
		}
	}
	for c, ok := range d.seen {
		if !ok {
			return &fieldError{column: d.cols[c].Name, err: errMissingColumn}
		}
	}
	return nil
}

// repeated reports whether key is among the line's keys so far. Objects
// have a handful of members: a linear scan beats hashing them.
func (d *jsonDecoder) repeated(key []byte) bool {
	for _, k := range d.keys {
		if bytes.Equal(k, key) {
			return true
		}
	}
	return false
}

// The scanners below walk JSON that json.Valid accepted, so they never
// check syntax. Each returns the index just past what it skipped.

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// skipString skips the string starting at b[i] == '"'.
func skipString(b []byte, i int) int {
	for i++; ; i++ {
		switch b[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
}

// skipValue skips the value starting at b[i].
func skipValue(b []byte, i int) int {
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		depth := 0
		for ; ; i++ {
			switch b[i] {
			case '"':
				i = skipString(b, i) - 1
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return i + 1
				}
			}
		}
	}
	for i < len(b) && b[i] != ',' && b[i] != '}' && b[i] != ']' && b[i] != ' ' && b[i] != '\t' && b[i] != '\n' && b[i] != '\r' {
		i++
	}
	return i
}

func jsonValue(typ string, raw []byte) (table.Value, error) {
	if string(raw) == "null" {
		return table.Value{}, nil
	}
	switch typ {
	case table.TypeInt:
		i, err := strconv.ParseInt(string(raw), 10, 64)
		if err != nil {
			return table.Value{}, fmt.Errorf("want an integer, got %.40s", raw)
		}
		return table.Value{Kind: table.Int, Int: i}, nil
	case table.TypeFloat:
		if len(raw) == 0 || raw[0] == '"' || raw[0] == 't' || raw[0] == 'f' || raw[0] == '[' || raw[0] == '{' {
			return table.Value{}, fmt.Errorf("want a number, got %.40s", raw)
		}
		f, err := strconv.ParseFloat(string(raw), 64)
		if err != nil {
			return table.Value{}, fmt.Errorf("want a number, got %.40s", raw)
		}
		return table.FloatValue(f)
	case table.TypeBool:
		switch string(raw) {
		case "true":
			return table.BoolValue(true), nil
		case "false":
			return table.BoolValue(false), nil
		}
		return table.Value{}, fmt.Errorf("want true or false, got %.40s", raw)
	case table.TypeString:
		if len(raw) < 2 || raw[0] != '"' {
			return table.Value{}, fmt.Errorf("want a string, got %.40s", raw)
		}
		s, err := unquoteJSON(raw[1 : len(raw)-1])
		if err != nil {
			return table.Value{}, err
		}
		return table.StringValue(s)
	}
	return table.Value{}, fmt.Errorf("unknown column type %q", typ)
}

// unquoteJSON decodes the inside of a valid JSON string. Unlike
// encoding/json it refuses what is not UTF-8 instead of replacing it with
// U+FFFD: raw invalid bytes (with or without escapes elsewhere in the
// string) and \u escapes of unpaired surrogates.
func unquoteJSON(s []byte) (string, error) {
	if bytes.IndexByte(s, '\\') < 0 {
		return string(s), nil // table.StringValue checks the UTF-8
	}
	if !utf8.Valid(s) {
		return "", table.InvalidUTF8Error(string(s))
	}
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' {
			out = append(out, s[i])
			continue
		}
		i++
		switch s[i] {
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			r := hex4(s[i+1 : i+5])
			i += 4
			if utf16.IsSurrogate(r) {
				var lo rune = -1
				if i+6 < len(s) && s[i+1] == '\\' && s[i+2] == 'u' {
					lo = hex4(s[i+3 : i+7])
				}
				r = utf16.DecodeRune(r, lo)
				if r == utf8.RuneError {
					return "", fmt.Errorf("%w: %s is an unpaired surrogate", table.ErrInvalidUTF8, s[i-5:i+1])
				}
				i += 6
			}
			out = utf8.AppendRune(out, r)
		default: // '"', '\\', '/'
			out = append(out, s[i])
		}
	}
	return string(out), nil
}

func hex4(b []byte) rune {
	var r rune
	for _, c := range b {
		r <<= 4
		switch {
		case c >= '0' && c <= '9':
			r |= rune(c - '0')
		case c >= 'a' && c <= 'f':
			r |= rune(c - 'a' + 10)
		default:
			r |= rune(c - 'A' + 10)
		}
	}
	return r
}

// csvDecoder decodes CSV lines against the file's header.
type csvDecoder struct {
	cols   []table.Column
	pos    []int // header position of each wanted column
	fields []string
}

func newCSVDecoder(header string, cols []table.Column) (*csvDecoder, error) {
	names, err := splitCSVLine(nil, header)
	if err != nil {
		return nil, &fieldError{err: fmt.Errorf("header: %w", err)}
	}
	d := &csvDecoder{cols: cols, pos: make([]int, len(cols))}
	for i, c := range cols {
		d.pos[i] = -1
		for j, n := range names {
			if n == c.Name {
				d.pos[i] = j
			}
		}
		if d.pos[i] < 0 {
			return nil, &fieldError{column: c.Name, err: errors.New("missing from the header")}
		}
	}
	return d, nil
}

// decode fills out from one CSV line. An empty field is NULL.
func (d *csvDecoder) decode(line []byte, out []table.Value) error {
	var err error
	d.fields, err = splitCSVLine(d.fields[:0], string(line))
	if err != nil {
		return &fieldError{err: err}
	}
	for i, c := range d.cols {
		if d.pos[i] >= len(d.fields) {
			return &fieldError{column: c.Name, err: fmt.Errorf("%w: record has %d fields", errMissingColumn, len(d.fields))}
		}
		v, err := table.ParseText(c.Type, d.fields[d.pos[i]])
		if err != nil {
			return &fieldError{column: c.Name, err: err}
		}
		out[i] = v
	}
	return nil
}
