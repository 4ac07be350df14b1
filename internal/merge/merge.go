// Package merge is the merge stage of global sort: one pod per key range
// reads its range of an `index` element from every partition's staged
// SSTable (ranged reads), merges them in key order, checks a unique
// element's keys table-wide, and stages one SSTable per element:
//
//	staging/merge_<r>_<element>.sst   range r's entries of the element
//	staging/merge_<r>.json            range r is merged (written last)
//
// The ranges come from the partitions' key samples (internal/globalsort),
// so every pod plans the same ranges. A rerun rewrites identical bytes:
// the stage is idempotent and safe to crash anywhere.
package merge

import (
	"bytes"
	"container/heap"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/indexbuild/indexbuild/internal/globalsort"
	"github.com/indexbuild/indexbuild/internal/retry"
	"github.com/indexbuild/indexbuild/internal/sstindex"
	"github.com/indexbuild/indexbuild/internal/staging"
	"github.com/indexbuild/indexbuild/internal/storage"
	"github.com/indexbuild/indexbuild/internal/summary"
	"github.com/indexbuild/indexbuild/internal/table"
	"github.com/indexbuild/indexbuild/internal/taskmeta"
)

// Config is one merge pod's assignment.
type Config struct {
	Meta taskmeta.Meta
	// Output is the task's version of the output root (commit.OpenTask).
	Output storage.Bucket
	// Catalog, when set, is the table's current catalog: a task whose
	// elements it no longer describes as built is stale. nil: not checked.
	Catalog *table.Table
	// Range of Ranges is the key range to merge.
	Range, Ranges int
	// TmpDir holds the merged files before upload; "" is the system
	// temporary directory.
	TmpDir string
	// Log receives a line per merged element (nil: none).
	Log io.Writer
	// Stats, when set, counts the ranged reads of the partitions' files.
	Stats *sstindex.ReadStats
}

// metaParallelism bounds the partition metadata read at once.
const metaParallelism = 16

// Run merges cfg's key range. The caller checks the commit marker first
// (a committed task is done for every range; the marker is commit's, and
// commit runs this merge in-process for finalize --merge-local). A range
// whose merge metadata of this task is staged with all its files is not
// merged again (the summary says AlreadyDone).
func Run(ctx context.Context, cfg Config) (summary.Merge, error) {
	start := time.Now()
	sum := summary.Merge{Range: cfg.Range, Ranges: cfg.Ranges}
	m, done, err := run(ctx, cfg)
	sum.ElapsedSeconds = time.Since(start).Seconds()
	if err != nil {
		return sum, err
	}
	for _, e := range m.Elements {
		sum.Entries += e.Entries
		if e.File != nil {
			sum.Files++
			sum.Bytes += e.File.Size
		}
	}
	sum.AlreadyDone = done
	return sum, nil
}

func run(ctx context.Context, cfg Config) (staging.MergeMeta, bool, error) {
	if err := validate(cfg); err != nil {
		return staging.MergeMeta{}, false, fmt.Errorf("%w: %v", retry.ErrInvalidInput, err)
	}
	var described map[int64]table.Element
	if cfg.Catalog != nil {
		// Before touching the output: a stale task writes nothing.
		ixs, err := cfg.Catalog.Resolve(cfg.Meta)
		if err != nil {
			return staging.MergeMeta{}, false, err
		}
		described = make(map[int64]table.Element, len(ixs))
		for _, ix := range ixs {
			described[ix.ID] = cfg.Catalog.Element(ix)
		}
	}
	metas, snapshot, err := readPartitions(ctx, cfg)
	if err != nil {
		return staging.MergeMeta{}, false, err
	}
	if m, done, err := alreadyDone(ctx, cfg, snapshot); err != nil || done {
		return m, done, err
	}
	m := staging.MergeMeta{
		FormatVersion: staging.FormatVersion, Task: cfg.Meta,
		Range: cfg.Range, Ranges: cfg.Ranges, Snapshot: snapshot,
	}
	for _, id := range cfg.Meta.ElementIDs {
		e, err := mergeElement(ctx, cfg, metas, id, described)
		if err != nil {
			return m, false, err
		}
		m.Elements = append(m.Elements, e)
	}
	return m, false, staging.WriteMergeMeta(ctx, cfg.Output, m)
}

func validate(cfg Config) error {
	if err := cfg.Meta.Validate(); err != nil {
		return err
	}
	switch {
	case cfg.Meta.ElementType != taskmeta.ElementTypeIndex:
		return fmt.Errorf("only %q elements are merged, the task builds %q elements", taskmeta.ElementTypeIndex, cfg.Meta.ElementType)
	case cfg.Meta.Partitions < 1:
		return fmt.Errorf("the task's partition count is required, got %d", cfg.Meta.Partitions)
	case cfg.Ranges < 1 || cfg.Range < 0 || cfg.Range >= cfg.Ranges:
		return fmt.Errorf("range %d of %d out of range", cfg.Range, cfg.Ranges)
	}
	return nil
}

// readPartitions checks the task manifest and reads every partition's
// metadata: all present, of this task, of one partition count, and built
// from the task's input snapshot, whose digest it returns ("" for a task
// staged before inputs were pinned).
func readPartitions(ctx context.Context, cfg Config) ([]staging.PartitionMeta, string, error) {
	b := cfg.Output
	manifest, err := staging.ReadTaskManifest(ctx, b)
	if err != nil {
		return nil, "", fmt.Errorf("task manifest: %w", err)
	}
	if err := staging.CheckTask(staging.TaskManifestKey, b.URI(), manifest, cfg.Meta); err != nil {
		return nil, "", err
	}
	_, digest, err := staging.ReadSnapshot(ctx, b, staging.SnapshotKey)
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		return nil, "", err
	}
	partitions := cfg.Meta.Partitions
	metas := make([]staging.PartitionMeta, partitions)
	exists := make([]bool, partitions)
	var g errgroup.Group
	g.SetLimit(metaParallelism)
	for p := range partitions {
		g.Go(func() error {
			var err error
			metas[p], exists[p], err = staging.ReadPartitionMeta(ctx, b, p)
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return nil, "", err
	}
	var missing []int
	for p, m := range metas {
		key := staging.PartitionMetaKey(p)
		switch {
		case !exists[p]:
			missing = append(missing, p)
			continue
		case m.Partitions != partitions:
			return nil, "", fmt.Errorf("%w: %s was staged as one of %d partitions, the task has %d", retry.ErrInvalidInput, key, m.Partitions, partitions)
		case m.Snapshot != digest:
			return nil, "", fmt.Errorf("%w: partition %d was built from input snapshot %q, the task's %s is %q",
				retry.ErrStaleMeta, p, m.Snapshot, staging.SnapshotKey, digest)
		}
		if err := staging.CheckTask(key, b.URI(), m.Task, cfg.Meta); err != nil {
			return nil, "", err
		}
	}
	if len(missing) > 0 {
		// Retryable: the merge runs after every build pod succeeded, so
		// this is a store that has not caught up, or a finalize's cleanup
		// (whose marker the retry then finds).
		return nil, "", fmt.Errorf("partitions %v of %d have no metadata in %s", missing, partitions, staging.Prefix)
	}
	return metas, digest, nil
}

// alreadyDone reports whether the range's complete output is staged: its
// merge metadata is there, for this task, range count and snapshot, and
// every file it lists exists with the recorded size. Metadata of another
// task is stale; unreadable or other metadata is merged again.
func alreadyDone(ctx context.Context, cfg Config, snapshot string) (staging.MergeMeta, bool, error) {
	m, exists, err := staging.ReadMergeMeta(ctx, cfg.Output, cfg.Range)
	if !exists || err != nil && errors.Is(err, retry.ErrInvalidInput) {
		return m, false, nil
	}
	if err != nil {
		return m, false, err
	}
	if err := staging.CheckTask(staging.MergeMetaKey(cfg.Range), cfg.Output.URI(), m.Task, cfg.Meta); err != nil {
		return m, false, err
	}
	if m.Ranges != cfg.Ranges || m.Snapshot != snapshot {
		return m, false, nil
	}
	for _, e := range m.Elements {
		if e.File == nil {
			continue
		}
		a, err := cfg.Output.Attributes(ctx, e.File.Path)
		if errors.Is(err, storage.ErrNotFound) || err == nil && a.Size != e.File.Size {
			return m, false, nil
		}
		if err != nil {
			return m, false, err
		}
	}
	return m, true, nil
}

// mergeElement merges the range of one element from every partition's
// staged file and stages the result.
func mergeElement(ctx context.Context, cfg Config, metas []staging.PartitionMeta, id int64, described map[int64]table.Element) (staging.MergedElement, error) {
	var samples []staging.ElementSamples
	var files []staging.File
	for _, m := range metas {
		for _, s := range m.Samples {
			if s.Element == id {
				samples = append(samples, s)
			}
		}
		for _, f := range m.Files {
			if f.Element == id {
				files = append(files, f)
			}
		}
	}
	out := staging.MergedElement{Element: id}
	out.Lower, out.Upper = globalsort.Range(globalsort.Boundaries(samples, cfg.Ranges), cfg.Range)
	srcs, elem, err := open(ctx, cfg, files, out.Lower, out.Upper, described)
	defer srcs.close()
	if err != nil || srcs.Len() == 0 {
		return out, err // nothing of the element in the range: no file
	}
	tmp, err := os.CreateTemp(cfg.TmpDir, "merge-*")
	if err != nil {
		return out, err
	}
	defer os.Remove(tmp.Name())
	entries, keyRange, err := mergeInto(tmp, elem, srcs)
	if err != nil {
		return out, err
	}
	f, err := os.Open(tmp.Name())
	if err != nil {
		return out, err
	}
	defer f.Close()
	staged, err := staging.WriteMergeFile(ctx, cfg.Output, cfg.Range, id, f)
	if err != nil {
		return out, err
	}
	staged.KeyRange = keyRange
	out.Entries, out.File = entries, &staged
	if cfg.Log != nil {
		fmt.Fprintf(cfg.Log, "range %d of %d: element %d merged from %d files, %d entries, %d bytes\n", cfg.Range, cfg.Ranges, id, len(files), entries, staged.Size)
	}
	return out, nil
}

// open opens the staged files of one element with ranged reads, each
// positioned on its first entry in [lower, upper), and returns them with
// the element's description. Every file must describe the element alike
// and, with a catalog, as the catalog does now.
func open(ctx context.Context, cfg Config, files []staging.File, lower, upper []byte, described map[int64]table.Element) (*sources, table.Element, error) {
	srcs := &sources{}
	var elem table.Element
	for i, f := range files {
		r, err := sstindex.OpenObjectReader(ctx, cfg.Output, f.Path, cfg.Stats)
		if err != nil {
			return srcs, elem, err
		}
		s := &source{r: r, file: f.Path}
		srcs.all = append(srcs.all, s)
		e, err := r.Element()
		switch {
		case err != nil:
			return srcs, elem, fmt.Errorf("%w: %s: %v", retry.ErrInvalidInput, f.Path, err)
		case i > 0 && !reflect.DeepEqual(e, elem):
			return srcs, elem, fmt.Errorf("%w: %s and %s describe element %d differently", retry.ErrInvalidInput, files[0].Path, f.Path, f.Element)
		}
		// Files after the first describe it as the first does (above).
		if want, ok := described[f.Element]; described != nil && i == 0 && (!ok || !reflect.DeepEqual(e, want)) {
			return srcs, elem, fmt.Errorf("%w: index %d (%s) was built as %+v, the catalog %s now describes it as %+v",
				retry.ErrStaleMeta, e.ID, e.Name, e, table.CatalogName, want)
		}
		elem = e
		if s.it, err = r.Entries(lower, upper); err != nil {
			return srcs, elem, err
		}
		if s.it.Valid() {
			srcs.live = append(srcs.live, s)
		}
	}
	heap.Init(srcs)
	return srcs, elem, nil
}

// mergeInto writes the entries of srcs in key order to tmp (which it
// closes) as one SSTable of elem, and returns their number and key range.
// Memory is a block per source (and its read-ahead), whatever the size of
// the range.
func mergeInto(tmp *os.File, elem table.Element, srcs *sources) (int64, *staging.KeyRange, error) {
	w := sstindex.NewSortedWriter(tmp, elem)
	for srcs.Len() > 0 {
		top := srcs.live[0]
		if err := w.Add(top.it.Key(), top.it.Handle()); err != nil {
			w.Abort()
			var dup *sstindex.DuplicateError
			if errors.As(err, &dup) {
				return 0, nil, fmt.Errorf("%w: %w", retry.ErrInvalidInput, dup)
			}
			return 0, nil, err
		}
		if top.it.Next(); top.it.Valid() {
			heap.Fix(srcs, 0)
		} else {
			heap.Pop(srcs)
		}
	}
	// An iterator stops early on a read error, which closing reports.
	if err := srcs.close(); err != nil {
		w.Abort()
		return 0, nil, err
	}
	if err := w.Close(); err != nil {
		return 0, nil, err
	}
	return w.Entries(), w.KeyRange(), nil
}

// source is one partition's file being merged.
type source struct {
	r    *sstindex.Reader
	it   *sstindex.EntryIter // nil until positioned
	file string
}

// sources is a min-heap of the live sources by current key; all holds every
// opened one, for closing.
type sources struct {
	live []*source
	all  []*source
}

func (h *sources) Len() int { return len(h.live) }
func (h *sources) Less(i, j int) bool {
	return bytes.Compare(h.live[i].it.Key(), h.live[j].it.Key()) < 0
}
func (h *sources) Swap(i, j int) { h.live[i], h.live[j] = h.live[j], h.live[i] }
func (h *sources) Push(x any)    { h.live = append(h.live, x.(*source)) }
func (h *sources) Pop() any {
	s := h.live[len(h.live)-1]
	h.live = h.live[:len(h.live)-1]
	return s
}

// close closes every source and returns the first read error an iterator
// met; closing twice is a no-op.
func (h *sources) close() error {
	var errs []error
	for _, s := range h.all {
		if s.it != nil {
			if err := s.it.Close(); err != nil {
				errs = append(errs, fmt.Errorf("read %s: %w", s.file, err))
			}
		}
		s.r.Close()
	}
	h.all, h.live = nil, nil
	return errors.Join(errs...)
}
