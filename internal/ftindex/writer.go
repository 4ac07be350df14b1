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
	b      bleve.Builder
	doc    map[string]any
}

// NewWriter starts an index of element e in a new directory under tmpDir.
func NewWriter(tmpDir string, e table.Element) (*Writer, error) {
	fields := e.ColumnNames()
	dir, err := os.MkdirTemp(tmpDir, "fulltext-*")
	if err != nil {
		return nil, err
	}
	// The builder wants to create its directory itself.
	path := filepath.Join(dir, "index")
	b, err := bleve.NewBuilder(path, Mapping(fields), map[string]any{"batchSize": builderBatch})
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("create fulltext index: %w", err)
	}
	return &Writer{dir: dir, elem: e, fields: fields, b: b, doc: make(map[string]any, len(fields))}, nil
}

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
	return w.b.Index(handle, w.doc)
}

// Finish completes the index and writes it to out as a tar file, then
// removes the local directory.
func (w *Writer) Finish(out io.Writer) error {
	defer os.RemoveAll(w.dir)
	if err := w.b.Close(); err != nil {
		return fmt.Errorf("finish fulltext index: %w", err)
	}
	path := filepath.Join(w.dir, "index")
	if err := writeStats(context.Background(), path, w.elem); err != nil {
		return fmt.Errorf("finish fulltext index: %w", err)
	}
	return pack(out, path)
}

// Close discards an unfinished index.
func (w *Writer) Close() error {
	w.b.Close()
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
