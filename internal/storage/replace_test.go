package storage_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/indexbuild/indexbuild/internal/storage"
	"github.com/indexbuild/indexbuild/internal/storage/storagetest"
)

// TestReplace: the compare-and-swap contract, step by step, on every store.
func TestReplace(t *testing.T) {
	for _, s := range storagetest.Stores() {
		t.Run(s.Name, func(t *testing.T) {
			b := s.Open(t)
			ctx := context.Background()
			if _, _, err := b.ReadRevision(ctx, "p"); !errors.Is(err, storage.ErrNotFound) {
				t.Fatalf("ReadRevision of a missing object = %v, want ErrNotFound", err)
			}
			steps := []struct {
				name    string
				content string
				rev     func(current storage.Revision) storage.Revision
				want    error // nil or ErrConflict
			}{
				{"create from no revision", "one", func(storage.Revision) storage.Revision { return storage.NoRevision }, nil},
				{"create again", "two", func(storage.Revision) storage.Revision { return storage.NoRevision }, storage.ErrConflict},
				{"replace from the current revision", "three", func(cur storage.Revision) storage.Revision { return cur }, nil},
				{"replace from a made-up revision", "four", func(storage.Revision) storage.Revision { return `"0123"` }, storage.ErrConflict},
			}
			for _, st := range steps {
				_, cur, err := b.ReadRevision(ctx, "p")
				if err != nil && !errors.Is(err, storage.ErrNotFound) {
					t.Fatal(err)
				}
				before, _ := storage.ReadAll(ctx, b, "p")
				err = b.Replace(ctx, "p", strings.NewReader(st.content), st.rev(cur))
				after, rerr := storage.ReadAll(ctx, b, "p")
				if rerr != nil {
					t.Fatalf("%s: read: %v", st.name, rerr)
				}
				switch {
				case st.want == nil && err != nil:
					t.Fatalf("%s: %v", st.name, err)
				case st.want == nil && string(after) != st.content:
					t.Fatalf("%s: object = %q, want %q", st.name, after, st.content)
				case st.want != nil && (!errors.Is(err, st.want) || errors.Is(err, storage.ErrRetryable)):
					t.Fatalf("%s: err = %v, want only %v", st.name, err, st.want)
				case st.want != nil && string(after) != string(before):
					t.Fatalf("%s: a refused Replace changed the object from %q to %q", st.name, before, after)
				}
			}
			// An outdated revision loses after someone else replaced.
			_, old, err := b.ReadRevision(ctx, "p")
			if err != nil {
				t.Fatal(err)
			}
			if err := b.Replace(ctx, "p", strings.NewReader("five"), old); err != nil {
				t.Fatal(err)
			}
			if err := b.Replace(ctx, "p", strings.NewReader("six"), old); !errors.Is(err, storage.ErrConflict) {
				t.Fatalf("Replace from an outdated revision = %v, want ErrConflict", err)
			}
		})
	}
}

// TestReplaceRace: replacers racing from one revision, round after round,
// through independent handles where the store has them: exactly one wins
// and the object holds its content.
func TestReplaceRace(t *testing.T) {
	for _, s := range storagetest.Stores() {
		t.Run(s.Name, func(t *testing.T) {
			b := s.Open(t)
			ctx := context.Background()
			const n = 8
			handles := make([]storage.Bucket, n)
			for i := range handles {
				handles[i] = storagetest.Reopen(t, b)
			}
			for round := range 10 {
				rev := storage.NoRevision
				if round > 0 {
					var err error
					if _, rev, err = b.ReadRevision(ctx, "pointer"); err != nil {
						t.Fatal(err)
					}
				}
				errs := make([]error, n)
				var wg sync.WaitGroup
				for i := range n {
					wg.Go(func() {
						errs[i] = handles[i].Replace(ctx, "pointer", strings.NewReader(fmt.Sprintf("round %d writer %d", round, i)), rev)
					})
				}
				wg.Wait()
				winner := -1
				for i, err := range errs {
					switch {
					case err == nil && winner >= 0:
						t.Fatalf("round %d: writers %d and %d both replaced", round, winner, i)
					case err == nil:
						winner = i
					case !errors.Is(err, storage.ErrConflict):
						t.Fatalf("round %d: writer %d: %v", round, i, err)
					}
				}
				if winner < 0 {
					t.Fatalf("round %d: nobody replaced", round)
				}
				got, err := storage.ReadAll(ctx, b, "pointer")
				if err != nil || string(got) != fmt.Sprintf("round %d writer %d", round, winner) {
					t.Fatalf("round %d: object %q, %v; winner %d", round, got, err, winner)
				}
			}
		})
	}
}

// TestSub: a Sub sees and writes only its prefix, with keys relative to it,
// and its URI opens the same objects.
func TestSub(t *testing.T) {
	for _, s := range storagetest.Stores() {
		t.Run(s.Name, func(t *testing.T) {
			root := s.Open(t)
			ctx := context.Background()
			must := func(err error) {
				t.Helper()
				if err != nil {
					t.Fatal(err)
				}
			}
			must(root.Write(ctx, "outside", strings.NewReader("x")))
			v := storage.Sub(root, "versions/7/")
			must(v.Write(ctx, "staging/a", strings.NewReader("aa")))
			must(v.Create(ctx, "metadata.json", strings.NewReader("{}")))
			c, err := v.Copy(ctx, "part_0", "staging/a", storage.CopyOptions{})
			if err != nil {
				t.Fatal(err)
			}
			// Through the Sub, S3 still copies server-side with CopyObject,
			// whose answer carries the MD5; the others hash the stream.
			if want := s.CopySums; (c.MD5 != nil) != want.MD5 || (c.SHA256 != nil) != want.SHA256 {
				t.Errorf("copy through the Sub reported %+v, want %+v (S3 and GCS: the server's own copy's answer)", c, want)
			}
			must(v.Replace(ctx, "p", strings.NewReader("1"), storage.NoRevision))
			list, err := v.List(ctx, "")
			must(err)
			var keys []string
			for _, a := range list {
				if a.Key != storage.LockFileKey("p") { // file:// only
					keys = append(keys, a.Key)
				}
			}
			if got := strings.Join(keys, " "); got != "metadata.json p part_0 staging/a" {
				t.Fatalf("Sub lists %q", got)
			}
			if got, err := storage.ReadAll(ctx, root, "versions/7/part_0"); err != nil || string(got) != "aa" {
				t.Fatalf("root sees the copy as %q, %v", got, err)
			}
			if !strings.HasPrefix(s.Name, "mem") {
				again := storagetest.OpenURI(t, v.URI())
				if got, err := storage.ReadAll(ctx, again, "staging/a"); err != nil || string(got) != "aa" {
					t.Fatalf("Open(%s) reads %q, %v", v.URI(), got, err)
				}
			}
			r, err := storage.NewRangeReader(ctx, v, "staging/a", 1, 1)
			must(err)
			b1 := make([]byte, 4)
			n, _ := r.Read(b1)
			r.Close()
			if string(b1[:n]) != "a" {
				t.Fatalf("range read = %q", b1[:n])
			}
			must(storage.DeleteAll(ctx, v, []string{"staging/a", "part_0", "metadata.json", "p"}, 2))
			left, err := root.List(ctx, "")
			must(err)
			var rest []string
			for _, a := range left {
				if a.Key != storage.LockFileKey("versions/7/p") {
					rest = append(rest, a.Key)
				}
			}
			if strings.Join(rest, " ") != "outside" {
				t.Fatalf("after DeleteAll through the Sub: %v", rest)
			}
		})
	}
}
