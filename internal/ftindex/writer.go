package ftindex

import (
	"archive/tar"
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/blevesearch/bleve/v2"

	"github.com/indexbuild/indexbuild/internal/table"
)

// builderBatch is how many documents Bleve's offline builder buffers before
// it writes a segment: it bounds the builder's memory.
const builderBatch = 10000

// Writer builds one partition's index of one fulltext element in a local
// directory.
type Writer struct {
	dir    string
	elem   table.Element
	fields []string
	b      bleve.Builder // created by the first Add: Bleve's builder cannot finish empty
	doc    map[string]any
}

// NewWriter starts an index of element e in a new directory under tmpDir.
func NewWriter(tmpDir string, e table.Element) (*Writer, error) {
	dir, err := os.MkdirTemp(tmpDir, "fulltext-*")
	if err != nil {
		return nil, err
	}
	fields := e.ColumnNames()
	return &Writer{dir: dir, elem: e, fields: fields, doc: make(map[string]any, len(fields))}, nil
}

// path is where the index is built; Bleve wants to create it itself.
func (w *Writer) path() string { return filepath.Join(w.dir, "index") }

// Add indexes one row: the values of the fields, in order, under handle.
// NULL fields are left out; a row whose fields are all NULL is still a
// document, so it counts but never matches.
func (w *Writer) Add(values []table.Value, handle string) error {
	clear(w.doc)
	for i, v := range values {
		if v.Kind == table.String {
			w.doc[w.fields[i]] = v.Str
		}
	}
	if w.b == nil {
		b, err := bleve.NewBuilder(w.path(), Mapping(w.fields), map[string]any{"batchSize": builderBatch})
		if err != nil {
			return fmt.Errorf("create fulltext index: %w", err)
		}
		w.b = b
	}
	return w.b.Index(handle, w.doc)
}

// Finish completes the index and writes it to out as a tar file, then
// removes the local directory.
func (w *Writer) Finish(out io.Writer) error {
	defer os.RemoveAll(w.dir)
	if err := w.closeIndex(); err != nil {
		return fmt.Errorf("finish fulltext index: %w", err)
	}
	path := w.path()
	if err := writeStats(context.Background(), path, w.elem); err != nil {
		return fmt.Errorf("finish fulltext index: %w", err)
	}
	return pack(out, path)
}

// closeIndex completes the index on disk; a partition without rows gets an
// ordinary empty index.
func (w *Writer) closeIndex() error {
	if w.b == nil {
		idx, err := bleve.New(w.path(), Mapping(w.fields))
		if err != nil {
			return err
		}
		return idx.Close()
	}
	err := w.b.Close()
	w.b = nil
	return err
}

// Close discards an unfinished index.
func (w *Writer) Close() error {
	if w.b != nil {
		w.b.Close()
		w.b = nil
	}
	return os.RemoveAll(w.dir)
}

// pack writes the regular files under dir to out as a tar with paths
// relative to dir. WalkDir visits in lexical order, so the layout is stable.
func pack(out io.Writer, dir string) error {
	tw := tar.NewWriter(out)
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil {
			return err
		}
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		info, err := f.Stat()
		if err != nil {
			return err
		}
		hdr := &tar.Header{Name: filepath.ToSlash(rel), Mode: 0o644, Size: info.Size(), Typeflag: tar.TypeReg}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		_, err = io.Copy(tw, f)
		return err
	})
	if err != nil {
		return fmt.Errorf("pack fulltext index: %w", err)
	}
	return tw.Close()
}
