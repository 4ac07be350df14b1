package ftindex

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"

	"github.com/cockroachdb/pebble/v2/sstable"

	"github.com/indexbuild/indexbuild/internal/retry"
	"github.com/indexbuild/indexbuild/internal/sstindex"
)

// Partition is one opened partition file of a fulltext element.
type Partition struct {
	name    string // for messages
	r       *sstable.Reader
	Meta    Meta
	lengths [][]uint32 // per field, loaded by the first search that needs it
}

// ErrOldFormat is returned for a file written by an earlier version of this
// package that this one does not read.
var ErrOldFormat = errors.New("fulltext file format not supported")

// Open opens the local partition file at path. A file of format 0 (a tar
// of a Bleve index) is rejected with ErrOldFormat, as invalid input.
func Open(ctx context.Context, path string) (*Partition, error) {
	if err := checkNotTar(path); err != nil {
		return nil, err
	}
	r, err := sstindex.OpenTable(ctx, path)
	if err != nil {
		return nil, corrupt(path, err)
	}
	return FromReader(path, r)
}

// FromReader reads the partition's metadata from r, an opened partition
// file (local, or an object read by ranges: sstindex.OpenObject) that name
// names in messages. The partition owns r: Close closes it, and so does a
// failure here.
func FromReader(name string, r *sstable.Reader) (*Partition, error) {
	p := &Partition{name: name, r: r}
	if err := p.readMeta(); err != nil {
		r.Close()
		return nil, err
	}
	return p, nil
}

// checkNotTar recognizes format 0 by the tar magic at offset 257.
func checkNotTar(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	var hdr [263]byte
	if _, err := io.ReadFull(f, hdr[:]); err == nil && string(hdr[257:262]) == "ustar" {
		return fmt.Errorf("%w: %w: %s is a Bleve index (fulltext format 0, indexbuild before format %d); rebuild the index with this version (a new jobID)",
			retry.ErrInvalidInput, ErrOldFormat, path, FormatVersion)
	}
	return nil
}

func (p *Partition) readMeta() error {
	var meta []byte
	err := p.scan([]byte{keyMeta}, []byte{keyMeta + 1}, func(_, v []byte) error {
		meta = bytes.Clone(v)
		return nil
	})
	if err != nil {
		return corrupt(p.name, err)
	}
	if meta == nil {
		return corrupt(p.name, errors.New("no metadata"))
	}
	if err := json.Unmarshal(meta, &p.Meta); err != nil {
		return corrupt(p.name, err)
	}
	if p.Meta.FormatVersion != FormatVersion {
		return fmt.Errorf("%w: %w: %s has fulltext format %d, this version reads %d; rebuild the index with this version",
			retry.ErrInvalidInput, ErrOldFormat, p.name, p.Meta.FormatVersion, FormatVersion)
	}
	if n := len(p.Meta.Element.Columns); n == 0 || n > maxFields || len(p.Meta.FieldTerms) != n {
		return corrupt(p.name, errors.New("metadata does not match the element's columns"))
	}
	p.lengths = make([][]uint32, len(p.Meta.Element.Columns))
	return nil
}

// Close releases the file.
func (p *Partition) Close() error { return p.r.Close() }

// scan calls fn for every key in [lower, upper).
func (p *Partition) scan(lower, upper []byte, fn func(k, v []byte) error) error {
	return sstindex.ScanTable(p.r, lower, upper, fn)
}

// prefixEnd is the smallest key after every key that starts with prefix,
// whose last byte is a term separator or chunk 0: never 0xff.
func prefixEnd(prefix []byte) []byte {
	end := bytes.Clone(prefix)
	end[len(end)-1]++
	return end
}

// df returns the number of rows of the partition that hold the term whose
// key prefix is prefix.
func (p *Partition) df(prefix []byte) (int, error) {
	first := chunkKey(bytes.Clone(prefix), 0)
	df := 0
	err := p.scan(first, prefixEnd(first), func(_, v []byte) error {
		n, _, err := readDF(v)
		df = n
		return err
	})
	if err != nil {
		return 0, corrupt(p.name, err)
	}
	return df, nil
}

// postings calls fn for every block of postings of the term whose key
// prefix is prefix, in row order.
func (p *Partition) postings(prefix []byte, fn func(docs, freqs []uint32)) error {
	var c chunkReader
	err := p.scan(prefix, prefixEnd(prefix), func(k, v []byte) error {
		if binary.BigEndian.Uint32(k[len(k)-4:]) == 0 {
			var err error
			if _, v, err = readDF(v); err != nil {
				return err
			}
		}
		if err := c.reset(v); err != nil {
			return err
		}
		for {
			n, err := c.next()
			if err != nil || n == 0 {
				return err
			}
			if uint64(c.docs[n-1]) >= p.Meta.Docs {
				return errCorrupt
			}
			fn(c.docs[:n], c.freq[:n])
		}
	})
	if err != nil {
		return corrupt(p.name, err)
	}
	return nil
}

// fieldLengths returns the number of terms of field in every row.
func (p *Partition) fieldLengths(field int) ([]uint32, error) {
	if p.lengths[field] != nil {
		return p.lengths[field], nil
	}
	ls := make([]uint32, p.Meta.Docs)
	err := p.scan(lengthsKey(field, 0), lengthsKey(field+1, 0), func(k, v []byte) error {
		start := int(binary.BigEndian.Uint32(k[2:])) * lengthChunk
		if len(v) < 1 || start >= len(ls) {
			return errCorrupt
		}
		_, err := unpack(ls[start:min(start+lengthChunk, len(ls))], v[1:], v[0])
		return err
	})
	if err != nil {
		return nil, corrupt(p.name, err)
	}
	p.lengths[field] = ls
	return ls, nil
}

// EachHandle calls fn with the handle of every row of the partition, in
// row order: one per document.
func (p *Partition) EachHandle(fn func(handle string) error) error {
	err := p.scan([]byte{keyHandles}, []byte{keyHandles + 1}, func(_, v []byte) error {
		hs, err := decodeHandles(v)
		if err != nil {
			return corrupt(p.name, err)
		}
		for _, h := range hs {
			if err := fn(h); err != nil {
				return err
			}
		}
		return nil
	})
	return err
}

// handles returns the handles of the rows in handle block block.
func (p *Partition) handles(block uint32) ([]string, error) {
	var out []string
	err := p.scan(handlesKey(block), handlesKey(block+1), func(_, v []byte) error {
		var err error
		out, err = decodeHandles(v)
		return err
	})
	if err == nil && out == nil {
		err = errCorrupt
	}
	if err != nil {
		return nil, corrupt(p.name, err)
	}
	return out, nil
}

func decodeHandles(v []byte) ([]string, error) {
	if len(v) == 0 {
		return nil, errCorrupt
	}
	kind, v := v[0], v[1:]
	out := make([]string, 0, handleBlock)
	switch kind {
	case handlesInts:
		var prev int64
		for len(v) > 0 {
			d, n := binary.Varint(v)
			if n <= 0 {
				return nil, errCorrupt
			}
			v, prev = v[n:], prev+d
			out = append(out, strconv.FormatInt(prev, 10))
		}
	case handlesStrings:
		var prev []byte
		for len(v) > 0 {
			shared, n := binary.Uvarint(v)
			if n <= 0 || shared > uint64(len(prev)) {
				return nil, errCorrupt
			}
			v = v[n:]
			suffix, m := binary.Uvarint(v)
			if m <= 0 || suffix > uint64(len(v)-m) {
				return nil, errCorrupt
			}
			h := append(prev[:shared:shared], v[m:m+int(suffix)]...)
			v = v[m+int(suffix):]
			out = append(out, string(h))
			prev = h
		}
	default:
		return nil, errCorrupt
	}
	return out, nil
}
