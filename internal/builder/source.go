package builder

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/indexbuild/indexbuild/internal/partition"
	"github.com/indexbuild/indexbuild/internal/retry"
	"github.com/indexbuild/indexbuild/internal/rows"
	"github.com/indexbuild/indexbuild/internal/storage"
	"github.com/indexbuild/indexbuild/internal/table"
)

// LoadTable reads and validates the source's catalog. A missing or broken
// catalog is invalid input: no retry will make it appear.
func LoadTable(ctx context.Context, src storage.Bucket) (*table.Table, error) {
	data, err := storage.ReadAll(ctx, src, table.CatalogName)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, &retry.InvalidInputError{File: table.CatalogName, Err: fmt.Errorf("no catalog in %s", src.URI())}
	}
	if err != nil {
		return nil, err
	}
	return table.Parse(data)
}

// bucketOpener reads byte ranges of the source for the row scanner.
type bucketOpener struct{ b storage.Bucket }

func (o bucketOpener) OpenRange(ctx context.Context, key string, offset, length int64) (io.ReadCloser, error) {
	return storage.NewRangeReader(ctx, o.b, key, offset, length)
}

// share is one split of a partition's plan and the file it reads.
type share struct {
	file   rows.File
	split  partition.Split
	weight int64
}

// planShare lists the source's data files and returns partition p's splits.
// Every worker lists and plans independently and gets the same answer,
// because the listing is sorted and the plan is a pure function of it.
func planShare(ctx context.Context, src storage.Bucket, sc *rows.Scanner, forced rows.Format, p, n int) ([]share, int64, error) {
	objs, err := src.List(ctx, "")
	if err != nil {
		return nil, 0, err
	}
	var files []rows.File
	var sources []partition.Source
	for _, o := range objs {
		f, ok, err := rows.Classify(o.Key, o.Size, forced)
		if err != nil {
			return nil, 0, &retry.InvalidInputError{File: o.Key, Err: err}
		}
		if !ok {
			continue
		}
		pieces, err := sc.Pieces(ctx, f)
		if err != nil {
			return nil, 0, err
		}
		files = append(files, f)
		sources = append(sources, partition.Source{Path: f.Path, Size: f.Size, Pieces: pieces})
	}
	byPath := make(map[string]int, len(files))
	for i, f := range files {
		byPath[f.Path] = i
	}
	var out []share
	var total int64
	for _, sp := range partition.Plan(sources, p, n) {
		i := byPath[sp.Path]
		w := sp.End - sp.Start
		if sp.Pieces {
			w = 0
			for _, pw := range sources[i].Pieces[sp.Start:sp.End] {
				w += pw
			}
		}
		out = append(out, share{file: files[i], split: sp, weight: w})
		total += w
	}
	return out, total, nil
}
