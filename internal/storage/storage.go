// Package storage is the one object-store abstraction of the data plane, on
// gocloud.dev/blob: file:// (the embedded default), mem:// (tests), s3://
// (AWS and S3-compatible stores), gs:// and azblob://.
//
// Keys are slash-separated and relative to the root the URI names. The root
// is a directory for file:// and a key prefix for every other scheme:
//
//	file:///data/out/idx1                 directory /data/out/idx1 (created if absent)
//	mem://                                a fresh in-memory bucket per Open
//	s3://bucket/idx1?region=us-east-1     bucket "bucket", keys under "idx1/"
//	s3://bucket/idx1?endpoint=http://127.0.0.1:9000&region=us-east-1&use_path_style=true
//	gs://bucket/idx1                      bucket "bucket", keys under "idx1/"
//	azblob://container/idx1               container, keys under "idx1/"
//	azblob://container/idx1?protocol=http&domain=127.0.0.1:10000   the same on Azurite
//
// Credentials come from the environment the cloud SDKs read (for example
// AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, GOOGLE_APPLICATION_CREDENTIALS,
// AZURE_STORAGE_ACCOUNT/AZURE_STORAGE_KEY). A Kubernetes Secret reaches them
// either as env vars (envFrom) or as a mounted file named by such a variable
// (AWS_SHARED_CREDENTIALS_FILE, GOOGLE_APPLICATION_CREDENTIALS).
//
// Every error a Bucket returns is classified: errors.Is(err, X) holds for
// exactly one of ErrNotFound, ErrExists, ErrConflict, ErrRetryable,
// ErrPermanent.
//
// A Bucket from Open never trusts a store with a conditional write it does
// not honour (RequirePreconditions): the commit protocol's create-if-absent
// and compare-and-swap are proved on first use.
package storage

import (
	"context"
	"io"
)

// Bucket is an object store rooted at the location a URI names. Open returns
// the real one; tests wrap it (for example to inject faults) since the
// commit protocol only ever talks to this interface.
type Bucket interface {
	// URI returns the URI the bucket was opened with, for messages.
	URI() string
	// List returns every object whose key starts with prefix, sorted by key.
	List(ctx context.Context, prefix string) ([]Attrs, error)
	// Attributes returns the size and checksums of one object.
	Attributes(ctx context.Context, key string) (Attrs, error)
	// NewReader opens an object for reading.
	NewReader(ctx context.Context, key string) (io.ReadCloser, error)
	// Write stores r under key, replacing what is there. Readers never see a
	// partly written object.
	Write(ctx context.Context, key string, r io.Reader) error
	// Create stores r under key only if key does not exist yet, atomically:
	// of concurrent Creates exactly one succeeds and the others get ErrExists.
	Create(ctx context.Context, key string, r io.Reader) error
	// Copy copies src to dst, server-side where the store can, replacing dst,
	// and reports what the store knows of the bytes it wrote.
	Copy(ctx context.Context, dst, src string, opts CopyOptions) (Copied, error)
	// Delete removes an object; ErrNotFound if it is not there.
	Delete(ctx context.Context, key string) error
	// ReadRevision reads a whole (small) object and the revision it read,
	// for a later Replace; ErrNotFound if it is not there.
	ReadRevision(ctx context.Context, key string) ([]byte, Revision, error)
	// Replace stores r under key only if the object is still at revision
	// rev (NoRevision: only if there is no object), atomically: of
	// concurrent Replaces from one revision at most one succeeds, the others
	// get ErrConflict (and so does one from an outdated revision).
	Replace(ctx context.Context, key string, r io.Reader, rev Revision) error
	Close() error
}

// Revision names one state of an object for a compare-and-swap Replace:
// the store's own (S3 and Azure ETag, GCS generation) or a content hash
// (file://, mem://). Opaque to callers.
type Revision string

// NoRevision is the revision of an object that does not exist.
const NoRevision Revision = ""

// Attrs describes one object.
type Attrs struct {
	Key  string
	Size int64
	// MD5 is the content MD5 when the store reports one (S3 single-part
	// uploads, GCS, Azure, mem://); nil otherwise.
	MD5 []byte
	// ETag is the store's entity tag, "" when it has none.
	ETag string
}

// CopyOptions tune one Copy.
type CopyOptions struct {
	// SHA256 asks a store that copies server-side for the SHA-256 of the
	// copy where it can compute one (S3 additional checksums), at some cost
	// to the copy. Copies streamed through this process report it anyway.
	SHA256 bool
	// Size is the source's size when the caller knows it (0 otherwise). S3
	// copies a source larger than one CopyObject may copy (5 GiB) in parts
	// (UploadPartCopy), which needs the size: a caller that may copy
	// objects that large says it.
	Size int64
}

// Copied is what a Copy learnt about the object it wrote, so a caller can
// check the copy without reading it back or listing it. Checksums the store
// did not report are nil; callers check those copies some other way.
type Copied struct {
	// Size is the number of bytes written, -1 when the store does not say.
	Size int64
	// SHA256 is the SHA-256 of the bytes written: hashed on the way when the
	// copy streamed them through this process (file://, mem://), computed by
	// the server when CopyOptions.SHA256 asked and it could (S3); nil
	// otherwise.
	SHA256 []byte
	// MD5 is the content MD5 the store computed for the new object (S3: the
	// ETag CopyObject returns, when it is a plain MD5); nil otherwise.
	MD5 []byte
}

// ReadAll reads a whole object.
func ReadAll(ctx context.Context, b Bucket, key string) ([]byte, error) {
	r, err := b.NewReader(ctx, key)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, classify("read", key, err)
	}
	return data, nil
}
