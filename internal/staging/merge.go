package staging

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/indexbuild/indexbuild/internal/retry"
	"github.com/indexbuild/indexbuild/internal/taskmeta"
)

// The merge stage of global sort (`index` elements of a task with more than
// one partition) stages, beside the partitions' files:
//
//	staging/merge_<r>_<element>.sst   key range r's merged SSTable of one element
//	staging/merge_<r>.json            MergeMeta: range r is complete
//
// Range r of R holds, for each element, the entries whose encoded column
// values (the key without its row handle) are in [Lower, Upper); equal values
// fall in one range, so a unique check inside each range is table-wide.

// MaxSamples bounds the key samples a partition records per element.
const MaxSamples = 128

// ElementSamples are one partition's key samples of one `index` element:
// the encoded column values (no row handle) of evenly spaced entries of the
// partition's sorted file, ascending, each standing for Entries/len(Keys)
// entries. The merge stage picks range boundaries from them.
type ElementSamples struct {
	Element int64    `json:"element"`
	Entries int64    `json:"entries"`
	Keys    [][]byte `json:"keys"`
}

// KeyRange is the first and last entry key (inclusive) of a committed or
// merged SSTable.
type KeyRange struct {
	First []byte `json:"first"`
	Last  []byte `json:"last"`
}

// MergedElement is what range r of the merge holds of one element.
type MergedElement struct {
	Element int64 `json:"element"`
	// Lower and Upper bound the range's encoded column values, [Lower,
	// Upper); nil is open (range 0's Lower, range R-1's Upper).
	Lower   []byte `json:"lower,omitempty"`
	Upper   []byte `json:"upper,omitempty"`
	Entries int64  `json:"entries"`
	// File is the range's merged file (with its KeyRange); nil when the
	// range holds no entry of the element.
	File *File `json:"file,omitempty"`
}

// MergeMeta is written by a merge pod after its range's files are staged;
// its presence means range Range of Ranges is complete.
type MergeMeta struct {
	FormatVersion int             `json:"formatVersion"`
	Task          taskmeta.Meta   `json:"task"`
	Range         int             `json:"range"`
	Ranges        int             `json:"ranges"`
	Elements      []MergedElement `json:"elements"`
	// Snapshot is the input snapshot digest the merged partitions were
	// built from (PartitionMeta.Snapshot).
	Snapshot string `json:"snapshot,omitempty"`
}

// MergeFileKey is the staged key of range r's merged file of one element.
func MergeFileKey(r int, element int64) string {
	return fmt.Sprintf("%smerge_%d_%d.%s", Prefix, r, element, ExtIndex)
}

// MergeMetaKey is the key of range r's MergeMeta.
func MergeMetaKey(r int) string {
	return fmt.Sprintf("%smerge_%d.json", Prefix, r)
}

// ParseMergeMetaKey returns the range of a MergeMetaKey; false for any other key.
func ParseMergeMetaKey(key string) (int, bool) {
	s, ok := strings.CutPrefix(key, Prefix+"merge_")
	if !ok {
		return 0, false
	}
	s, ok = strings.CutSuffix(s, ".json")
	if !ok {
		return 0, false
	}
	r, err := strconv.Atoi(s)
	if err != nil || r < 0 || strconv.Itoa(r) != s {
		return 0, false
	}
	return r, true
}

// Validate checks a MergeMeta on its own.
func (m MergeMeta) Validate() error {
	if m.FormatVersion != FormatVersion {
		return fmt.Errorf("formatVersion %d, want %d", m.FormatVersion, FormatVersion)
	}
	if err := m.Task.Validate(); err != nil {
		return err
	}
	if m.Ranges < 1 || m.Range < 0 || m.Range >= m.Ranges {
		return fmt.Errorf("range %d of %d out of range", m.Range, m.Ranges)
	}
	seen := make(map[int64]bool, len(m.Elements))
	for _, e := range m.Elements {
		if seen[e.Element] {
			return fmt.Errorf("element %d listed twice", e.Element)
		}
		seen[e.Element] = true
		if (e.Lower == nil) != (m.Range == 0) || (e.Upper == nil) != (m.Range == m.Ranges-1) {
			return fmt.Errorf("element %d: only range 0 has an open lower bound and only range %d an open upper one", e.Element, m.Ranges-1)
		}
		if e.Lower != nil && e.Upper != nil && bytes.Compare(e.Lower, e.Upper) > 0 {
			return fmt.Errorf("element %d: lower bound above upper bound", e.Element)
		}
		if e.Entries < 0 || (e.File == nil) != (e.Entries == 0) {
			return fmt.Errorf("element %d: %d entries with file %v", e.Element, e.Entries, e.File != nil)
		}
		if e.File == nil {
			continue
		}
		if e.File.Path != MergeFileKey(m.Range, e.Element) || e.File.Element != e.Element {
			return fmt.Errorf("element %d: file %q is not %s", e.Element, e.File.Path, MergeFileKey(m.Range, e.Element))
		}
		if err := e.File.validate(); err != nil {
			return err
		}
		if e.File.KeyRange == nil {
			return fmt.Errorf("file %q has no key range", e.File.Path)
		}
	}
	for _, id := range m.Task.ElementIDs {
		if !seen[id] {
			return fmt.Errorf("element %d of the task is missing", id)
		}
	}
	if len(seen) != len(m.Task.ElementIDs) {
		return fmt.Errorf("elements %d listed, the task has %d", len(seen), len(m.Task.ElementIDs))
	}
	return nil
}

// EncodeMergeMeta renders m as JSON.
func EncodeMergeMeta(m MergeMeta) ([]byte, error) {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// DecodeMergeMeta parses and validates merge metadata; like partition
// metadata, a bad one is invalid input.
func DecodeMergeMeta(data []byte) (MergeMeta, error) {
	var m MergeMeta
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return MergeMeta{}, fmt.Errorf("%w: merge metadata: %v", retry.ErrInvalidInput, err)
	}
	if dec.More() {
		return MergeMeta{}, fmt.Errorf("%w: merge metadata: trailing data", retry.ErrInvalidInput)
	}
	if err := m.Validate(); err != nil {
		return MergeMeta{}, fmt.Errorf("%w: merge metadata of range %d: %v", retry.ErrInvalidInput, m.Range, err)
	}
	return m, nil
}
