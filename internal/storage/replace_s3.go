package storage

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// s3Revisions: revision = ETag, read in the same GetObject as the content;
// Replace is a PutObject with If-Match (If-None-Match: * for NoRevision),
// S3's conditional writes.
type s3Revisions struct{ b *blobBucket }

func (r s3Revisions) read(ctx context.Context, key string) ([]byte, Revision, error) {
	if !plainKey(key) {
		return nil, NoRevision, &Error{Op: "read", Key: key, Kind: ErrPermanent, Err: errors.New("key not supported for conditional replace")}
	}
	out, err := r.b.s3.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(r.b.s3.bucket), Key: aws.String(r.b.s3.prefix + key)})
	if err != nil {
		return nil, NoRevision, classify("read", key, err)
	}
	defer out.Body.Close()
	data, err := io.ReadAll(out.Body)
	if err != nil {
		return nil, NoRevision, classify("read", key, err)
	}
	return data, Revision(aws.ToString(out.ETag)), nil
}

func (r s3Revisions) replace(ctx context.Context, key string, data []byte, rev Revision) error {
	if !plainKey(key) {
		return &Error{Op: "replace", Key: key, Kind: ErrPermanent, Err: errors.New("key not supported for conditional replace")}
	}
	in := &s3.PutObjectInput{
		Bucket:        aws.String(r.b.s3.bucket),
		Key:           aws.String(r.b.s3.prefix + key),
		Body:          bytes.NewReader(data),
		ContentLength: aws.Int64(int64(len(data))),
		ContentType:   aws.String("application/json"),
	}
	if rev == NoRevision {
		in.IfNoneMatch = aws.String("*")
	} else {
		in.IfMatch = aws.String(string(rev))
	}
	_, err := r.b.s3.client.PutObject(ctx, in)
	if err == nil {
		return nil
	}
	// 409 ConditionalRequestConflict: another conditional write to the key
	// is in flight; whichever wins, this one's revision is outdated.
	var re *awshttp.ResponseError
	if errors.As(err, &re) && re.HTTPStatusCode() == http.StatusConflict {
		return &Error{Op: "replace", Key: key, Kind: ErrConflict, Err: err}
	}
	return conflict(key, err)
}
