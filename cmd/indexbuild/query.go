package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/indexbuild/indexbuild/internal/query"
	"github.com/indexbuild/indexbuild/internal/querycmd"
	"github.com/indexbuild/indexbuild/internal/retry"
)

func init() {
	register("query", "answer point, range and term queries from a committed index", runQuery)
}

// multiFlag collects a repeatable flag.
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(s string) error { *m = append(*m, s); return nil }

func runQuery(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var (
		q        query.Query
		indexURI string
		eq       multiFlag
		output   string
		stats    bool
	)
	fs := flag.NewFlagSet("query", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&indexURI, "index", "", "URI of the committed index (the output root)")
	fs.Int64Var(&q.Element, "element", 0, "element ID to query")
	fs.Var(&eq, "eq", "value of the next index column (repeat for a composite prefix); empty is NULL")
	fs.Bool("range", false, "`LO HI`: inclusive range on the first column (takes the next two arguments)")
	fs.StringVar(&q.Match, "match", "", "fulltext query: rows with any of these terms, best first")
	fs.IntVar(&q.Limit, "limit", 0, "at most this many match hits; 0 is all")
	fs.StringVar(&output, "o", "text", "output: text or json")
	fs.BoolVar(&stats, "stats", false, "write to stderr what the query read from the store (bytes, requests, files)")
	args, bounds, err := querycmd.CutRange(args)
	if err != nil {
		return err
	}
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("%w: %v", retry.ErrInvalidInput, err)
	}
	q.Eq, q.Range = eq, bounds
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected arguments %q", retry.ErrInvalidInput, fs.Args())
	}
	if indexURI == "" {
		return fmt.Errorf("%w: need --index, --element and exactly one of --eq, --range, --match", retry.ErrInvalidInput)
	}
	if err := querycmd.Validate(q, output); err != nil {
		return err
	}
	var statsOut io.Writer
	if stats {
		statsOut = stderr
	}
	return querycmd.Run(ctx, indexURI, q, output, stdout, statsOut)
}
