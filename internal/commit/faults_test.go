package commit_test

import (
	"context"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"

	"github.com/indexbuild/indexbuild/internal/commit"
	"github.com/indexbuild/indexbuild/internal/staging"
	"github.com/indexbuild/indexbuild/internal/storage"
)

var errInjected = &storage.Error{Op: "inject", Kind: storage.ErrRetryable, Err: errors.New("injected fault")}

// faultBucket wraps a real bucket, fails the calls a policy picks, and
// checks the commit protocol's invariants on every mutation it lets through:
// nothing is written under staging/, no final path and no source before the
// marker exists is deleted, the marker is only ever created.
type faultBucket struct {
	storage.Bucket
	t      testing.TB
	mu     sync.Mutex
	fail   func(op, key string) bool // under mu
	ops    int                       // mutations let through
	marker int                       // markers created
	// blindCopies hides what the store reports of a copy, like a store
	// without copy checksums (gs://, azblob://).
	blindCopies bool
}

func withFaults(t testing.TB, b storage.Bucket, fail func(op, key string) bool) *faultBucket {
	if fail == nil {
		fail = func(string, string) bool { return false }
	}
	return &faultBucket{Bucket: b, t: t, fail: fail}
}

// crashAfter lets n mutations (write, create, copy, delete) through and
// then fails every call, as if the process had died.
func crashAfter(n int) func(op, key string) bool {
	crashed := false
	return func(op, _ string) bool {
		if crashed {
			return true
		}
		if isMutation(op) {
			if n == 0 {
				crashed = true
				return true
			}
			n--
		}
		return false
	}
}

func isMutation(op string) bool {
	return op == "write" || op == "create" || op == "copy" || op == "delete"
}

func (f *faultBucket) check(op, key string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail(op, key) {
		return errInjected
	}
	if isMutation(op) {
		f.ops++
	}
	return nil
}

func (f *faultBucket) markerExists() bool {
	_, err := f.Bucket.Attributes(context.Background(), commit.MarkerKey)
	return err == nil
}

func (f *faultBucket) List(ctx context.Context, prefix string) ([]storage.Attrs, error) {
	if err := f.check("list", prefix); err != nil {
		return nil, err
	}
	return f.Bucket.List(ctx, prefix)
}

func (f *faultBucket) Attributes(ctx context.Context, key string) (storage.Attrs, error) {
	if err := f.check("stat", key); err != nil {
		return storage.Attrs{}, err
	}
	return f.Bucket.Attributes(ctx, key)
}

func (f *faultBucket) NewReader(ctx context.Context, key string) (io.ReadCloser, error) {
	if err := f.check("read", key); err != nil {
		return nil, err
	}
	return f.Bucket.NewReader(ctx, key)
}

func (f *faultBucket) Write(ctx context.Context, key string, r io.Reader) error {
	if strings.HasPrefix(key, staging.Prefix) || key == commit.MarkerKey {
		f.t.Errorf("finalize wrote %s (staging is read-only to it; the marker is only created)", key)
	}
	if err := f.check("write", key); err != nil {
		return err
	}
	return f.Bucket.Write(ctx, key, r)
}

func (f *faultBucket) Create(ctx context.Context, key string, r io.Reader) error {
	if err := f.check("create", key); err != nil {
		return err
	}
	err := f.Bucket.Create(ctx, key, r)
	if err == nil && key == commit.MarkerKey {
		f.mu.Lock()
		f.marker++
		f.mu.Unlock()
	}
	return err
}

func (f *faultBucket) Copy(ctx context.Context, dst, src string, opts storage.CopyOptions) (storage.Copied, error) {
	if strings.HasPrefix(dst, staging.Prefix) || dst == commit.MarkerKey {
		f.t.Errorf("finalize copied onto %s", dst)
	}
	if err := f.check("copy", dst); err != nil {
		return storage.Copied{}, err
	}
	c, err := f.Bucket.Copy(ctx, dst, src, opts)
	if f.blindCopies {
		c = storage.Copied{Size: -1}
	}
	return c, err
}

func (f *faultBucket) Delete(ctx context.Context, key string) error {
	switch {
	case !strings.HasPrefix(key, staging.Prefix):
		f.t.Errorf("finalize deleted %s outside staging/", key)
	case !f.markerExists():
		f.t.Errorf("finalize deleted source %s before the marker existed", key)
	}
	if err := f.check("delete", key); err != nil {
		return err
	}
	return f.Bucket.Delete(ctx, key)
}
