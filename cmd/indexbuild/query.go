package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/indexbuild/indexbuild/internal/query"
	"github.com/indexbuild/indexbuild/internal/retry"
	"github.com/indexbuild/indexbuild/internal/storage"
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
	args, bounds, err := cutRange(args)
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
	modes := 0
	for _, set := range []bool{len(q.Eq) > 0, q.Range != nil, q.Match != ""} {
		if set {
			modes++
		}
	}
	if indexURI == "" || q.Element == 0 || modes != 1 {
		return fmt.Errorf("%w: need --index, --element and exactly one of --eq, --range, --match", retry.ErrInvalidInput)
	}
	if output != "text" && output != "json" {
		return fmt.Errorf("%w: -o must be text or json", retry.ErrInvalidInput)
	}
	out, err := storage.Open(ctx, indexURI)
	if err != nil {
		return err
	}
	defer out.Close()
	tmp, err := os.MkdirTemp("", "indexbuild-query-*")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	ix, err := query.Open(ctx, out, tmp)
	if err != nil {
		return err
	}
	defer ix.Close()
	elem, hits, err := ix.Run(ctx, q)
	if err != nil {
		return err
	}
	if output == "json" {
		if hits == nil {
			hits = []query.Hit{}
		}
		return json.NewEncoder(stdout).Encode(map[string]any{"element": elem, "hits": hits})
	}
	for _, h := range hits {
		if q.Match != "" {
			fmt.Fprintf(stdout, "%s\t%.6f\n", h.Handle, h.Score)
		} else {
			fmt.Fprintln(stdout, h.Handle)
		}
	}
	return nil
}

// cutRange takes "--range LO HI" out of args before flag parsing, because
// bounds such as -5 would otherwise parse as flags.
func cutRange(args []string) ([]string, *[2]string, error) {
	for i, a := range args {
		if a != "--range" && a != "-range" {
			continue
		}
		if i+2 >= len(args) {
			return nil, nil, fmt.Errorf("%w: --range needs LO and HI", retry.ErrInvalidInput)
		}
		rest := append(append([]string{}, args[:i]...), args[i+3:]...)
		return rest, &[2]string{args[i+1], args[i+2]}, nil
	}
	return args, nil, nil
}
