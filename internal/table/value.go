package table

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"unicode/utf8"
)

// Kind says which field of a Value is set.
type Kind uint8

// Value kinds. Null is the zero value so a missing column decodes as NULL.
const (
	Null Kind = iota
	Int
	Float
	String
	Bool
)

// Value is one typed cell. It is a plain struct, not an interface, so rows
// decode without an allocation per cell.
type Value struct {
	Kind  Kind
	Int   int64 // Int, and Bool as 0 or 1
	Float float64
	Str   string
}

// Text renders the value the way CSV and the query command's flags spell it.
func (v Value) Text() string {
	switch v.Kind {
	case Int:
		return strconv.FormatInt(v.Int, 10)
	case Float:
		return strconv.FormatFloat(v.Float, 'g', -1, 64)
	case String:
		return v.Str
	case Bool:
		return strconv.FormatBool(v.Int != 0)
	default:
		return ""
	}
}

// ParseText reads the textual form of a value of column type typ. The empty
// string is NULL: CSV has no other way to say it (documented in
// docs/table-format.md).
func ParseText(typ, s string) (Value, error) {
	if s == "" {
		return Value{}, nil
	}
	switch typ {
	case TypeInt:
		i, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return Value{}, fmt.Errorf("not an int: %q", s)
		}
		return Value{Kind: Int, Int: i}, nil
	case TypeFloat:
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return Value{}, fmt.Errorf("not a float: %q", s)
		}
		return FloatValue(f)
	case TypeBool:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return Value{}, fmt.Errorf("not a bool: %q", s)
		}
		return BoolValue(b), nil
	case TypeString:
		return StringValue(s)
	}
	return Value{}, fmt.Errorf("unknown column type %q", typ)
}

// ErrInvalidUTF8 marks a string value that is not valid UTF-8.
var ErrInvalidUTF8 = errors.New("invalid UTF-8")

// StringValue makes a String value of valid UTF-8 only: stored raw, an
// invalid sequence would sort and tokenize differently from what any
// reader of the table sees, and replaced by U+FFFD it would silently merge
// distinct values. The error names the byte offset of the first bad byte.
func StringValue(s string) (Value, error) {
	if !utf8.ValidString(s) {
		return Value{}, InvalidUTF8Error(s)
	}
	return Value{Kind: String, Str: s}, nil
}

// InvalidUTF8Error describes where s stops being valid UTF-8.
func InvalidUTF8Error(s string) error {
	at := 0
	for at < len(s) {
		r, n := utf8.DecodeRuneInString(s[at:])
		if r == utf8.RuneError && n <= 1 {
			break
		}
		at += n
	}
	return fmt.Errorf("%w at byte %d of the value (0x%x)", ErrInvalidUTF8, at, s[at:min(at+4, len(s))])
}

// FloatValue rejects NaN and infinities, which have no place in a sorted
// index that brute-force comparison could agree with.
func FloatValue(f float64) (Value, error) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return Value{}, fmt.Errorf("float %v is not finite", f)
	}
	return Value{Kind: Float, Float: f}, nil
}

// BoolValue makes a Bool value.
func BoolValue(b bool) Value {
	if b {
		return Value{Kind: Bool, Int: 1}
	}
	return Value{Kind: Bool}
}
