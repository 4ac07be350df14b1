package main

import (
	"context"
	"flag"
	"fmt"
	"io"

	"github.com/indexbuild/indexbuild/internal/gentable"
	"github.com/indexbuild/indexbuild/internal/retry"
	"github.com/indexbuild/indexbuild/internal/rows"
	"github.com/indexbuild/indexbuild/internal/storage"
)

func init() { register("gen-table", "generate a deterministic sample table", runGenTable) }

func runGenTable(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var opt gentable.Options
	var outURI, format string
	fs := flag.NewFlagSet("gen-table", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.IntVar(&opt.Rows, "rows", 1000, "number of rows")
	fs.Uint64Var(&opt.Seed, "seed", 1, "random seed; the same seed gives the same rows")
	fs.IntVar(&opt.Files, "files", 1, "number of data files")
	fs.StringVar(&format, "format", "jsonl", "jsonl, csv or parquet")
	fs.BoolVar(&opt.Gzip, "gzip", false, "gzip-compress jsonl or csv files")
	fs.BoolVar(&opt.Uneven, "uneven", false, "make file k hold a share of rows proportional to (k+1)^2")
	fs.IntVar(&opt.RowGroupRows, "row-group-rows", 10000, "rows per Parquet row group")
	fs.Int64Var(&opt.SchemaID, "schema-id", 1, "schema ID written to _table.json")
	fs.Int64Var(&opt.TableID, "table-id", 100, "table ID written to _table.json")
	fs.StringVar(&outURI, "out", "", "URI to write the table to")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	f, err := rows.ParseFormat(format)
	if err != nil || f == "" || outURI == "" {
		return fmt.Errorf("%w: need --out and --format jsonl|csv|parquet", retry.ErrInvalidInput)
	}
	opt.Format = f
	out, err := storage.Open(ctx, outURI)
	if err != nil {
		return err
	}
	defer out.Close()
	if err := gentable.Generate(ctx, out, opt); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %d rows in %d %s file(s) to %s\n", opt.Rows, max(opt.Files, 1), format, outURI)
	return nil
}
