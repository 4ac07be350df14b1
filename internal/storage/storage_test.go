package storage_test

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/indexbuild/indexbuild/internal/retry"
	"github.com/indexbuild/indexbuild/internal/storage"
	"github.com/indexbuild/indexbuild/internal/storage/storagetest"
)

// TestBucket runs the Bucket contract against every store available here.
func TestBucket(t *testing.T) {
	for _, s := range storagetest.Stores() {
		t.Run(s.Name, func(t *testing.T) {
			testContract(t, s.Open(t))
		})
	}
}

func testContract(t *testing.T, b storage.Bucket) {
	ctx := context.Background()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(b.Write(ctx, "a/one", strings.NewReader("one")))
	must(b.Write(ctx, "a/two", strings.NewReader("two!")))
	must(b.Write(ctx, "b/three", strings.NewReader("3")))
	must(b.Write(ctx, "a/one", strings.NewReader("ONE")))

	got, err := storage.ReadAll(ctx, b, "a/one")
	must(err)
	if string(got) != "ONE" {
		t.Errorf("read after overwrite = %q", got)
	}

	list, err := b.List(ctx, "a/")
	must(err)
	var keys []string
	for _, a := range list {
		keys = append(keys, fmt.Sprintf("%s:%d", a.Key, a.Size))
	}
	if fmt.Sprint(keys) != "[a/one:3 a/two:4]" {
		t.Errorf("List(a/) = %v", keys)
	}

	attrs, err := b.Attributes(ctx, "a/two")
	must(err)
	if attrs.Size != 4 {
		t.Errorf("Attributes size = %d", attrs.Size)
	}

	_, err = b.Copy(ctx, "c/copy", "a/two", storage.CopyOptions{})
	must(err)
	if got, err := storage.ReadAll(ctx, b, "c/copy"); err != nil || string(got) != "two!" {
		t.Errorf("copy = %q, %v", got, err)
	}
	if got, _ := storage.ReadAll(ctx, b, "a/two"); string(got) != "two!" {
		t.Errorf("copy changed its source: %q", got)
	}

	must(b.Create(ctx, "m/marker", strings.NewReader("first")))
	if err := b.Create(ctx, "m/marker", strings.NewReader("second")); !errors.Is(err, storage.ErrExists) {
		t.Errorf("second Create = %v, want ErrExists", err)
	}
	if got, _ := storage.ReadAll(ctx, b, "m/marker"); string(got) != "first" {
		t.Errorf("Create overwrote: %q", got)
	}

	must(b.Delete(ctx, "b/three"))
	for name, err := range map[string]error{
		"read":   func() error { _, err := storage.ReadAll(ctx, b, "b/three"); return err }(),
		"stat":   func() error { _, err := b.Attributes(ctx, "b/three"); return err }(),
		"delete": b.Delete(ctx, "b/three"),
		"copy":   func() error { _, err := b.Copy(ctx, "x", "b/three", storage.CopyOptions{}); return err }(),
	} {
		if !errors.Is(err, storage.ErrNotFound) || errors.Is(err, storage.ErrRetryable) {
			t.Errorf("%s of a missing object = %v, want only ErrNotFound", name, err)
		}
	}
}

// TestCopyReportsChecksums: a store reports the checksums its CopySums say
// of the bytes a Copy wrote, and they must be the content's. Finalize
// checks copies with them instead of reading them back.
func TestCopyReportsChecksums(t *testing.T) {
	for _, s := range storagetest.Stores() {
		t.Run(s.Name, func(t *testing.T) {
			b := s.Open(t)
			ctx := context.Background()
			for i, size := range []int{0, 1, 100 << 10, 1<<20 + 3, 0, 1, 100 << 10, 1<<20 + 3} {
				askSHA := i >= 4
				data := make([]byte, size)
				for i := range data {
					data[i] = byte(i*7 + i>>9)
				}
				src, dst := fmt.Sprintf("staging/src%d", i), fmt.Sprintf("dir/dst%d", i)
				if err := b.Write(ctx, src, bytes.NewReader(data)); err != nil {
					t.Fatal(err)
				}
				// Over an existing, different object: the copy replaces it.
				if err := b.Write(ctx, dst, strings.NewReader("old content")); err != nil {
					t.Fatal(err)
				}
				c, err := b.Copy(ctx, dst, src, storage.CopyOptions{SHA256: askSHA})
				if err != nil {
					t.Fatal(err)
				}
				if got, err := storage.ReadAll(ctx, b, dst); err != nil || !bytes.Equal(got, data) {
					t.Fatalf("size %d: copy holds %d bytes, %v", size, len(got), err)
				}
				wantSHA, wantMD5 := sha256.Sum256(data), md5.Sum(data)
				want := s.CopySums
				if (c.SHA256 != nil) != (want.SHA256 || askSHA && want.SHA256Asked) || (c.MD5 != nil) != want.MD5 {
					t.Fatalf("size %d, SHA-256 asked for %v: Copy reported %+v, want %+v", size, askSHA, c, want)
				}
				if c.SHA256 != nil && !bytes.Equal(c.SHA256, wantSHA[:]) {
					t.Errorf("size %d: Copy SHA-256 %x, content has %x", size, c.SHA256, wantSHA)
				}
				if c.MD5 != nil && !bytes.Equal(c.MD5, wantMD5[:]) {
					t.Errorf("size %d: Copy MD5 %x, content has %x", size, c.MD5, wantMD5)
				}
				if c.Size != -1 && c.Size != int64(size) {
					t.Errorf("size %d: Copy reports %d bytes", size, c.Size)
				}
			}
			if left, err := b.List(ctx, "dir/"); err != nil || len(left) != 8 {
				t.Errorf("List(dir/) after copies = %d objects, %v; want 8 (no temporaries)", len(left), err)
			}
		})
	}
}

// TestCreateIsExclusive races creators on one key, round after round:
// exactly one wins and what is stored is the winner's content. (gocloud's
// own fileblob IfNotExist lets several win in most rounds.)
func TestCreateIsExclusive(t *testing.T) {
	for _, s := range storagetest.Stores() {
		t.Run(s.Name, func(t *testing.T) {
			b := s.Open(t)
			for round := range 20 {
				raceCreate(t, b, fmt.Sprintf("marker-%d", round))
			}
		})
	}
}

func raceCreate(t *testing.T, b storage.Bucket, key string) {
	ctx := context.Background()
	const n = 16
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			errs[i] = b.Create(ctx, key, strings.NewReader(fmt.Sprintf("writer %d", i)))
		})
	}
	wg.Wait()
	winner := -1
	for i, err := range errs {
		switch {
		case err == nil:
			if winner >= 0 {
				t.Fatalf("%s: writers %d and %d both created it", key, winner, i)
			}
			winner = i
		case !errors.Is(err, storage.ErrExists) && !errors.Is(err, storage.ErrRetryable):
			// S3 may answer a concurrent conditional write with 409
			// (retryable) instead of 412.
			t.Errorf("%s: writer %d: %v", key, i, err)
		}
	}
	if winner < 0 {
		t.Fatalf("%s: no writer created it", key)
	}
	got, err := storage.ReadAll(ctx, b, key)
	if err != nil || string(got) != fmt.Sprintf("writer %d", winner) {
		t.Fatalf("%s = %q, %v; winner %d", key, got, err, winner)
	}
}

func TestOpenRejectsBadURIs(t *testing.T) {
	for _, uri := range []string{"ftp://host/x", "no-scheme", "file://", "::"} {
		_, err := storage.Open(context.Background(), uri)
		if !errors.Is(err, retry.ErrInvalidInput) {
			t.Errorf("Open(%q) = %v, want invalid input", uri, err)
		}
	}
}

func TestOpenPrefix(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	b, err := storage.Open(ctx, "file://"+dir+"/out/idx1")
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := b.Create(ctx, "staging/x", strings.NewReader("x")); err != nil {
		t.Fatal(err)
	}
	parent, err := storage.Open(ctx, "file://"+dir)
	if err != nil {
		t.Fatal(err)
	}
	defer parent.Close()
	if got, err := storage.ReadAll(ctx, parent, "out/idx1/staging/x"); err != nil || string(got) != "x" {
		t.Fatalf("file URI path is not the root directory: %q, %v", got, err)
	}
}

func TestDeleteAll(t *testing.T) {
	for _, s := range storagetest.Stores() {
		for _, par := range []int{1, 8} { // one request per 1000 keys; parallel batches
			t.Run(fmt.Sprintf("%s/parallelism=%d", s.Name, par), func(t *testing.T) {
				b := s.Open(t)
				ctx := context.Background()
				var keys []string
				for i := range 1205 { // more than one S3 batch
					keys = append(keys, fmt.Sprintf("staging/k%04d", i))
				}
				for _, k := range keys[:1200] {
					if err := b.Write(ctx, k, strings.NewReader("x")); err != nil {
						t.Fatal(err)
					}
				}
				if err := b.Write(ctx, "keep", strings.NewReader("x")); err != nil {
					t.Fatal(err)
				}
				// The last five keys were never written: already gone is deleted.
				if err := storage.DeleteAll(ctx, b, keys, par); err != nil {
					t.Fatal(err)
				}
				left, err := b.List(ctx, "")
				if err != nil {
					t.Fatal(err)
				}
				if len(left) != 1 || left[0].Key != "keep" {
					t.Fatalf("after DeleteAll: %d objects left, want only keep", len(left))
				}
			})
		}
	}
}

// TestCopyKeysTheStoreEscapes: keys gocloud's drivers store escaped are
// copied (and deleted) through gocloud, so they name the same objects as
// for every other call.
func TestCopyKeysTheStoreEscapes(t *testing.T) {
	for _, s := range storagetest.Stores() {
		t.Run(s.Name, func(t *testing.T) {
			b := s.Open(t)
			ctx := context.Background()
			src, dst := "odd/a__0x41__b", "odd/c__0x42__"
			if err := b.Write(ctx, src, strings.NewReader("odd")); err != nil {
				t.Fatal(err)
			}
			if _, err := b.Copy(ctx, dst, src, storage.CopyOptions{}); err != nil {
				t.Fatal(err)
			}
			if got, err := storage.ReadAll(ctx, b, dst); err != nil || string(got) != "odd" {
				t.Fatalf("copy = %q, %v", got, err)
			}
			if err := storage.DeleteAll(ctx, b, []string{src, dst}, 2); err != nil {
				t.Fatal(err)
			}
			if left, err := b.List(ctx, "odd/"); err != nil || len(left) != 0 {
				t.Fatalf("after DeleteAll: %v, %v", left, err)
			}
		})
	}
}

// Regression (e2e, deletionPolicy Delete): deleting every key of an output
// left its directories behind on file://, so the output was not gone.
func TestFileDeletePrunesEmptyDirectories(t *testing.T) {
	ctx := context.Background()
	root := filepath.Join(t.TempDir(), "out")
	b, err := storage.Open(ctx, "file://"+root)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	for _, key := range []string{"versions/1/staging/part_0.json", "versions/1/part_0_1.sst", "keep.txt"} {
		if err := b.Write(ctx, key, strings.NewReader(key)); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Delete(ctx, "versions/1/staging/part_0.json"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "versions/1/staging")); !os.IsNotExist(err) {
		t.Errorf("emptied staging/ directory still there: %v", err)
	}
	if _, err := os.Stat(filepath.Join(root, "versions/1/part_0_1.sst")); err != nil {
		t.Errorf("a directory that still holds a key was pruned: %v", err)
	}
	if err := b.Delete(ctx, "versions/1/part_0_1.sst"); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(root)
	if err != nil {
		t.Fatalf("the root itself was pruned: %v", err)
	}
	if len(entries) != 1 || entries[0].Name() != "keep.txt" {
		t.Errorf("root holds %v, want only keep.txt", entries)
	}
	// A key written after its directory was pruned lands as usual.
	if err := b.Create(ctx, "versions/2/metadata.json", strings.NewReader("{}")); err != nil {
		t.Fatal(err)
	}
}
