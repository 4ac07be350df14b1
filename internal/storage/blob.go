package storage

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net/url"
	"slices"
	"strings"

	gcs "cloud.google.com/go/storage"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"gocloud.dev/blob"
	// Drivers for every scheme Open accepts.
	_ "gocloud.dev/blob/azureblob"
	_ "gocloud.dev/blob/fileblob"
	_ "gocloud.dev/blob/gcsblob"
	_ "gocloud.dev/blob/memblob"
	_ "gocloud.dev/blob/s3blob"

	"github.com/indexbuild/indexbuild/internal/retry"
)

// Open opens the bucket a URI names (see the package comment for the forms).
// A malformed URI or an unsupported scheme is invalid input: retrying cannot
// fix a spec.
func Open(ctx context.Context, uri string) (Bucket, error) {
	u, err := url.Parse(uri)
	if err != nil {
		return nil, fmt.Errorf("%w: storage URI %q: %v", retry.ErrInvalidInput, uri, err)
	}
	switch u.Scheme {
	case "file":
		return openFile(ctx, uri, u)
	case "mem", "s3", "gs", "azblob":
	default:
		return nil, fmt.Errorf("%w: storage URI %q: unsupported scheme %q (want file, mem, s3, gs or azblob)", retry.ErrInvalidInput, uri, u.Scheme)
	}
	// A path below the bucket is a key prefix; gocloud's generic "prefix"
	// parameter does exactly that.
	prefix := ""
	if p := strings.Trim(u.Path, "/"); p != "" {
		prefix = p + "/"
		q := u.Query()
		q.Set("prefix", prefix)
		u.Path, u.RawQuery = "", q.Encode()
	}
	b, err := blob.OpenBucket(ctx, u.String())
	if err != nil {
		return nil, classify("open", uri, err)
	}
	bb := &blobBucket{uri: uri, b: b, streamCopy: u.Scheme == "mem", upload: u.Scheme == "azblob"}
	switch u.Scheme {
	case "mem":
		bb.revs = memRevisions{bb}
	case "gs":
		bb.revs = gcsRevisions{bb}
		var client *gcs.Client
		if b.As(&client) {
			bb.gcs = &gcsTarget{client: client, bucket: u.Host, prefix: prefix}
		}
	case "azblob":
		bb.revs = azureRevisions{bb}
	}
	var client *s3.Client
	if u.Scheme == "s3" && b.As(&client) {
		q := u.Query()
		bb.s3 = &s3Target{client: client, bucket: u.Host, prefix: prefix,
			// With server-side encryption settings gocloud's own copy
			// applies them; the ETag is no MD5 then anyway.
			// And for keys s3blob would escape, it escapes them.
			plainCopy: q.Get("ssetype") == "" && q.Get("kmskeyid") == "" && (prefix == "" || plainKey(prefix+"x"))}
		bb.revs = s3Revisions{bb}
	}
	return RequirePreconditions(bb), nil
}

// FromBlob wraps an already opened gocloud bucket, for callers (and tests)
// that need to share one mem:// bucket between several users.
func FromBlob(uri string, b *blob.Bucket) Bucket {
	bb := &blobBucket{uri: uri, b: b, streamCopy: strings.HasPrefix(uri, "mem:")}
	if bb.streamCopy {
		bb.revs = memRevisions{bb}
	}
	return RequirePreconditions(bb)
}

// Blob returns the gocloud bucket under b, and false for a bucket Open did
// not return. Benchmarks use it to time the store's plain calls.
func Blob(b Bucket) (*blob.Bucket, bool) {
	switch b := unwrap(b).(type) {
	case *blobBucket:
		return b.b, true
	case *fileBucket:
		return b.b, true
	}
	return nil, false
}

// blobBucket implements Bucket on a gocloud bucket.
type blobBucket struct {
	uri string
	b   *blob.Bucket
	s3  *s3Target  // for batch deletes and copies; nil unless s3://
	gcs *gcsTarget // for copies; nil unless gs://
	// streamCopy copies through this process, hashing (mem://: there is no
	// server, so this is what its copy does anyway).
	streamCopy bool
	// upload writes with one Upload call instead of a stream of Writes:
	// gocloud's azureblob writer crashes in Close (nil pipe) when a streamed
	// write fails, as a refused create-if-absent does.
	upload bool
	// revs reads revisions and replaces conditionally, per store; nil for
	// a store without (then ReadRevision and Replace fail permanently).
	revs revisions
}

func (b *blobBucket) URI() string  { return b.uri }
func (b *blobBucket) Close() error { return b.b.Close() }

func (b *blobBucket) List(ctx context.Context, prefix string) ([]Attrs, error) {
	var out []Attrs
	err := b.eachListed(ctx, prefix, func(obj *blob.ListObject) {
		out = append(out, Attrs{Key: obj.Key, Size: obj.Size, MD5: obj.MD5})
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(out, func(a, b Attrs) int { return strings.Compare(a.Key, b.Key) })
	return out, nil
}

// eachListed calls fn with every object under prefix, in the store's order.
func (b *blobBucket) eachListed(ctx context.Context, prefix string, fn func(*blob.ListObject)) error {
	it := b.b.List(&blob.ListOptions{Prefix: prefix})
	for {
		obj, err := it.Next(ctx)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return classify("list", prefix, err)
		}
		fn(obj)
	}
}

func (b *blobBucket) Attributes(ctx context.Context, key string) (Attrs, error) {
	a, err := b.b.Attributes(ctx, key)
	if err != nil {
		return Attrs{}, classify("stat", key, err)
	}
	return Attrs{Key: key, Size: a.Size, MD5: a.MD5, ETag: a.ETag}, nil
}

func (b *blobBucket) NewReader(ctx context.Context, key string) (io.ReadCloser, error) {
	r, err := b.b.NewReader(ctx, key, nil)
	if err != nil {
		return nil, classify("read", key, err)
	}
	return &reader{ReadCloser: r, key: key}, nil
}

func (b *blobBucket) Write(ctx context.Context, key string, r io.Reader) error {
	_, err := b.write(ctx, key, r, false)
	return err
}

func (b *blobBucket) Create(ctx context.Context, key string, r io.Reader) error {
	_, err := b.write(ctx, key, r, true)
	return err
}

func (b *blobBucket) write(ctx context.Context, key string, r io.Reader, ifNotExist bool) (int64, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// An explicit content type keeps gocloud from buffering the first 512
	// bytes to sniff one.
	opts := &blob.WriterOptions{ContentType: "application/octet-stream", IfNotExist: ifNotExist}
	if b.upload {
		// A failed read fails the upload: nothing is stored.
		cr := &countingReader{r: r}
		err := b.b.Upload(ctx, key, cr, opts)
		return cr.n, classify("write", key, err)
	}
	w, err := b.b.NewWriter(ctx, key, opts)
	if err != nil {
		return 0, classify("write", key, err)
	}
	n, err := io.Copy(w, r)
	if err != nil {
		// Cancelling before Close abandons the upload: nothing is stored.
		cancel()
		_ = w.Close()
		return 0, classify("write", key, err)
	}
	return n, classify("write", key, w.Close())
}

func (b *blobBucket) Copy(ctx context.Context, dst, src string, opts CopyOptions) (Copied, error) {
	what := src + " -> " + dst
	switch {
	case b.s3 != nil && b.s3.plainCopy && plainKey(dst) && plainKey(src):
		return b.s3Copy(ctx, dst, src, opts)
	case b.gcs != nil && plainKey(dst) && plainKey(src):
		return b.gcs.copy(ctx, dst, src)
	case b.streamCopy:
		return b.hashingCopy(ctx, dst, src)
	}
	return Copied{Size: -1}, classify("copy", what, b.b.Copy(ctx, dst, src, nil))
}

// hashingCopy reads src and writes dst, hashing the bytes on the way.
func (b *blobBucket) hashingCopy(ctx context.Context, dst, src string) (Copied, error) {
	what := src + " -> " + dst
	r, err := b.b.NewReader(ctx, src, nil)
	if err != nil {
		return Copied{}, classify("copy", what, err)
	}
	defer r.Close()
	h := sha256.New()
	n, err := b.write(ctx, dst, io.TeeReader(r, h), false)
	if err != nil {
		return Copied{}, classify("copy", what, err)
	}
	return Copied{Size: n, SHA256: h.Sum(nil)}, nil
}

func (b *blobBucket) Delete(ctx context.Context, key string) error {
	return classify("delete", key, b.b.Delete(ctx, key))
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// reader classifies read errors the way every other call is classified.
type reader struct {
	io.ReadCloser
	key string
}

func (r *reader) Read(p []byte) (int, error) {
	n, err := r.ReadCloser.Read(p)
	if err != nil && !errors.Is(err, io.EOF) {
		err = classify("read", r.key, err)
	}
	return n, err
}
