package builder

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/indexbuild/indexbuild/internal/partition"
	"github.com/indexbuild/indexbuild/internal/retry"
	"github.com/indexbuild/indexbuild/internal/rows"
	"github.com/indexbuild/indexbuild/internal/staging"
	"github.com/indexbuild/indexbuild/internal/storage"
	"github.com/indexbuild/indexbuild/internal/table"
)

// LoadTable reads and validates the source's catalog. A missing or broken
// catalog is invalid input: no retry will make it appear.
func LoadTable(ctx context.Context, src storage.Bucket) (*table.Table, error) {
	data, err := storage.ReadAll(ctx, src, table.CatalogName)
	if errors.Is(err, storage.ErrNotFound) && !storage.Unhealable(err) {
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
	pinned staging.SourceFile
	split  partition.Split
	weight int64
}

// planShare returns partition p of n's splits of the snapshot's files.
// Every worker plans from the same snapshot and gets the same answer,
// because the plan is a pure function of it.
func planShare(snap staging.Snapshot, forced rows.Format, p, n int) ([]share, int64, error) {
	files := make([]rows.File, len(snap.Files))
	sources := make([]partition.Source, len(snap.Files))
	byPath := make(map[string]int, len(files))
	for i, sf := range snap.Files {
		f, ok, err := rows.Classify(sf.Key, sf.Size, forced)
		if err != nil || !ok {
			// The snapshot lists only data files, classified the same way.
			return nil, 0, fmt.Errorf("%w: %s lists %s, which is not a data file", retry.ErrStaleMeta, staging.SnapshotKey, sf.Key)
		}
		files[i] = f
		sources[i] = partition.Source{Path: f.Path, Size: f.Size, Pieces: sf.Pieces}
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
		out = append(out, share{file: files[i], pinned: snap.Files[i], split: sp, weight: w})
		total += w
	}
	return out, total, nil
}

// pinnedFiles returns the files the shares read, each once.
func pinnedFiles(shares []share) []staging.SourceFile {
	var out []staging.SourceFile
	for i, sh := range shares {
		if i == 0 || shares[i-1].file.Path != sh.file.Path {
			out = append(out, sh.pinned)
		}
	}
	return out
}
