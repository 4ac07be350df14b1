// Package ftindex writes and reads the files of `fulltext` elements: one
// Pebble SSTable per partition and element holding an inverted index
// (term → compressed posting blocks), every row's handle and field
// lengths, and the partition's totals. docs/fulltext-format.md describes
// the bytes.
//
// Every indexed column is a field analyzed with Unicode word segmentation,
// lower-casing and English stop words. Search scores with BM25 over the
// statistics of all partitions together, so a row's score does not depend
// on how the table was partitioned.
package ftindex

import (
	"encoding/binary"
	"fmt"

	"github.com/cockroachdb/pebble/v2/sstable"

	"github.com/indexbuild/indexbuild/internal/table"
)

// FormatVersion is the version of the file layout this package writes and
// reads. Version 0 was a tar of a Bleve index.
const FormatVersion = 1

// tableFormat is fixed, as for index elements, so readers never depend on
// the writer's Pebble defaults.
const tableFormat = sstable.TableFormatPebblev4

// Key layout. The first byte says what a key holds; the writer adds keys
// in this order, which is their byte order.
const (
	keyHandles  = 'd' // 'd' block(4, big endian) → handles of docs [block*handleBlock, +handleBlock)
	keyLengths  = 'l' // 'l' field(1) chunk(4) → field lengths of docs [chunk*lengthChunk, +lengthChunk)
	keyMeta     = 'm' // 'm' → Meta as JSON
	keyPostings = 't' // 't' field(1) term 0x00 chunk(4) → posting chunk
)

const (
	// blockLen postings share one bit width for document gaps and one for
	// frequencies.
	blockLen = 128
	// chunkPostings bounds one posting value, so that neither writer nor
	// reader holds a whole posting list of a frequent term.
	chunkPostings = 128 * blockLen
	handleBlock   = 128
	lengthChunk   = 4096
	// maxFields keeps the field number in one key byte.
	maxFields = 255
)

// Meta is a partition's description and totals: what global BM25 sums.
type Meta struct {
	FormatVersion int           `json:"formatVersion"`
	Element       table.Element `json:"element"`
	// Docs counts every row of the partition, also rows whose fields are
	// all NULL: they never match but are part of the collection.
	Docs uint64 `json:"docs"`
	// FieldTerms is the number of terms per field (in column order) over
	// all rows; divided by Docs it is the average field length.
	FieldTerms []uint64 `json:"fieldTerms"`
}

func handlesKey(block uint32) []byte {
	return binary.BigEndian.AppendUint32([]byte{keyHandles}, block)
}

func lengthsKey(field int, chunk uint32) []byte {
	return binary.BigEndian.AppendUint32([]byte{keyLengths, byte(field)}, chunk)
}

// termKey is the prefix of a term's posting chunks. Terms never contain
// 0x00 (the segmenter does not put control characters in words), so the
// separator keeps a term's chunks together and in the order of the terms.
func termKey(dst []byte, field int, term []byte) []byte {
	return append(append(append(dst, keyPostings, byte(field)), term...), 0)
}

func chunkKey(prefix []byte, chunk uint32) []byte {
	return binary.BigEndian.AppendUint32(prefix, chunk)
}

// appendChunk encodes one posting chunk: uvarint count, uvarint first doc,
// then blocks of blockLen postings (the last one shorter), each
// [gap width][freq width][gaps−1 packed][freqs−1 packed], where a gap is
// the distance to the previous doc (0 for the first). The first chunk of a
// term starts with uvarint df, the term's total postings.
func appendChunk(dst []byte, df int, docs, freqs []uint32, scratch []uint32) []byte {
	if df >= 0 {
		dst = binary.AppendUvarint(dst, uint64(df))
	}
	dst = binary.AppendUvarint(dst, uint64(len(docs)))
	dst = binary.AppendUvarint(dst, uint64(docs[0]))
	prev := docs[0]
	for start := 0; start < len(docs); start += blockLen {
		end := min(start+blockLen, len(docs))
		gaps := scratch[:end-start]
		for i, d := range docs[start:end] {
			if start+i == 0 {
				gaps[i] = 0
			} else {
				gaps[i] = d - prev - 1
			}
			prev = d
		}
		gw := bitWidth(gaps)
		fs := freqs[start:end]
		for i := range fs {
			fs[i]-- // frequencies are at least 1
		}
		fw := bitWidth(fs)
		dst = append(dst, gw, fw)
		dst = appendPacked(dst, gaps, gw)
		dst = appendPacked(dst, fs, fw)
		for i := range fs {
			fs[i]++
		}
	}
	return dst
}

// chunkReader decodes one posting chunk block by block.
type chunkReader struct {
	src        []byte
	left       int
	prev       uint32
	first      bool
	docs, freq [blockLen]uint32
}

// readDF returns a first chunk's df and the chunk without it.
func readDF(v []byte) (int, []byte, error) {
	df, n := binary.Uvarint(v)
	if n <= 0 {
		return 0, nil, errCorrupt
	}
	return int(df), v[n:], nil
}

func (c *chunkReader) reset(v []byte) error {
	count, n := binary.Uvarint(v)
	if n <= 0 {
		return errCorrupt
	}
	first, m := binary.Uvarint(v[n:])
	if m <= 0 {
		return errCorrupt
	}
	c.src, c.left, c.prev, c.first = v[n+m:], int(count), uint32(first), true
	return nil
}

// next decodes the next block into c.docs and c.freq and returns its length,
// 0 at the end of the chunk.
func (c *chunkReader) next() (int, error) {
	if c.left == 0 {
		return 0, nil
	}
	k := min(c.left, blockLen)
	if len(c.src) < 2 {
		return 0, errCorrupt
	}
	gw, fw := c.src[0], c.src[1]
	rest, err := unpack(c.docs[:k], c.src[2:], gw)
	if err != nil {
		return 0, err
	}
	if rest, err = unpack(c.freq[:k], rest, fw); err != nil {
		return 0, err
	}
	for i := range k {
		if c.first {
			c.first = false
		} else {
			c.prev += c.docs[i] + 1
		}
		c.docs[i] = c.prev
		c.freq[i]++
	}
	c.src, c.left = rest, c.left-k
	return k, nil
}

func corrupt(path string, err error) error {
	return fmt.Errorf("fulltext file %s: %w", path, err)
}
