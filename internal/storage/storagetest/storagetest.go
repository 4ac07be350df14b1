// Package storagetest provides the stores tests run against: mem://, file://
// in a temporary directory, and real servers on loopback for the remote
// schemes: versitygw for s3://, fake-gcs-server for gs://, Azurite for
// azblob://.
package storagetest

import (
	"context"
	"strings"
	"testing"

	"gocloud.dev/blob/memblob"

	"github.com/indexbuild/indexbuild/internal/storage"
)

// Store opens fresh, empty buckets of one kind.
type Store struct {
	Name string
	// Open returns a new empty bucket, closed when the test ends.
	Open func(t testing.TB) storage.Bucket
	// CopySums is what the store's Copy reports of the bytes it wrote.
	CopySums CopySums
}

// CopySums says which checksums of a copy a store's Copy reports
// (storage.Copied).
type CopySums struct {
	// SHA256: always (copies streamed through the process: mem, file).
	SHA256 bool
	// SHA256Asked: when CopyOptions.SHA256 asks (also S3, computed by the
	// server).
	SHA256Asked bool
	// MD5: the MD5 the server computed of the copy (S3 CopyObject, GCS
	// rewrite).
	MD5 bool
}

// Stores returns every store: mem, file and the real servers (whose Open
// skips the test when the server is not installed, and fails it under
// CI=true).
func Stores() []Store { return append([]Store{Mem(), File()}, Servers()...) }

// Servers returns the stores on real servers: s3, gcs and azure.
func Servers() []Store { return []Store{S3(), GCS(), Azure()} }

// Reopen returns a second, independent handle on b's data, as another
// process would open it. mem:// buckets exist only in their one handle, so
// for them it returns b itself.
func Reopen(t testing.TB, b storage.Bucket) storage.Bucket {
	if strings.HasPrefix(b.URI(), "mem:") {
		return b
	}
	return OpenURI(t, b.URI())
}

// Mem is mem://: one in-memory bucket per Open.
func Mem() Store {
	return Store{Name: "mem", CopySums: CopySums{SHA256: true, SHA256Asked: true}, Open: func(t testing.TB) storage.Bucket {
		b := storage.FromBlob("mem://", memblob.OpenBucket(nil))
		t.Cleanup(func() { b.Close() })
		return b
	}}
}

// File is file:// in a fresh temporary directory per Open.
func File() Store {
	return Store{Name: "file", CopySums: CopySums{SHA256: true, SHA256Asked: true}, Open: func(t testing.TB) storage.Bucket {
		return OpenURI(t, "file://"+t.TempDir()+"/out")
	}}
}

// OpenURI opens uri and closes it when the test ends.
func OpenURI(t testing.TB, uri string) storage.Bucket {
	t.Helper()
	b, err := storage.Open(context.Background(), uri)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// Objects returns the content of every object of b under prefix ("" for
// all), by key.
func Objects(t testing.TB, b storage.Bucket, prefix string) map[string]string {
	t.Helper()
	ctx := context.Background()
	list, err := b.List(ctx, prefix)
	if err != nil {
		t.Fatal(err)
	}
	out := make(map[string]string, len(list))
	for _, a := range list {
		data, err := storage.ReadAll(ctx, b, a.Key)
		if err != nil {
			t.Fatal(err)
		}
		out[a.Key] = string(data)
	}
	return out
}
