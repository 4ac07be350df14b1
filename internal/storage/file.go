package storage

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"

	"gocloud.dev/blob"

	"github.com/indexbuild/indexbuild/internal/retry"
)

// fileBucket is fileblob with a real exclusive create. fileblob's IfNotExist
// is a stat followed by a rename under a mutex private to each writer, so two
// writers (let alone two processes) can both "create" the same key; the
// commit marker needs exactly one winner.
type fileBucket struct {
	*blobBucket
	dir string
}

func openFile(ctx context.Context, uri string, u *url.URL) (Bucket, error) {
	dir := filepath.FromSlash(u.Path)
	if u.Host == "." {
		dir = "." + dir
	}
	if dir == "" {
		return nil, fmt.Errorf("%w: storage URI %q: no directory", retry.ErrInvalidInput, uri)
	}
	q := u.Query()
	q.Set("create_dir", "true")
	// Temporary files next to their final path: os.TempDir is usually
	// another filesystem than a mounted volume, and rename(2) cannot cross.
	q.Set("no_tmp_dir", "true")
	// No ".attrs" sidecar per object: checksums live in our own metadata and
	// a sidecar doubles the writes of every copy.
	if q.Get("metadata") == "" {
		q.Set("metadata", "skip")
	}
	u.RawQuery = q.Encode()
	b, err := blob.OpenBucket(ctx, u.String())
	if err != nil {
		return nil, classify("open", uri, err)
	}
	return &fileBucket{blobBucket: &blobBucket{uri: uri, b: b}, dir: dir}, nil
}

// Create writes r to a temporary file next to the target and link(2)s it to
// the target: link fails with EEXIST if the target exists, atomically, also
// across processes sharing the filesystem. Like fileblob's own writes it does
// not fsync: the commit protocol guards against processes dying, and an
// fsync of the marker alone would not make the unsynced files it lists
// durable against power loss anyway.
func (b *fileBucket) Create(ctx context.Context, key string, r io.Reader) error {
	if !fs.ValidPath(key) {
		return &Error{Op: "create", Key: key, Kind: ErrPermanent, Err: fmt.Errorf("invalid key")}
	}
	path := filepath.Join(b.dir, filepath.FromSlash(key))
	if err := os.MkdirAll(filepath.Dir(path), 0o777); err != nil {
		return classify("create", key, err)
	}
	tmp, err := writeTemp(ctx, path, r)
	if err != nil {
		return classify("create", key, err)
	}
	defer os.Remove(tmp)
	return classify("create", key, os.Link(tmp, path))
}

// writeTemp writes r to a new file named like fileblob's own
// temporaries (path.<hex>.tmp) and returns its name.
func writeTemp(ctx context.Context, path string, r io.Reader) (string, error) {
	var suffix [8]byte
	_, _ = rand.Read(suffix[:])
	name := path + "." + hex.EncodeToString(suffix[:]) + ".tmp"
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o666)
	if err != nil {
		return "", err
	}
	_, err = io.Copy(f, r)
	if err == nil {
		err = ctx.Err()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(name)
		return "", err
	}
	return name, nil
}
