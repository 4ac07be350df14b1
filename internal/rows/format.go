// Package rows streams a partition's share of a table's data files as typed
// rows. Nothing here holds more than one row group (Parquet) or one line
// (JSONL, CSV) of a file in memory.
package rows

import (
	"fmt"
	"path"
	"strings"
)

// Format is a data file's encoding.
type Format string

// Supported formats.
const (
	JSONL   Format = "jsonl"
	CSV     Format = "csv"
	Parquet Format = "parquet"
)

// ParseFormat checks a --source-format value; "" means "by extension".
func ParseFormat(s string) (Format, error) {
	switch f := Format(s); f {
	case "", JSONL, CSV, Parquet:
		return f, nil
	}
	return "", fmt.Errorf("unknown source format %q (want jsonl, csv or parquet)", s)
}

// File is a data file and how to decode it.
type File struct {
	Path   string
	Size   int64
	Format Format
	Gzip   bool // compressed: read whole, never split by byte range
}

// Classify decides how to read the object at p. forced, when not empty,
// overrides the extension (a trailing .gz still means gzip). It returns
// ok=false for objects that are not data files: the catalog and anything
// with a path component starting with "_" or "." — markers such as
// _SUCCESS, and what other tools leave under a table (_temporary/,
// _delta_log/, .spark-staging/, .hidden files).
func Classify(p string, size int64, forced Format) (File, bool, error) {
	for _, part := range strings.Split(p, "/") {
		if strings.HasPrefix(part, "_") || strings.HasPrefix(part, ".") {
			return File{}, false, nil
		}
	}
	base := path.Base(p)
	f := File{Path: p, Size: size}
	name := base
	if n, ok := strings.CutSuffix(name, ".gz"); ok {
		f.Gzip, name = true, n
	}
	f.Format = forced
	if f.Format == "" {
		switch path.Ext(name) {
		case ".jsonl", ".ndjson", ".json":
			f.Format = JSONL
		case ".csv":
			f.Format = CSV
		case ".parquet":
			f.Format = Parquet
		default:
			return File{}, false, fmt.Errorf("data file %s: unknown extension (use .jsonl, .csv, .parquet, optionally .gz, or --source-format)", p)
		}
	}
	if f.Gzip && f.Format == Parquet {
		return File{}, false, fmt.Errorf("data file %s: gzip-compressed Parquet is not supported (Parquet compresses its pages itself)", p)
	}
	return f, true, nil
}
