package staging

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/indexbuild/indexbuild/internal/retry"
	"github.com/indexbuild/indexbuild/internal/storage"
)

// SnapshotKey is the key of the task's input snapshot: the listing of the
// table every worker, retry and finalize of the task plans from.
const SnapshotKey = Prefix + "_source.json"

// SnapshotFormatVersion is the version of Snapshot this package writes and
// reads.
const SnapshotFormatVersion = 1

// Snapshot pins a task's input: the table's data files as the task's first
// worker listed them. It is created once per task (create-if-absent) and
// never replaced; finalize keeps it in the committed version (see
// commit.SourceKey) for `indexbuild verify --source`.
type Snapshot struct {
	FormatVersion int `json:"formatVersion"`
	// Source is the table's URI as the task names it.
	Source  string       `json:"source"`
	TakenAt time.Time    `json:"takenAt"`
	Files   []SourceFile `json:"files"` // sorted by key
}

// SourceFile is one data file of a snapshot.
type SourceFile struct {
	Key  string `json:"key"` // relative to the table's root
	Size int64  `json:"size"`
	// Version is the store's version token (storage.ObjectVersion.Token).
	Version string `json:"version"`
	// Pieces are a Parquet file's row-group weights (the planner's pieces),
	// read from its footer once, when the snapshot was taken; nil for text.
	Pieces []int64 `json:"pieces,omitempty"`
}

// validate checks a snapshot on its own.
func (s Snapshot) validate() error {
	if s.FormatVersion != SnapshotFormatVersion {
		return fmt.Errorf("formatVersion %d, want %d", s.FormatVersion, SnapshotFormatVersion)
	}
	for i, f := range s.Files {
		if f.Key == "" || f.Size < 0 || f.Version == "" {
			return fmt.Errorf("file %d (%q): key, size and version are required", i, f.Key)
		}
		if i > 0 && s.Files[i-1].Key >= f.Key {
			return fmt.Errorf("files are not sorted by key at %q", f.Key)
		}
	}
	return nil
}

// EncodeSnapshot renders s as JSON, one file a line: readable, and small
// enough at 10,000 files (about 1.5 MB with Parquet pieces).
func EncodeSnapshot(s Snapshot) ([]byte, error) {
	var b bytes.Buffer
	head, err := json.Marshal(struct {
		FormatVersion int       `json:"formatVersion"`
		Source        string    `json:"source"`
		TakenAt       time.Time `json:"takenAt"`
	}{s.FormatVersion, s.Source, s.TakenAt})
	if err != nil {
		return nil, err
	}
	b.Write(head[:len(head)-1])
	b.WriteString(`,"files":[`)
	for i, f := range s.Files {
		line, err := json.Marshal(f)
		if err != nil {
			return nil, err
		}
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString("\n")
		b.Write(line)
	}
	b.WriteString("\n]}\n")
	return b.Bytes(), nil
}

// DecodeSnapshot parses and validates a snapshot. Unknown fields are
// refused, as for the task manifest. A snapshot that does not decode cannot
// be shown to be the task's input: stale metadata.
func DecodeSnapshot(data []byte) (Snapshot, error) {
	var s Snapshot
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	err := dec.Decode(&s)
	if err == nil && dec.More() {
		err = errors.New("trailing data")
	}
	if err == nil {
		err = s.validate()
	}
	if err != nil {
		return Snapshot{}, fmt.Errorf("%w: input snapshot %s: %v", retry.ErrStaleMeta, SnapshotKey, err)
	}
	return s, nil
}

// SnapshotDigest is the SHA-256 (lowercase hex) of an encoded snapshot.
// Partition metadata records the digest of the snapshot it was built from.
func SnapshotDigest(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

// EnsureSnapshot pins the task's input: the first caller stores s
// (create-if-absent); every caller, that one included, gets the stored
// snapshot back with its digest. A caller that lost the race plans from
// the winner's listing, never from its own.
func EnsureSnapshot(ctx context.Context, b storage.Bucket, s Snapshot) (Snapshot, string, error) {
	data, err := EncodeSnapshot(s)
	if err != nil {
		return Snapshot{}, "", err
	}
	err = b.Create(ctx, SnapshotKey, bytes.NewReader(data))
	switch {
	case err == nil:
		return s, SnapshotDigest(data), nil
	case !errors.Is(err, storage.ErrExists):
		return Snapshot{}, "", err
	}
	return ReadSnapshot(ctx, b, SnapshotKey)
}

// ReadSnapshot reads the snapshot at key and returns it with its digest;
// storage.ErrNotFound when there is none.
func ReadSnapshot(ctx context.Context, b storage.Bucket, key string) (Snapshot, string, error) {
	data, err := storage.ReadAll(ctx, b, key)
	if err != nil {
		return Snapshot{}, "", err
	}
	s, err := DecodeSnapshot(data)
	if err != nil {
		return Snapshot{}, "", err
	}
	return s, SnapshotDigest(data), nil
}

// SourceChangedError is a pinned data file that no longer is what the task
// started from. It is stale metadata: the task's input is gone, and only a
// new task (a new jobID) may read the table as it is now.
type SourceChangedError struct {
	Source string // the table's URI
	Pinned SourceFile
	// Now is the file as it is now; nil when it is gone.
	Now *storage.ObjectVersion
}

func (e *SourceChangedError) Error() string {
	var what string
	switch {
	case e.Now == nil:
		what = fmt.Sprintf("listed at task start (%d bytes), gone now", e.Pinned.Size)
	case e.Now.Size != e.Pinned.Size:
		what = fmt.Sprintf("size %d at task start, %d now", e.Pinned.Size, e.Now.Size)
	default:
		what = fmt.Sprintf("version %q at task start, %q now (size %d)", e.Pinned.Version, e.Now.Token, e.Now.Size)
	}
	return fmt.Sprintf("%v: %s: %s; the task's input is pinned in %s (table %s): rebuild with a new jobID to index the table as it is now",
		retry.ErrStaleMeta, e.Pinned.Key, what, SnapshotKey, e.Source)
}

// Is makes a changed source file classify as stale metadata (exit 3).
func (e *SourceChangedError) Is(target error) bool { return target == retry.ErrStaleMeta }

// CheckSourceFile compares a pinned file with its current version (found
// false: the object is gone) and returns a *SourceChangedError if it differs.
func CheckSourceFile(source string, pinned SourceFile, now storage.ObjectVersion, found bool) error {
	switch {
	case !found:
		return &SourceChangedError{Source: source, Pinned: pinned}
	case now.Size != pinned.Size || now.Token != pinned.Version:
		return &SourceChangedError{Source: source, Pinned: pinned, Now: &now}
	}
	return nil
}
