package storage

import (
	"context"
	"errors"
	"fmt"
	"io/fs"

	"gocloud.dev/gcerrors"
)

// Error classes. Every error from a Bucket matches exactly one with errors.Is.
var (
	// ErrNotFound: the object (or bucket) does not exist.
	ErrNotFound = errors.New("not found")
	// ErrExists: a create-if-absent write found the object already there.
	ErrExists = errors.New("already exists")
	// ErrConflict: a Replace found the object changed since the revision it
	// was given; read it again and decide again.
	ErrConflict = errors.New("changed since read")
	// ErrRetryable: throttling, server errors, timeouts, I/O errors; the same
	// call may succeed later.
	ErrRetryable = errors.New("retryable storage error")
	// ErrPermanent: permission denied, bad arguments, unsupported operation;
	// retrying the same call cannot help.
	ErrPermanent = errors.New("permanent storage error")
)

// Error is a classified storage error.
type Error struct {
	Op   string // "write", "copy", ...
	Key  string
	Kind error // one of the Err* classes above
	Err  error // the store's own error
}

func (e *Error) Error() string {
	return fmt.Sprintf("storage %s %q: %v: %v", e.Op, e.Key, e.Kind, e.Err)
}

// Unwrap exposes both the class and the cause to errors.Is and errors.As.
func (e *Error) Unwrap() []error { return []error{e.Kind, e.Err} }

// classify wraps err with the class it belongs to. Errors that are already
// classified pass through so a class is never overridden by an outer layer.
func classify(op, key string, err error) error {
	if err == nil {
		return nil
	}
	var se *Error
	if errors.As(err, &se) {
		return err
	}
	return &Error{Op: op, Key: key, Kind: kindOf(err), Err: err}
}

func kindOf(err error) error {
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return ErrNotFound
	case errors.Is(err, fs.ErrExist):
		return ErrExists
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return ErrRetryable
	}
	switch gcerrors.Code(err) {
	case gcerrors.NotFound:
		return ErrNotFound
	case gcerrors.FailedPrecondition, gcerrors.AlreadyExists:
		return ErrExists
	case gcerrors.PermissionDenied, gcerrors.InvalidArgument, gcerrors.Unimplemented:
		return ErrPermanent
	default:
		// Unknown covers HTTP 5xx, 429 throttling, S3 409 conditional-write
		// conflicts, network and disk I/O errors: all worth another try.
		return ErrRetryable
	}
}
