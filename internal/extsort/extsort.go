// Package extsort sorts key/value pairs that may not fit in memory: pairs
// are buffered up to a byte budget, sorted, spilled to a temporary file as a
// sorted run, and the runs are merged at the end. Peak memory is the budget
// plus one read buffer per run, independent of how many pairs there are.
package extsort

import (
	"bufio"
	"bytes"
	"container/heap"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
)

// entry locates one pair inside the arena; offsets instead of slices keep
// the per-pair overhead at 12 bytes and out of the garbage collector's way.
type entry struct {
	off        uint32
	klen, vlen uint32
}

const entrySize = 12

// runBufferBytes is the read buffer per run during the merge.
const runBufferBytes = 64 << 10

// Sorter accumulates pairs. Keys must be unique: order between equal keys is
// unspecified.
type Sorter struct {
	dir    string
	budget int
	arena  []byte
	ents   []entry
	runs   []*os.File
}

// New returns a Sorter that keeps at most about budget bytes in memory and
// spills runs into dir ("" for the system temp directory).
func New(dir string, budget int) *Sorter {
	// The arena is addressed with uint32 offsets.
	budget = min(max(budget, 1<<20), 1<<31)
	return &Sorter{dir: dir, budget: budget}
}

// Add copies key and value into the sorter.
func (s *Sorter) Add(key, value []byte) error {
	need := len(key) + len(value)
	if len(s.ents) > 0 && len(s.arena)+need+(len(s.ents)+1)*entrySize > s.budget {
		if err := s.spill(); err != nil {
			return err
		}
	}
	if s.arena == nil {
		// One arena of the whole budget, reused by every run: growing it by
		// doubling would leave garbage that the collector lets the heap grow
		// into, doubling the real footprint. Untouched capacity costs no
		// resident memory.
		s.arena = make([]byte, 0, s.budget)
	}
	s.ents = append(s.ents, entry{off: uint32(len(s.arena)), klen: uint32(len(key)), vlen: uint32(len(value))})
	s.arena = append(append(s.arena, key...), value...)
	return nil
}

// Runs reports how many runs have been spilled so far.
func (s *Sorter) Runs() int { return len(s.runs) }

func (s *Sorter) key(e entry) []byte { return s.arena[e.off : e.off+e.klen] }
func (s *Sorter) val(e entry) []byte { return s.arena[e.off+e.klen : e.off+e.klen+e.vlen] }

func (s *Sorter) sortMemory() {
	slices.SortFunc(s.ents, func(a, b entry) int { return bytes.Compare(s.key(a), s.key(b)) })
}

func (s *Sorter) spill() error {
	s.sortMemory()
	f, err := os.CreateTemp(s.dir, "extsort-run-*")
	if err != nil {
		return fmt.Errorf("spill sorted run: %w", err)
	}
	// The file is unlinked at once: the open handle keeps it readable and a
	// crash leaves nothing behind.
	os.Remove(f.Name())
	s.runs = append(s.runs, f)
	w := bufio.NewWriterSize(f, 256<<10)
	var hdr [2 * binary.MaxVarintLen32]byte
	for _, e := range s.ents {
		n := binary.PutUvarint(hdr[:], uint64(e.klen))
		n += binary.PutUvarint(hdr[n:], uint64(e.vlen))
		w.Write(hdr[:n])
		w.Write(s.key(e))
		w.Write(s.val(e))
	}
	if err := w.Flush(); err != nil {
		return fmt.Errorf("spill sorted run: %w", err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("spill sorted run: %w", err)
	}
	s.arena, s.ents = s.arena[:0], s.ents[:0]
	return nil
}

// Each calls fn for every pair in key order, then releases the sorter's
// memory and files. The slices passed to fn are only valid during the call.
func (s *Sorter) Each(fn func(key, value []byte) error) error {
	defer s.Close()
	if len(s.runs) == 0 {
		s.sortMemory()
		for _, e := range s.ents {
			if err := fn(s.key(e), s.val(e)); err != nil {
				return err
			}
		}
		return nil
	}
	if len(s.ents) > 0 {
		if err := s.spill(); err != nil {
			return err
		}
	}
	// Drop the arena before merging so its memory is not held twice.
	s.arena, s.ents = nil, nil
	h := make(mergeHeap, 0, len(s.runs))
	for _, f := range s.runs {
		r := &run{r: bufio.NewReaderSize(f, runBufferBytes)}
		if ok, err := r.next(); err != nil {
			return err
		} else if ok {
			h = append(h, r)
		}
	}
	heap.Init(&h)
	for len(h) > 0 {
		top := h[0]
		if err := fn(top.key, top.val); err != nil {
			return err
		}
		ok, err := top.next()
		if err != nil {
			return err
		}
		if ok {
			heap.Fix(&h, 0)
		} else {
			heap.Pop(&h)
		}
	}
	return nil
}

// Close releases memory and removes spilled runs. It is safe to call twice.
func (s *Sorter) Close() error {
	var errs []error
	for _, f := range s.runs {
		errs = append(errs, f.Close())
	}
	s.runs, s.arena, s.ents = nil, nil, nil
	return errors.Join(errs...)
}

// run is a spilled run being merged.
type run struct {
	r        *bufio.Reader
	buf      []byte
	key, val []byte
}

func (r *run) next() (bool, error) {
	klen, err := binary.ReadUvarint(r.r)
	if err == io.EOF {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("read sorted run: %w", err)
	}
	vlen, err := binary.ReadUvarint(r.r)
	if err != nil {
		return false, fmt.Errorf("read sorted run: %w", err)
	}
	r.buf = slices.Grow(r.buf[:0], int(klen+vlen))[:klen+vlen]
	if _, err := io.ReadFull(r.r, r.buf); err != nil {
		return false, fmt.Errorf("read sorted run: %w", err)
	}
	r.key, r.val = r.buf[:klen], r.buf[klen:]
	return true, nil
}

type mergeHeap []*run

func (h mergeHeap) Len() int           { return len(h) }
func (h mergeHeap) Less(i, j int) bool { return bytes.Compare(h[i].key, h[j].key) < 0 }
func (h mergeHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *mergeHeap) Push(x any)        { *h = append(*h, x.(*run)) }
func (h *mergeHeap) Pop() any {
	old := *h
	r := old[len(old)-1]
	*h = old[:len(old)-1]
	return r
}
