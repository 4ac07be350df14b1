// Package retry classifies failures into retryable and non-retryable ones and
// maps them onto the worker exit-code contract.
//
// Classification always goes through errors.Is, so a stale-metadata or
// invalid-input error stays non-retryable however deeply it is wrapped: a
// wrapped stale-metadata error that looked retryable is exactly what made a
// production backfill retry forever.
package retry

import (
	"errors"
	"fmt"
)

// Exit codes of the worker contract (see README, "Worker contract").
const (
	ExitOK           = 0
	ExitRetryable    = 1
	ExitStaleMeta    = 3
	ExitInvalidInput = 4
	ExitOutputInUse  = 5
)

// Condition and Job failure reasons that go with the exit codes.
const (
	ReasonStaleMeta            = "StaleMeta"
	ReasonInvalidInput         = "InvalidInput"
	ReasonOutputInUse          = "OutputInUse"
	ReasonBackoffLimitExceeded = "BackoffLimitExceeded"
)

var (
	// ErrStaleMeta marks a task whose persisted metadata no longer matches the
	// current job. Never retryable: only a new jobID can move on from it.
	ErrStaleMeta = errors.New("stale task metadata")
	// ErrInvalidInput marks bad source data or schema. Never retryable.
	ErrInvalidInput = errors.New("invalid input")
	// ErrOutputInUse marks an output root that another IndexBuild owns.
	// Never retryable: the owner does not change by itself.
	ErrOutputInUse = errors.New("output in use")
)

// IsRetryable reports whether err may succeed when tried again. nil is not
// retryable (there is nothing to retry).
func IsRetryable(err error) bool {
	if err == nil {
		return false
	}
	return !errors.Is(err, ErrStaleMeta) && !errors.Is(err, ErrInvalidInput) && !errors.Is(err, ErrOutputInUse)
}

// ExitCode maps err onto the worker contract's exit codes.
func ExitCode(err error) int {
	switch {
	case err == nil:
		return ExitOK
	case errors.Is(err, ErrStaleMeta):
		return ExitStaleMeta
	case errors.Is(err, ErrInvalidInput):
		return ExitInvalidInput
	case errors.Is(err, ErrOutputInUse):
		return ExitOutputInUse
	default:
		return ExitRetryable
	}
}

// NonRetryable lists the contract's non-retryable exit codes with the
// failure reason each one ends a build with, in the order the operator's
// pod failure policy matches them.
var NonRetryable = []struct {
	ExitCode int32
	Reason   string
}{
	{ExitStaleMeta, ReasonStaleMeta},
	{ExitInvalidInput, ReasonInvalidInput},
	{ExitOutputInUse, ReasonOutputInUse},
}

// ReasonForExitCode returns the failure reason for a non-retryable exit code,
// or "" for codes the contract treats as retryable.
func ReasonForExitCode(code int32) string {
	for _, n := range NonRetryable {
		if n.ExitCode == code {
			return n.Reason
		}
	}
	return ""
}

// ExitCodeForReason is the inverse of ReasonForExitCode: the exit code a
// worker ended with for a build that failed with reason.
func ExitCodeForReason(reason string) (int32, bool) {
	for _, n := range NonRetryable {
		if n.Reason == reason {
			return n.ExitCode, true
		}
	}
	return 0, false
}

// ElementNotFoundError is what a worker reports when an element ID of its
// task is missing from the table's catalog. It is stale metadata: the element
// was dropped or the task was recorded against another table.
type ElementNotFoundError struct {
	ElementID int64
	TableID   int64
	JobID     int64
}

func (e *ElementNotFoundError) Error() string {
	return fmt.Sprintf("%v: element %d not found in table %d (job %d)", ErrStaleMeta, e.ElementID, e.TableID, e.JobID)
}

// Is makes errors.Is(err, ErrStaleMeta) true for an element that is not found.
func (e *ElementNotFoundError) Is(target error) bool { return target == ErrStaleMeta }

// InvalidInputError names where in the input a problem is.
type InvalidInputError struct {
	File   string // object key or path of the data file
	Line   int64  // 1-based line, or row group for Parquet; 0 when unknown
	Column string // column name; "" when the whole record is bad
	Err    error
}

func (e *InvalidInputError) Error() string {
	msg := fmt.Sprintf("%v: %s", ErrInvalidInput, e.File)
	if e.Line > 0 {
		msg += fmt.Sprintf(" line %d", e.Line)
	}
	if e.Column != "" {
		msg += fmt.Sprintf(" column %q", e.Column)
	}
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

func (e *InvalidInputError) Unwrap() error        { return e.Err }
func (e *InvalidInputError) Is(target error) bool { return target == ErrInvalidInput }
