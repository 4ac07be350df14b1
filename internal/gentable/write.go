package gentable

import (
	"bufio"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/parquet-go/parquet-go"

	"github.com/indexbuild/indexbuild/internal/rows"
	"github.com/indexbuild/indexbuild/internal/storage"
	"github.com/indexbuild/indexbuild/internal/table"
)

// Options shape a generated table.
type Options struct {
	Rows     int
	Seed     uint64
	Files    int // at least 1
	Format   rows.Format
	Gzip     bool // JSONL and CSV only
	SchemaID int64
	TableID  int64
	// Uneven gives file k a share of rows proportional to (k+1)^2, so file
	// sizes differ by orders of magnitude.
	Uneven bool
	// RowGroupRows is the Parquet row group size; 0 means 10,000.
	RowGroupRows int
}

// Generate writes the catalog and the data files to out.
func Generate(ctx context.Context, out storage.Bucket, opt Options) error {
	if opt.Files < 1 {
		opt.Files = 1
	}
	if opt.SchemaID == 0 {
		opt.SchemaID = 1
	}
	if opt.TableID == 0 {
		opt.TableID = 100
	}
	if opt.Gzip && opt.Format == rows.Parquet {
		return fmt.Errorf("gzip applies to jsonl and csv only")
	}
	cat := Catalog(opt.SchemaID, opt.TableID)
	data, err := json.MarshalIndent(cat, "", "  ")
	if err != nil {
		return err
	}
	if err := out.Write(ctx, table.CatalogName, strings.NewReader(string(data)+"\n")); err != nil {
		return err
	}
	bounds := fileBounds(opt.Rows, opt.Files, opt.Uneven)
	for k := range opt.Files {
		name := fmt.Sprintf("part-%05d.%s", k, opt.Format)
		if opt.Gzip {
			name += ".gz"
		}
		lo, hi := bounds[k], bounds[k+1]
		if err := writeFile(ctx, out, name, cat, opt, lo, hi); err != nil {
			return fmt.Errorf("write %s: %w", name, err)
		}
	}
	return nil
}

// fileBounds splits n rows into files: file k holds rows [b[k], b[k+1]).
func fileBounds(n, files int, uneven bool) []int {
	weights := make([]int, files)
	total := 0
	for k := range weights {
		weights[k] = 1
		if uneven {
			weights[k] = (k + 1) * (k + 1)
		}
		total += weights[k]
	}
	b := make([]int, files+1)
	acc := 0
	for k, w := range weights {
		acc += w
		b[k+1] = n * acc / total
	}
	return b
}

// writeFile streams rows [lo, hi) into one object through a pipe, so a
// large table is never held in memory.
func writeFile(ctx context.Context, out storage.Bucket, name string, cat *table.Table, opt Options, lo, hi int) error {
	pr, pw := io.Pipe()
	go func() {
		pw.CloseWithError(encode(pw, cat, opt, lo, hi))
	}()
	err := out.Write(ctx, name, pr)
	pr.CloseWithError(err) // unblocks the encoder if the upload failed
	return err
}

func encode(w io.Writer, cat *table.Table, opt Options, lo, hi int) error {
	if opt.Format == rows.Parquet {
		return encodeParquet(w, cat, opt, lo, hi)
	}
	var zw *gzip.Writer
	if opt.Gzip {
		zw = gzip.NewWriter(w)
		w = zw
	}
	bw := bufio.NewWriterSize(w, 256<<10)
	if opt.Format == rows.CSV {
		for i, c := range cat.Columns {
			if i > 0 {
				bw.WriteByte(',')
			}
			bw.WriteString(csvQuote(c.Name))
		}
		bw.WriteByte('\n')
	}
	var line []byte
	for i := lo; i < hi; i++ {
		row := Row(opt.Seed, i)
		if opt.Format == rows.CSV {
			line = appendCSV(line[:0], row)
		} else {
			line = appendJSON(line[:0], cat, row)
		}
		if _, err := bw.Write(append(line, '\n')); err != nil {
			return err
		}
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	if zw != nil {
		return zw.Close()
	}
	return nil
}

func appendJSON(dst []byte, cat *table.Table, row []table.Value) []byte {
	dst = append(dst, '{')
	for i, c := range cat.Columns {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = strconv.AppendQuote(dst, c.Name)
		dst = append(dst, ':')
		v := row[i]
		switch v.Kind {
		case table.Null:
			dst = append(dst, "null"...)
		case table.String:
			b, _ := json.Marshal(v.Str) // strings always marshal
			dst = append(dst, b...)
		default:
			dst = append(dst, v.Text()...)
		}
	}
	return append(dst, '}')
}

func appendCSV(dst []byte, row []table.Value) []byte {
	for i, v := range row {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, csvQuote(v.Text())...)
	}
	return dst
}

func csvQuote(s string) string {
	if !strings.ContainsAny(s, "\",") {
		return s
	}
	return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
}

func encodeParquet(w io.Writer, cat *table.Table, opt Options, lo, hi int) error {
	group := parquet.Group{}
	for _, c := range cat.Columns {
		var n parquet.Node
		switch c.Type {
		case table.TypeInt:
			n = parquet.Int(64)
		case table.TypeFloat:
			n = parquet.Leaf(parquet.DoubleType)
		case table.TypeBool:
			n = parquet.Leaf(parquet.BooleanType)
		default:
			n = parquet.String()
		}
		group[c.Name] = parquet.Optional(n)
	}
	schema := parquet.NewSchema(cat.Name, group)
	// The schema orders leaves by name; map catalog columns onto them.
	leaf := make([]int, len(cat.Columns))
	for i, c := range cat.Columns {
		for j, p := range schema.Columns() {
			if p[0] == c.Name {
				leaf[i] = j
			}
		}
	}
	groupRows := opt.RowGroupRows
	if groupRows <= 0 {
		groupRows = 10000
	}
	pw := parquet.NewWriter(w, schema, parquet.MaxRowsPerRowGroup(int64(groupRows)))
	buf := make([]parquet.Row, 0, 256)
	flush := func() error {
		_, err := pw.WriteRows(buf)
		buf = buf[:0]
		return err
	}
	for i := lo; i < hi; i++ {
		row := make(parquet.Row, len(cat.Columns))
		for c, v := range Row(opt.Seed, i) {
			row[leaf[c]] = parquetValue(v).Level(0, defLevel(v), leaf[c])
		}
		buf = append(buf, row)
		if len(buf) == cap(buf) {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	if err := flush(); err != nil {
		return err
	}
	return pw.Close()
}

func defLevel(v table.Value) int {
	if v.Kind == table.Null {
		return 0
	}
	return 1
}

func parquetValue(v table.Value) parquet.Value {
	switch v.Kind {
	case table.Int:
		return parquet.Int64Value(v.Int)
	case table.Float:
		return parquet.DoubleValue(v.Float)
	case table.Bool:
		return parquet.BooleanValue(v.Int != 0)
	case table.String:
		return parquet.ByteArrayValue([]byte(v.Str))
	}
	return parquet.NullValue()
}
