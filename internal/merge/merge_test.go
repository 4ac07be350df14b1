package merge_test

import (
	"bytes"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/indexbuild/indexbuild/internal/gentable"
	"github.com/indexbuild/indexbuild/internal/keyenc"
	"github.com/indexbuild/indexbuild/internal/merge"
	"github.com/indexbuild/indexbuild/internal/retry"
	"github.com/indexbuild/indexbuild/internal/sstindex"
	"github.com/indexbuild/indexbuild/internal/staging"
	"github.com/indexbuild/indexbuild/internal/storage/storagetest"
	"github.com/indexbuild/indexbuild/internal/table"
	"github.com/indexbuild/indexbuild/internal/taskmeta"
)

// TestMergeRanges merges every range of a 4-partition build and checks,
// per element: the ranges' files hold exactly the partitions' entries, in
// order; each file's entries lie in its range's [Lower, Upper) (by column
// values) and its KeyRange is its first and last key; the ranges abut.
func TestMergeRanges(t *testing.T) {
	task := booksTask(4)
	out := storagetest.Mem().Open(t)
	stage(t, books(t, 3000), out, task)
	for _, ranges := range []int{1, 3, 8} {
		t.Run(fmt.Sprint(ranges), func(t *testing.T) {
			var metas []staging.MergeMeta
			for r := range ranges {
				sum, err := merge.Run(ctx, config(t, out, task, r, ranges))
				if err != nil {
					t.Fatalf("range %d: %v", r, err)
				}
				m, ok, err := staging.ReadMergeMeta(ctx, out, r)
				if !ok || err != nil {
					t.Fatalf("range %d metadata: %v, %v", r, ok, err)
				}
				var entries int64
				for _, e := range m.Elements {
					entries += e.Entries
				}
				if sum.Range != r || sum.Ranges != ranges || sum.Entries != entries || sum.AlreadyDone {
					t.Fatalf("range %d summary %+v, metadata has %d entries", r, sum, entries)
				}
				metas = append(metas, m)
			}
			for i, id := range task.ElementIDs {
				want := partitionEntries(t, out, task, id)
				var got []entry
				var withFiles int
				for r, m := range metas {
					e := m.Elements[i]
					if e.Element != id {
						t.Fatalf("range %d lists element %d at %d, want %d (task order)", r, e.Element, i, id)
					}
					if r > 0 && !bytes.Equal(metas[r-1].Elements[i].Upper, e.Lower) {
						t.Fatalf("element %d: range %d ends at %x, range %d starts at %x", id, r-1, metas[r-1].Elements[i].Upper, r, e.Lower)
					}
					if e.File == nil {
						continue
					}
					withFiles++
					es := scan(t, out, e.File.Path, id)
					if int64(len(es)) != e.Entries || es[0].key != string(e.File.KeyRange.First) || es[len(es)-1].key != string(e.File.KeyRange.Last) {
						t.Fatalf("element %d range %d: %d entries from %q to %q, metadata says %d from %q to %q",
							id, r, len(es), es[0].key, es[len(es)-1].key, e.Entries, e.File.KeyRange.First, e.File.KeyRange.Last)
					}
					for _, x := range es {
						cols := x.key[:len(x.key)-len(x.handle)]
						if e.Lower != nil && cols < string(e.Lower) || e.Upper != nil && cols >= string(e.Upper) {
							t.Fatalf("element %d range %d: key %x outside [%x, %x)", id, r, cols, e.Lower, e.Upper)
						}
					}
					got = append(got, es...)
				}
				if !slices.Equal(got, want) {
					t.Fatalf("element %d: the ranges hold %d entries, the partitions %d (or another order)", id, len(got), len(want))
				}
				if ranges > 1 && withFiles < 2 {
					t.Errorf("element %d: %d of %d ranges have entries: the plan did not split", id, withFiles, ranges)
				}
			}
		})
	}
}

// TestUniqueAcrossPartitions: two rows with one email, in different
// partitions (each builds fine), fail the merge of the range holding the
// email with exit 4 naming index, key and both rows; no metadata for it.
// NULL emails in many rows of every partition are no duplicates.
func TestUniqueAcrossPartitions(t *testing.T) {
	const n = 400
	src := people(t, n, func(i int, f []string) {
		switch {
		case i == 3 || i == n-5:
			f[1] = "dup@example.org"
		case i%50 == 7:
			f[1] = "" // NULL
		}
	})
	task := peopleTask(2)
	out := storagetest.Mem().Open(t)
	stage(t, src, out, task)

	const ranges = 3
	var failed []int
	for r := range ranges {
		_, err := merge.Run(ctx, config(t, out, task, r, ranges))
		if err == nil {
			continue
		}
		failed = append(failed, r)
		want := fmt.Sprintf(`unique index 2 (idx_email): duplicate key ("dup@example.org") in rows %q and %q`, "396", "4")
		if retry.ExitCode(err) != retry.ExitInvalidInput || !strings.Contains(err.Error(), want) {
			t.Fatalf("range %d: exit %d, %v; want exit 4 with %s", r, retry.ExitCode(err), err, want)
		}
		if _, ok, _ := staging.ReadMergeMeta(ctx, out, r); ok {
			t.Fatalf("range %d failed, yet its merge metadata is staged", r)
		}
	}
	if len(failed) != 1 {
		t.Fatalf("ranges %v failed, want exactly the one holding the duplicate", failed)
	}
}

func TestNullKeysAreNoDuplicates(t *testing.T) {
	src := people(t, 200, func(i int, f []string) {
		if i%3 == 0 {
			f[1] = ""
		}
	})
	task := peopleTask(3)
	out := storagetest.Mem().Open(t)
	stage(t, src, out, task)
	var entries int64
	for r := range 2 {
		sum, err := merge.Run(ctx, config(t, out, task, r, 2))
		if err != nil {
			t.Fatalf("range %d: %v", r, err)
		}
		entries += sum.Entries
	}
	if entries != 2*200 {
		t.Fatalf("merged %d entries of two elements of 200 rows", entries)
	}
}

// TestRerunIsIdempotent: a merged range reports AlreadyDone; with its
// metadata gone, a rerun rewrites the same bytes.
func TestRerunIsIdempotent(t *testing.T) {
	task := booksTask(3)
	out := storagetest.Mem().Open(t)
	stage(t, books(t, 1000), out, task)
	first, err := merge.Run(ctx, config(t, out, task, 1, 2))
	if err != nil {
		t.Fatal(err)
	}
	staged := mergeObjects(t, out)
	again, err := merge.Run(ctx, config(t, out, task, 1, 2))
	if err != nil || !again.AlreadyDone || again.Entries != first.Entries || again.Bytes != first.Bytes || again.Files != first.Files {
		t.Fatalf("rerun: %+v, %v; first run %+v", again, err, first)
	}
	if err := out.Delete(ctx, staging.MergeMetaKey(1)); err != nil {
		t.Fatal(err)
	}
	redo, err := merge.Run(ctx, config(t, out, task, 1, 2))
	if err != nil || redo.AlreadyDone {
		t.Fatalf("redo: %+v, %v", redo, err)
	}
	if got := mergeObjects(t, out); !maps.Equal(got, staged) {
		t.Fatalf("redo staged other bytes: %v, first %v", keysOf(got), keysOf(staged))
	}
	// Another range count is another plan: merged again.
	other, err := merge.Run(ctx, config(t, out, task, 1, 3))
	if err != nil || other.AlreadyDone {
		t.Fatalf("range 1 of 3 after range 1 of 2: %+v, %v", other, err)
	}
}

// TestRefusals: what the merge checks before merging anything.
func TestRefusals(t *testing.T) {
	task := booksTask(2)
	other := task
	other.JobID = 8
	tests := []struct {
		name   string
		change func(t *testing.T, cfg *merge.Config)
		code   int
		want   []string
	}{
		{"manifest of another task", func(t *testing.T, cfg *merge.Config) {
			write(t, cfg, staging.TaskManifestKey, other.Encode())
		}, retry.ExitStaleMeta, []string{staging.TaskManifestKey, "job 8"}},
		{"partition metadata of another task", func(t *testing.T, cfg *merge.Config) {
			m, _, _ := staging.ReadPartitionMeta(ctx, cfg.Output, 1)
			m.Task = other
			data, _ := staging.EncodePartitionMeta(m)
			write(t, cfg, staging.PartitionMetaKey(1), string(data))
		}, retry.ExitStaleMeta, []string{staging.PartitionMetaKey(1)}},
		{"partition of another input snapshot", func(t *testing.T, cfg *merge.Config) {
			m, _, _ := staging.ReadPartitionMeta(ctx, cfg.Output, 1)
			m.Snapshot = strings.Repeat("ab", 32)
			data, _ := staging.EncodePartitionMeta(m)
			write(t, cfg, staging.PartitionMetaKey(1), string(data))
		}, retry.ExitStaleMeta, []string{"partition 1", "input snapshot"}},
		{"partition metadata missing", func(t *testing.T, cfg *merge.Config) {
			if err := cfg.Output.Delete(ctx, staging.PartitionMetaKey(1)); err != nil {
				t.Fatal(err)
			}
		}, retry.ExitRetryable, []string{"partitions [1] of 2 have no metadata"}},
		{"merge metadata of another task", func(t *testing.T, cfg *merge.Config) {
			m := staging.MergeMeta{FormatVersion: staging.FormatVersion, Task: other, Range: 0, Ranges: 1}
			for _, id := range other.ElementIDs {
				m.Elements = append(m.Elements, staging.MergedElement{Element: id})
			}
			data, err := staging.EncodeMergeMeta(m)
			if err != nil {
				t.Fatal(err)
			}
			write(t, cfg, staging.MergeMetaKey(0), string(data))
		}, retry.ExitStaleMeta, []string{staging.MergeMetaKey(0), "job 8"}},
		{"catalog dropped the element", func(t *testing.T, cfg *merge.Config) {
			cfg.Catalog = catalogWithout(gentableCatalog(), 3)
		}, retry.ExitStaleMeta, []string{"element 3 not found"}},
		{"catalog changed the element", func(t *testing.T, cfg *merge.Config) {
			cat := gentableCatalog()
			for i := range cat.Indexes {
				if cat.Indexes[i].ID == 1 {
					cat.Indexes[i].Unique = true
				}
			}
			cfg.Catalog = cat
		}, retry.ExitStaleMeta, []string{"index 1 (idx_year) was built as"}},
		{"fulltext task", func(t *testing.T, cfg *merge.Config) {
			cfg.Meta.ElementType = taskmeta.ElementTypeFulltext
		}, retry.ExitInvalidInput, []string{`only "index" elements`}},
		{"range out of range", func(t *testing.T, cfg *merge.Config) { cfg.Range = 2 }, retry.ExitInvalidInput, []string{"range 2 of 2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := storagetest.Mem().Open(t)
			stage(t, books(t, 200), out, task)
			cfg := config(t, out, task, 0, 2)
			cfg.Catalog = gentableCatalog()
			tt.change(t, &cfg)
			before := mergeObjects(t, out)
			_, err := merge.Run(ctx, cfg)
			if code := retry.ExitCode(err); code != tt.code {
				t.Fatalf("exit %d (%v), want %d", code, err, tt.code)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("%q lacks %q", err, w)
				}
			}
			if after := mergeObjects(t, out); !maps.Equal(after, before) {
				t.Fatalf("a refused merge staged %v", keysOf(after))
			}
		})
	}
}

// TestEmptyRangesAndPartitions: more ranges than distinct keys leave
// trailing ranges without files; an empty table merges to nothing.
func TestEmptyRangesAndPartitions(t *testing.T) {
	src := people(t, 30, func(i int, f []string) { f[2] = fmt.Sprint(i % 2) }) // two ages
	task := peopleTask(2)
	task.ElementIDs = []int64{1}
	out := storagetest.Mem().Open(t)
	stage(t, src, out, task)
	var files []int
	for r := range 6 {
		sum, err := merge.Run(ctx, config(t, out, task, r, 6))
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, sum.Files)
	}
	if !slices.Equal(files, []int{1, 1, 0, 0, 0, 0}) {
		t.Fatalf("files per range %v, want the two ages in ranges 0 and 1, the rest empty", files)
	}

	empty := people(t, 0, nil)
	out = storagetest.Mem().Open(t)
	stage(t, empty, out, task)
	sum, err := merge.Run(ctx, config(t, out, task, 0, 1))
	if err != nil || sum.Files != 0 || sum.Entries != 0 {
		t.Fatalf("empty table: %+v, %v", sum, err)
	}
	m, _, err := staging.ReadMergeMeta(ctx, out, 0)
	if err != nil || len(m.Elements) != 1 || m.Elements[0].File != nil {
		t.Fatalf("empty table metadata %+v, %v", m, err)
	}
}

// TestBoundsAreColumnValues: all rows of one age land in one range even
// when the age spans partitions, whatever the handles.
func TestBoundsAreColumnValues(t *testing.T) {
	src := people(t, 300, func(i int, f []string) { f[2] = fmt.Sprint(i % 5) })
	task := peopleTask(3)
	task.ElementIDs = []int64{1}
	out := storagetest.Mem().Open(t)
	stage(t, src, out, task)
	seen := map[string]int{}
	for r := range 4 {
		if _, err := merge.Run(ctx, config(t, out, task, r, 4)); err != nil {
			t.Fatal(err)
		}
		m, _, _ := staging.ReadMergeMeta(ctx, out, r)
		if f := m.Elements[0].File; f != nil {
			for _, e := range scan(t, out, f.Path, 1) {
				age := e.key[:len(e.key)-len(e.handle)]
				if prev, ok := seen[age]; ok && prev != r {
					v, _, _ := keyenc.DecodeValue([]byte(age), table.TypeInt)
					t.Fatalf("age %d in ranges %d and %d", v.Int, prev, r)
				}
				seen[age] = r
			}
		}
	}
	if len(seen) != 5 {
		t.Fatalf("%d ages merged, want 5", len(seen))
	}
}

func write(t *testing.T, cfg *merge.Config, key, data string) {
	t.Helper()
	if err := cfg.Output.Write(ctx, key, strings.NewReader(data)); err != nil {
		t.Fatal(err)
	}
}

// TestMergeReadsItsRangeOnly: a range of eight reads part of the
// partitions' files (ranged reads), never the whole files. (How much more
// than its share it reads is the read-ahead's: see the log.)
func TestMergeReadsItsRangeOnly(t *testing.T) {
	task := booksTask(2)
	task.ElementIDs = []int64{gentable.IndexISBN}
	out := storagetest.Mem().Open(t)
	stage(t, books(t, 150000), out, task)
	var size int64
	for p := range 2 {
		m, _, _ := staging.ReadPartitionMeta(ctx, out, p)
		size += m.Bytes
	}
	const ranges = 8
	var total int64
	for r := range ranges {
		cfg := config(t, out, task, r, ranges)
		cfg.Stats = &sstindex.ReadStats{}
		if _, err := merge.Run(ctx, cfg); err != nil {
			t.Fatal(err)
		}
		read := cfg.Stats.Bytes()
		t.Logf("range %d read %d of %d bytes in %d requests", r, read, size, cfg.Stats.Requests())
		if read == 0 || read >= size {
			t.Fatalf("range %d of %d read %d bytes of files of %d", r, ranges, read, size)
		}
		total += read
	}
	t.Logf("all ranges read %d bytes of files of %d (%.2fx)", total, size, float64(total)/float64(size))
}
