package storage

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"sync"

	"gocloud.dev/blob"
)

// revisions is how one kind of store reads an object with its revision and
// replaces it conditionally.
type revisions interface {
	read(ctx context.Context, key string) ([]byte, Revision, error)
	replace(ctx context.Context, key string, data []byte, rev Revision) error
}

func (b *blobBucket) ReadRevision(ctx context.Context, key string) ([]byte, Revision, error) {
	if b.revs == nil {
		return nil, NoRevision, &Error{Op: "read", Key: key, Kind: ErrPermanent, Err: errors.New("store has no conditional replace")}
	}
	return b.revs.read(ctx, key)
}

func (b *blobBucket) Replace(ctx context.Context, key string, r io.Reader, rev Revision) error {
	if b.revs == nil {
		return &Error{Op: "replace", Key: key, Kind: ErrPermanent, Err: errors.New("store has no conditional replace")}
	}
	data, err := io.ReadAll(r)
	if err != nil {
		return classify("replace", key, err)
	}
	return b.revs.replace(ctx, key, data, rev)
}

// conflict reports a failed precondition of a Replace as ErrConflict: the
// object exists where none was expected, or has another revision, or is
// gone since it was read.
func conflict(key string, err error) error {
	if err == nil {
		return nil
	}
	err = classify("replace", key, err)
	var se *Error
	if errors.As(err, &se) && (se.Kind == ErrExists || se.Kind == ErrNotFound) {
		return &Error{Op: "replace", Key: key, Kind: ErrConflict, Err: se.Err}
	}
	return err
}

// contentRevision is the revision of stores without one of their own: the
// SHA-256 of the content.
func contentRevision(data []byte) Revision {
	sum := sha256.Sum256(data)
	return Revision(hex.EncodeToString(sum[:]))
}

// checkRevision compares what is stored (found, data) with rev.
func checkRevision(key string, data []byte, found bool, rev Revision) error {
	switch {
	case !found && rev == NoRevision:
		return nil
	case !found:
		return &Error{Op: "replace", Key: key, Kind: ErrConflict, Err: errors.New("object is gone")}
	case rev == NoRevision:
		return &Error{Op: "replace", Key: key, Kind: ErrConflict, Err: errors.New("object exists")}
	case contentRevision(data) != rev:
		return &Error{Op: "replace", Key: key, Kind: ErrConflict, Err: fmt.Errorf("object changed")}
	}
	return nil
}

// memRevisions: mem:// exists only in this process, so an in-process lock
// per bucket makes the compare and the write one step.
type memRevisions struct{ b *blobBucket }

// memLocks holds one mutex per in-memory bucket, shared by every handle
// wrapping it (FromBlob).
var memLocks sync.Map // *blob.Bucket -> *sync.Mutex

func (m memRevisions) read(ctx context.Context, key string) ([]byte, Revision, error) {
	data, err := ReadAll(ctx, m.b, key)
	if err != nil {
		return nil, NoRevision, err
	}
	return data, contentRevision(data), nil
}

func (m memRevisions) replace(ctx context.Context, key string, data []byte, rev Revision) error {
	mu, _ := memLocks.LoadOrStore(m.b.b, &sync.Mutex{})
	mu.(*sync.Mutex).Lock()
	defer mu.(*sync.Mutex).Unlock()
	cur, err := ReadAll(ctx, m.b, key)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return err
	}
	if err := checkRevision(key, cur, err == nil, rev); err != nil {
		return err
	}
	_, err = m.b.write(ctx, key, bytes.NewReader(data), false)
	return err
}

// writeWith writes data under key, letting before adjust the driver's write
// request (gocloud's BeforeWrite) to add a precondition. It uploads in one
// call (see blobBucket.upload).
func (b *blobBucket) writeWith(ctx context.Context, key string, data []byte, before func(as func(any) bool) error) error {
	return conflict(key, b.b.Upload(ctx, key, bytes.NewReader(data), &blob.WriterOptions{ContentType: "application/json", BeforeWrite: before}))
}
