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

// Meta is the identity of a task: everything that changes the bytes it
// builds — which elements of which table, from which source, in how many
// partitions, by which builder, in which build attempt. Two runs with equal
// Meta build the same index; anything else is another task.
type Meta struct {
	JobID       int64   `json:"jobID"`
	SchemaID    int64   `json:"schemaID"`
	TableID     int64   `json:"tableID"`
	ElementType string  `json:"elementType"`
	ElementIDs  []int64 `json:"elementIDs"`
	// Source is the table's URI and SourceFormat its data files' format.
	Source       string `json:"source,omitempty"`
	SourceFormat string `json:"sourceFormat,omitempty"`
	// Partitions is the task's partition count.
	Partitions int `json:"partitions,omitempty"`
	// BuilderImage and BuilderCommand are spec.builder as written: an empty
	// image is the operator's default, which an operator upgrade may change
	// without making running tasks stale.
	BuilderImage   string   `json:"builderImage,omitempty"`
	BuilderCommand []string `json:"builderCommand,omitempty"`
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
	if m.Partitions < 0 {
		problems = append(problems, fmt.Sprintf("partitions must not be negative, got %d", m.Partitions))
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
// order of Fields. elementIDs compare as sets: the same elements listed in
// another order are the same task.
func Check(source, taskKey string, recorded, current Meta) error {
	for _, f := range Fields {
		rec, cur := f.render(recorded), f.render(current)
		if rec != cur {
			return &MismatchError{Source: source, Field: f.Name, Recorded: rec, Current: cur, TaskKey: taskKey, JobID: current.JobID}
		}
	}
	return nil
}

// Field is one compared field of Meta, named as in the IndexBuild spec.
type Field struct {
	Name string
	// render gives the field's value in the form messages show and Check
	// compares: two values are the same task iff they render the same.
	render func(Meta) string
}

// Fields are the task-metadata fields in the order Check compares them.
var Fields = []Field{
	{"jobID", func(m Meta) string { return strconv.FormatInt(m.JobID, 10) }},
	{"schemaID", func(m Meta) string { return strconv.FormatInt(m.SchemaID, 10) }},
	{"tableID", func(m Meta) string { return strconv.FormatInt(m.TableID, 10) }},
	{"elementType", func(m Meta) string { return strconv.Quote(m.ElementType) }},
	{"elementIDs", func(m Meta) string { return formatIDs(sortedIDs(m.ElementIDs)) }},
	{"source.uri", func(m Meta) string { return strconv.Quote(m.Source) }},
	{"source.format", func(m Meta) string { return strconv.Quote(m.SourceFormat) }},
	{"partitions", func(m Meta) string { return strconv.Itoa(m.Partitions) }},
	{"builder.image", func(m Meta) string { return strconv.Quote(m.BuilderImage) }},
	{"builder.command", func(m Meta) string { return quoteAll(m.BuilderCommand) }},
}

func quoteAll(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = strconv.Quote(s)
	}
	return "[" + strings.Join(q, ",") + "]"
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
