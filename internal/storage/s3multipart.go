package storage

import (
	"context"
	"fmt"
	"net/url"
	"slices"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"golang.org/x/sync/errgroup"
)

// S3's limits for server-side copies: CopyObject copies at most 5 GiB; a
// multipart upload has parts of 5 MiB (but the last) to 5 GiB, at most
// 10,000 of them.
const (
	s3MaxSingleCopy = 5 << 30
	s3MinPartSize   = 5 << 20
	s3MaxParts      = 10000
	// s3CopyPartSize is the part size aimed at: 512 MiB parts copy a 6 GiB
	// file in 12 requests, s3CopyParallelism of them at once.
	s3CopyPartSize    = 512 << 20
	s3CopyParallelism = 4
)

// copyLimit is the largest source CopyObject copies; tests lower it.
func (t *s3Target) copyLimit() int64 {
	if t.singleCopyLimit > 0 {
		return t.singleCopyLimit
	}
	return s3MaxSingleCopy
}

// partSize is the part size for a multipart copy of size bytes.
func (t *s3Target) partSize(size int64) int64 {
	part := int64(s3CopyPartSize)
	if t.copyPartSize > 0 {
		part = t.copyPartSize
	}
	return max(part, (size+s3MaxParts-1)/s3MaxParts, s3MinPartSize)
}

// s3MultipartCopy copies src (size bytes) to dst with a multipart upload
// whose parts are server-side copies of ranges of src (UploadPartCopy).
// Nothing is visible at dst until CompleteMultipartUpload; a failed copy
// aborts the upload (best-effort: a bucket lifecycle rule removes what an
// interrupted process leaves). The result's ETag is no MD5 of the content
// ("<hex>-<parts>"), so the copy reports only its size; finalize checks
// such copies by listing and reading them back.
func (b *blobBucket) s3MultipartCopy(ctx context.Context, dst, src string, size int64) (Copied, error) {
	what := src + " -> " + dst
	bucket, key := aws.String(b.s3.bucket), aws.String(b.s3.prefix+dst)
	up, err := b.s3.client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: bucket, Key: key})
	if err != nil {
		return Copied{}, classify("copy", what, err)
	}
	abort := func(err error) (Copied, error) {
		_, _ = b.s3.client.AbortMultipartUpload(context.WithoutCancel(ctx), &s3.AbortMultipartUploadInput{Bucket: bucket, Key: key, UploadId: up.UploadId})
		return Copied{}, classify("copy", what, err)
	}
	source := aws.String(url.QueryEscape(b.s3.bucket + "/" + b.s3.prefix + src))
	partSize := b.s3.partSize(size)
	var parts []types.CompletedPart
	for offset, n := int64(0), int32(1); offset < size; offset, n = offset+partSize, n+1 {
		parts = append(parts, types.CompletedPart{PartNumber: aws.Int32(n)})
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(s3CopyParallelism)
	for i := range parts {
		first := int64(i) * partSize
		last := min(first+partSize, size) - 1
		g.Go(func() error {
			out, err := b.s3.client.UploadPartCopy(gctx, &s3.UploadPartCopyInput{
				Bucket: bucket, Key: key, UploadId: up.UploadId, PartNumber: parts[i].PartNumber,
				CopySource: source, CopySourceRange: aws.String(fmt.Sprintf("bytes=%d-%d", first, last)),
			})
			if err != nil {
				return err
			}
			if out.CopyPartResult == nil {
				return fmt.Errorf("part %d: no ETag in the answer", i+1)
			}
			parts[i].ETag = out.CopyPartResult.ETag
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return abort(err)
	}
	if _, err := b.s3.client.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{
		Bucket: bucket, Key: key, UploadId: up.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: slices.Clip(parts)},
	}); err != nil {
		return abort(err)
	}
	return Copied{Size: size}, nil
}
