package ftindex

import (
	"archive/tar"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/blevesearch/bleve/v2"
)

// Partition is one opened partition index of a fulltext element.
type Partition struct {
	Index bleve.Index
	Stats Stats
}

// Close closes the index.
func (p *Partition) Close() error { return p.Index.Close() }

// Unpack extracts a packed index into dir (which must exist) and opens it
// read-only.
func Unpack(r io.Reader, dir string) (*Partition, error) {
	tr := tar.NewReader(r)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("unpack fulltext index: %w", err)
		}
		name := filepath.FromSlash(hdr.Name)
		if !filepath.IsLocal(name) || hdr.Typeflag != tar.TypeReg {
			return nil, fmt.Errorf("unpack fulltext index: unexpected entry %q", hdr.Name)
		}
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return nil, err
		}
		f, err := os.Create(path)
		if err != nil {
			return nil, err
		}
		_, err = io.Copy(f, tr)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return nil, fmt.Errorf("unpack fulltext index: %w", err)
		}
	}
	st, err := readStats(dir)
	if err != nil {
		return nil, err
	}
	idx, err := bleve.OpenUsing(dir, map[string]any{"read_only": true})
	if err != nil {
		return nil, fmt.Errorf("open fulltext index: %w", err)
	}
	return &Partition{Index: idx, Stats: st}, nil
}
