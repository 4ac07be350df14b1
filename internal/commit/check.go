package commit

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"

	"github.com/indexbuild/indexbuild/internal/staging"
	"github.com/indexbuild/indexbuild/internal/storage"
)

// checkCopy checks one copy against what the store reported of the bytes it
// wrote: their SHA-256 against the one the worker recorded (copies streamed
// through this process: file://, mem://; S3 servers with additional
// checksums), or else the MD5 the store computed for the copy against the
// one it lists for the source (S3). It returns false, nil when the store
// reported nothing to check by; checkCopies checks those.
func checkCopy(s copyStep, c storage.Copied) (bool, error) {
	if c.Size >= 0 && c.Size != s.final.Size {
		return false, fmt.Errorf("copy %s -> %s: copied %d bytes, want %d", s.src.Path, s.final.Path, c.Size, s.final.Size)
	}
	switch {
	case c.SHA256 != nil:
		if sum := hex.EncodeToString(c.SHA256); sum != s.final.SHA256 {
			return false, fmt.Errorf("copy %s -> %s: copied bytes have sha256 %s, want %s", s.src.Path, s.final.Path, sum, s.final.SHA256)
		}
		// The recorded SHA-256 pins the content, its size included.
		return true, nil
	case c.MD5 != nil && s.srcMD5 != nil:
		if !bytes.Equal(c.MD5, s.srcMD5) {
			return false, fmt.Errorf("copy %s -> %s: MD5 of the copy differs from the source", s.src.Path, s.final.Path)
		}
		// The size was checked against the listing of the source (makePlan);
		// equal MD5s mean equal content.
		return true, nil
	}
	return false, nil
}

// checkCopies checks, after all copies, that every final file has its
// staged file's size and content, for the copies checkCopy could not check
// (no checksum reported for the copy: gs://, azblob://, S3 copies of
// multipart sources, fileblob's own copies). One listing of the final names
// gives the sizes (and, on S3, GCS, Azure and mem://, MD5s) of all of them
// at once, instead of a request per file. Where the store reports an MD5 for
// both the staged and the final file, comparing them is enough: the store
// hashed the bytes it holds. Otherwise the final file is read back and its
// SHA-256 compared with the one the worker recorded.
func checkCopies(ctx context.Context, b storage.Bucket, steps []copyStep, parallelism int) error {
	if len(steps) == 0 {
		return nil
	}
	listed, err := b.List(ctx, finalPrefix)
	if err != nil {
		return err
	}
	finals := make(map[string]storage.Attrs, len(listed))
	for _, a := range listed {
		finals[a.Key] = a
	}
	return forEach(ctx, parallelism, steps, func(ctx context.Context, s copyStep) error {
		dst, ok := finals[s.final.Path]
		switch {
		case !ok:
			return fmt.Errorf("copy %s -> %s: the copy is not listed", s.src.Path, s.final.Path)
		case dst.Size != s.final.Size:
			return fmt.Errorf("copy %s -> %s: copied %d bytes, want %d", s.src.Path, s.final.Path, dst.Size, s.final.Size)
		case s.srcMD5 != nil && dst.MD5 != nil:
			if !bytes.Equal(s.srcMD5, dst.MD5) {
				return fmt.Errorf("copy %s -> %s: MD5 of the copy differs from the source", s.src.Path, s.final.Path)
			}
			return nil
		default:
			return checkContent(ctx, b, s.final)
		}
	})
}

// checkContent reads f and compares its size and SHA-256 with the listed ones.
func checkContent(ctx context.Context, b storage.Bucket, f staging.File) error {
	r, err := b.NewReader(ctx, f.Path)
	if err != nil {
		return err
	}
	defer r.Close()
	h := sha256.New()
	n, err := io.Copy(h, r)
	if err != nil {
		return err
	}
	if n != f.Size {
		return fmt.Errorf("%s is %d bytes, want %d", f.Path, n, f.Size)
	}
	if sum := hex.EncodeToString(h.Sum(nil)); sum != f.SHA256 {
		return fmt.Errorf("%s has sha256 %s, want %s", f.Path, sum, f.SHA256)
	}
	return nil
}
