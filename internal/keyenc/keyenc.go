// Package keyenc encodes index keys so that bytewise order equals value
// order: the SSTable's own comparator then answers range queries for every
// column type, and composite keys sort column by column.
//
// Each column is one tag byte (0x00 NULL, 0x01 present, so NULL sorts first)
// followed by a self-delimiting payload:
//
//	int    8 bytes big-endian with the sign bit flipped
//	float  8 bytes: IEEE bits, all inverted for negatives, sign bit set for
//	       non-negatives; -0 is stored as +0
//	bool   1 byte 0 or 1
//	string bytes with 0x00 escaped as 0x00 0xFF, terminated by 0x00 0x01
//
// Self-delimiting payloads make an encoded prefix of columns a byte prefix of
// every key that starts with those values, which is what point lookups scan.
package keyenc

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"strings"

	"github.com/indexbuild/indexbuild/internal/table"
)

const (
	tagNull    = 0x00
	tagPresent = 0x01
	tagAbove   = 0xff
)

// AboveAll sorts above every encoded key: each starts with a tagNull or
// tagPresent byte. Callers copy it before appending to it.
func AboveAll() []byte { return []byte{tagAbove} }

// AppendValue appends the order-preserving encoding of v to dst.
func AppendValue(dst []byte, v table.Value) []byte {
	switch v.Kind {
	case table.Null:
		return append(dst, tagNull)
	case table.Int:
		return binary.BigEndian.AppendUint64(append(dst, tagPresent), uint64(v.Int)^(1<<63))
	case table.Float:
		f := v.Float
		if f == 0 {
			f = 0 // folds -0 into +0: they compare equal
		}
		bits := math.Float64bits(f)
		if bits&(1<<63) != 0 {
			bits = ^bits
		} else {
			bits |= 1 << 63
		}
		return binary.BigEndian.AppendUint64(append(dst, tagPresent), bits)
	case table.Bool:
		return append(dst, tagPresent, byte(v.Int))
	case table.String:
		dst = append(dst, tagPresent)
		s := v.Str
		for {
			i := strings.IndexByte(s, 0)
			if i < 0 {
				break
			}
			dst = append(append(dst, s[:i]...), 0x00, 0xFF)
			s = s[i+1:]
		}
		return append(append(dst, s...), 0x00, 0x01)
	}
	panic("keyenc: unknown value kind")
}

// DecodeValue decodes one value of column type typ from the front of b and
// returns it with the rest of b.
func DecodeValue(b []byte, typ string) (table.Value, []byte, error) {
	if len(b) == 0 {
		return table.Value{}, nil, errors.New("keyenc: empty key")
	}
	if b[0] == tagNull {
		return table.Value{}, b[1:], nil
	}
	b = b[1:]
	switch typ {
	case table.TypeInt:
		if len(b) < 8 {
			return table.Value{}, nil, errors.New("keyenc: short int")
		}
		return table.Value{Kind: table.Int, Int: int64(binary.BigEndian.Uint64(b) ^ (1 << 63))}, b[8:], nil
	case table.TypeFloat:
		if len(b) < 8 {
			return table.Value{}, nil, errors.New("keyenc: short float")
		}
		bits := binary.BigEndian.Uint64(b)
		if bits&(1<<63) != 0 {
			bits &^= 1 << 63
		} else {
			bits = ^bits
		}
		return table.Value{Kind: table.Float, Float: math.Float64frombits(bits)}, b[8:], nil
	case table.TypeBool:
		if len(b) < 1 {
			return table.Value{}, nil, errors.New("keyenc: short bool")
		}
		return table.BoolValue(b[0] != 0), b[1:], nil
	case table.TypeString:
		var out []byte
		for {
			i := bytes.IndexByte(b, 0x00)
			if i < 0 || i+1 >= len(b) {
				return table.Value{}, nil, errors.New("keyenc: unterminated string")
			}
			out = append(out, b[:i]...)
			switch b[i+1] {
			case 0x01:
				return table.Value{Kind: table.String, Str: string(out)}, b[i+2:], nil
			case 0xFF:
				out = append(out, 0x00)
				b = b[i+2:]
			default:
				return table.Value{}, nil, errors.New("keyenc: bad string escape")
			}
		}
	}
	return table.Value{}, nil, errors.New("keyenc: unknown column type " + typ)
}

// PrefixEnd returns the smallest key greater than every key that starts with
// prefix, or nil when there is none (prefix is all 0xFF). It turns an
// inclusive upper bound on encoded values into an exclusive key bound.
func PrefixEnd(prefix []byte) []byte {
	end := bytes.Clone(prefix)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] != 0xFF {
			end[i]++
			return end[:i+1]
		}
	}
	return nil
}
