package storage

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"golang.org/x/sync/errgroup"
)

// DeleteAll deletes keys, on S3 with DeleteObjects requests of up to 1000
// keys (up to parallelism of them in flight) and otherwise with up to
// parallelism single deletes in flight. Keys already gone count as deleted. It returns every failure,
// joined; the keys not named in it are gone.
//
// Only an S3 bucket from Open (or a Sub of one) batches: a wrapper around it (tests inject
// faults that way) gets one Delete call per key.
func DeleteAll(ctx context.Context, b Bucket, keys []string, parallelism int) error {
	// Through a Sub to the bucket it is part of, to batch there.
	for s, ok := unwrap(b).(*subBucket); ok; s, ok = unwrap(b).(*subBucket) {
		prefixed := make([]string, len(keys))
		for i, k := range keys {
			prefixed[i] = s.prefix + k
		}
		b, keys = s.parent, prefixed
	}
	b = unwrap(b)
	if bb, ok := b.(*blobBucket); ok && bb.s3 != nil {
		return bb.deleteBatch(ctx, keys, parallelism)
	}
	return deleteEach(ctx, b, keys, parallelism)
}

func deleteEach(ctx context.Context, b Bucket, keys []string, parallelism int) error {
	var (
		mu   sync.Mutex
		errs []error
		g    errgroup.Group
	)
	g.SetLimit(max(parallelism, 1))
	for _, key := range keys {
		g.Go(func() error {
			if err := b.Delete(ctx, key); err != nil && !errors.Is(err, ErrNotFound) {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
			return nil
		})
	}
	_ = g.Wait()
	return errors.Join(errs...)
}

// s3Target is what batch deletes and copies need beyond the gocloud bucket.
type s3Target struct {
	client *s3.Client
	bucket string
	prefix string // the key prefix the URI path named, "" or ending in "/"
	// plainCopy: Copy may send CopyObject itself (no encryption settings
	// that gocloud's copy would add).
	plainCopy bool
	// noCopyChecksum: the server refused a copy's checksum request once.
	noCopyChecksum atomic.Bool
	// singleCopyLimit and copyPartSize replace S3's limits when set
	// (tests run multipart copies of small objects).
	singleCopyLimit, copyPartSize int64
}

// s3MaxBatch is DeleteObjects' limit; s3MinBatch keeps a few keys from
// being spread over several requests.
const s3MaxBatch, s3MinBatch = 1000, 8

// deleteBatch deletes keys with DeleteObjects requests, up to parallelism
// of them at once: a server deletes the keys of one request one after the
// other, so a few hundred keys go faster in parallel batches than in one.
func (b *blobBucket) deleteBatch(ctx context.Context, keys []string, parallelism int) error {
	parallelism = max(parallelism, 1)
	var ids []types.ObjectIdentifier
	var odd []string
	for _, key := range keys {
		if !plainKey(key) {
			odd = append(odd, key) // s3blob escapes such keys; let it
			continue
		}
		ids = append(ids, types.ObjectIdentifier{Key: aws.String(b.s3.prefix + key)})
	}
	size := min(s3MaxBatch, max(s3MinBatch, (len(ids)+parallelism-1)/parallelism))
	var (
		mu   sync.Mutex
		errs []error
		g    errgroup.Group
	)
	g.SetLimit(parallelism)
	for batch := range slices.Chunk(ids, size) {
		g.Go(func() error {
			out, err := b.s3.client.DeleteObjects(ctx, &s3.DeleteObjectsInput{
				Bucket: aws.String(b.s3.bucket),
				Delete: &types.Delete{Objects: batch, Quiet: aws.Bool(true)},
			})
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, classify("delete", fmt.Sprintf("%d objects", len(batch)), err))
				return nil
			}
			for _, e := range out.Errors {
				errs = append(errs, &Error{Op: "delete", Key: strings.TrimPrefix(aws.ToString(e.Key), b.s3.prefix), Kind: ErrRetryable,
					Err: fmt.Errorf("%s: %s", aws.ToString(e.Code), aws.ToString(e.Message))})
			}
			return nil
		})
	}
	_ = g.Wait()
	errs = append(errs, deleteEach(ctx, b, odd, parallelism))
	return errors.Join(errs...)
}

// plainKey reports whether s3blob stores key as is (it escapes control
// characters, "../" and anything looking like its escapes, "__0x<hex>__").
func plainKey(key string) bool {
	if !fs.ValidPath(key) || strings.Contains(key, "__0x") {
		return false
	}
	for _, c := range key {
		if c < 32 || c == 127 {
			return false
		}
	}
	return true
}
