package storage

import (
	"context"

	gcs "cloud.google.com/go/storage"
)

// gcsTarget is what a GCS copy needs beyond the gocloud bucket.
type gcsTarget struct {
	client *gcs.Client
	bucket string
	prefix string // the key prefix the URI path named, "" or ending in "/"
}

// copy is the rewrite gocloud's Copy sends, made directly to keep its
// answer: the new object's attributes, whose MD5 GCS computed of the bytes
// it holds. Only for keys gcsblob stores as is (plainKey).
func (g *gcsTarget) copy(ctx context.Context, dst, src string) (Copied, error) {
	bkt := g.client.Bucket(g.bucket)
	attrs, err := bkt.Object(g.prefix + dst).CopierFrom(bkt.Object(g.prefix + src)).Run(ctx)
	if err != nil {
		return Copied{}, classify("copy", src+" -> "+dst, err)
	}
	return Copied{Size: attrs.Size, MD5: attrs.MD5}, nil
}
