// Package querycmd is the command-line side of a data-plane query, shared by
// `indexbuild query` and `kubectl indexbuild query`: the --range argument
// handling, validation of the flags, and running a query.Query against a
// committed index with text or JSON output.
package querycmd

import (
	"context"
	"encoding/json"
	"fmt"
	"io"

	"github.com/indexbuild/indexbuild/internal/query"
	"github.com/indexbuild/indexbuild/internal/retry"
	"github.com/indexbuild/indexbuild/internal/storage"
)

// CutRange takes "--range LO HI" out of args before flag parsing, because
// bounds such as -5 would otherwise parse as flags.
func CutRange(args []string) ([]string, *[2]string, error) {
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

// Validate checks that q asks exactly one kind of question of one element
// and that output is text or json. indexURI is checked by the caller.
func Validate(q query.Query, output string) error {
	modes := 0
	for _, set := range []bool{len(q.Eq) > 0, q.Range != nil, q.Match != ""} {
		if set {
			modes++
		}
	}
	if q.Element == 0 || modes != 1 {
		return fmt.Errorf("%w: need --element and exactly one of --eq, --range, --match", retry.ErrInvalidInput)
	}
	if output != "text" && output != "json" {
		return fmt.Errorf("%w: -o must be text or json", retry.ErrInvalidInput)
	}
	return nil
}

// Run answers q from the index committed at indexURI (the output root) and
// writes the hits to stdout: one row handle per line (with the score for
// match queries), or {"element":...,"hits":[...]} for output "json". With
// stats non-nil it writes there what the query read from the store.
func Run(ctx context.Context, indexURI string, q query.Query, output string, stdout, stats io.Writer) error {
	out, err := storage.Open(ctx, indexURI)
	if err != nil {
		return err
	}
	defer out.Close()
	ix, err := query.Open(ctx, out)
	if err != nil {
		return err
	}
	defer ix.Close()
	if stats != nil {
		defer func() {
			s := ix.Stats()
			fmt.Fprintf(stats, "read %d bytes in %d requests, %d files opened\n", s.Bytes, s.Requests, s.Files)
		}()
	}
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
