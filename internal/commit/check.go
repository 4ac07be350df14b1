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

// checkCopy checks that a final file has the staged file's size and content.
// Where the store reports an MD5 for both (S3 single-part objects, GCS,
// Azure, mem://) comparing the two is enough: the store hashed the bytes it
// holds. Otherwise the final file is read back and its SHA-256 compared with
// the one the worker recorded.
func checkCopy(ctx context.Context, b storage.Bucket, s copyStep) error {
	dst, err := b.Attributes(ctx, s.final.Path)
	if err != nil {
		return err
	}
	if dst.Size != s.final.Size {
		return fmt.Errorf("copy %s -> %s: copied %d bytes, want %d", s.src.Path, s.final.Path, dst.Size, s.final.Size)
	}
	if dst.MD5 != nil {
		src, err := b.Attributes(ctx, s.src.Path)
		if err != nil {
			return err
		}
		if src.MD5 != nil {
			if !bytes.Equal(src.MD5, dst.MD5) {
				return fmt.Errorf("copy %s -> %s: MD5 of the copy differs from the source", s.src.Path, s.final.Path)
			}
			return nil
		}
	}
	return checkContent(ctx, b, s.final)
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
