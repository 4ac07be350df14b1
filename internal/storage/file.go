package storage

import (
	"cmp"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"

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
	// sidecars: the URI asked fileblob for ".attrs" files, which its own
	// Copy copies along.
	sidecars bool
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
	sidecars := q.Get("metadata") != "skip"
	u.RawQuery = q.Encode()
	b, err := blob.OpenBucket(ctx, u.String())
	if err != nil {
		return nil, classify("open", uri, err)
	}
	return RequirePreconditions(&fileBucket{blobBucket: &blobBucket{uri: uri, b: b}, dir: dir, sidecars: sidecars}), nil
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
	tmp, _, err := writeTemp(ctx, path, r)
	if err != nil {
		return classify("create", key, err)
	}
	defer os.Remove(tmp)
	return classify("create", key, os.Link(tmp, path))
}

// Copy streams src into a temporary file next to dst, hashing the bytes on
// the way, and renames it onto dst, so readers see the old dst or the whole
// copy. A filesystem has no checksums of its own to check a copy against;
// the SHA-256 of what was written saves reading the copy back, and costs
// one read and one write of the bytes, like a copy alone.
func (b *fileBucket) Copy(ctx context.Context, dst, src string, opts CopyOptions) (Copied, error) {
	if b.sidecars || !plainFileKey(dst) || !plainFileKey(src) {
		return b.blobBucket.Copy(ctx, dst, src, opts)
	}
	what := src + " -> " + dst
	in, err := os.Open(filepath.Join(b.dir, filepath.FromSlash(src)))
	if err != nil {
		return Copied{}, classify("copy", what, err)
	}
	defer in.Close()
	if info, err := in.Stat(); err != nil || info.IsDir() {
		return Copied{}, classify("copy", what, cmp.Or(err, fs.ErrNotExist))
	}
	path := filepath.Join(b.dir, filepath.FromSlash(dst))
	if err := os.MkdirAll(filepath.Dir(path), 0o777); err != nil {
		return Copied{}, classify("copy", what, err)
	}
	h := sha256.New()
	tmp, n, err := writeTemp(ctx, path, io.TeeReader(in, h))
	if err != nil {
		return Copied{}, classify("copy", what, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return Copied{}, classify("copy", what, err)
	}
	return Copied{Size: n, SHA256: h.Sum(nil)}, nil
}

// Delete removes the file of key: one unlink, where fileblob's own Delete
// also tries to remove a ".attrs" sidecar that is never written here.
func (b *fileBucket) Delete(ctx context.Context, key string) error {
	if b.sidecars || !plainFileKey(key) {
		return b.blobBucket.Delete(ctx, key)
	}
	path := filepath.Join(b.dir, filepath.FromSlash(key))
	if err := os.Remove(path); err != nil {
		return classify("delete", key, err)
	}
	b.pruneEmptyDirs(filepath.Dir(path))
	return nil
}

// pruneEmptyDirs removes dir and its parents up to (not including) the
// bucket's root while they are empty: keys are the only thing a store holds,
// so a prefix whose last key went must not linger as a directory (an output
// deleted with deletionPolicy Delete is gone, staging/ goes with its files).
// Best-effort: rmdir fails on a directory that is not empty, which stops it;
// writeTemp recreates a directory pruned under a racing writer.
func (b *fileBucket) pruneEmptyDirs(dir string) {
	root := filepath.Clean(b.dir)
	for dir = filepath.Clean(dir); dir != root && strings.HasPrefix(dir, root+string(filepath.Separator)); dir = filepath.Dir(dir) {
		if os.Remove(dir) != nil {
			return
		}
	}
}

// plainFileKey reports whether fileblob stores key at the path it names
// (it escapes control characters, "../", "//" and its own escape sequences,
// and refuses its ".attrs" sidecar names).
func plainFileKey(key string) bool {
	return plainKey(key) && !strings.HasSuffix(key, ".attrs")
}

// writeTemp writes r to a new file named like fileblob's own temporaries
// (path.<hex>.tmp, which listings skip) and returns its name and size.
func writeTemp(ctx context.Context, path string, r io.Reader) (string, int64, error) {
	var suffix [8]byte
	_, _ = rand.Read(suffix[:])
	name := path + "." + hex.EncodeToString(suffix[:]) + ".tmp"
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o666)
	if errors.Is(err, fs.ErrNotExist) {
		// A concurrent Delete pruned the directory the caller just made.
		if err = os.MkdirAll(filepath.Dir(path), 0o777); err == nil {
			f, err = os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o666)
		}
	}
	if err != nil {
		return "", 0, err
	}
	buf := copyBuffers.Get().(*[]byte)
	n, err := io.CopyBuffer(onlyWriter{f}, r, *buf)
	copyBuffers.Put(buf)
	if err == nil {
		err = ctx.Err()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(name)
		return "", 0, err
	}
	return name, n, nil
}

// copyBuffers holds writeTemp's buffers: one read and one write per 256 KiB.
var copyBuffers = sync.Pool{New: func() any { b := make([]byte, 256<<10); return &b }}

// onlyWriter hides *os.File's ReadFrom, which would bypass CopyBuffer's
// buffer with a 32 KiB one of its own.
type onlyWriter struct{ io.Writer }

// ReadRevision reads the file of key; its revision is its content's hash.
func (b *fileBucket) ReadRevision(ctx context.Context, key string) ([]byte, Revision, error) {
	if !plainFileKey(key) {
		return nil, NoRevision, &Error{Op: "read", Key: key, Kind: ErrPermanent, Err: fmt.Errorf("invalid key")}
	}
	data, err := os.ReadFile(filepath.Join(b.dir, filepath.FromSlash(key)))
	if err != nil {
		return nil, NoRevision, classify("read", key, err)
	}
	return data, contentRevision(data), nil
}

// Replace compares and renames under an exclusive flock(2) of the lock
// file LockFileKey(key) next to the target, so the compare and the rename
// are one step for every process sharing the filesystem (also over NFS,
// where Linux maps flock to byte-range locks). The lock file stays: removing
// it could let two processes lock two different files.
func (b *fileBucket) Replace(ctx context.Context, key string, r io.Reader, rev Revision) error {
	if !plainFileKey(key) {
		return &Error{Op: "replace", Key: key, Kind: ErrPermanent, Err: fmt.Errorf("invalid key")}
	}
	path := filepath.Join(b.dir, filepath.FromSlash(key))
	if err := os.MkdirAll(filepath.Dir(path), 0o777); err != nil {
		return classify("replace", key, err)
	}
	lock, err := os.OpenFile(filepath.Join(b.dir, filepath.FromSlash(LockFileKey(key))), os.O_RDWR|os.O_CREATE, 0o666)
	if err != nil {
		return classify("replace", key, err)
	}
	defer lock.Close() // releases the lock
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return classify("replace", key, err)
	}
	cur, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return classify("replace", key, err)
	}
	if err := checkRevision(key, cur, err == nil, rev); err != nil {
		return err
	}
	tmp, _, err := writeTemp(ctx, path, r)
	if err != nil {
		return classify("replace", key, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return classify("replace", key, err)
	}
	return nil
}

// LockFileKey is the key of the lock file a file:// Replace of key leaves
// next to it; other stores leave none.
func LockFileKey(key string) string { return key + ".lock" }
