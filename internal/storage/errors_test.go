package storage

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"testing"

	"github.com/indexbuild/indexbuild/internal/retry"
)

func TestClassify(t *testing.T) {
	tests := []struct {
		err  error
		want error
	}{
		{fs.ErrNotExist, ErrNotFound},
		{&fs.PathError{Op: "link", Path: "x", Err: fs.ErrExist}, ErrExists},
		{context.DeadlineExceeded, ErrRetryable},
		{errors.New("connection reset by peer"), ErrRetryable},
	}
	for _, tt := range tests {
		err := classify("op", "key", tt.err)
		for _, kind := range []error{ErrNotFound, ErrExists, ErrConflict, ErrRetryable, ErrPermanent} {
			if errors.Is(err, kind) != (kind == tt.want) {
				t.Errorf("classify(%v): errors.Is(%v) = %v", tt.err, kind, !(kind == tt.want))
			}
		}
		if !errors.Is(err, tt.err) {
			t.Errorf("classify(%v) lost its cause", tt.err)
		}
	}
	// A class is never overridden by an outer layer.
	inner := &Error{Op: "read", Key: "k", Kind: ErrPermanent, Err: errors.New("denied")}
	if err := classify("copy", "k", fmt.Errorf("wrapped: %w", inner)); !errors.Is(err, ErrPermanent) || errors.Is(err, ErrRetryable) {
		t.Errorf("reclassified: %v", err)
	}
	// Stale metadata from a caller's reader stays stale metadata.
	if err := classify("write", "k", fmt.Errorf("build: %w", retry.ErrStaleMeta)); retry.ExitCode(err) != retry.ExitStaleMeta {
		t.Errorf("stale metadata through a write: exit %d", retry.ExitCode(err))
	}
}
