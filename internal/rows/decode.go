package rows

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/indexbuild/indexbuild/internal/table"
)

// fieldError is a decoding problem in one column ("" for the whole record).
type fieldError struct {
	column string
	err    error
}

func (e *fieldError) Error() string { return fmt.Sprintf("column %q: %v", e.column, e.err) }

var errMissingColumn = errors.New("missing")

// jsonDecoder decodes JSONL lines. It keeps its map across lines so decoding
// does not allocate a fresh one per row.
type jsonDecoder struct {
	cols   []table.Column
	fields map[string]json.RawMessage
}

func newJSONDecoder(cols []table.Column) *jsonDecoder {
	return &jsonDecoder{cols: cols, fields: make(map[string]json.RawMessage, len(cols))}
}

// decode fills out (one value per wanted column) from a JSON object line.
// Every wanted column must be present; null is how a line says NULL.
func (d *jsonDecoder) decode(line []byte, out []table.Value) error {
	clear(d.fields)
	if err := json.Unmarshal(line, &d.fields); err != nil {
		return &fieldError{err: fmt.Errorf("not a JSON object: %w", err)}
	}
	for i, c := range d.cols {
		raw, ok := d.fields[c.Name]
		if !ok {
			return &fieldError{column: c.Name, err: errMissingColumn}
		}
		v, err := jsonValue(c.Type, raw)
		if err != nil {
			return &fieldError{column: c.Name, err: err}
		}
		out[i] = v
	}
	return nil
}

func jsonValue(typ string, raw json.RawMessage) (table.Value, error) {
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
		if bytes.IndexByte(raw, '\\') < 0 {
			return table.Value{Kind: table.String, Str: string(raw[1 : len(raw)-1])}, nil
		}
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return table.Value{}, err
		}
		return table.Value{Kind: table.String, Str: s}, nil
	}
	return table.Value{}, fmt.Errorf("unknown column type %q", typ)
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
