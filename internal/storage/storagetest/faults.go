package storagetest

import (
	"context"
	"errors"
	"io"
	"sync"

	"github.com/indexbuild/indexbuild/internal/storage"
)

// ErrInjected is the failure Faults injects: retryable, like a store that
// went away.
var ErrInjected = &storage.Error{Op: "inject", Kind: storage.ErrRetryable, Err: errors.New("injected fault")}

// Faults wraps a real bucket and fails the calls a policy picks, counting
// the mutations (write, create, copy, delete, replace) it lets through.
// Ranged reads go through it too, so a reader that reads by ranges meets
// the faults.
type Faults struct {
	storage.Bucket
	mu   sync.Mutex
	fail func(op, key string) bool // under mu
	ops  int
}

// WithFaults wraps b; fail (nil: never) decides per call, with op one of
// list, stat, read, readrev and the mutations.
func WithFaults(b storage.Bucket, fail func(op, key string) bool) *Faults {
	if fail == nil {
		fail = func(string, string) bool { return false }
	}
	return &Faults{Bucket: b, fail: fail}
}

// Mutations is the number of mutations let through so far.
func (f *Faults) Mutations() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.ops
}

// CrashAfter lets n mutations through and then fails every call, as if the
// process had died.
func CrashAfter(n int) func(op, key string) bool {
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

// isMutation reports whether op changes the store.
func isMutation(op string) bool {
	return op == "write" || op == "create" || op == "copy" || op == "delete" || op == "replace"
}

// Check applies the policy to one call: ErrInjected when it fails, else
// the call is let through (and counted when it is a mutation). Wrappers
// that check more than Faults does call it from their own methods.
func (f *Faults) Check(op, key string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail(op, key) {
		return ErrInjected
	}
	if isMutation(op) {
		f.ops++
	}
	return nil
}

func (f *Faults) List(ctx context.Context, prefix string) ([]storage.Attrs, error) {
	if err := f.Check("list", prefix); err != nil {
		return nil, err
	}
	return f.Bucket.List(ctx, prefix)
}

func (f *Faults) Attributes(ctx context.Context, key string) (storage.Attrs, error) {
	if err := f.Check("stat", key); err != nil {
		return storage.Attrs{}, err
	}
	return f.Bucket.Attributes(ctx, key)
}

func (f *Faults) NewReader(ctx context.Context, key string) (io.ReadCloser, error) {
	if err := f.Check("read", key); err != nil {
		return nil, err
	}
	return f.Bucket.NewReader(ctx, key)
}

func (f *Faults) NewRangeReader(ctx context.Context, key string, offset, length int64) (io.ReadCloser, error) {
	if err := f.Check("read", key); err != nil {
		return nil, err
	}
	return storage.NewRangeReader(ctx, f.Bucket, key, offset, length)
}

func (f *Faults) ReadRevision(ctx context.Context, key string) ([]byte, storage.Revision, error) {
	if err := f.Check("readrev", key); err != nil {
		return nil, storage.NoRevision, err
	}
	return f.Bucket.ReadRevision(ctx, key)
}

func (f *Faults) Write(ctx context.Context, key string, r io.Reader) error {
	if err := f.Check("write", key); err != nil {
		return err
	}
	return f.Bucket.Write(ctx, key, r)
}

func (f *Faults) Create(ctx context.Context, key string, r io.Reader) error {
	if err := f.Check("create", key); err != nil {
		return err
	}
	return f.Bucket.Create(ctx, key, r)
}

func (f *Faults) Copy(ctx context.Context, dst, src string, opts storage.CopyOptions) (storage.Copied, error) {
	if err := f.Check("copy", dst); err != nil {
		return storage.Copied{}, err
	}
	return f.Bucket.Copy(ctx, dst, src, opts)
}

func (f *Faults) Delete(ctx context.Context, key string) error {
	if err := f.Check("delete", key); err != nil {
		return err
	}
	return f.Bucket.Delete(ctx, key)
}

func (f *Faults) Replace(ctx context.Context, key string, r io.Reader, rev storage.Revision) error {
	if err := f.Check("replace", key); err != nil {
		return err
	}
	return f.Bucket.Replace(ctx, key, r, rev)
}
