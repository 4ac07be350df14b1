package storage

import (
	"errors"
	"syscall"

	gcs "cloud.google.com/go/storage"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"
	"github.com/aws/smithy-go"
)

// Unhealable reports whether err is a storage failure that no retry of the
// same call can heal although its class says otherwise: a bucket or
// container that does not exist (the stores answer 404, classified
// ErrNotFound like a missing object) and a read-only file store (an I/O
// error, ErrRetryable). ErrPermanent errors are invalid input already. The
// data plane ends a build on these at once instead of retrying it to its
// backoff limit.
func Unhealable(err error) bool {
	var api smithy.APIError
	switch {
	case err == nil:
		return false
	case errors.Is(err, syscall.EROFS), errors.Is(err, gcs.ErrBucketNotExist),
		bloberror.HasCode(err, bloberror.ContainerNotFound):
		return true
	case errors.As(err, &api):
		return api.ErrorCode() == "NoSuchBucket"
	}
	return false
}
