package storage

import (
	"context"
	"encoding/hex"
	"fmt"
	"os"
	"slices"
	"strings"
	"syscall"
	"time"

	gcs "cloud.google.com/go/storage"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
	"github.com/aws/aws-sdk-go-v2/aws"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"gocloud.dev/blob"
)

// ObjectVersion is one state of an object, for pinning a task's input: a
// write that changes the object changes Size or Token.
type ObjectVersion struct {
	Key  string
	Size int64
	// Token is the store's own version of the object: the ETag on S3 and
	// Azure, "gen:<generation>" on GCS, "ino:<inode> mtime:<ns>" on file://
	// (a rewrite in place changes the mtime, a rename over it the inode),
	// "mtime:<ns> md5:<hex>" on mem://.
	Token string
}

// versionLister is implemented by the buckets Open returns.
type versionLister interface {
	listVersions(ctx context.Context, prefix string) ([]ObjectVersion, error)
	statVersion(ctx context.Context, key string) (ObjectVersion, error)
}

// ListVersions lists every object under prefix with its version, sorted by
// key, in as many requests as List.
func ListVersions(ctx context.Context, b Bucket, prefix string) ([]ObjectVersion, error) {
	if v, ok := b.(versionLister); ok {
		return v.listVersions(ctx, prefix)
	}
	// A bucket of another kind (a test's wrapper): one Attributes per key.
	objs, err := b.List(ctx, prefix)
	if err != nil {
		return nil, err
	}
	out := make([]ObjectVersion, len(objs))
	for i, o := range objs {
		if out[i], err = StatVersion(ctx, b, o.Key); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// StatVersion returns the current version of one object; ErrNotFound when
// it is gone.
func StatVersion(ctx context.Context, b Bucket, key string) (ObjectVersion, error) {
	if v, ok := b.(versionLister); ok {
		return v.statVersion(ctx, key)
	}
	a, err := b.Attributes(ctx, key)
	if err != nil {
		return ObjectVersion{}, err
	}
	return ObjectVersion{Key: key, Size: a.Size, Token: strings.Trim(a.ETag, `"`) + hex.EncodeToString(a.MD5)}, nil
}

func (b *blobBucket) listVersions(ctx context.Context, prefix string) ([]ObjectVersion, error) {
	var out []ObjectVersion
	err := b.eachListed(ctx, prefix, func(obj *blob.ListObject) {
		var etag string
		var s3obj s3types.Object
		var azItem container.BlobItem
		switch {
		case obj.As(&s3obj):
			etag = aws.ToString(s3obj.ETag)
		case obj.As(&azItem) && azItem.Properties != nil && azItem.Properties.ETag != nil:
			etag = string(*azItem.Properties.ETag)
		}
		out = append(out, ObjectVersion{Key: obj.Key, Size: obj.Size, Token: versionToken(obj.As, etag, obj.ModTime, obj.MD5)})
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(out, func(a, b ObjectVersion) int { return strings.Compare(a.Key, b.Key) })
	return out, nil
}

func (b *blobBucket) statVersion(ctx context.Context, key string) (ObjectVersion, error) {
	a, err := b.b.Attributes(ctx, key)
	if err != nil {
		return ObjectVersion{}, classify("stat", key, err)
	}
	etag := ""
	if b.s3 != nil || strings.HasPrefix(b.uri, "azblob:") {
		etag = a.ETag
	}
	return ObjectVersion{Key: key, Size: a.Size, Token: versionToken(a.As, etag, a.ModTime, a.MD5)}, nil
}

// versionToken derives ObjectVersion.Token from what a listing or a stat
// reports: both give the same token for the same object state.
func versionToken(as func(any) bool, etag string, modTime time.Time, md5 []byte) string {
	var gattrs gcs.ObjectAttrs
	var fi os.FileInfo
	switch {
	case etag != "":
		return strings.Trim(etag, `"`)
	case as(&gattrs):
		return fmt.Sprintf("gen:%d", gattrs.Generation)
	case as(&fi):
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			return fmt.Sprintf("ino:%d mtime:%d", st.Ino, fi.ModTime().UnixNano())
		}
		return fmt.Sprintf("mtime:%d", fi.ModTime().UnixNano())
	}
	return fmt.Sprintf("mtime:%d md5:%x", modTime.UnixNano(), md5)
}

func (s *subBucket) listVersions(ctx context.Context, prefix string) ([]ObjectVersion, error) {
	list, err := ListVersions(ctx, s.parent, s.prefix+prefix)
	for i := range list {
		list[i].Key = strings.TrimPrefix(list[i].Key, s.prefix)
	}
	return list, err
}

func (s *subBucket) statVersion(ctx context.Context, key string) (ObjectVersion, error) {
	v, err := StatVersion(ctx, s.parent, s.prefix+key)
	v.Key = key
	return v, err
}
