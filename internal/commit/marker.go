// Package commit is the commit protocol: finalize copies the staged
// partition files of a task's version (versions/<jobID>/, see
// internal/output), or in the merged layout of global sort the merged key
// ranges' files (staging/merge_<r>_<element>.sst, the partition files then
// stay staging), to dense final names and writes the version's commit
// marker (metadata.json) last, with a create-if-absent write, then
// publishes the version by moving the output's pointer (current.json) with
// a conditional write, and applies retention; verify checks what a marker
// lists. Readers open only what the published marker lists.
//
// Crash safety rests on four rules: a staged source is never deleted before
// the marker exists, a final path is never deleted (a retry overwrites it
// with identical bytes), the marker is only ever created, never replaced,
// and the pointer only moves, to a version whose marker exists, forward.
package commit

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/indexbuild/indexbuild/internal/retry"
	"github.com/indexbuild/indexbuild/internal/staging"
	"github.com/indexbuild/indexbuild/internal/storage"
	"github.com/indexbuild/indexbuild/internal/taskmeta"
)

// MarkerKey is the key of the commit marker at the output root.
const MarkerKey = "metadata.json"

// FormatVersion is the marker format this package writes and reads.
const FormatVersion = 1

// Marker is the commit marker: the complete list of committed files.
type Marker struct {
	FormatVersion int           `json:"formatVersion"`
	Task          taskmeta.Meta `json:"task"`
	// Partitions counts the committed (non-empty) partitions, 0..Partitions-1,
	// or in the merged layout the key ranges with any file.
	Partitions int `json:"partitions"`
	// Files are the committed files in order of n, then element. In the
	// merged layout each carries its KeyRange: an element's files n = 0, 1,
	// ... hold ascending, disjoint key ranges.
	Files       []staging.File `json:"files"`
	Rows        int64          `json:"rows"`
	Bytes       int64          `json:"bytes"`
	CommittedAt time.Time      `json:"committedAt"`
	// Source is the task's input snapshot, kept at SourceKey: the table's
	// data files the index was built from (`indexbuild verify --source`).
	// Absent for tasks built before inputs were pinned.
	Source *staging.File `json:"source,omitempty"`
}

// SourceKey is where a committed version keeps its task's input snapshot
// (staging.Snapshot).
const SourceKey = "source.json"

// finalPrefix starts every FinalKey (and no staging/ key).
const finalPrefix = "part_"

// FinalKey is the committed name of partition n's file for one element.
func FinalKey(n int, element int64, ext string) string {
	return fmt.Sprintf("part_%d_%d.%s", n, element, ext)
}

// parseFinalKey is the inverse of FinalKey; false for anything else, in
// particular for anything under staging/.
func parseFinalKey(key string) (n int, element int64, ok bool) {
	s, ok := strings.CutPrefix(key, finalPrefix)
	if !ok {
		return 0, 0, false
	}
	name, ext, ok := strings.Cut(s, ".")
	if !ok || ext == "" || strings.ContainsAny(ext, "/.") {
		return 0, 0, false
	}
	ns, es, ok := strings.Cut(name, "_")
	if !ok {
		return 0, 0, false
	}
	n, err1 := strconv.Atoi(ns)
	element, err2 := strconv.ParseInt(es, 10, 64)
	if err1 != nil || err2 != nil || n < 0 || element <= 0 || strconv.Itoa(n) != ns || strconv.FormatInt(element, 10) != es {
		return 0, 0, false
	}
	return n, element, true
}

// Problems lists everything wrong with a marker on its own, nil if nothing.
// Verify reports each; DecodeMarker refuses a marker with any.
func (m Marker) Problems() []string {
	var p []string
	if m.FormatVersion != FormatVersion {
		p = append(p, fmt.Sprintf("formatVersion %d, want %d", m.FormatVersion, FormatVersion))
	}
	if err := m.Task.Validate(); err != nil {
		p = append(p, err.Error())
	}
	elements := make(map[int64]bool, len(m.Task.ElementIDs))
	for _, id := range m.Task.ElementIDs {
		elements[id] = true
	}
	seen := make(map[string]bool, len(m.Files))
	partitions := make(map[int]bool)
	var total int64
	for _, f := range m.Files {
		n, element, ok := parseFinalKey(f.Path)
		switch {
		case strings.HasPrefix(f.Path, staging.Prefix):
			p = append(p, fmt.Sprintf("file %q is under %s: staged files are never committed", f.Path, staging.Prefix))
		case !ok:
			p = append(p, fmt.Sprintf("file %q is not a committed file name part_<n>_<element>.<ext>", f.Path))
		case element != f.Element:
			p = append(p, fmt.Sprintf("file %q is listed as element %d", f.Path, f.Element))
		case !elements[element]:
			p = append(p, fmt.Sprintf("file %q: element %d is not one of the task's elements", f.Path, element))
		default:
			partitions[n] = true
		}
		if err := staging.ValidateFile(f); err != nil {
			p = append(p, err.Error())
		}
		if seen[f.Path] {
			p = append(p, fmt.Sprintf("file %q listed twice", f.Path))
		}
		seen[f.Path] = true
		total += f.Size
	}
	p = append(p, keyRangeProblems(m.Files)...)
	for n := range partitions {
		if n >= m.Partitions {
			p = append(p, fmt.Sprintf("partition %d listed but the marker counts %d partitions", n, m.Partitions))
		}
	}
	if len(partitions) != m.Partitions && len(p) == 0 {
		p = append(p, fmt.Sprintf("files cover %d partitions, the marker counts %d", len(partitions), m.Partitions))
	}
	if m.Bytes != total {
		p = append(p, fmt.Sprintf("bytes %d differs from the sum of file sizes %d", m.Bytes, total))
	}
	if m.Rows < 0 {
		p = append(p, fmt.Sprintf("rows %d is negative", m.Rows))
	}
	if m.CommittedAt.IsZero() {
		p = append(p, "committedAt is missing")
	}
	if m.Source != nil {
		if m.Source.Path != SourceKey || m.Source.Element != 0 {
			p = append(p, fmt.Sprintf("source is %q (element %d), want %q", m.Source.Path, m.Source.Element, SourceKey))
		}
		if err := staging.ValidateFile(*m.Source); err != nil {
			p = append(p, "source: "+err.Error())
		}
	}
	return p
}

// keyRangeProblems lists what is wrong with the files' key ranges: within
// one element, either every file or none has one, and those that have one
// are, in order of n, ascending and disjoint (a reader binary-searches
// them), each with First <= Last.
func keyRangeProblems(files []staging.File) []string {
	type ranged struct {
		n int
		f staging.File
	}
	var p []string
	withRange := map[int64][]ranged{}
	without := map[int64]bool{}
	for _, f := range files {
		n, element, ok := parseFinalKey(f.Path)
		switch {
		case !ok:
			continue // reported as a name
		case f.KeyRange == nil:
			without[element] = true
			continue
		case bytes.Compare(f.KeyRange.First, f.KeyRange.Last) > 0:
			p = append(p, fmt.Sprintf("file %q: key range first %x is above last %x", f.Path, f.KeyRange.First, f.KeyRange.Last))
		}
		withRange[element] = append(withRange[element], ranged{n, f})
	}
	for _, element := range slices.Sorted(maps.Keys(withRange)) {
		rs := withRange[element]
		if without[element] {
			p = append(p, fmt.Sprintf("element %d has files with and without key ranges", element))
		}
		slices.SortFunc(rs, func(a, b ranged) int { return cmp.Compare(a.n, b.n) })
		for i := 1; i < len(rs); i++ {
			prev, cur := rs[i-1].f, rs[i].f
			if bytes.Compare(prev.KeyRange.Last, cur.KeyRange.First) >= 0 {
				p = append(p, fmt.Sprintf("files %q and %q of element %d: key ranges overlap or are out of order (last %x, next first %x)",
					prev.Path, cur.Path, element, prev.KeyRange.Last, cur.KeyRange.First))
			}
		}
	}
	return p
}

// EncodeMarker renders m as JSON.
func EncodeMarker(m Marker) ([]byte, error) {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// ErrBadMarker marks a marker that cannot be read or fails its own checks.
// It is invalid input: the marker is written once and never replaced, so a
// bad marker stays bad on every retry.
var ErrBadMarker = fmt.Errorf("%w: bad commit marker", retry.ErrInvalidInput)

// DecodeMarker parses a marker and refuses one with any Problems.
func DecodeMarker(data []byte) (Marker, error) {
	m, err := parseMarker(data)
	if err != nil {
		return Marker{}, err
	}
	if p := m.Problems(); len(p) > 0 {
		return Marker{}, fmt.Errorf("%w: %s", ErrBadMarker, strings.Join(p, "; "))
	}
	return m, nil
}

// parseMarker decodes JSON strictly (unknown fields and trailing data are
// refused) without checking the content.
func parseMarker(data []byte) (Marker, error) {
	var m Marker
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return Marker{}, fmt.Errorf("%w: %v", ErrBadMarker, err)
	}
	if dec.More() {
		return Marker{}, fmt.Errorf("%w: trailing data", ErrBadMarker)
	}
	return m, nil
}

// ReadMarker reads and checks the commit marker of the output b. An output
// that is not committed yields an error matching storage.ErrNotFound.
func ReadMarker(ctx context.Context, b storage.Bucket) (Marker, error) {
	data, err := storage.ReadAll(ctx, b, MarkerKey)
	if err != nil {
		return Marker{}, err
	}
	return DecodeMarker(data)
}

// readMarkerIfPresent is ReadMarker with absence as (false, nil).
func readMarkerIfPresent(ctx context.Context, b storage.Bucket) (Marker, bool, error) {
	m, err := ReadMarker(ctx, b)
	if errors.Is(err, storage.ErrNotFound) {
		return Marker{}, false, nil
	}
	return m, err == nil, err
}
