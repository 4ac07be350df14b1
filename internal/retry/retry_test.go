package retry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
)

func TestStaleMetaIsNonRetryable(t *testing.T) {
	tests := []struct {
		name      string
		err       error
		retryable bool
		exit      int
	}{
		{"nil", nil, false, ExitOK},
		{"sentinel", ErrStaleMeta, false, ExitStaleMeta},
		{"wrapped once", fmt.Errorf("resume task: %w", ErrStaleMeta), false, ExitStaleMeta},
		{"wrapped twice", fmt.Errorf("worker setup: %w", fmt.Errorf("resume: %w", ErrStaleMeta)), false, ExitStaleMeta},
		{"element not found", &ElementNotFoundError{ElementID: 7, TableID: 2, JobID: 9}, false, ExitStaleMeta},
		{"wrapped element not found", fmt.Errorf("open index: %w", &ElementNotFoundError{ElementID: 7}), false, ExitStaleMeta},
		{"joined with io error", errors.Join(io.ErrUnexpectedEOF, ErrStaleMeta), false, ExitStaleMeta},
		{"invalid input", &InvalidInputError{File: "a.csv", Line: 3, Err: errors.New("bad")}, false, ExitInvalidInput},
		{"wrapped invalid input", fmt.Errorf("decode: %w", ErrInvalidInput), false, ExitInvalidInput},
		{"output in use", ErrOutputInUse, false, ExitOutputInUse},
		{"wrapped output in use", fmt.Errorf("claim output: %w", fmt.Errorf("owner: %w", ErrOutputInUse)), false, ExitOutputInUse},
		{"io error", io.ErrUnexpectedEOF, true, ExitRetryable},
		{"deadline", fmt.Errorf("copy: %w", context.DeadlineExceeded), true, ExitRetryable},
		{"plain", errors.New("index info not found"), true, ExitRetryable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := IsRetryable(tt.err); got != tt.retryable {
				t.Errorf("IsRetryable(%v) = %v, want %v", tt.err, got, tt.retryable)
			}
			if got := ExitCode(tt.err); got != tt.exit {
				t.Errorf("ExitCode(%v) = %d, want %d", tt.err, got, tt.exit)
			}
		})
	}
}

func TestErrorMessagesNameTheirIDs(t *testing.T) {
	msg := (&ElementNotFoundError{ElementID: 17, TableID: 42, JobID: 1001}).Error()
	for _, want := range []string{"element 17", "table 42", "job 1001", "stale task metadata"} {
		if !strings.Contains(msg, want) {
			t.Errorf("message %q lacks %q", msg, want)
		}
	}
	msg = (&InvalidInputError{File: "data/p1.csv", Line: 12, Column: "price", Err: errors.New("not a number")}).Error()
	for _, want := range []string{"data/p1.csv", "line 12", `"price"`, "not a number"} {
		if !strings.Contains(msg, want) {
			t.Errorf("message %q lacks %q", msg, want)
		}
	}
}

func TestReasonForExitCode(t *testing.T) {
	for code, want := range map[int32]string{0: "", 1: "", 2: "", 3: ReasonStaleMeta, 4: ReasonInvalidInput, 5: ReasonOutputInUse, 137: ""} {
		if got := ReasonForExitCode(code); got != want {
			t.Errorf("ReasonForExitCode(%d) = %q, want %q", code, got, want)
		}
	}
}

func TestExitCodeForReason(t *testing.T) {
	for reason, want := range map[string]int32{ReasonStaleMeta: 3, ReasonInvalidInput: 4, ReasonOutputInUse: 5} {
		if got, ok := ExitCodeForReason(reason); !ok || got != want {
			t.Errorf("ExitCodeForReason(%q) = %d, %v; want %d", reason, got, ok, want)
		}
	}
	for _, reason := range []string{ReasonBackoffLimitExceeded, "DeadlineExceeded", ""} {
		if code, ok := ExitCodeForReason(reason); ok {
			t.Errorf("ExitCodeForReason(%q) = %d, want none", reason, code)
		}
	}
}
