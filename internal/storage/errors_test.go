package storage

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"google.golang.org/api/googleapi"

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

// TestStoreErrorClasses: the stores' own answers keep their meaning, also
// wrapped the way gocloud wraps them; a GCS 403 is no NotFound (gocloud's
// code for it) and an authorization failure is never retried.
func TestStoreErrorClasses(t *testing.T) {
	gcs := func(code int) error {
		return fmt.Errorf("blob (code=NotFound): %w", &googleapi.Error{Code: code, Message: "x"})
	}
	azure := func(status int, code string) error {
		return fmt.Errorf("blob (code=Unknown): %w", &azcore.ResponseError{StatusCode: status, ErrorCode: code})
	}
	for name, tt := range map[string]struct {
		err  error
		want error
	}{
		"gcs 403":                    {gcs(http.StatusForbidden), ErrPermanent},
		"gcs 401":                    {gcs(http.StatusUnauthorized), ErrPermanent},
		"gcs 400":                    {gcs(http.StatusBadRequest), ErrPermanent},
		"gcs 404":                    {gcs(http.StatusNotFound), ErrNotFound},
		"gcs 412":                    {gcs(http.StatusPreconditionFailed), ErrExists},
		"gcs 429":                    {gcs(http.StatusTooManyRequests), ErrRetryable},
		"gcs 503":                    {gcs(http.StatusServiceUnavailable), ErrRetryable},
		"azure AuthorizationFailure": {azure(http.StatusForbidden, "AuthorizationFailure"), ErrPermanent},
		"azure AuthenticationFailed": {azure(http.StatusForbidden, "AuthenticationFailed"), ErrPermanent},
		"azure BlobNotFound":         {azure(http.StatusNotFound, "BlobNotFound"), ErrNotFound},
		"azure ContainerNotFound":    {azure(http.StatusNotFound, "ContainerNotFound"), ErrNotFound},
		"azure BlobAlreadyExists":    {azure(http.StatusConflict, "BlobAlreadyExists"), ErrExists},
		"azure ConditionNotMet":      {azure(http.StatusPreconditionFailed, "ConditionNotMet"), ErrExists},
		"azure ServerBusy":           {azure(http.StatusServiceUnavailable, "ServerBusy"), ErrRetryable},
		"file permission":            {&fs.PathError{Op: "open", Path: "x", Err: fs.ErrPermission}, ErrPermanent},
	} {
		err := classify("op", "key", tt.err)
		for _, kind := range []error{ErrNotFound, ErrExists, ErrConflict, ErrRetryable, ErrPermanent} {
			if errors.Is(err, kind) != (kind == tt.want) {
				t.Errorf("%s: errors.Is(%v) = %v", name, kind, kind != tt.want)
			}
		}
		wantExit := retry.ExitRetryable
		if tt.want == ErrPermanent {
			wantExit = retry.ExitInvalidInput
		}
		if got := retry.ExitCode(err); got != wantExit {
			t.Errorf("%s: exit code %d, want %d", name, got, wantExit)
		}
		if !strings.Contains(err.Error(), tt.err.Error()) {
			t.Errorf("%s: %q does not quote the store's answer %q", name, err, tt.err)
		}
	}
}
