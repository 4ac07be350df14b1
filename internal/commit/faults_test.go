package commit_test

import (
	"bytes"
	"context"
	"io"
	"strings"
	"sync"
	"testing"

	"github.com/indexbuild/indexbuild/internal/commit"
	"github.com/indexbuild/indexbuild/internal/output"
	"github.com/indexbuild/indexbuild/internal/staging"
	"github.com/indexbuild/indexbuild/internal/storage"
	"github.com/indexbuild/indexbuild/internal/storage/storagetest"
)

// faultBucket wraps a real bucket (a version, or an output root), fails the
// calls a policy picks, and checks the commit protocol's invariants on
// every mutation it lets through: nothing is written under staging/, no
// source is deleted before its version's marker exists, no committed file
// is deleted except in a version below the published one, the marker is
// only ever created, the pointer only ever moves forward by a Replace to a
// version whose marker exists.
type faultBucket struct {
	storage.Bucket
	t         testing.TB
	faults    *storagetest.Faults // the injected faults and the mutations let through
	mu        sync.Mutex
	marker    int // markers created, under mu
	publishes int // pointer moves, under mu
	// blindCopies hides what the store reports of a copy, like a store
	// without copy checksums (gs://, azblob://).
	blindCopies bool
	// localMerge allows the one write under staging/ a finalize makes: a
	// local merge's outputs (staging/merge_*), before the marker exists;
	// with lateMerges also after it (a finalizer merging while another
	// commits).
	localMerge, lateMerges bool
}

func withFaults(t testing.TB, b storage.Bucket, fail func(op, key string) bool) *faultBucket {
	return &faultBucket{Bucket: b, t: t, faults: storagetest.WithFaults(b, fail)}
}

// inVersion splits a root key into its version prefix and the key inside
// the version; keys of a bucket that is a version already have no prefix.
func inVersion(key string) (version, rel string) {
	if id, rest, ok := output.ParseVersionKey(key); ok {
		return output.VersionPrefix(id), rest
	}
	return "", key
}

func (f *faultBucket) check(op, key string) error { return f.faults.Check(op, key) }

func (f *faultBucket) markerExists(version string) bool {
	_, err := f.Bucket.Attributes(context.Background(), version+commit.MarkerKey)
	return err == nil
}

// published is the pointer's jobID, 0 when there is none.
func (f *faultBucket) published() int64 {
	data, err := storage.ReadAll(context.Background(), f.Bucket, output.PointerKey)
	if err != nil {
		return 0
	}
	p, err := output.DecodePointer(data)
	if err != nil {
		f.t.Errorf("pointer unreadable: %v", err)
	}
	return p.JobID
}

// belowPublished: version (a prefix) is older than the published one, so
// retention may remove it.
func (f *faultBucket) belowPublished(version string) bool {
	id, _, ok := output.ParseVersionKey(version)
	return ok && id < f.published()
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

func (f *faultBucket) ReadRevision(ctx context.Context, key string) ([]byte, storage.Revision, error) {
	if err := f.check("readrev", key); err != nil {
		return nil, storage.NoRevision, err
	}
	return f.Bucket.ReadRevision(ctx, key)
}

func (f *faultBucket) Replace(ctx context.Context, key string, r io.Reader, rev storage.Revision) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	next, derr := output.DecodePointer(data)
	switch {
	case key != output.PointerKey:
		f.t.Errorf("replaced %s: only the pointer is ever replaced", key)
	case derr != nil:
		f.t.Errorf("publishing a bad pointer: %v", derr)
	case !f.markerExists(next.Version):
		f.t.Errorf("pointer moved to %s before its marker existed", next.Version)
	}
	if err := f.check("replace", key); err != nil {
		return err
	}
	prev := f.published()
	err = f.Bucket.Replace(ctx, key, bytes.NewReader(data), rev)
	if err == nil {
		if next.JobID <= prev {
			f.t.Errorf("pointer moved from job %d to job %d: never backwards", prev, next.JobID)
		}
		f.mu.Lock()
		f.publishes++
		f.mu.Unlock()
	}
	return err
}

func (f *faultBucket) Write(ctx context.Context, key string, r io.Reader) error {
	version, rel := inVersion(key)
	merged := f.localMerge && strings.HasPrefix(rel, staging.Prefix+"merge_")
	switch {
	case merged && !f.lateMerges && f.markerExists(version):
		f.t.Errorf("local merge wrote %s after the marker existed", key)
	case merged:
	case strings.HasPrefix(rel, staging.Prefix) || rel == commit.MarkerKey || key == output.PointerKey || key == output.OwnerKey:
		f.t.Errorf("finalize wrote %s (staging is read-only to it but for a local merge; the marker is only created)", key)
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
	if _, rel := inVersion(key); err == nil && rel == commit.MarkerKey {
		f.mu.Lock()
		f.marker++
		f.mu.Unlock()
	}
	return err
}

func (f *faultBucket) Copy(ctx context.Context, dst, src string, opts storage.CopyOptions) (storage.Copied, error) {
	if _, rel := inVersion(dst); strings.HasPrefix(rel, staging.Prefix) || rel == commit.MarkerKey || dst == output.PointerKey {
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
	version, rel := inVersion(key)
	switch {
	case f.belowPublished(version):
		// Retention: anything of a version older than the published one.
	case !strings.HasPrefix(rel, staging.Prefix):
		f.t.Errorf("finalize deleted %s outside staging/ of a version it may not remove", key)
	case !f.markerExists(version):
		f.t.Errorf("finalize deleted source %s before the marker existed", key)
	}
	if err := f.check("delete", key); err != nil {
		return err
	}
	return f.Bucket.Delete(ctx, key)
}
