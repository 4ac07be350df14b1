package output_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/indexbuild/indexbuild/internal/output"
	"github.com/indexbuild/indexbuild/internal/retry"
	"github.com/indexbuild/indexbuild/internal/storage"
	"github.com/indexbuild/indexbuild/internal/storage/storagetest"
	"github.com/indexbuild/indexbuild/internal/taskmeta"
)

var ctx = context.Background()

func TestParseOwner(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want output.Owner
		bad  bool
	}{
		{"", output.Owner{}, false},
		{"ns/name", output.Owner{Namespace: "ns", Name: "name"}, false},
		{"name", output.Owner{}, true},
		{"/name", output.Owner{}, true},
		{"ns/", output.Owner{}, true},
		{"a/b/c", output.Owner{}, true},
	} {
		got, err := output.ParseOwner(tt.in)
		if tt.bad != (err != nil) || got != tt.want {
			t.Errorf("ParseOwner(%q) = %v, %v", tt.in, got, err)
		}
		if tt.bad && !errors.Is(err, retry.ErrInvalidInput) {
			t.Errorf("ParseOwner(%q): %v is not invalid input", tt.in, err)
		}
	}
}

func TestParseVersionKey(t *testing.T) {
	for _, tt := range []struct {
		key  string
		id   int64
		rest string
		ok   bool
	}{
		{"versions/7/metadata.json", 7, "metadata.json", true},
		{"versions/12/staging/part_0.json", 12, "staging/part_0.json", true},
		{"versions/7/", 7, "", true},
		{"versions/07/x", 0, "", false},
		{"versions/0/x", 0, "", false},
		{"versions/x/y", 0, "", false},
		{"versions/7", 0, "", false},
		{"current.json", 0, "", false},
		{"other/versions/7/x", 0, "", false},
	} {
		id, rest, ok := output.ParseVersionKey(tt.key)
		if id != tt.id || rest != tt.rest || ok != tt.ok {
			t.Errorf("ParseVersionKey(%q) = %d, %q, %v", tt.key, id, rest, ok)
		}
	}
	if got := output.VersionPrefix(42); got != "versions/42/" {
		t.Errorf("VersionPrefix(42) = %q", got)
	}
}

func TestDecodePointer(t *testing.T) {
	task := taskmeta.Meta{JobID: 7, SchemaID: 1, TableID: 2, ElementType: taskmeta.ElementTypeIndex, ElementIDs: []int64{3}}
	good := output.NewPointer(task, "metadata.json", time.Unix(1, 0))
	data, err := good.Encode()
	if err != nil {
		t.Fatal(err)
	}
	if p, err := output.DecodePointer(data); err != nil || p.Version != "versions/7/" || p.Marker != "versions/7/metadata.json" {
		t.Fatalf("round trip: %+v, %v", p, err)
	}
	for name, mutate := range map[string]func(*output.Pointer){
		"format version":      func(p *output.Pointer) { p.FormatVersion = 2 },
		"version of another":  func(p *output.Pointer) { p.Version = "versions/8/" },
		"task of another job": func(p *output.Pointer) { p.Task.JobID = 8 },
		"marker outside":      func(p *output.Pointer) { p.Marker = "metadata.json" },
		"no job":              func(p *output.Pointer) { p.JobID = 0 },
	} {
		p := good
		mutate(&p)
		data, _ := p.Encode()
		if _, err := output.DecodePointer(data); !errors.Is(err, output.ErrBadPointer) || retry.ExitCode(err) != retry.ExitInvalidInput {
			t.Errorf("%s: %v, want a bad pointer", name, err)
		}
	}
	if _, err := output.DecodePointer([]byte("{")); !errors.Is(err, output.ErrBadPointer) {
		t.Errorf("truncated: %v", err)
	}
}

// TestClaim: the first owner claims, the same owner passes, another fails
// with exit 5 naming owner and output and writes nothing; racing claimers
// of different owners: exactly one owns the root.
func TestClaim(t *testing.T) {
	a, b := output.Owner{Namespace: "ns-a", Name: "shared"}, output.Owner{Namespace: "ns-b", Name: "shared"}
	for _, s := range storagetest.Stores() {
		t.Run(s.Name, func(t *testing.T) {
			root := s.Open(t)
			if err := output.Claim(ctx, root, output.Owner{}); err != nil {
				t.Fatal(err)
			}
			if left := list(t, root); len(left) != 0 {
				t.Fatalf("a zero owner wrote %v", left)
			}
			if err := output.Claim(ctx, root, a); err != nil {
				t.Fatal(err)
			}
			if err := output.Claim(ctx, root, a); err != nil {
				t.Fatalf("same owner again: %v", err)
			}
			before := list(t, root)
			err := output.Claim(ctx, root, b)
			if retry.ExitCode(err) != retry.ExitOutputInUse || retry.IsRetryable(err) ||
				!strings.Contains(err.Error(), "belongs to IndexBuild ns-a/shared, not ns-b/shared") || !strings.Contains(err.Error(), root.URI()) {
				t.Fatalf("another owner: %v", err)
			}
			if after := list(t, root); !slices.Equal(before, after) {
				t.Fatalf("refused claim changed the root: %v -> %v", before, after)
			}
			if got, found, err := output.ReadOwner(ctx, root); err != nil || !found || got != a {
				t.Fatalf("owner = %v, %v, %v", got, found, err)
			}
		})
		t.Run(s.Name+"/race", func(t *testing.T) {
			root := s.Open(t)
			owners := []output.Owner{a, b, a, b}
			errs := make([]error, len(owners))
			var wg sync.WaitGroup
			for i, o := range owners {
				h := storagetest.Reopen(t, root)
				wg.Go(func() { errs[i] = output.Claim(ctx, h, o) })
			}
			wg.Wait()
			got, _, err := output.ReadOwner(ctx, root)
			if err != nil {
				t.Fatal(err)
			}
			for i, o := range owners {
				if (o == got) != (errs[i] == nil) {
					t.Errorf("claimer %d (%v): %v; the owner is %v", i, o, errs[i], got)
				}
			}
		})
	}
}

func list(t *testing.T, b storage.Bucket) []string {
	t.Helper()
	l, err := b.List(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, a := range l {
		keys = append(keys, a.Key)
	}
	return keys
}

// TestDeleteLayout removes the layout and nothing else, is idempotent, and
// refuses another owner's root without deleting anything.
func TestDeleteLayout(t *testing.T) {
	a, b := output.Owner{Namespace: "ns-a", Name: "books"}, output.Owner{Namespace: "ns-b", Name: "books"}
	unknown := map[string]string{
		"readme.txt":          "user data",
		"other/versions/1/x":  "user data",
		"versionsX/1/y":       "user data",
		"_owner.json.bak":     "user data",
		"current.json.backup": "user data",
	}
	for _, s := range storagetest.Stores() {
		t.Run(s.Name, func(t *testing.T) {
			root := s.Open(t)
			for k, v := range unknown {
				if err := root.Write(ctx, k, strings.NewReader(v)); err != nil {
					t.Fatal(err)
				}
			}
			if err := output.Claim(ctx, root, a); err != nil {
				t.Fatal(err)
			}
			for _, k := range []string{"versions/1/metadata.json", "versions/1/part_0_1.sst", "versions/2/staging/_task.json"} {
				if err := root.Write(ctx, k, strings.NewReader("x")); err != nil {
					t.Fatal(err)
				}
			}
			task := taskmeta.Meta{JobID: 1, SchemaID: 1, TableID: 1, ElementType: taskmeta.ElementTypeIndex, ElementIDs: []int64{1}}
			data, _ := output.NewPointer(task, "metadata.json", time.Now()).Encode()
			if err := root.Replace(ctx, output.PointerKey, strings.NewReader(string(data)), storage.NoRevision); err != nil {
				t.Fatal(err)
			}

			before := list(t, root)
			if err := output.DeleteLayout(ctx, root, b, 4); retry.ExitCode(err) != retry.ExitOutputInUse || !strings.Contains(err.Error(), "ns-a/books") {
				t.Fatalf("delete by another owner: %v", err)
			}
			if after := list(t, root); !slices.Equal(before, after) {
				t.Fatalf("a refused delete changed the root: %v -> %v", before, after)
			}
			for range 2 { // idempotent
				if err := output.DeleteLayout(ctx, root, a, 4); err != nil {
					t.Fatal(err)
				}
				if got := list(t, root); !slices.Equal(got, slices.Sorted(maps.Keys(unknown))) {
					t.Fatalf("left after delete: %v, want only %v", got, slices.Sorted(maps.Keys(unknown)))
				}
			}
			// Nothing owns the root any more: another IndexBuild may claim it.
			if err := output.Claim(ctx, root, b); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestDeleteLayoutLeavesUnownedRoots: an IndexBuild deletes only what it
// owns. A root with a layout but no _owner.json (built with the CLI) is
// refused, naming the owner record, and left exactly as it was; a root
// with nothing of a layout is done at once.
func TestDeleteLayoutLeavesUnownedRoots(t *testing.T) {
	asker := output.Owner{Namespace: "ns-a", Name: "books"}
	for _, s := range storagetest.Stores() {
		t.Run(s.Name, func(t *testing.T) {
			root := s.Open(t)
			if err := root.Write(ctx, "current.json.backup", strings.NewReader("user data")); err != nil {
				t.Fatal(err)
			}
			if err := output.DeleteLayout(ctx, root, asker, 4); err != nil {
				t.Fatalf("a root with no layout: %v", err)
			}
			for _, k := range []string{"versions/1/metadata.json", output.PointerKey} {
				if err := root.Write(ctx, k, strings.NewReader("x")); err != nil {
					t.Fatal(err)
				}
			}
			before := list(t, root)
			err := output.DeleteLayout(ctx, root, asker, 4)
			var notOwned *output.NotOwnedError
			if !errors.As(err, &notOwned) || retry.ExitCode(err) != retry.ExitOutputInUse || !strings.Contains(err.Error(), "no _owner.json") {
				t.Fatalf("delete of an unowned root: %v", err)
			}
			if after := list(t, root); !slices.Equal(before, after) {
				t.Fatalf("a refused delete changed the root: %v -> %v", before, after)
			}
			// The CLI's own delete (no owner) still removes it.
			if err := output.DeleteLayout(ctx, root, output.Owner{}, 4); err != nil {
				t.Fatal(err)
			}
			if got := list(t, root); !slices.Equal(got, []string{"current.json.backup"}) {
				t.Fatalf("left after an ownerless delete: %v", got)
			}
		})
	}
}

// Regression: with read access denied and write access granted, GCS
// answers 403 to reading _owner.json and 412 to creating it; gocloud calls
// the 403 NotFound, so a second IndexBuild claiming a root another one
// owned got "OutputInUse: ... belongs to IndexBuild /, not ...". The
// refusal must be a permanent error quoting the store, not a made-up owner.
// A loopback proxy in front of the GCS test server denies reading the owner
// record the way GCS does and passes everything else through.
func TestClaimWithReadDeniedQuotesTheStore(t *testing.T) {
	owned := storagetest.NewGCSBucket(t)
	if err := output.Claim(ctx, storagetest.OpenURI(t, owned), output.Owner{Namespace: "ns-a", Name: "books"}); err != nil {
		t.Fatal(err)
	}
	target, err := url.Parse("http://" + storagetest.GCSEndpoint(t))
	if err != nil {
		t.Fatal(err)
	}
	pass := httputil.NewSingleHostReverseProxy(target)
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet && strings.Contains(r.URL.Path, output.OwnerKey) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusForbidden)
			fmt.Fprint(w, `{"error":{"code":403,"message":"Permission 'storage.objects.get' denied on resource (or it may not exist).","errors":[{"reason":"forbidden"}]}}`)
			return
		}
		pass.ServeHTTP(w, r)
	}))
	t.Cleanup(proxy.Close)
	t.Setenv("STORAGE_EMULATOR_HOST", strings.TrimPrefix(proxy.URL, "http://"))
	root := storagetest.OpenURI(t, owned)

	err = output.Claim(ctx, root, output.Owner{Namespace: "ns-b", Name: "books"})
	if errors.Is(err, retry.ErrOutputInUse) || !errors.Is(err, storage.ErrPermanent) || retry.ExitCode(err) != retry.ExitInvalidInput ||
		!strings.Contains(err.Error(), "storage.objects.get") {
		t.Fatalf("claim with reads denied: %v (exit %d); want a permanent error quoting the 403, exit 4", err, retry.ExitCode(err))
	}
}

// notFoundOwner reads _owner.json as not found whatever is there.
type notFoundOwner struct{ storage.Bucket }

func (b notFoundOwner) NewReader(c context.Context, key string) (io.ReadCloser, error) {
	if key == output.OwnerKey {
		return nil, &storage.Error{Op: "read", Key: key, Kind: storage.ErrNotFound, Err: errors.New("no such object")}
	}
	return b.Bucket.NewReader(c, key)
}

// TestClaimNeverNamesAnEmptyOwner: an owner record that exists (its
// create-if-absent is refused) but reads as not found is a retryable error
// saying so, never an OwnerError naming nobody.
func TestClaimNeverNamesAnEmptyOwner(t *testing.T) {
	for _, s := range storagetest.Stores() {
		t.Run(s.Name, func(t *testing.T) {
			root := s.Open(t)
			if err := output.Claim(ctx, root, output.Owner{Namespace: "ns-a", Name: "books"}); err != nil {
				t.Fatal(err)
			}
			err := output.Claim(ctx, notFoundOwner{root}, output.Owner{Namespace: "ns-b", Name: "books"})
			if errors.Is(err, retry.ErrOutputInUse) || !retry.IsRetryable(err) || !strings.Contains(err.Error(), "reads as not found") {
				t.Fatalf("claim of a root whose owner reads as not found: %v", err)
			}
		})
	}
}

// TestClaimRefusesAStoreThatIgnoresPreconditions: a worker's or finalize's
// first conditional write is its claim; on a store that ignores
// preconditions it fails permanently (exit 4) naming the store, and the
// owner record is all it wrote.
func TestClaimRefusesAStoreThatIgnoresPreconditions(t *testing.T) {
	for _, s := range storagetest.Stores() {
		t.Run(s.Name, func(t *testing.T) {
			inner := s.Open(t)
			root := storage.RequirePreconditions(&storagetest.IgnoresPreconditions{Bucket: inner})
			err := output.Claim(ctx, root, output.Owner{Namespace: "ns-a", Name: "books"})
			if !errors.Is(err, storage.ErrPreconditionsIgnored) || retry.ExitCode(err) != retry.ExitInvalidInput || !strings.Contains(err.Error(), inner.URI()) {
				t.Fatalf("claim on a store that ignores preconditions: %v (exit %d)", err, retry.ExitCode(err))
			}
			if got := list(t, inner); !slices.Equal(got, []string{output.OwnerKey}) {
				t.Fatalf("the refused claim left %v", got)
			}
		})
	}
}

func TestPublishedJobIn(t *testing.T) {
	msg := (&output.SupersededError{URI: "s3://b/out", Published: 41, ThisJob: 9}).Error()
	for _, tc := range []struct {
		message string
		want    int64
		ok      bool
	}{
		{msg, 41, true},
		{"partition 3 (exit 3): " + msg + "; retries stop", 41, true},
		{"elementIDs: recorded [1] current [2]", 0, false},
	} {
		got, ok := output.PublishedJobIn(tc.message)
		if got != tc.want || ok != tc.ok {
			t.Errorf("PublishedJobIn(%q) = %d, %v; want %d, %v", tc.message, got, ok, tc.want, tc.ok)
		}
	}
}
