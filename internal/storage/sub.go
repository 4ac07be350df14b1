package storage

import (
	"context"
	"io"
	"net/url"
	"strings"
)

// Sub is the part of b under prefix (ending in "/") as a Bucket of its own:
// keys are relative to prefix. Its URI is b's with prefix appended to the
// path, so opening that URI gives the same objects. Server-side copies and
// S3 batch deletes work through it as on b.
func Sub(b Bucket, prefix string) Bucket {
	return &subBucket{parent: b, prefix: prefix, uri: ObjectURI(b.URI(), prefix)}
}

type subBucket struct {
	parent Bucket
	prefix string
	uri    string
}

func (s *subBucket) URI() string { return s.uri }

// Close does nothing: the parent is its opener's to close.
func (s *subBucket) Close() error { return nil }

func (s *subBucket) List(ctx context.Context, prefix string) ([]Attrs, error) {
	list, err := s.parent.List(ctx, s.prefix+prefix)
	for i := range list {
		list[i].Key = strings.TrimPrefix(list[i].Key, s.prefix)
	}
	return list, err
}

func (s *subBucket) Attributes(ctx context.Context, key string) (Attrs, error) {
	a, err := s.parent.Attributes(ctx, s.prefix+key)
	a.Key = strings.TrimPrefix(a.Key, s.prefix)
	return a, err
}

func (s *subBucket) NewReader(ctx context.Context, key string) (io.ReadCloser, error) {
	return s.parent.NewReader(ctx, s.prefix+key)
}

func (s *subBucket) NewRangeReader(ctx context.Context, key string, offset, length int64) (io.ReadCloser, error) {
	return NewRangeReader(ctx, s.parent, s.prefix+key, offset, length)
}

func (s *subBucket) Write(ctx context.Context, key string, r io.Reader) error {
	return s.parent.Write(ctx, s.prefix+key, r)
}

func (s *subBucket) Create(ctx context.Context, key string, r io.Reader) error {
	return s.parent.Create(ctx, s.prefix+key, r)
}

func (s *subBucket) Copy(ctx context.Context, dst, src string, opts CopyOptions) (Copied, error) {
	return s.parent.Copy(ctx, s.prefix+dst, s.prefix+src, opts)
}

func (s *subBucket) Delete(ctx context.Context, key string) error {
	return s.parent.Delete(ctx, s.prefix+key)
}

func (s *subBucket) ReadRevision(ctx context.Context, key string) ([]byte, Revision, error) {
	return s.parent.ReadRevision(ctx, s.prefix+key)
}

func (s *subBucket) Replace(ctx context.Context, key string, r io.Reader, rev Revision) error {
	return s.parent.Replace(ctx, s.prefix+key, r, rev)
}

// ObjectURI is the URI of key inside the bucket rootURI names, for messages
// and summaries (query parameters such as an S3 endpoint stay).
func ObjectURI(rootURI, key string) string {
	u, err := url.Parse(rootURI)
	if err != nil {
		return strings.TrimSuffix(rootURI, "/") + "/" + key
	}
	u.Path = strings.TrimSuffix(u.Path, "/") + "/" + key
	u.RawPath = ""
	return u.String()
}
