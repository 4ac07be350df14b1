package storage_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"testing"

	"github.com/indexbuild/indexbuild/internal/retry"
	"github.com/indexbuild/indexbuild/internal/storage"
	"github.com/indexbuild/indexbuild/internal/storage/storagetest"
)

// deniedGCS is what GCS answers a credential without access to an object:
// 403, whether or not the object exists.
const deniedGCS = `{"error":{"code":403,"message":"indexbuild@example.iam.gserviceaccount.com does not have storage.objects.get access to the Google Cloud Storage object. Permission 'storage.objects.get' denied on resource (or it may not exist).","errors":[{"message":"denied","domain":"global","reason":"forbidden"}]}}`

// TestPermissionDeniedIsPermanent: on every remote store a request the
// store refuses for lack of permission is ErrPermanent (exit 4) with the
// store's answer quoted, for reads, writes and create-if-absent alike; never
// NotFound (GCS answers 403 for an object that may not exist, which
// gocloud calls NotFound) and never retried. versitygw refuses a wrong
// secret, Azurite a wrong signature, for real; fake-gcs-server has no
// authorization, so GCS's answer comes from a loopback server that gives
// the Google client GCS's 403.
func TestPermissionDeniedIsPermanent(t *testing.T) {
	deny := map[string]func(t *testing.T) storage.Bucket{
		"s3": func(t *testing.T) storage.Bucket {
			uri := storagetest.StartS3(t)
			t.Setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret")
			return storagetest.OpenURI(t, uri)
		},
		"gcs": func(t *testing.T) storage.Bucket {
			storagetest.GCSEndpoint(t) // the shared server's address is set first, and restored after
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusForbidden)
				fmt.Fprint(w, deniedGCS)
			}))
			t.Cleanup(srv.Close)
			t.Setenv("STORAGE_EMULATOR_HOST", strings.TrimPrefix(srv.URL, "http://"))
			return storagetest.OpenURI(t, "gs://denied/out")
		},
		"azure": func(t *testing.T) storage.Bucket {
			// The Azure driver reads its key once per process, so the
			// request is signed with another key on the way to Azurite.
			uri := storagetest.NewAzureContainer(t)
			target, err := url.Parse("http://" + storagetest.AzureEndpoint(t))
			if err != nil {
				t.Fatal(err)
			}
			pass := httputil.NewSingleHostReverseProxy(target)
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				r.Header.Set("Authorization", "SharedKey "+storagetest.AzuriteAccount+":bm90LXRoZS1zaWduYXR1cmU=")
				pass.ServeHTTP(w, r)
			}))
			t.Cleanup(srv.Close)
			return storagetest.OpenURI(t, strings.Replace(uri, "domain="+target.Host, "domain="+strings.TrimPrefix(srv.URL, "http://"), 1))
		},
	}
	for _, s := range storagetest.Servers() {
		t.Run(s.Name, func(t *testing.T) {
			b := deny[s.Name](t)
			ctx := context.Background()
			for op, err := range map[string]error{
				"read":   func() error { _, err := storage.ReadAll(ctx, b, "k"); return err }(),
				"stat":   func() error { _, err := b.Attributes(ctx, "k"); return err }(),
				"list":   func() error { _, err := b.List(ctx, ""); return err }(),
				"write":  b.Write(ctx, "k", strings.NewReader("x")),
				"create": b.Create(ctx, "k", strings.NewReader("x")),
				"readrev": func() error {
					_, _, err := b.ReadRevision(ctx, "k")
					return err
				}(),
				"replace": b.Replace(ctx, "k", strings.NewReader("x"), storage.NoRevision),
			} {
				if !errors.Is(err, storage.ErrPermanent) || errors.Is(err, storage.ErrNotFound) || errors.Is(err, storage.ErrRetryable) ||
					retry.ExitCode(err) != retry.ExitInvalidInput {
					t.Errorf("%s: %v (exit %d); want only a permanent error, exit 4", op, err, retry.ExitCode(err))
				}
				if err != nil && !strings.Contains(err.Error(), "403") && !strings.Contains(err.Error(), "Forbidden") {
					t.Errorf("%s: %q does not quote the store's refusal", op, err)
				}
			}
		})
	}
}
