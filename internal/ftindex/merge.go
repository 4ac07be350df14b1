package ftindex

import (
	"bufio"
	"container/heap"
	"encoding/binary"
	"fmt"
	"io"
	"os"

	"github.com/cockroachdb/pebble/v2/sstable"
)

var ioReadFull = io.ReadFull

// spool is an unlinked temporary file written sequentially and read back
// once.
type spool struct {
	f *os.File
	w *bufio.Writer
}

func newSpool(dir string) (*spool, error) {
	f, err := os.CreateTemp(dir, "fulltext-rows-*")
	if err != nil {
		return nil, err
	}
	os.Remove(f.Name())
	return &spool{f: f, w: bufio.NewWriterSize(f, 64<<10)}, nil
}

func (s *spool) reader() (*bufio.Reader, error) {
	if err := s.w.Flush(); err != nil {
		return nil, err
	}
	if _, err := s.f.Seek(0, 0); err != nil {
		return nil, err
	}
	return bufio.NewReaderSize(s.f, 64<<10), nil
}

func (s *spool) close() error { return s.f.Close() }

// termSource yields terms in key order with their postings: the in-memory
// lists or one spilled run.
type termSource struct {
	index int // runs merge in row order: lower index, lower rows
	key   []byte
	n     int
	pairs []byte
	// one of:
	r    *bufio.Reader
	keys []string
	mem  *postingLists
	list *plist
}

func (s *termSource) next() (bool, error) {
	if s.r == nil {
		if len(s.keys) == 0 {
			return false, nil
		}
		k := s.keys[0]
		s.keys = s.keys[1:]
		s.list = s.mem.list(k)
		s.key, s.n = []byte(k), int(s.list.n)
		return true, nil
	}
	klen, err := binary.ReadUvarint(s.r)
	if err == io.EOF {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("read postings run: %w", err)
	}
	s.key = grow(s.key, int(klen))
	if _, err := io.ReadFull(s.r, s.key); err != nil {
		return false, fmt.Errorf("read postings run: %w", err)
	}
	n, err := binary.ReadUvarint(s.r)
	if err != nil {
		return false, fmt.Errorf("read postings run: %w", err)
	}
	plen, err := binary.ReadUvarint(s.r)
	if err != nil {
		return false, fmt.Errorf("read postings run: %w", err)
	}
	s.n, s.pairs = int(n), grow(s.pairs, int(plen))
	if _, err := io.ReadFull(s.r, s.pairs); err != nil {
		return false, fmt.Errorf("read postings run: %w", err)
	}
	return true, nil
}

func grow(b []byte, n int) []byte {
	if cap(b) < n {
		return make([]byte, n)
	}
	return b[:n]
}

type sourceHeap []*termSource

func (h sourceHeap) Len() int { return len(h) }
func (h sourceHeap) Less(i, j int) bool {
	if c := string(h[i].key); c != string(h[j].key) {
		return c < string(h[j].key)
	}
	return h[i].index < h[j].index
}
func (h sourceHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *sourceHeap) Push(x any)   { *h = append(*h, x.(*termSource)) }
func (h *sourceHeap) Pop() any {
	old := *h
	s := old[len(old)-1]
	*h = old[:len(old)-1]
	return s
}

// writePostings merges the runs and the in-memory lists term by term into
// posting chunks. A term's lists from different sources cover disjoint,
// increasing row ranges, so they concatenate in source order.
func (a *accumulator) writePostings(sw *sstable.Writer) error {
	var sources []*termSource
	for i, f := range a.runs {
		sources = append(sources, &termSource{index: i, r: bufio.NewReaderSize(f, 64<<10)})
	}
	if !a.postings.empty() {
		sources = append(sources, &termSource{index: len(a.runs), keys: a.postings.sortedKeys(), mem: a.postings})
	}
	h := make(sourceHeap, 0, len(sources))
	for _, s := range sources {
		ok, err := s.next()
		if err != nil {
			return err
		}
		if ok {
			h = append(h, s)
		}
	}
	heap.Init(&h)
	enc := &chunkEncoder{sw: sw}
	var same []*termSource
	for len(h) > 0 {
		same = same[:0]
		key := string(h[0].key)
		df := 0
		for len(h) > 0 && string(h[0].key) == key {
			s := heap.Pop(&h).(*termSource)
			same = append(same, s)
			df += s.n
		}
		enc.start([]byte(key), df)
		for _, s := range same {
			enc.doc = 0 // every source's first gap counts from 0
			var err error
			if s.r != nil {
				err = enc.addPairs(s.pairs)
			} else {
				err = s.mem.pieces(s.list, enc.addPairs)
			}
			if err != nil {
				return err
			}
		}
		if err := enc.flush(); err != nil {
			return err
		}
		for _, s := range same {
			ok, err := s.next()
			if err != nil {
				return err
			}
			if ok {
				heap.Push(&h, s)
			}
		}
	}
	return nil
}

// chunkEncoder cuts one term's postings into chunks of chunkPostings.
type chunkEncoder struct {
	sw           *sstable.Writer
	prefix       []byte
	df           int
	chunk        uint32
	docs, freqs  []uint32
	scratch, val []byte
	gaps         [blockLen]uint32
	doc          uint64 // the last doc added
}

func (e *chunkEncoder) start(key []byte, df int) {
	// key is field(1) term; the file's key adds the tag and separator.
	e.prefix = termKey(e.prefix[:0], int(key[0]), key[1:])
	e.df, e.chunk = df, 0
	e.docs, e.freqs = e.docs[:0], e.freqs[:0]
}

// addPairs appends uvarint (gap, freq) pairs; gaps count from e.doc.
func (e *chunkEncoder) addPairs(pairs []byte) error {
	doc := e.doc
	for len(pairs) > 0 {
		gap, n := binary.Uvarint(pairs)
		if n <= 0 {
			return errCorrupt
		}
		freq, m := binary.Uvarint(pairs[n:])
		if m <= 0 {
			return errCorrupt
		}
		pairs = pairs[n+m:]
		doc += gap
		e.doc = doc
		e.docs, e.freqs = append(e.docs, uint32(doc)), append(e.freqs, uint32(freq))
		if len(e.docs) == chunkPostings {
			if err := e.flush(); err != nil {
				return err
			}
		}
	}
	return nil
}

func (e *chunkEncoder) flush() error {
	if len(e.docs) == 0 {
		return nil
	}
	df := -1
	if e.chunk == 0 {
		df = e.df
	}
	e.val = appendChunk(e.val[:0], df, e.docs, e.freqs, e.gaps[:])
	e.scratch = chunkKey(append(e.scratch[:0], e.prefix...), e.chunk)
	e.chunk++
	e.docs, e.freqs = e.docs[:0], e.freqs[:0]
	return e.sw.Set(e.scratch, e.val)
}
