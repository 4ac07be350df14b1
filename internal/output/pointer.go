package output

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"time"

	"github.com/indexbuild/indexbuild/internal/retry"
	"github.com/indexbuild/indexbuild/internal/storage"
	"github.com/indexbuild/indexbuild/internal/taskmeta"
)

// Pointer is current.json: the version readers open. It only ever moves
// to a higher jobID.
type Pointer struct {
	FormatVersion int   `json:"formatVersion"`
	JobID         int64 `json:"jobID"`
	// Version is the version's prefix, versions/<jobID>/.
	Version string `json:"version"`
	// Marker is the version's commit marker, versions/<jobID>/metadata.json.
	Marker      string        `json:"marker"`
	PublishedAt time.Time     `json:"publishedAt"`
	Task        taskmeta.Meta `json:"task"`
}

// ErrBadPointer marks a pointer that cannot be read or does not name a
// version consistently: invalid input, reading it again changes nothing.
var ErrBadPointer = fmt.Errorf("%w: bad output pointer", retry.ErrInvalidInput)

// NewPointer is the pointer to task's version whose marker is markerKey
// (relative to the version).
func NewPointer(task taskmeta.Meta, markerKey string, now time.Time) Pointer {
	v := VersionPrefix(task.JobID)
	return Pointer{FormatVersion: FormatVersion, JobID: task.JobID, Version: v, Marker: v + markerKey, PublishedAt: now.UTC(), Task: task}
}

// Encode renders p as JSON.
func (p Pointer) Encode() ([]byte, error) {
	b, err := json.MarshalIndent(p, "", "  ")
	return append(b, '\n'), err
}

// DecodePointer parses a pointer and checks it names task JobID's version.
// Unknown fields are kept out of the way, not refused: a newer writer may
// add some.
func DecodePointer(data []byte) (Pointer, error) {
	var p Pointer
	if err := json.Unmarshal(data, &p); err != nil {
		return Pointer{}, fmt.Errorf("%w: %v", ErrBadPointer, err)
	}
	switch {
	case p.FormatVersion != FormatVersion:
		return Pointer{}, fmt.Errorf("%w: formatVersion %d, want %d", ErrBadPointer, p.FormatVersion, FormatVersion)
	case p.JobID < 1 || p.Version != VersionPrefix(p.JobID) || p.Task.JobID != p.JobID:
		return Pointer{}, fmt.Errorf("%w: jobID %d, version %q, task jobID %d do not agree", ErrBadPointer, p.JobID, p.Version, p.Task.JobID)
	case len(p.Marker) <= len(p.Version) || p.Marker[:len(p.Version)] != p.Version:
		return Pointer{}, fmt.Errorf("%w: marker %q is not inside version %q", ErrBadPointer, p.Marker, p.Version)
	}
	return p, nil
}

// ReadPointer reads root's pointer with its revision (for a conditional
// replace); found is false when nothing is published yet.
func ReadPointer(ctx context.Context, root storage.Bucket) (p Pointer, rev storage.Revision, found bool, err error) {
	data, rev, err := root.ReadRevision(ctx, PointerKey)
	if errors.Is(err, storage.ErrNotFound) {
		return Pointer{}, storage.NoRevision, false, nil
	}
	if err != nil {
		return Pointer{}, storage.NoRevision, false, err
	}
	p, err = DecodePointer(data)
	if err != nil {
		return Pointer{}, storage.NoRevision, false, fmt.Errorf("%s: %w", storage.ObjectURI(root.URI(), PointerKey), err)
	}
	return p, rev, true, nil
}

// SupersededError is a task older than the one root publishes. It is
// stale metadata (exit 3): only a new jobID above the published one can
// build into this output.
type SupersededError struct {
	URI                string
	Published, ThisJob int64
}

func (e *SupersededError) Error() string {
	return fmt.Sprintf("%v: output %s publishes job %d, newer than this task's job %d: change spec.jobID to a value above %d",
		retry.ErrStaleMeta, e.URI, e.Published, e.ThisJob, e.Published)
}

func (e *SupersededError) Is(target error) bool { return target == retry.ErrStaleMeta }

// supersededPhrase is the part of SupersededError's message that names the
// published job; it reaches the IndexBuild's status as the pod's message.
var supersededPhrase = regexp.MustCompile(`publishes job (\d+), newer than this task's job`)

// PublishedJobIn finds the published job a SupersededError message (within
// a longer message, such as a condition's) names; false when there is none.
// `kubectl indexbuild retry` picks a jobID above it.
func PublishedJobIn(message string) (int64, bool) {
	m := supersededPhrase.FindStringSubmatch(message)
	if m == nil {
		return 0, false
	}
	id, err := strconv.ParseInt(m[1], 10, 64)
	return id, err == nil
}
