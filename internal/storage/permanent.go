package storage

import (
	"errors"
	"io/fs"
	"syscall"

	gcs "cloud.google.com/go/storage"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"
	"github.com/aws/smithy-go"
)

// Unhealable reports whether err is a storage failure that no retry of the
// same call can heal, whatever class the store's error code mapped to: a
// permanent error (permission denied, bad argument), a bucket or container
// that does not exist (S3 and Azure report it as not found, like a missing
// object), and a file store's permission or read-only error. The data plane
// ends a build on these at once instead of retrying it to its backoff limit.
func Unhealable(err error) bool {
	var api smithy.APIError
	switch {
	case err == nil:
		return false
	case errors.Is(err, ErrPermanent), errors.Is(err, fs.ErrPermission), errors.Is(err, syscall.EROFS),
		errors.Is(err, gcs.ErrBucketNotExist),
		bloberror.HasCode(err, bloberror.ContainerNotFound, bloberror.AuthorizationFailure,
			bloberror.AuthorizationPermissionMismatch, bloberror.AuthenticationFailed, bloberror.InvalidResourceName):
		return true
	case errors.As(err, &api):
		switch api.ErrorCode() {
		case "NoSuchBucket", "AccessDenied", "AllAccessDisabled", "InvalidAccessKeyId", "SignatureDoesNotMatch",
			"InvalidArgument", "InvalidBucketName", "AccountProblem", "InvalidObjectState":
			return true
		}
	}
	return false
}
