package rows

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/format"

	"github.com/indexbuild/indexbuild/internal/partition"
	"github.com/indexbuild/indexbuild/internal/retry"
	"github.com/indexbuild/indexbuild/internal/table"
)

// parquetBatch is how many rows are decoded at a time: enough to amortize
// the per-call cost, small enough to keep memory flat.
const parquetBatch = 512

func (s *Scanner) openParquet(ctx context.Context, f File) (*parquet.File, error) {
	ra := &rangeReaderAt{ctx: ctx, open: s.Open, path: f.Path}
	pf, err := parquet.OpenFile(ra, f.Size,
		parquet.SkipPageIndex(true), parquet.SkipBloomFilters(true), parquet.ReadBufferSize(256<<10))
	switch {
	case err == nil:
		return pf, nil
	case ra.err != nil:
		// Storage failed, not the file: keep the error retryable.
		return nil, fmt.Errorf("open %s: %w", f.Path, ra.err)
	}
	return nil, &retry.InvalidInputError{File: f.Path, Err: fmt.Errorf("open Parquet file: %w", err)}
}

func (s *Scanner) parquetPieces(ctx context.Context, f File) ([]int64, error) {
	pf, err := s.openParquet(ctx, f)
	if err != nil {
		return nil, err
	}
	groups := pf.Metadata().RowGroups
	pieces := make([]int64, len(groups))
	for i, g := range groups {
		pieces[i] = groupWeight(g)
	}
	return pieces, nil
}

// groupWeight is a row group's weight for planning and progress: its
// compressed size, or its raw size when the writer did not record that.
func groupWeight(g format.RowGroup) int64 {
	if g.TotalCompressedSize > 0 {
		return g.TotalCompressedSize
	}
	return g.TotalByteSize
}

func (s *Scanner) scanParquet(ctx context.Context, f File, sp partition.Split, fn func(*Record) error) error {
	pf, err := s.openParquet(ctx, f)
	if err != nil {
		return err
	}
	leaf := make([]int, len(s.Columns))
	paths := pf.Schema().Columns()
	for i, c := range s.Columns {
		leaf[i] = -1
		for j, p := range paths {
			if len(p) == 1 && p[0] == c.Name {
				leaf[i] = j
			}
		}
		if leaf[i] < 0 {
			return &retry.InvalidInputError{File: f.Path, Column: c.Name, Err: errors.New("missing from the Parquet schema")}
		}
	}
	meta := pf.Metadata().RowGroups
	var rowBase int64
	for g := range sp.Start {
		rowBase += meta[g].NumRows
	}
	rec := &Record{Values: make([]table.Value, len(s.Columns)), File: f.Path}
	buf := make([]parquet.Row, parquetBatch)
	for g := sp.Start; g < sp.End; g++ {
		rows := pf.RowGroups()[g].Rows()
		for {
			n, err := rows.ReadRows(buf)
			for _, row := range buf[:n] {
				for i, c := range s.Columns {
					v, verr := parquetValue(c.Type, row[leaf[i]])
					if verr != nil {
						rows.Close()
						// Line is the 1-based row group for Parquet.
						return &retry.InvalidInputError{File: f.Path, Line: g + 1, Column: c.Name, Err: verr}
					}
					rec.Values[i] = v
				}
				rec.Pos = rowBase
				rowBase++
				if err := fn(rec); err != nil {
					rows.Close()
					return err
				}
			}
			if err == io.EOF {
				break
			}
			if err != nil {
				rows.Close()
				return fmt.Errorf("read %s row group %d: %w", f.Path, g+1, err)
			}
		}
		rows.Close()
		if s.Progress != nil {
			s.Progress.Add(groupWeight(meta[g]))
		}
		if err := ctx.Err(); err != nil {
			return err
		}
	}
	return nil
}

func parquetValue(typ string, v parquet.Value) (table.Value, error) {
	if v.IsNull() {
		return table.Value{}, nil
	}
	k := v.Kind()
	switch {
	case typ == table.TypeInt && k == parquet.Int64:
		return table.Value{Kind: table.Int, Int: v.Int64()}, nil
	case typ == table.TypeInt && k == parquet.Int32:
		return table.Value{Kind: table.Int, Int: int64(v.Int32())}, nil
	case typ == table.TypeFloat && k == parquet.Double:
		return table.FloatValue(v.Double())
	case typ == table.TypeFloat && k == parquet.Float:
		return table.FloatValue(float64(v.Float()))
	case typ == table.TypeString && k == parquet.ByteArray:
		return table.StringValue(string(v.ByteArray()))
	case typ == table.TypeBool && k == parquet.Boolean:
		return table.BoolValue(v.Boolean()), nil
	}
	return table.Value{}, fmt.Errorf("Parquet %s value in a %s column", k, typ)
}

// rangeReaderAt adapts ranged object reads to the io.ReaderAt Parquet
// wants; the reader's buffer keeps the number of requests small.
type rangeReaderAt struct {
	ctx  context.Context
	open Opener
	path string
	err  error // the last storage failure, to tell it from a bad file
}

func (r *rangeReaderAt) ReadAt(p []byte, off int64) (int, error) {
	rc, err := r.open.OpenRange(r.ctx, r.path, off, int64(len(p)))
	if err != nil {
		r.err = err
		return 0, err
	}
	defer rc.Close()
	n, err := io.ReadFull(rc, p)
	switch {
	case errors.Is(err, io.ErrUnexpectedEOF):
		err = io.EOF
	case err != nil && err != io.EOF:
		r.err = err
	}
	return n, err
}
