package storage

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/http"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"gocloud.dev/gcerrors"
	"google.golang.org/api/googleapi"

	"github.com/indexbuild/indexbuild/internal/retry"
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
	// ErrPermanent: permission denied, bad arguments, unsupported operation,
	// a store that ignores preconditions; retrying the same call cannot
	// help. A permanent error is also retry.ErrInvalidInput: it ends a build
	// with exit code 4, the store's own message quoted, instead of being
	// retried until the budget is gone.
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

// Unwrap exposes both the class and the cause to errors.Is and errors.As,
// and for a permanent error the worker contract's class of it.
func (e *Error) Unwrap() []error {
	if e.Kind == ErrPermanent {
		return []error{e.Kind, retry.ErrInvalidInput, e.Err}
	}
	return []error{e.Kind, e.Err}
}

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
	case errors.Is(err, fs.ErrPermission):
		return ErrPermanent
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return ErrRetryable
	}
	// The store's own answer first: gocloud's codes lose some of it (GCS
	// answers 403 for a denied object that may or may not exist, which
	// gocloud calls NotFound; most of Azure's and S3's authorization
	// failures are Unknown to it, which would be retried).
	if kind := storeKind(err); kind != nil {
		return kind
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

// storeKind classifies an error of the GCS, Azure or S3 client by the
// store's HTTP answer; nil for anything else.
func storeKind(err error) error {
	var ge *googleapi.Error
	if errors.As(err, &ge) {
		return statusKind(ge.Code, true)
	}
	var ae *azcore.ResponseError
	if errors.As(err, &ae) {
		switch ae.ErrorCode {
		case "BlobAlreadyExists", "ContainerAlreadyExists":
			return ErrExists
		}
		return statusKind(ae.StatusCode, true)
	}
	return s3Kind(err)
}

// statusKind classifies an HTTP status of a store's answer: authorization
// failures are permanent, whatever the store's code says; so is any other
// refused request (400) where badRequestIsPermanent (GCS and Azure: S3
// answers 400 for expired tokens and request timeouts too).
func statusKind(code int, badRequestIsPermanent bool) error {
	switch {
	case code == http.StatusUnauthorized, code == http.StatusForbidden:
		return ErrPermanent
	case code == http.StatusNotFound:
		return ErrNotFound
	case code == http.StatusPreconditionFailed:
		return ErrExists
	case code == http.StatusBadRequest && badRequestIsPermanent:
		return ErrPermanent
	case code == http.StatusNotImplemented:
		return ErrPermanent
	}
	return ErrRetryable
}
