package ftindex

import (
	"hash/maphash"
	"sync"

	"github.com/blevesearch/bleve/v2/analysis"
	"github.com/blevesearch/bleve/v2/analysis/lang/en"
	"github.com/blevesearch/bleve/v2/analysis/token/lowercase"
	"github.com/blevesearch/segment"
)

// The analysis is Bleve's "standard" analyzer, the one indexes of format 0
// used, taken apart so that one analyzer per goroutine reuses its buffers:
// Unicode word segmentation (UAX #29, Bleve's segment package; segments
// that are not words, numbers or ideographs are dropped), lower-casing
// (Bleve's filter, with its final-sigma rule) and English stop words
// (Bleve's list).
var (
	stopWords = sync.OnceValue(func() *termSet {
		m := analysis.NewTokenMap()
		if err := m.LoadBytes(en.EnglishStopWords); err != nil {
			panic(err) // a compiled-in list
		}
		var s termSet
		s.reset(len(m))
		for w := range m {
			s.add([]byte(w), hashTerm([]byte(w)))
		}
		return &s
	})
	lower = lowercase.NewLowerCaseFilter()
	seed  = maphash.MakeSeed()
)

func hashTerm(t []byte) uint64 { return maphash.Bytes(seed, t) }

// termSet is a small open-addressing hash set of terms whose hashes the
// caller computed once: the analyzer checks stop words and counts a row's
// distinct terms with the same hash.
type termSet struct {
	slots []int32 // index into terms, -1 empty
	terms [][]byte
	count []uint32
}

// reset empties the set and sizes it for n terms.
func (s *termSet) reset(n int) {
	size := 16
	for size < 2*n {
		size *= 2
	}
	if cap(s.slots) < size {
		s.slots = make([]int32, size)
	}
	s.slots = s.slots[:size]
	for i := range s.slots {
		s.slots[i] = -1
	}
	s.terms, s.count = s.terms[:0], s.count[:0]
}

// find returns the slot of t: where it is, or the empty one it would take.
func (s *termSet) find(t []byte, h uint64) int {
	mask := uint64(len(s.slots) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		j := s.slots[i]
		if j < 0 || string(s.terms[j]) == string(t) {
			return int(i)
		}
	}
}

func (s *termSet) has(t []byte, h uint64) bool { return s.slots[s.find(t, h)] >= 0 }

// add counts one more occurrence of t; the set must have room (reset).
func (s *termSet) add(t []byte, h uint64) {
	i := s.find(t, h)
	if j := s.slots[i]; j >= 0 {
		s.count[j]++
		return
	}
	s.slots[i] = int32(len(s.terms))
	s.terms, s.count = append(s.terms, t), append(s.count, 1)
}

// analyzer turns text into terms. It is not safe for concurrent use: it
// owns the buffer the terms it returns point into.
type analyzer struct {
	text   []byte // copy of the input: lower-casing writes over it
	terms  [][]byte
	hashes []uint64 // of terms
	one    [1]*analysis.Token
	tok    analysis.Token
	stop   *termSet
}

func newAnalyzer() *analyzer { return &analyzer{stop: stopWords()} }

// analyze returns the terms of text in order. They are valid until the next
// call.
//
// A space always ends a segment (UAX #29 breaks around it, and the
// segmenter makes each space a segment of its own, with any combining marks
// after it), so the text is cut at spaces first and a piece made only of
// ASCII letters and digits, by far the common case, is one word without
// running the segmenter. TestTermsAreBlevesStandardAnalyzer holds this to
// the segmenter's answer on random text.
func (a *analyzer) analyze(text []byte) [][]byte {
	a.text = append(a.text[:0], text...)
	a.terms, a.hashes = a.terms[:0], a.hashes[:0]
	b := a.text
	for i := 0; i < len(b); {
		if b[i] == ' ' {
			i++
			continue
		}
		j, simple := i, true
		for ; j < len(b) && b[j] != ' '; j++ {
			simple = simple && asciiAlnum[b[j]]
		}
		if simple {
			a.add(b[i:j])
		} else {
			seg := segment.NewWordSegmenterDirect(b[i:j])
			for seg.Segment() {
				if seg.Type() != segment.None {
					a.add(seg.Bytes())
				}
			}
		}
		i = j
	}
	return a.terms
}

var asciiAlnum = func() (t [256]bool) {
	for c := range t {
		t[c] = 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
	}
	return t
}()

// add lower-cases a word and keeps it unless it is a stop word.
func (a *analyzer) add(word []byte) {
	term := a.toLower(word)
	h := hashTerm(term)
	if !a.stop.has(term, h) {
		a.terms, a.hashes = append(a.terms, term), append(a.hashes, h)
	}
}

// toLower lower-cases term in place when it can, as Bleve's filter does;
// ASCII, by far the common case, takes a short path with the same result.
func (a *analyzer) toLower(term []byte) []byte {
	for i, c := range term {
		if c >= 0x80 {
			a.tok.Term = term
			a.one[0] = &a.tok
			lower.Filter(a.one[:])
			return a.tok.Term
		}
		if 'A' <= c && c <= 'Z' {
			term[i] = c + 'a' - 'A'
		}
	}
	return term
}

// Terms returns the terms the index stores for text, in order: what a
// match query for text looks up. Tests use it to check searches by brute
// force.
func Terms(text string) []string {
	var out []string
	for _, t := range newAnalyzer().analyze([]byte(text)) {
		out = append(out, string(t))
	}
	return out
}
