package storage

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	gcs "cloud.google.com/go/storage"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	azblobblob "github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blob"
)

// The revisions of gs:// and azblob:// are the store's own, read before the
// content: if the object changes in between, the content is newer than the
// revision and the Replace fails (ErrConflict) instead of acting on a state
// it did not read. They use only the documented preconditions (GCS
// generation match, Azure If-Match/If-None-Match); the tests run them
// against fake-gcs-server and Azurite.

// gcsRevisions: revision = object generation; Replace writes with
// GenerationMatch (DoesNotExist for NoRevision).
type gcsRevisions struct{ b *blobBucket }

func (g gcsRevisions) read(ctx context.Context, key string) ([]byte, Revision, error) {
	a, err := g.b.b.Attributes(ctx, key)
	if err != nil {
		return nil, NoRevision, classify("read", key, err)
	}
	var oa gcs.ObjectAttrs
	if !a.As(&oa) {
		return nil, NoRevision, &Error{Op: "read", Key: key, Kind: ErrPermanent, Err: errors.New("no GCS object attributes")}
	}
	data, err := ReadAll(ctx, g.b, key)
	if err != nil {
		return nil, NoRevision, err
	}
	return data, Revision(strconv.FormatInt(oa.Generation, 10)), nil
}

func (g gcsRevisions) replace(ctx context.Context, key string, data []byte, rev Revision) error {
	cond := gcs.Conditions{DoesNotExist: true}
	if rev != NoRevision {
		gen, err := strconv.ParseInt(string(rev), 10, 64)
		if err != nil {
			// Not a generation of this store, so not the object's.
			return &Error{Op: "replace", Key: key, Kind: ErrConflict, Err: fmt.Errorf("revision %q is no GCS generation", rev)}
		}
		cond = gcs.Conditions{GenerationMatch: gen}
	}
	return g.b.writeWith(ctx, key, data, func(as func(any) bool) error {
		var oh **gcs.ObjectHandle
		if !as(&oh) {
			return errors.New("no GCS object handle to set a precondition on")
		}
		*oh = (*oh).If(cond)
		return nil
	})
}

// azureRevisions: revision = ETag; Replace writes with If-Match (If-None-Match: *
// for NoRevision).
type azureRevisions struct{ b *blobBucket }

func (z azureRevisions) read(ctx context.Context, key string) ([]byte, Revision, error) {
	a, err := z.b.b.Attributes(ctx, key)
	if err != nil {
		return nil, NoRevision, classify("read", key, err)
	}
	data, err := ReadAll(ctx, z.b, key)
	if err != nil {
		return nil, NoRevision, err
	}
	return data, Revision(a.ETag), nil
}

func (z azureRevisions) replace(ctx context.Context, key string, data []byte, rev Revision) error {
	mac := &azblobblob.ModifiedAccessConditions{}
	if rev == NoRevision {
		mac.IfNoneMatch = new(azcore.ETagAny)
	} else {
		mac.IfMatch = new(azcore.ETag(rev))
	}
	return z.b.writeWith(ctx, key, data, func(as func(any) bool) error {
		var opts *azblob.UploadStreamOptions
		if !as(&opts) {
			return errors.New("no Azure upload options to set a precondition on")
		}
		opts.AccessConditions = &azblob.AccessConditions{ModifiedAccessConditions: mac}
		return nil
	})
}
