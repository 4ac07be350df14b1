package storage

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net/http"
	"net/url"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
)

// s3Copy is the CopyObject gocloud's Copy sends, made directly to keep its
// answer: the ETag of the new object, which for a plain (not multipart, not
// KMS-encrypted) object is the MD5 the server computed of the bytes it
// holds. With withSHA it asks the server for the SHA-256 of the copy too (an
// S3 "additional checksum": the server hashes the bytes it writes, nothing
// crosses the network, but the copy takes longer). A server that refuses
// that request is asked again without it, and not asked again through this
// bucket. A source over the single-copy limit is copied in parts
// (s3MultipartCopy). Only for keys s3blob stores as is (plainKey).
func (b *blobBucket) s3Copy(ctx context.Context, dst, src string, opts CopyOptions) (Copied, error) {
	if opts.Size > b.s3.copyLimit() {
		return b.s3MultipartCopy(ctx, dst, src, opts.Size)
	}
	withSHA := opts.SHA256
	in := &s3.CopyObjectInput{
		Bucket:     aws.String(b.s3.bucket),
		CopySource: aws.String(url.QueryEscape(b.s3.bucket + "/" + b.s3.prefix + src)),
		Key:        aws.String(b.s3.prefix + dst),
	}
	withSHA = withSHA && !b.s3.noCopyChecksum.Load()
	if withSHA {
		in.ChecksumAlgorithm = types.ChecksumAlgorithmSha256
	}
	out, err := b.s3.client.CopyObject(ctx, in)
	if err != nil && withSHA && refusesChecksum(err) {
		b.s3.noCopyChecksum.Store(true)
		in.ChecksumAlgorithm = ""
		out, err = b.s3.client.CopyObject(ctx, in)
	}
	if err != nil {
		return Copied{}, classify("copy", src+" -> "+dst, err)
	}
	c := Copied{Size: -1}
	if r := out.CopyObjectResult; r != nil {
		c.MD5 = etagMD5(aws.ToString(r.ETag))
		// A composite checksum ("<base64>-<parts>") is no SHA-256 of the
		// content and does not decode to 32 bytes.
		if sum, err := base64.StdEncoding.DecodeString(aws.ToString(r.ChecksumSHA256)); err == nil && len(sum) == sha256.Size {
			c.SHA256 = sum
		}
	}
	return c, nil
}

// refusesChecksum reports whether a CopyObject error may be a server's
// refusal of the checksum request (S3-compatible stores without additional
// checksums answer 400 or 501).
func refusesChecksum(err error) bool {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		switch ae.ErrorCode() {
		case "InvalidArgument", "InvalidRequest", "NotImplemented", "InvalidChecksum":
			return true
		}
	}
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		c := re.HTTPStatusCode()
		return c == http.StatusBadRequest || c == http.StatusNotImplemented
	}
	return false
}

// etagMD5 is the MD5 a plain S3 ETag ("<32 hex digits>", quoted) holds, nil
// for any other ETag (multipart uploads: "<hex>-<parts>").
func etagMD5(etag string) []byte {
	if len(etag) >= 2 && etag[0] == '"' && etag[len(etag)-1] == '"' {
		etag = etag[1 : len(etag)-1]
	}
	md5, err := hex.DecodeString(etag)
	if err != nil || len(md5) != 16 {
		return nil
	}
	return md5
}

// s3Kind classifies an error of the S3 client by its code and HTTP status
// (s3blob classifies the same codes, but calls every other authorization
// failure, such as a wrong secret's SignatureDoesNotMatch, Unknown); nil
// for an error that is no S3 answer.
func s3Kind(err error) error {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		switch ae.ErrorCode() {
		case "NoSuchBucket", "NoSuchKey", "NotFound", "ObjectNotInActiveTierError":
			return ErrNotFound
		case "PreconditionFailed":
			return ErrExists
		case "AccessDenied", "Forbidden", "InvalidAccessKeyId", "SignatureDoesNotMatch":
			return ErrPermanent
		}
	}
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		if re.HTTPStatusCode() == http.StatusMovedPermanently {
			return ErrNotFound // a bucket in another region
		}
		return statusKind(re.HTTPStatusCode(), false)
	}
	return nil
}
