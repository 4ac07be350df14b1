package rows

import (
	"compress/flate"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"sync/atomic"

	"github.com/indexbuild/indexbuild/internal/partition"
	"github.com/indexbuild/indexbuild/internal/retry"
	"github.com/indexbuild/indexbuild/internal/table"
)

// Opener reads byte ranges of objects; length < 0 reads to the end.
type Opener interface {
	OpenRange(ctx context.Context, path string, offset, length int64) (io.ReadCloser, error)
}

// Record is one decoded row. Values has one entry per wanted column, in the
// order the scan was asked for; it and the record are reused between calls.
type Record struct {
	Values []table.Value
	File   string
	// Pos locates the row in its file: the byte offset where its line starts
	// (JSONL, CSV; in the decompressed stream for gzip) or its 0-based row
	// number (Parquet). It is stable across runs and partitionings.
	Pos int64
}

// Scanner reads splits of data files.
type Scanner struct {
	Open Opener
	// Columns are the columns to decode, by name from the catalog.
	Columns []table.Column
	// Progress, when set, is advanced by the bytes (or piece weights) read.
	Progress *atomic.Int64
}

// Pieces returns the planner's view of f: splittable (nil pieces) for plain
// text, one piece for gzip, one piece per row group for Parquet.
func (s *Scanner) Pieces(ctx context.Context, f File) ([]int64, error) {
	switch {
	case f.Format == Parquet:
		return s.parquetPieces(ctx, f)
	case f.Gzip:
		return []int64{f.Size}, nil
	}
	return nil, nil
}

// Scan calls fn for every row of split sp of file f. Bad data comes back as
// *retry.InvalidInputError naming the file, line (row group for Parquet) and
// column.
func (s *Scanner) Scan(ctx context.Context, f File, sp partition.Split, fn func(*Record) error) error {
	if f.Format == Parquet {
		return s.scanParquet(ctx, f, sp, fn)
	}
	start, end := sp.Start, sp.End
	if sp.Pieces { // the one piece of a gzip file: all of it
		start, end = 0, math.MaxInt64
	}
	return s.scanText(ctx, f, start, end, fn)
}

func (s *Scanner) scanText(ctx context.Context, f File, start, end int64, fn func(*Record) error) error {
	reported := start // progress is counted from the split's own start
	var decode func([]byte, []table.Value) error
	switch f.Format {
	case JSONL:
		decode = newJSONDecoder(s.Columns).decode
	case CSV:
		header, dataStart, err := s.header(ctx, f)
		if err != nil {
			return err
		}
		d, err := newCSVDecoder(header, s.Columns)
		if err != nil {
			return s.invalid(ctx, f, 0, err)
		}
		decode = d.decode
		start = max(start, dataStart) // the header's own line is not a row
	}
	r, err := s.openText(ctx, f, max(start-1, 0))
	if err != nil {
		return err
	}
	defer r.Close()
	lr, err := newLineReader(r, start, end)
	if err != nil {
		return readError(f, err)
	}
	rec := &Record{Values: make([]table.Value, len(s.Columns)), File: f.Path}
	// Progress counts the split's bytes for plain files, and the whole
	// compressed size of a gzip file once it is read (its decompressed
	// offsets are not comparable to its size).
	for {
		line, pos, err := lr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return readError(f, err)
		}
		if s.Progress != nil && !f.Gzip && lr.pos-reported >= 1<<20 {
			s.Progress.Add(lr.pos - reported)
			reported = lr.pos
		}
		if len(line) == 0 {
			continue
		}
		if err := decode(line, rec.Values); err != nil {
			return s.invalid(ctx, f, pos, err)
		}
		rec.Pos = pos
		if err := fn(rec); err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
	}
	if s.Progress != nil {
		if f.Gzip {
			s.Progress.Add(f.Size)
		} else {
			s.Progress.Add(max(0, end-reported))
		}
	}
	return nil
}

// openText opens f at offset (of the decompressed stream for gzip, which
// can only start at 0).
func (s *Scanner) openText(ctx context.Context, f File, offset int64) (io.ReadCloser, error) {
	if !f.Gzip {
		rc, err := s.Open.OpenRange(ctx, f.Path, offset, -1)
		if err != nil {
			return nil, fmt.Errorf("open %s: %w", f.Path, err)
		}
		return rc, nil
	}
	rc, err := s.Open.OpenRange(ctx, f.Path, 0, -1)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", f.Path, err)
	}
	zr, err := gzip.NewReader(rc)
	if err != nil {
		rc.Close()
		return nil, readError(f, err)
	}
	if _, err := io.CopyN(io.Discard, zr, offset); err != nil {
		rc.Close()
		return nil, readError(f, err)
	}
	return struct {
		io.Reader
		io.Closer
	}{zr, rc}, nil
}

// readError classifies a failure to read f: a corrupt gzip stream or an
// overlong line is bad input, anything else is storage trouble and
// retryable.
func readError(f File, err error) error {
	var corrupt flate.CorruptInputError
	switch {
	case errors.Is(err, gzip.ErrHeader), errors.Is(err, gzip.ErrChecksum), errors.As(err, &corrupt),
		f.Gzip && errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, errLongLine):
		return &retry.InvalidInputError{File: f.Path, Err: err}
	}
	return fmt.Errorf("read %s: %w", f.Path, err)
}

// header returns a CSV file's header line and the offset of the line after
// it, where data rows begin. Every split reads it: one that starts mid-file
// still needs the column names.
func (s *Scanner) header(ctx context.Context, f File) (string, int64, error) {
	r, err := s.openText(ctx, f, 0)
	if err != nil {
		return "", 0, err
	}
	defer r.Close()
	lr, err := newLineReader(r, 0, 1)
	if err != nil {
		return "", 0, readError(f, err)
	}
	line, _, err := lr.Next()
	if err != nil {
		return "", 0, &retry.InvalidInputError{File: f.Path, Line: 1, Err: fmt.Errorf("no header: %w", err)}
	}
	return string(line), lr.pos, nil
}

// invalid turns a decoding error at byte offset pos into an InvalidInputError
// with a line number. Workers that start mid-file do not know line numbers,
// so the number is counted only here, on the way to failing.
func (s *Scanner) invalid(ctx context.Context, f File, pos int64, err error) error {
	e := &retry.InvalidInputError{File: f.Path, Err: err}
	var fe *fieldError
	if errors.As(err, &fe) {
		e.Column, e.Err = fe.column, fe.err
	}
	e.Line = s.lineAt(ctx, f, pos)
	return e
}

// Location names the row at pos of f for messages: "<file> line <n>" for
// text (found by counting lines up to pos) and "<file> row <n>" (1-based)
// for Parquet.
func (s *Scanner) Location(ctx context.Context, f File, pos int64) string {
	if f.Format == Parquet {
		return fmt.Sprintf("%s row %d", f.Path, pos+1)
	}
	return fmt.Sprintf("%s line %d", f.Path, s.lineAt(ctx, f, pos))
}

func (s *Scanner) lineAt(ctx context.Context, f File, pos int64) int64 {
	r, err := s.openText(ctx, f, 0)
	if err != nil {
		return 0
	}
	defer r.Close()
	lr, err := newLineReader(io.LimitReader(r, pos), 0, pos)
	if err != nil {
		return 0
	}
	line := int64(1)
	for {
		if _, _, err := lr.Next(); err != nil {
			return line
		}
		line++
	}
}
