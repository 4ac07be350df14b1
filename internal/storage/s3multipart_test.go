package storage_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"strings"
	"testing"

	"github.com/indexbuild/indexbuild/internal/storage"
	"github.com/indexbuild/indexbuild/internal/storage/storagetest"
)

// TestS3MultipartCopy: a source over the single-copy limit (5 GiB on S3,
// lowered here to 6 MiB with 5 MiB parts, S3's smallest) is copied in parts
// with UploadPartCopy, over an existing object, to identical bytes; the
// copy is one multipart object (ETag "<hex>-3"), reports its size and no
// checksum (a multipart ETag is no MD5), and leaves the source alone. A
// source at the limit is still one CopyObject.
func TestS3MultipartCopy(t *testing.T) {
	ctx := context.Background()
	b := storagetest.S3().Open(t)
	const limit, part = 6 << 20, 5 << 20
	if !storage.SetS3CopyLimits(b, limit, part) {
		t.Fatal("not an S3 bucket")
	}
	data := make([]byte, 2*part+3)
	for i := range data {
		data[i] = byte(i*31 + i>>13)
	}
	for _, tt := range []struct {
		size      int
		multipart bool
	}{
		{len(data), true},
		{limit, false},
	} {
		src, dst := "staging/big", "part_0_1.sst"
		if err := b.Write(ctx, src, bytes.NewReader(data[:tt.size])); err != nil {
			t.Fatal(err)
		}
		if err := b.Write(ctx, dst, strings.NewReader("old content")); err != nil {
			t.Fatal(err)
		}
		c, err := b.Copy(ctx, dst, src, storage.CopyOptions{Size: int64(tt.size)})
		if err != nil {
			t.Fatal(err)
		}
		got, err := storage.ReadAll(ctx, b, dst)
		if err != nil || sha256.Sum256(got) != sha256.Sum256(data[:tt.size]) {
			t.Fatalf("size %d: copy holds %d bytes that differ from the source, %v", tt.size, len(got), err)
		}
		a, err := b.Attributes(ctx, dst)
		if err != nil {
			t.Fatal(err)
		}
		if multipart := strings.HasSuffix(strings.Trim(a.ETag, `"`), "-3"); multipart != tt.multipart {
			t.Errorf("size %d: copy's ETag %s; want a 3-part upload: %v", tt.size, a.ETag, tt.multipart)
		}
		if tt.multipart && (c.Size != int64(tt.size) || c.MD5 != nil || c.SHA256 != nil) {
			t.Errorf("multipart copy reported %+v; want its size and no checksum", c)
		}
		if src, err := storage.ReadAll(ctx, b, src); err != nil || len(src) != tt.size {
			t.Errorf("source after the copy: %d bytes, %v", len(src), err)
		}
	}
	// A failed part copy leaves nothing at the destination.
	if _, err := b.Copy(ctx, "part_1_1.sst", "staging/missing", storage.CopyOptions{Size: int64(len(data))}); err == nil {
		t.Fatal("multipart copy of a missing source succeeded")
	}
	if _, err := b.Attributes(ctx, "part_1_1.sst"); err == nil {
		t.Error("a failed multipart copy left an object")
	}
}
