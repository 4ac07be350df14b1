package storage

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sync/atomic"
)

// ErrPreconditionsIgnored marks a store that stored a conditional write
// whose condition did not hold: some S3-compatible stores and gateways
// accept If-None-Match and If-Match and ignore them. The commit marker's
// create-if-absent and the pointer's compare-and-swap would then let two
// finalizers both win, so such a store is refused (ErrPermanent: exit 4).
var ErrPreconditionsIgnored = errors.New("store ignores preconditions")

// RequirePreconditions wraps b so that it is never trusted with a
// conditional write it does not honour: the first Create through it that
// stores an object is followed by a second Create of the same key, and the
// first successful Replace by a second Replace from a revision that no
// longer holds (the one it replaced, or none when the store's revision did
// not change). The second write must be refused (ErrExists, ErrConflict);
// if it is stored (the same bytes again, so nothing changes), the call
// fails with ErrPermanent and ErrPreconditionsIgnored, naming the store.
// A refusal seen on any call proves that kind of write for the rest of the
// handle's life; so the proof costs one request per process and kind.
//
// Open wraps every bucket it returns in it.
func RequirePreconditions(b Bucket) Bucket { return &provenBucket{Bucket: b} }

type provenBucket struct {
	Bucket
	createProved, replaceProved atomic.Bool
}

func (p *provenBucket) Create(ctx context.Context, key string, r io.Reader) error {
	if p.createProved.Load() {
		return p.Bucket.Create(ctx, key, r)
	}
	data, err := io.ReadAll(r)
	if err != nil {
		return classify("create", key, err)
	}
	err = p.Bucket.Create(ctx, key, bytes.NewReader(data))
	if errors.Is(err, ErrExists) {
		p.createProved.Store(true)
	}
	if err != nil {
		return err
	}
	return p.proved(&p.createProved, "create", key, "a second create-if-absent write of the key was stored too",
		p.Bucket.Create(ctx, key, bytes.NewReader(data)), ErrExists)
}

func (p *provenBucket) Replace(ctx context.Context, key string, r io.Reader, rev Revision) error {
	if p.replaceProved.Load() {
		return p.Bucket.Replace(ctx, key, r, rev)
	}
	data, err := io.ReadAll(r)
	if err != nil {
		return classify("replace", key, err)
	}
	err = p.Bucket.Replace(ctx, key, bytes.NewReader(data), rev)
	if errors.Is(err, ErrConflict) {
		p.replaceProved.Store(true)
	}
	if err != nil {
		return err
	}
	// rev is outdated now, unless the store's revision of the object did
	// not change (same content where the revision is a content hash or an
	// MD5 ETag); then the object exists where NoRevision expects none.
	stale, what := rev, "a second compare-and-swap from the revision just replaced was stored too"
	if rev != NoRevision {
		_, cur, err := p.Bucket.ReadRevision(ctx, key)
		if err != nil {
			return fmt.Errorf("prove that %s honours compare-and-swap: %w", p.URI(), err)
		}
		if cur == rev {
			stale = NoRevision
		}
	}
	if stale == NoRevision {
		what = "a second write if absent of the key was stored too"
	}
	return p.proved(&p.replaceProved, "replace", key, what, p.Bucket.Replace(ctx, key, bytes.NewReader(data), stale), ErrConflict)
}

// proved judges the second write of a proof: refused with want is the
// proof, stored is a store that ignores preconditions, anything else
// leaves the question open (the write itself succeeded; the caller tries
// again and the proof with it).
func (p *provenBucket) proved(flag *atomic.Bool, op, key, what string, err, want error) error {
	switch {
	case errors.Is(err, want):
		flag.Store(true)
		return nil
	case err == nil:
		return &Error{Op: op, Key: key, Kind: ErrPermanent, Err: fmt.Errorf("%w: %s: %s; the commit protocol needs "+
			"conditional writes (S3 If-None-Match and If-Match, GCS generation preconditions, Azure If-None-Match and If-Match): use a store that honours them",
			ErrPreconditionsIgnored, p.URI(), what)}
	default:
		return fmt.Errorf("prove that %s honours conditional writes: %w", p.URI(), err)
	}
}

// NewRangeReader reads ranges on the store's own range reads.
func (p *provenBucket) NewRangeReader(ctx context.Context, key string, offset, length int64) (io.ReadCloser, error) {
	return NewRangeReader(ctx, p.Bucket, key, offset, length)
}

// unwrap returns the bucket under the wrappers of this package that only
// add checks (RequirePreconditions), for the calls that reach past the
// Bucket interface to a store's own API.
func unwrap(b Bucket) Bucket {
	for {
		p, ok := b.(*provenBucket)
		if !ok {
			return b
		}
		b = p.Bucket
	}
}
