package storagetest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/indexbuild/indexbuild/internal/storage"
)

// S3ServerEnv names the S3-compatible server binary (versitygw); without it
// the tests look for bin/versitygw in the repository root, which
// hack/build-s3-server.sh builds.
const S3ServerEnv = "INDEXBUILD_S3_SERVER"

var s3Server = server{name: "S3", env: S3ServerEnv, bin: "bin/versitygw", make: "s3-server"}

// S3 is s3:// against a versitygw server (posix backend) on a free loopback
// port, one server with a fresh directory per Open, stopped when the test
// ends.
func S3() Store {
	return Store{Name: "s3", CopySums: CopySums{SHA256Asked: true, MD5: true}, Open: func(t testing.TB) storage.Bucket {
		return OpenURI(t, StartS3(t))
	}}
}

// StartS3 starts a server on loopback and returns the URI of an empty
// bucket on it.
func StartS3(t testing.TB) string {
	t.Helper()
	return StartS3On(t, "127.0.0.1", "indexbuild", "indexbuild-secret")
}

// StartS3On starts a server listening on host (an address pods reach, for
// the e2e tests) that takes the given credentials, and returns the URI of
// an empty bucket "test" on it, keys under "out/". The credentials are set
// in this process's environment for the test, as the AWS SDK reads them
// (as in a pod with the output Secret as env vars); no instance metadata
// lookups.
func StartS3On(t testing.TB, host, access, secret string) string {
	t.Helper()
	bin := s3Server.program(t)
	t.Setenv("AWS_ACCESS_KEY_ID", access)
	t.Setenv("AWS_SECRET_ACCESS_KEY", secret)
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")

	root := t.TempDir()
	if err := os.Mkdir(filepath.Join(root, "test"), 0o755); err != nil {
		t.Fatal(err)
	}
	addr, err := freeAddr(host)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "--port", addr, "--access", access, "--secret", secret, "--quiet", "posix", root)
	exited, err := s3Server.start(cmd, addr, filepath.Join(t.TempDir(), "versitygw.log"), false)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
	})
	return fmt.Sprintf("s3://test/out?endpoint=http://%s&region=us-east-1&use_path_style=true", addr)
}
