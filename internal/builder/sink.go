package builder

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/indexbuild/indexbuild/internal/ftindex"
	"github.com/indexbuild/indexbuild/internal/retry"
	"github.com/indexbuild/indexbuild/internal/sstindex"
	"github.com/indexbuild/indexbuild/internal/staging"
	"github.com/indexbuild/indexbuild/internal/storage"
	"github.com/indexbuild/indexbuild/internal/table"
	"github.com/indexbuild/indexbuild/internal/taskmeta"
)

// sink builds one element's file for the partition.
type sink struct {
	ix     table.Index
	pos    []int // positions of the element's columns in the decoded row
	vals   []table.Value
	sorted *sstindex.Writer
	text   *ftindex.Writer
}

func newSink(t *table.Table, ix table.Index, pos []int, tmpDir string, sortBudget int) (*sink, error) {
	s := &sink{ix: ix, pos: pos, vals: make([]table.Value, len(pos))}
	if ix.Type == taskmeta.ElementTypeFulltext {
		w, err := ftindex.NewWriter(tmpDir, t.Element(ix), sortBudget)
		if err != nil {
			return nil, err
		}
		s.text = w
		return s, nil
	}
	s.sorted = sstindex.NewWriter(t.Element(ix), tmpDir, sortBudget)
	return s, nil
}

func (s *sink) add(row []table.Value, handle string) error {
	for i, p := range s.pos {
		s.vals[i] = row[p]
	}
	if s.text != nil {
		return s.text.Add(s.vals, handle)
	}
	return s.sorted.Add(s.vals, handle)
}

// finish writes the element's file to a local temporary file and stages it.
// Going through local disk keeps the upload a plain sequential stream and
// lets the checksum cover exactly the bytes uploaded. An index element also
// returns its key samples (nil for fulltext).
func (s *sink) finish(ctx context.Context, out storage.Bucket, tmpDir string, partition int) (staging.File, *staging.ElementSamples, error) {
	f, err := os.CreateTemp(tmpDir, "element-*")
	if err != nil {
		return staging.File{}, nil, err
	}
	defer os.Remove(f.Name())
	ext := staging.ExtIndex
	var samples *staging.ElementSamples
	if s.text != nil {
		ext = staging.ExtFulltext
		err = s.text.Finish(f) // closes f
	} else {
		var es staging.ElementSamples
		es, err = s.sorted.Finish(f) // closes f
		samples = &es
		var dup *sstindex.DuplicateError
		if errors.As(err, &dup) {
			err = &retry.InvalidInputError{File: table.CatalogName, Column: fmt.Sprint(s.ix.Columns), Err: err}
		}
	}
	if err != nil {
		return staging.File{}, nil, err
	}
	r, err := os.Open(f.Name())
	if err != nil {
		return staging.File{}, nil, err
	}
	defer r.Close()
	file, err := staging.WritePartFile(ctx, out, partition, s.ix.ID, ext, r)
	return file, samples, err
}

func (s *sink) close() {
	if s.text != nil {
		s.text.Close()
	} else {
		s.sorted.Close()
	}
}
