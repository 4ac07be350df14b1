package rows

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
)

// maxLineBytes bounds one record so a file without newlines cannot make a
// worker buffer it whole.
const maxLineBytes = 64 << 20

var utf8BOM = []byte("\xef\xbb\xbf")

var errLongLine = fmt.Errorf("line longer than %d bytes", maxLineBytes)

// lineReader yields the lines of a byte range [start, end) of a text file
// with the usual split rule: a line belongs to the split holding its first
// byte. The stream handed to it must begin at start-1 when start > 0 (to see
// whether a line begins exactly at start) and may run past end.
type lineReader struct {
	r    *bufio.Reader
	pos  int64 // file offset of the next unread byte
	end  int64
	long []byte // accumulates lines longer than the bufio buffer
}

func newLineReader(r io.Reader, start, end int64) (*lineReader, error) {
	lr := &lineReader{r: bufio.NewReaderSize(r, 256<<10), pos: start, end: end}
	if start > 0 {
		// Skip the tail of the line that began in the previous split.
		lr.pos = start - 1
		if _, _, err := lr.next(); err != nil && err != io.EOF {
			return nil, err
		}
	}
	return lr, nil
}

// Next returns the next line owned by this split without its line ending,
// and the file offset where it starts. It returns io.EOF after the last one.
// The line is only valid until the next call.
func (lr *lineReader) Next() ([]byte, int64, error) {
	if lr.pos >= lr.end {
		return nil, 0, io.EOF
	}
	return lr.next()
}

func (lr *lineReader) next() ([]byte, int64, error) {
	start := lr.pos
	line, err := lr.r.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		lr.long = append(lr.long[:0], line...)
		for errors.Is(err, bufio.ErrBufferFull) {
			if len(lr.long) > maxLineBytes {
				return nil, start, fmt.Errorf("at byte %d: %w", start, errLongLine)
			}
			line, err = lr.r.ReadSlice('\n')
			lr.long = append(lr.long, line...)
		}
		line = lr.long
	}
	lr.pos += int64(len(line))
	if err != nil && !(err == io.EOF && len(line) > 0) {
		return nil, start, err
	}
	line = bytes.TrimSuffix(line, []byte("\n"))
	line = bytes.TrimSuffix(line, []byte("\r"))
	if start == 0 {
		// A byte-order mark (spreadsheets save CSV with one) is not data.
		line = bytes.TrimPrefix(line, utf8BOM)
	}
	return line, start, nil
}
