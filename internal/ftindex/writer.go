package ftindex

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"

	"github.com/cockroachdb/pebble/v2/objstorage/objstorageprovider"
	"github.com/cockroachdb/pebble/v2/sstable"

	"github.com/indexbuild/indexbuild/internal/table"
)

const (
	// batchDocs rows travel together from Add to an analyzer and on to the
	// postings accumulator.
	batchDocs = 1024
	// minBudget keeps runs from getting absurdly small.
	minBudget = 64 << 10
)

// Writer builds one partition's file of one fulltext element.
//
// Add hands rows over in batches to one analyzer goroutine per CPU; one
// accumulator goroutine takes the analyzed batches in row order and appends
// each (term, row, frequency) to the term's in-memory posting list, spilling
// the lists as a sorted run to disk when they outgrow the memory budget.
// Handles and field lengths go to disk as they come. Finish merges the runs
// term by term into the SSTable. Memory is the budget plus a few batches,
// whatever the number of rows.
type Writer struct {
	elem    table.Element
	fields  int
	docs    uint32
	batch   *batch
	free    chan *batch // recycled batches: bounds the batches in flight
	work    chan *batch // to the analyzers
	ordered chan *batch // to the accumulator, in row order
	done    chan struct{}
	failed  chan struct{} // closed when the accumulator fails
	acc     *accumulator
	started bool
	closed  bool
}

// NewWriter starts a file of element e that keeps about memBudget bytes of
// postings in memory and spills sorted runs and row data to tmpDir.
func NewWriter(tmpDir string, e table.Element, memBudget int) (*Writer, error) {
	fields := len(e.Columns)
	if fields == 0 || fields > maxFields {
		return nil, fmt.Errorf("fulltext element %d has %d columns; 1 to %d are supported", e.ID, fields, maxFields)
	}
	acc, err := newAccumulator(tmpDir, fields, max(memBudget, minBudget))
	if err != nil {
		return nil, err
	}
	return &Writer{elem: e, fields: fields, acc: acc}, nil
}

// start launches the goroutines on the first row.
func (w *Writer) start() {
	analyzers := max(runtime.GOMAXPROCS(0), 1)
	w.free = make(chan *batch, 2*analyzers+2)
	for range cap(w.free) {
		w.free <- &batch{}
	}
	w.work = make(chan *batch, cap(w.free))
	w.ordered = make(chan *batch, cap(w.free))
	w.done, w.failed = make(chan struct{}), make(chan struct{})
	for range analyzers {
		go func() {
			a := newAnalyzer()
			for b := range w.work {
				b.analyze(a, w.fields)
				close(b.ready)
			}
		}()
	}
	go func() {
		defer close(w.done)
		var failed bool
		for b := range w.ordered {
			<-b.ready
			if !failed {
				if err := w.acc.add(b); err != nil {
					w.acc.err = err
					failed = true
					close(w.failed)
				}
			}
			w.free <- b
		}
	}()
	w.started = true
}

// Add indexes one row: the values of the element's columns, in order, under
// handle. NULL values have no terms; a row whose values are all NULL is
// still counted, so it weighs in the statistics but never matches.
func (w *Writer) Add(values []table.Value, handle string) error {
	if w.closed {
		if w.acc.err != nil {
			return w.acc.err
		}
		return fmt.Errorf("fulltext element %d: row added after Finish or Close", w.elem.ID)
	}
	if !w.started {
		w.start()
	}
	if w.batch == nil {
		select {
		case w.batch = <-w.free:
		case <-w.failed:
			return w.fail()
		}
		w.batch.reset(w.docs)
	}
	w.batch.add(values, handle)
	w.docs++
	if w.docs == 0 {
		return fmt.Errorf("fulltext element %d: more than %d rows in one partition", w.elem.ID, uint32(1<<32-1))
	}
	if w.batch.n == batchDocs {
		return w.send()
	}
	return nil
}

func (w *Writer) send() error {
	b := w.batch
	w.batch = nil
	b.ready = make(chan struct{})
	select {
	case w.work <- b:
	case <-w.failed:
		return w.fail()
	}
	w.ordered <- b
	return nil
}

func (w *Writer) fail() error {
	w.stop()
	return w.acc.err
}

// stop ends the goroutines and waits for the accumulator.
func (w *Writer) stop() {
	if w.closed {
		return
	}
	w.closed = true
	if !w.started {
		return
	}
	close(w.work)
	close(w.ordered)
	<-w.done
}

// Finish completes the file and writes it to f, which it closes.
func (w *Writer) Finish(f *os.File) error {
	if w.batch != nil && w.batch.n > 0 {
		if err := w.send(); err != nil {
			f.Close()
			return err
		}
	}
	w.stop()
	err := w.acc.err
	if err == nil {
		err = w.write(f)
	} else {
		f.Close()
	}
	if cerr := w.acc.close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("fulltext element %d: %w", w.elem.ID, err)
	}
	return nil
}

// Close discards an unfinished file.
func (w *Writer) Close() error {
	w.stop()
	return w.acc.close()
}

func (w *Writer) write(f *os.File) error {
	sw := sstable.NewWriter(objstorageprovider.NewRemoteWritable(f), sstable.WriterOptions{TableFormat: tableFormat, Compression: sstable.ZstdCompression})
	err := w.writeData(sw)
	if cerr := sw.Close(); err == nil {
		err = cerr
	}
	return err
}

func (w *Writer) writeData(sw *sstable.Writer) error {
	a := w.acc
	if err := a.writeHandles(sw, w.docs); err != nil {
		return err
	}
	if err := a.writeLengths(sw, w.docs); err != nil {
		return err
	}
	meta, err := json.Marshal(Meta{FormatVersion: FormatVersion, Element: w.elem, Docs: uint64(w.docs), FieldTerms: a.fieldTerms})
	if err != nil {
		return err
	}
	if err := sw.Set([]byte{keyMeta}, meta); err != nil {
		return err
	}
	return a.writePostings(sw)
}

// batch is a run of consecutive rows: their text and handles on the way in,
// their terms once analyzed.
type batch struct {
	first   uint32 // doc number of the first row
	n       int
	text    []byte
	spans   []span // n × fields values; a negative end is NULL
	handles []byte
	hends   []int
	ready   chan struct{}
	// Analysis results: per row and field the number of terms, and per row
	// its distinct (field, term) keys with their frequencies.
	lengths []uint32
	keys    []byte
	posts   []post
	rowEnd  []int // end of each row's posts
	// distinct counts a row's terms in one field.
	distinct termSet
}

type span struct{ start, end int }

type post struct {
	start, end int // key in keys
	freq       uint32
}

func (b *batch) reset(first uint32) {
	b.first, b.n = first, 0
	b.text, b.spans, b.handles, b.hends = b.text[:0], b.spans[:0], b.handles[:0], b.hends[:0]
}

func (b *batch) add(values []table.Value, handle string) {
	for _, v := range values {
		if v.Kind != table.String {
			b.spans = append(b.spans, span{-1, -1})
			continue
		}
		start := len(b.text)
		b.text = append(b.text, v.Str...)
		b.spans = append(b.spans, span{start, len(b.text)})
	}
	b.handles = append(b.handles, handle...)
	b.hends = append(b.hends, len(b.handles))
	b.n++
}

// analyze fills in the batch's terms with a.
func (b *batch) analyze(a *analyzer, fields int) {
	distinct := &b.distinct
	b.lengths, b.keys, b.posts, b.rowEnd = b.lengths[:0], b.keys[:0], b.posts[:0], b.rowEnd[:0]
	for row := range b.n {
		for f := range fields {
			sp := b.spans[row*fields+f]
			if sp.start < 0 {
				b.lengths = append(b.lengths, 0)
				continue
			}
			terms := a.analyze(b.text[sp.start:sp.end])
			b.lengths = append(b.lengths, uint32(len(terms)))
			distinct.reset(len(terms))
			for i, t := range terms {
				distinct.add(t, a.hashes[i])
			}
			for i, t := range distinct.terms {
				start := len(b.keys)
				b.keys = append(append(b.keys, byte(f)), t...)
				b.posts = append(b.posts, post{start, len(b.keys), distinct.count[i]})
			}
		}
		b.rowEnd = append(b.rowEnd, len(b.posts))
	}
}

// accumulator owns the in-memory posting lists, the spilled runs and the
// row data files.
type accumulator struct {
	tmpDir     string
	fields     int
	postings   *postingLists
	runs       []*os.File
	handles    *spool
	lengths    []*spool // per field
	fieldTerms []uint64
	err        error
	buf        []byte
}

func newAccumulator(tmpDir string, fields, budget int) (*accumulator, error) {
	a := &accumulator{tmpDir: tmpDir, fields: fields, postings: newPostingLists(budget), fieldTerms: make([]uint64, fields)}
	var err error
	if a.handles, err = newSpool(tmpDir); err != nil {
		return nil, err
	}
	for range fields {
		s, err := newSpool(tmpDir)
		if err != nil {
			a.close()
			return nil, err
		}
		a.lengths = append(a.lengths, s)
	}
	return a, nil
}

func (a *accumulator) add(b *batch) error {
	start := 0
	for row := range b.n {
		doc := b.first + uint32(row)
		hstart := 0
		if row > 0 {
			hstart = b.hends[row-1]
		}
		a.buf = binary.AppendUvarint(a.buf[:0], uint64(b.hends[row]-hstart))
		a.buf = append(a.buf, b.handles[hstart:b.hends[row]]...)
		a.handles.w.Write(a.buf)
		for f := range a.fields {
			l := b.lengths[row*a.fields+f]
			a.fieldTerms[f] += uint64(l)
			a.lengths[f].w.Write(binary.AppendUvarint(a.buf[:0], uint64(l)))
		}
		for _, p := range b.posts[start:b.rowEnd[row]] {
			for !a.postings.add(b.keys[p.start:p.end], doc, p.freq) {
				if err := a.spill(); err != nil {
					return err
				}
			}
		}
		start = b.rowEnd[row]
	}
	return nil
}

// spill writes the in-memory lists as a sorted run: per term uvarint key
// length, key, uvarint postings, uvarint byte length, the pairs.
func (a *accumulator) spill() error {
	f, err := os.CreateTemp(a.tmpDir, "fulltext-run-*")
	if err != nil {
		return fmt.Errorf("spill postings: %w", err)
	}
	os.Remove(f.Name()) // the open handle keeps it; a crash leaves nothing
	a.runs = append(a.runs, f)
	bw := bufio.NewWriterSize(f, 256<<10)
	write := func(b []byte) error {
		_, err := bw.Write(b)
		return err
	}
	for _, k := range a.postings.sortedKeys() {
		pl := a.postings.list(k)
		a.buf = binary.AppendUvarint(a.buf[:0], uint64(len(k)))
		a.buf = append(a.buf, k...)
		a.buf = binary.AppendUvarint(a.buf, uint64(pl.n))
		a.buf = binary.AppendUvarint(a.buf, uint64(pl.bytes))
		bw.Write(a.buf)
		a.postings.pieces(pl, write)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("spill postings: %w", err)
	}
	if _, err := f.Seek(0, 0); err != nil {
		return err
	}
	a.postings.reset()
	return nil
}

func (a *accumulator) close() error {
	var errs []error
	for _, f := range a.runs {
		errs = append(errs, f.Close())
	}
	a.runs = nil
	if a.handles != nil {
		errs = append(errs, a.handles.close())
	}
	for _, s := range a.lengths {
		errs = append(errs, s.close())
	}
	if a.postings != nil {
		a.postings.release()
	}
	a.handles, a.lengths, a.postings = nil, nil, nil
	return errors.Join(errs...)
}

// writeHandles moves the spooled handles into blocks of handleBlock.
func (a *accumulator) writeHandles(sw *sstable.Writer, docs uint32) error {
	r, err := a.handles.reader()
	if err != nil {
		return err
	}
	hs := make([][]byte, 0, handleBlock)
	var val []byte
	for block := uint32(0); block*handleBlock < docs; block++ {
		hs = hs[:0]
		for range min(handleBlock, docs-block*handleBlock) {
			n, err := binary.ReadUvarint(r)
			if err != nil {
				return fmt.Errorf("read spooled handles: %w", err)
			}
			h := make([]byte, n)
			if _, err := ioReadFull(r, h); err != nil {
				return fmt.Errorf("read spooled handles: %w", err)
			}
			hs = append(hs, h)
		}
		val = appendHandles(val[:0], hs)
		if err := sw.Set(handlesKey(block), val); err != nil {
			return err
		}
	}
	return nil
}

// Handle blocks start with a kind byte.
const (
	handlesStrings = 0 // per handle: uvarint prefix shared with the previous one, uvarint suffix length, suffix
	handlesInts    = 1 // every handle is a canonical decimal int64: zig-zag uvarint deltas from 0
)

func appendHandles(dst []byte, hs [][]byte) []byte {
	ints := make([]int64, 0, len(hs))
	for _, h := range hs {
		v, err := strconv.ParseInt(string(h), 10, 64)
		if err != nil || strconv.FormatInt(v, 10) != string(h) {
			ints = nil
			break
		}
		ints = append(ints, v)
	}
	if ints != nil {
		dst = append(dst, handlesInts)
		var prev int64
		for _, v := range ints {
			dst = binary.AppendVarint(dst, v-prev)
			prev = v
		}
		return dst
	}
	dst = append(dst, handlesStrings)
	var prev []byte
	for _, h := range hs {
		shared := 0
		for shared < len(h) && shared < len(prev) && h[shared] == prev[shared] {
			shared++
		}
		dst = binary.AppendUvarint(dst, uint64(shared))
		dst = binary.AppendUvarint(dst, uint64(len(h)-shared))
		dst = append(dst, h[shared:]...)
		prev = h
	}
	return dst
}

// writeLengths moves each field's spooled lengths into bit-packed chunks of
// lengthChunk: [width][packed].
func (a *accumulator) writeLengths(sw *sstable.Writer, docs uint32) error {
	ls := make([]uint32, lengthChunk)
	var val []byte
	for f, s := range a.lengths {
		r, err := s.reader()
		if err != nil {
			return err
		}
		for chunk := uint32(0); chunk*lengthChunk < docs; chunk++ {
			vs := ls[:min(lengthChunk, docs-chunk*lengthChunk)]
			for i := range vs {
				l, err := binary.ReadUvarint(r)
				if err != nil {
					return fmt.Errorf("read spooled lengths: %w", err)
				}
				vs[i] = uint32(l)
			}
			width := bitWidth(vs)
			val = appendPacked(append(val[:0], width), vs, width)
			if err := sw.Set(lengthsKey(f, chunk), val); err != nil {
				return err
			}
		}
	}
	return nil
}
