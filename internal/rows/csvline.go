package rows

import (
	"errors"
	"strings"
)

var errCSVQuote = errors.New("unterminated or misplaced quote (records must be one line: quoted newlines are not supported)")

// splitCSVLine splits one CSV record (RFC 4180 quoting, comma separator)
// into fields, appending to dst. Records must fit on one line: that is what
// lets a worker start reading a CSV file at any newline, so large files split
// by byte range like JSONL does.
func splitCSVLine(dst []string, line string) ([]string, error) {
	for {
		if !strings.HasPrefix(line, `"`) {
			i := strings.IndexByte(line, ',')
			if i < 0 {
				if strings.IndexByte(line, '"') >= 0 {
					return dst, errCSVQuote
				}
				return append(dst, line), nil
			}
			if strings.IndexByte(line[:i], '"') >= 0 {
				return dst, errCSVQuote
			}
			dst = append(dst, line[:i])
			line = line[i+1:]
			continue
		}
		// Quoted field: "" is an escaped quote, a lone " ends the field.
		var b strings.Builder
		rest := line[1:]
		for {
			i := strings.IndexByte(rest, '"')
			if i < 0 {
				return dst, errCSVQuote
			}
			b.WriteString(rest[:i])
			if strings.HasPrefix(rest[i+1:], `"`) {
				b.WriteByte('"')
				rest = rest[i+2:]
				continue
			}
			rest = rest[i+1:]
			break
		}
		dst = append(dst, b.String())
		switch {
		case rest == "":
			return dst, nil
		case rest[0] == ',':
			line = rest[1:]
		default:
			return dst, errCSVQuote
		}
	}
}
