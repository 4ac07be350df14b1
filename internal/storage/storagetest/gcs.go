package storagetest

import (
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/indexbuild/indexbuild/internal/storage"
)

// GCSServerEnv names the GCS emulator binary (fake-gcs-server); without it
// the tests look for bin/fake-gcs-server in the repository root, which
// hack/build-gcs-server.sh builds.
const GCSServerEnv = "INDEXBUILD_GCS_SERVER"

var (
	gcsServer = &shared{
		server: server{name: "GCS", env: GCSServerEnv, bin: "bin/fake-gcs-server", make: "gcs-server"},
		args: func(host, port string) []string {
			addr := host + ":" + port
			return []string{"-scheme", "http", "-host", host, "-port", port, "-backend", "memory",
				"-public-host", addr, "-external-url", "http://" + addr, "-log-level", "error"}
		},
		// For the whole process: every GCS client made from now on talks to it.
		found: func(addr string) { os.Setenv("STORAGE_EMULATOR_HOST", addr) },
	}
	// buckets numbers the buckets and containers the shared servers hand out.
	buckets atomic.Int64
)

// GCS is gs:// against fake-gcs-server (memory backend) on a free loopback
// port: one server per test process, started on first use, and a fresh
// bucket per Open. The Google Cloud client finds it through
// STORAGE_EMULATOR_HOST, which is read when a client is made, so the
// process has one GCS server.
func GCS() Store {
	return Store{Name: "gcs", CopySums: CopySums{MD5: true}, Open: func(t testing.TB) storage.Bucket {
		return OpenURI(t, NewGCSBucket(t))
	}}
}

// NewGCSBucket creates an empty bucket on the shared GCS server and returns
// its URI.
func NewGCSBucket(t testing.TB) string {
	t.Helper()
	addr := gcsServer.address(t)
	name := fmt.Sprintf("test-%d", buckets.Add(1))
	req, err := http.NewRequest(http.MethodPost, "http://"+addr+"/storage/v1/b?project=test",
		strings.NewReader(fmt.Sprintf(`{"name":%q}`, name)))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("create GCS bucket %s: %s", name, resp.Status)
	}
	return "gs://" + name + "/out"
}

// GCSEndpoint is the shared GCS server's address, for tests that talk to
// it through something of their own (a proxy in front of it).
func GCSEndpoint(t testing.TB) string {
	t.Helper()
	return gcsServer.address(t)
}
