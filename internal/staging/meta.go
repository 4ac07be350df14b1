package staging

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/indexbuild/indexbuild/internal/retry"
	"github.com/indexbuild/indexbuild/internal/taskmeta"
)

// File is one staged (or, in the commit marker, committed) file.
type File struct {
	Path    string `json:"path"` // key relative to the output root
	Element int64  `json:"element"`
	Size    int64  `json:"size"`
	SHA256  string `json:"sha256"` // lowercase hex
	// KeyRange is set for merged SSTables (global sort): readers pick the
	// file whose range holds a key.
	KeyRange *KeyRange `json:"keyRange,omitempty"`
}

// PartitionMeta is written by a worker after all its files are staged; its
// presence means the partition is complete.
type PartitionMeta struct {
	FormatVersion int           `json:"formatVersion"`
	Task          taskmeta.Meta `json:"task"`
	Partition     int           `json:"partition"`
	Partitions    int           `json:"partitions"`
	Files         []File        `json:"files"`
	Rows          int64         `json:"rows"`
	Bytes         int64         `json:"bytes"`
	// Snapshot is the digest (SnapshotDigest) of the input snapshot the
	// partition was built from; finalize commits only partitions of the
	// task's one snapshot.
	Snapshot string `json:"snapshot,omitempty"`
	// Samples are the partition's key samples per `index` element, from
	// which the merge stage picks its range boundaries.
	Samples []ElementSamples `json:"samples,omitempty"`
}

// Validate checks a PartitionMeta on its own: every file is a staged file of
// this partition for one of the task's elements, with a plausible size and
// checksum. Finalize relies on this before copying anything.
func (m PartitionMeta) Validate() error {
	if m.FormatVersion != FormatVersion {
		return fmt.Errorf("formatVersion %d, want %d", m.FormatVersion, FormatVersion)
	}
	if err := m.Task.Validate(); err != nil {
		return err
	}
	if m.Partition < 0 || m.Partitions < 1 || m.Partition >= m.Partitions {
		return fmt.Errorf("partition %d of %d out of range", m.Partition, m.Partitions)
	}
	elements := make(map[int64]bool, len(m.Task.ElementIDs))
	for _, id := range m.Task.ElementIDs {
		elements[id] = true
	}
	var total int64
	seen := make(map[string]bool, len(m.Files))
	for _, f := range m.Files {
		if err := f.validate(); err != nil {
			return err
		}
		p, e, _, ok := ParsePartFileKey(f.Path)
		if !ok || p != m.Partition || e != f.Element {
			return fmt.Errorf("file %q is not a staged file of partition %d element %d", f.Path, m.Partition, f.Element)
		}
		if !elements[f.Element] {
			return fmt.Errorf("file %q: element %d is not one of the task's elements %v", f.Path, f.Element, m.Task.ElementIDs)
		}
		if seen[f.Path] {
			return fmt.Errorf("file %q listed twice", f.Path)
		}
		seen[f.Path] = true
		total += f.Size
	}
	if m.Rows < 0 {
		return fmt.Errorf("rows %d is negative", m.Rows)
	}
	if b, err := hex.DecodeString(m.Snapshot); m.Snapshot != "" && (err != nil || len(b) != sha256.Size) {
		return fmt.Errorf("snapshot %q is not a SHA-256 digest", m.Snapshot)
	}
	if m.Bytes != total {
		return fmt.Errorf("bytes %d differs from the sum of file sizes %d", m.Bytes, total)
	}
	return nil
}

func (f File) validate() error {
	if f.Size < 0 {
		return fmt.Errorf("file %q: negative size %d", f.Path, f.Size)
	}
	if b, err := hex.DecodeString(f.SHA256); err != nil || len(b) != 32 || strings.ToLower(f.SHA256) != f.SHA256 {
		return fmt.Errorf("file %q: sha256 %q is not 64 lowercase hex digits", f.Path, f.SHA256)
	}
	return nil
}

// ValidateFile checks a file entry's size and checksum fields; the commit
// marker shares File and its checks.
func ValidateFile(f File) error { return f.validate() }

// EncodePartitionMeta renders m as JSON.
func EncodePartitionMeta(m PartitionMeta) ([]byte, error) {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// DecodePartitionMeta parses and validates partition metadata. Unknown fields
// are rejected so metadata from an incompatible writer is not half-read. A
// decode or validation failure is invalid input: partition metadata is
// written atomically, so a bad one is bad on every retry.
func DecodePartitionMeta(data []byte) (PartitionMeta, error) {
	var m PartitionMeta
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return PartitionMeta{}, fmt.Errorf("%w: partition metadata: %v", retry.ErrInvalidInput, err)
	}
	if dec.More() {
		return PartitionMeta{}, fmt.Errorf("%w: partition metadata: trailing data", retry.ErrInvalidInput)
	}
	if err := m.Validate(); err != nil {
		return PartitionMeta{}, fmt.Errorf("%w: partition metadata of partition %d: %v", retry.ErrInvalidInput, m.Partition, err)
	}
	return m, nil
}

// CheckTask compares task metadata found in storage (recorded, at source)
// with the current task. A mismatch is stale metadata (exit 3) and the
// message names the job, table and element IDs on both sides, so the operator
// can put it in the StaleMeta condition as is.
func CheckTask(source, outputURI string, recorded, current taskmeta.Meta) error {
	if err := taskmeta.Check(source, outputURI, recorded, current); err != nil {
		return fmt.Errorf("%w; %s was written for job %d table %d elements [%s], the current task is job %d table %d elements [%s]",
			err, source, recorded.JobID, recorded.TableID, taskmeta.FormatIDs(recorded.ElementIDs),
			current.JobID, current.TableID, taskmeta.FormatIDs(current.ElementIDs))
	}
	return nil
}
