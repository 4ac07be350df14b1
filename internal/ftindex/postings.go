package ftindex

import (
	"encoding/binary"
	"slices"
)

// postingLists are the in-memory posting lists of every term since the
// last spill, as chains of blocks in one arena that is allocated once and
// reused after every spill: memory stays at the budget, with no garbage
// from growing slices for the collector to let the heap grow into.
//
// A list is a chain of blocks of 16, 32, … 4096 bytes; a block holds whole
// postings (uvarint doc gap from the term's previous doc, 0-based for the
// first; uvarint frequency) and ends in a trailer: the next block's offset
// (uint32) and the bytes used (uint16).
type postingLists struct {
	arena  []byte
	free   func()
	index  map[string]int32
	lists  []plist
	terms  int // what the index and lists cost, estimated
	budget int
}

type plist struct {
	head, tail uint32 // first and last block
	pos        uint32 // where the next posting goes in the last block
	level      uint8  // the last block's size class
	last       uint32 // doc of the last posting
	n          uint32 // postings
	bytes      uint32 // encoded bytes
}

const (
	minBlock     = 16
	maxLevel     = 8 // 16 << 8 = 4096 bytes
	trailerBytes = 6
	// termOverhead approximates what a distinct term costs beyond its bytes
	// and blocks (map entry, list header).
	termOverhead = 96
)

func blockSize(level uint8) uint32 { return minBlock << level }

func newPostingLists(budget int) *postingLists {
	arena, free := newArena(budget)
	return &postingLists{arena: arena, free: free, index: map[string]int32{}, budget: budget}
}

// release returns the arena; the lists must not be used again.
func (l *postingLists) release() {
	l.arena, l.lists, l.index = nil, nil, nil
	l.free()
}

func (l *postingLists) fits(n int) bool { return len(l.arena)+l.terms+n <= l.budget }

func (l *postingLists) alloc(level uint8) uint32 {
	off := len(l.arena)
	l.arena = l.arena[:off+int(blockSize(level))]
	return uint32(off)
}

// add appends a posting of doc with freq to key's list. It reports false,
// changing nothing, when the budget is used up: the caller spills and adds
// again.
func (l *postingLists) add(key []byte, doc, freq uint32) bool {
	i, ok := l.index[string(key)]
	if !ok {
		cost := len(key) + termOverhead
		if !l.fits(minBlock + cost) {
			return false
		}
		off := l.alloc(0)
		i = int32(len(l.lists))
		l.lists = append(l.lists, plist{head: off, tail: off, pos: off})
		l.index[string(key)] = i
		l.terms += cost
	}
	p := &l.lists[i]
	var tmp [2 * binary.MaxVarintLen32]byte
	n := binary.PutUvarint(tmp[:], uint64(doc-p.last))
	n += binary.PutUvarint(tmp[n:], uint64(freq))
	if end := p.tail + blockSize(p.level) - trailerBytes; p.pos+uint32(n) > end {
		level := min(p.level+1, maxLevel)
		if !l.fits(int(blockSize(level))) {
			return false
		}
		off := l.alloc(level)
		binary.LittleEndian.PutUint32(l.arena[end:], off)
		binary.LittleEndian.PutUint16(l.arena[end+4:], uint16(p.pos-p.tail))
		p.tail, p.pos, p.level = off, off, level
	}
	copy(l.arena[p.pos:], tmp[:n])
	p.pos += uint32(n)
	p.last, p.n, p.bytes = doc, p.n+1, p.bytes+uint32(n)
	return true
}

// sortedKeys returns the terms in key order.
func (l *postingLists) sortedKeys() []string {
	keys := make([]string, 0, len(l.index))
	for k := range l.index {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func (l *postingLists) list(key string) *plist { return &l.lists[l.index[key]] }

// pieces calls fn with p's blocks in order; each holds whole postings.
func (l *postingLists) pieces(p *plist, fn func([]byte) error) error {
	off, level := p.head, uint8(0)
	for off != p.tail {
		end := off + blockSize(level) - trailerBytes
		used := uint32(binary.LittleEndian.Uint16(l.arena[end+4:]))
		if err := fn(l.arena[off : off+used]); err != nil {
			return err
		}
		off, level = binary.LittleEndian.Uint32(l.arena[end:]), min(level+1, maxLevel)
	}
	return fn(l.arena[p.tail:p.pos])
}

func (l *postingLists) empty() bool { return len(l.lists) == 0 }

// reset forgets every list and keeps the memory.
func (l *postingLists) reset() {
	l.arena, l.lists, l.terms = l.arena[:0], l.lists[:0], 0
	clear(l.index)
}
