// Package builder is the reference worker: it builds one partition of an
// index build task from a table in object storage and stages the result.
package builder

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/indexbuild/indexbuild/internal/commit"
	"github.com/indexbuild/indexbuild/internal/retry"
	"github.com/indexbuild/indexbuild/internal/rows"
	"github.com/indexbuild/indexbuild/internal/staging"
	"github.com/indexbuild/indexbuild/internal/storage"
	"github.com/indexbuild/indexbuild/internal/summary"
	"github.com/indexbuild/indexbuild/internal/table"
	"github.com/indexbuild/indexbuild/internal/taskmeta"
)

// DefaultSortBudget is the memory all elements of a worker may use to sort
// index keys or collect fulltext postings before spilling runs to disk.
const DefaultSortBudget = 64 << 20

// Config is one worker's assignment.
type Config struct {
	Meta         taskmeta.Meta
	Partition    int
	Partitions   int
	Source       storage.Bucket
	SourceFormat rows.Format // "" = by file extension
	Output       storage.Bucket
	// TmpDir holds sort runs and element files before upload; "" is the
	// system temporary directory.
	TmpDir string
	// SortBudget bounds sort memory over all elements; 0 means
	// DefaultSortBudget.
	SortBudget int
	// Log receives progress lines every ProgressEvery (0: never).
	Log           io.Writer
	ProgressEvery time.Duration
}

// Build builds cfg's partition. It is idempotent: a partition whose staged
// output is complete, or whose task is committed, is not built again (the
// summary says AlreadyDone).
func Build(ctx context.Context, cfg Config) (summary.Worker, error) {
	start := time.Now()
	sum := summary.Worker{Partition: cfg.Partition}
	meta, done, err := build(ctx, cfg)
	sum.ElapsedSeconds = time.Since(start).Seconds()
	if err != nil {
		return sum, err
	}
	sum.Rows, sum.Bytes, sum.Files, sum.AlreadyDone = meta.Rows, meta.Bytes, len(meta.Files), done
	if rss, ok := PeakRSS(); ok {
		logf(cfg, "done, peak RSS %.1f MiB", float64(rss)/(1<<20))
	}
	return sum, nil
}

// build checks the task against the catalog and the output, then builds and
// stages the partition unless that is done already (done = true).
func build(ctx context.Context, cfg Config) (meta staging.PartitionMeta, done bool, err error) {
	if err := cfg.Meta.Validate(); err != nil {
		return meta, false, fmt.Errorf("%w: %v", retry.ErrInvalidInput, err)
	}
	if cfg.Partitions < 1 || cfg.Partition < 0 || cfg.Partition >= cfg.Partitions {
		return meta, false, fmt.Errorf("%w: partition %d of %d out of range", retry.ErrInvalidInput, cfg.Partition, cfg.Partitions)
	}
	tbl, err := LoadTable(ctx, cfg.Source)
	if err != nil {
		return meta, false, err
	}
	// Resolve before touching the output: a stale task writes nothing.
	elements, err := tbl.Resolve(cfg.Meta)
	if err != nil {
		return meta, false, err
	}
	// A committed output is done for every partition: a worker retried after
	// finalize must not stage anything again (staging is gone by then).
	if committed, err := isCommitted(ctx, cfg); err != nil || committed {
		return meta, committed, err
	}
	if err := staging.EnsureTaskManifest(ctx, cfg.Output, cfg.Meta); err != nil {
		return meta, false, err
	}
	if meta, done, err := alreadyDone(ctx, cfg); err != nil || done {
		return meta, done, err
	}
	sinks, rows, snapshot, err := buildSinks(ctx, cfg, tbl, elements)
	defer func() {
		for _, s := range sinks {
			s.close()
		}
	}()
	if err != nil {
		return meta, false, err
	}
	meta, err = stage(ctx, cfg, sinks, rows, snapshot)
	return meta, false, err
}

// buildSinks streams the partition's rows into one sink per element and
// returns the sinks (to be closed by the caller, also on error), the number
// of rows and the digest of the input snapshot they were read from.
//
// The partition plans from the task's pinned input (pinInput). It checks
// that a file is still the pinned version when reading it fails (a changed
// file is stale metadata, not the bad data a decoder would make of it), and
// that all its files are after the last row: the rows it indexed are the
// snapshot's. (A check before reading as well would only fail a stale task
// sooner, at the cost of one more listing per worker in every task.)
func buildSinks(ctx context.Context, cfg Config, tbl *table.Table, elements []table.Index) ([]*sink, int64, string, error) {
	cols, sinkPos, pkPos := decodedColumns(tbl, elements)
	var c counters
	sc := &rows.Scanner{Open: bucketOpener{cfg.Source}, Columns: cols, Progress: &c.read}
	snap, digest, err := pinInput(ctx, cfg, sc)
	if err != nil {
		return nil, 0, "", err
	}
	shares, total, err := planShare(snap, cfg.SourceFormat, cfg.Partition, cfg.Partitions)
	if err != nil {
		return nil, 0, "", err
	}
	budget := cfg.SortBudget
	if budget <= 0 {
		budget = DefaultSortBudget
	}
	sorters := len(elements)
	if pkPos >= 0 {
		sorters++
	}
	sinks := make([]*sink, 0, len(elements))
	for _, ix := range elements {
		s, err := newSink(tbl, ix, sinkPos[len(sinks)], cfg.TmpDir, budget/sorters)
		if err != nil {
			return sinks, 0, "", err
		}
		sinks = append(sinks, s)
	}
	var pks *primaryKeys
	if pkPos >= 0 {
		pks = newPrimaryKeys(tbl.PrimaryKey, cfg.TmpDir, budget/sorters)
		defer pks.close()
	}
	stop := reportProgress(cfg, &c, total)
	err = scanShares(ctx, sc, shares, tbl, pkPos, func(sh int, rec *rows.Record, handle string) error {
		if pks != nil {
			if err := pks.add(handle, sh, rec.Pos); err != nil {
				return err
			}
		}
		for _, s := range sinks {
			if err := s.add(rec.Values, handle); err != nil {
				return err
			}
		}
		c.rows.Add(1)
		return nil
	})
	stop()
	var failed *shareError
	if errors.As(err, &failed) {
		// A read or decoding failure of a file that changed is the change.
		if cerr := checkPinned(ctx, cfg.Source, snap.Source, []staging.SourceFile{failed.share.pinned}); errors.Is(cerr, retry.ErrStaleMeta) {
			return sinks, 0, "", cerr
		}
	}
	if err == nil && pks != nil {
		files := make([]rows.File, len(shares))
		for i, sh := range shares {
			files[i] = sh.file
		}
		err = pks.check(ctx, sc, files)
	}
	if err == nil {
		err = checkPinned(ctx, cfg.Source, snap.Source, pinnedFiles(shares))
	}
	return sinks, c.rows.Load(), digest, err
}

// stage writes every element's file and then the partition metadata, which
// marks the partition complete.
func stage(ctx context.Context, cfg Config, sinks []*sink, rows int64, snapshot string) (staging.PartitionMeta, error) {
	meta := staging.PartitionMeta{
		FormatVersion: staging.FormatVersion, Task: cfg.Meta,
		Partition: cfg.Partition, Partitions: cfg.Partitions, Rows: rows,
		Files: []staging.File{}, Snapshot: snapshot,
	}
	// A partition without rows stages no files: finalize drops it from the
	// dense numbering, and readers have nothing empty to open.
	if meta.Rows > 0 {
		for _, s := range sinks {
			f, samples, err := s.finish(ctx, cfg.Output, cfg.TmpDir, cfg.Partition)
			if err != nil {
				return meta, fmt.Errorf("element %d: %w", s.ix.ID, err)
			}
			logf(cfg, "element %d staged, %d bytes", s.ix.ID, f.Size)
			meta.Files = append(meta.Files, f)
			meta.Bytes += f.Size
			if samples != nil {
				meta.Samples = append(meta.Samples, *samples)
			}
		}
	}
	return meta, staging.WritePartitionMeta(ctx, cfg.Output, meta)
}

// isCommitted reports whether the output holds a commit marker of this task;
// a marker of another task is stale metadata.
func isCommitted(ctx context.Context, cfg Config) (bool, error) {
	m, err := commit.ReadMarker(ctx, cfg.Output)
	if errors.Is(err, storage.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return true, staging.CheckTask(commit.MarkerKey, cfg.Output.URI(), m.Task, cfg.Meta)
}

// alreadyDone reports whether the partition's complete output is staged:
// its metadata is there, for this task and partitioning, and every file it
// lists exists with the recorded size. Metadata of another task is stale.
func alreadyDone(ctx context.Context, cfg Config) (staging.PartitionMeta, bool, error) {
	m, exists, err := staging.ReadPartitionMeta(ctx, cfg.Output, cfg.Partition)
	if !exists {
		return m, false, err
	}
	if err != nil {
		return m, false, nil // unreadable: rebuild and overwrite
	}
	if err := staging.CheckTask(staging.PartitionMetaKey(cfg.Partition), cfg.Output.URI(), m.Task, cfg.Meta); err != nil {
		return m, false, err
	}
	if m.Partitions != cfg.Partitions {
		return m, false, nil
	}
	for _, f := range m.Files {
		a, err := cfg.Output.Attributes(ctx, f.Path)
		if errors.Is(err, storage.ErrNotFound) || err == nil && a.Size != f.Size {
			return m, false, nil
		}
		if err != nil {
			return m, false, err
		}
	}
	return m, true, nil
}

// decodedColumns returns the columns a partition decodes (each element's
// columns and the primary key, each once), where every element's columns
// sit among them, and where the primary key sits (-1 if none).
func decodedColumns(t *table.Table, elements []table.Index) ([]table.Column, [][]int, int) {
	var cols []table.Column
	index := map[string]int{}
	at := func(name string) int {
		if i, ok := index[name]; ok {
			return i
		}
		c, _ := t.Column(name)
		index[name] = len(cols)
		cols = append(cols, c)
		return index[name]
	}
	pos := make([][]int, len(elements))
	for i, ix := range elements {
		for _, c := range ix.Columns {
			pos[i] = append(pos[i], at(c))
		}
	}
	pk := -1
	if t.PrimaryKey != "" {
		pk = at(t.PrimaryKey)
	}
	return cols, pos, pk
}

// scanShares streams every row of the partition's shares to fn with the
// share's index and the row's handle: the primary key's value, or
// "<file>:<position>" without one. An error reading share i comes back as
// a *shareError.
func scanShares(ctx context.Context, sc *rows.Scanner, shares []share, t *table.Table, pkPos int, fn func(int, *rows.Record, string) error) error {
	var buf []byte
	for i, sh := range shares {
		err := sc.Scan(ctx, sh.file, sh.split, func(rec *rows.Record) error {
			var handle string
			if pkPos >= 0 {
				pk := rec.Values[pkPos]
				if pk.Kind == table.Null {
					return &retry.InvalidInputError{File: rec.File, Column: t.PrimaryKey, Err: fmt.Errorf("primary key is NULL at %s", sc.Location(ctx, sh.file, rec.Pos))}
				}
				handle = pk.Text()
			} else {
				buf = strconv.AppendInt(append(append(buf[:0], rec.File...), ':'), rec.Pos, 10)
				handle = string(buf)
			}
			return fn(i, rec, handle)
		})
		if err != nil {
			return &shareError{share: &shares[i], err: err}
		}
	}
	return nil
}

// shareError is a failure while reading one share.
type shareError struct {
	share *share
	err   error
}

func (e *shareError) Error() string { return e.err.Error() }
func (e *shareError) Unwrap() error { return e.err }
