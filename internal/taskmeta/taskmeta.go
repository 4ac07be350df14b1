// Package taskmeta holds the metadata an index-build task is created with and
// the comparison that decides whether a persisted task may be resumed.
//
// The same metadata is persisted in three places (IndexBuild status, an
// annotation on every child Job, staging/_task.json in the output) and every
// copy is checked with Check before anything is resumed or adopted.
package taskmeta

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/indexbuild/indexbuild/internal/retry"
)

// Element types.
const (
	ElementTypeIndex    = "index"
	ElementTypeFulltext = "fulltext"
)

// Meta is the identity of a task: what is being built, for which table, in
// which build attempt.
type Meta struct {
	JobID       int64   `json:"jobID"`
	SchemaID    int64   `json:"schemaID"`
	TableID     int64   `json:"tableID"`
	ElementType string  `json:"elementType"`
	ElementIDs  []int64 `json:"elementIDs"`
}

// Key derives the task key from the IndexBuild's namespace, name and jobID.
func Key(namespace, name string, jobID int64) string {
	return fmt.Sprintf("%s/%s/%d", namespace, name, jobID)
}

// Validate checks the metadata on its own: what admission checks for a spec,
// checked again where metadata is read back from storage or an annotation.
func (m Meta) Validate() error {
	var problems []string
	for _, f := range []struct {
		name string
		v    int64
	}{{"jobID", m.JobID}, {"schemaID", m.SchemaID}, {"tableID", m.TableID}} {
		if f.v <= 0 {
			problems = append(problems, fmt.Sprintf("%s must be positive, got %d", f.name, f.v))
		}
	}
	if m.ElementType != ElementTypeIndex && m.ElementType != ElementTypeFulltext {
		problems = append(problems, fmt.Sprintf("elementType must be %q or %q, got %q", ElementTypeIndex, ElementTypeFulltext, m.ElementType))
	}
	if len(m.ElementIDs) == 0 {
		problems = append(problems, "elementIDs must not be empty")
	}
	seen := make(map[int64]bool, len(m.ElementIDs))
	for _, id := range m.ElementIDs {
		if id <= 0 {
			problems = append(problems, fmt.Sprintf("elementIDs must be positive, got %d", id))
		}
		if seen[id] {
			problems = append(problems, fmt.Sprintf("elementIDs must be unique, %d repeats", id))
		}
		seen[id] = true
	}
	if len(problems) > 0 {
		return fmt.Errorf("invalid task metadata: %s", strings.Join(problems, "; "))
	}
	return nil
}

// MismatchError says which field of a persisted task differs from the current
// one. It is stale metadata: errors.Is(err, retry.ErrStaleMeta) holds.
type MismatchError struct {
	Source   string // where the recorded copy lives, e.g. "status.task", "Job ib-x-build"
	Field    string
	Recorded string
	Current  string
	TaskKey  string
	JobID    int64
}

func (e *MismatchError) Error() string {
	return fmt.Sprintf("%v: %s recorded in %s is %s but the current value is %s (task %s, job %d)",
		retry.ErrStaleMeta, e.Field, e.Source, e.Recorded, e.Current, e.TaskKey, e.JobID)
}

// Is makes a mismatch classify as stale metadata, also when wrapped.
func (e *MismatchError) Is(target error) bool { return target == retry.ErrStaleMeta }

// Check compares a recorded copy of the task metadata against the current
// one and returns a *MismatchError for the first field that differs, in the
// order jobID, schemaID, tableID, elementType, elementIDs. elementIDs compare
// as sets: the same elements listed in another order are the same task.
func Check(source, taskKey string, recorded, current Meta) error {
	mismatch := func(field, rec, cur string) error {
		return &MismatchError{Source: source, Field: field, Recorded: rec, Current: cur, TaskKey: taskKey, JobID: current.JobID}
	}
	itoa := func(v int64) string { return strconv.FormatInt(v, 10) }
	switch {
	case recorded.JobID != current.JobID:
		return mismatch("jobID", itoa(recorded.JobID), itoa(current.JobID))
	case recorded.SchemaID != current.SchemaID:
		return mismatch("schemaID", itoa(recorded.SchemaID), itoa(current.SchemaID))
	case recorded.TableID != current.TableID:
		return mismatch("tableID", itoa(recorded.TableID), itoa(current.TableID))
	case recorded.ElementType != current.ElementType:
		return mismatch("elementType", strconv.Quote(recorded.ElementType), strconv.Quote(current.ElementType))
	case !slices.Equal(sortedIDs(recorded.ElementIDs), sortedIDs(current.ElementIDs)):
		return mismatch("elementIDs", formatIDs(recorded.ElementIDs), formatIDs(current.ElementIDs))
	}
	return nil
}

// Encode renders the metadata as compact JSON, the form stored in Job
// annotations and staging manifests.
func (m Meta) Encode() string {
	b, err := json.Marshal(m)
	if err != nil {
		// Meta holds only ints and strings: Marshal cannot fail.
		panic(err)
	}
	return string(b)
}

// Decode parses metadata written by Encode. Unknown fields are rejected so a
// manifest from an incompatible writer is not silently half-read.
func Decode(s string) (Meta, error) {
	var m Meta
	dec := json.NewDecoder(strings.NewReader(s))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return Meta{}, fmt.Errorf("decode task metadata: %w", err)
	}
	return m, nil
}

func sortedIDs(ids []int64) []int64 {
	s := slices.Clone(ids)
	slices.Sort(s)
	return s
}

func formatIDs(ids []int64) string { return "[" + FormatIDs(ids) + "]" }
