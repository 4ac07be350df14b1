package storagetest

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/indexbuild/indexbuild/internal/storage"
)

// S3ServerEnv names the S3-compatible server binary (versitygw); without it
// the tests look for bin/versitygw in the repository root, which
// hack/build-s3-server.sh builds.
const S3ServerEnv = "INDEXBUILD_S3_SERVER"

// S3 is s3:// against a versitygw server (posix backend) on a free loopback
// port, one server with a fresh directory per Open, stopped when the test
// ends. Without the binary the test is skipped, or fails when CI=true: CI
// must not pass by silently skipping the real-S3 tests.
func S3() Store {
	return Store{Name: "s3", Open: func(t testing.TB) storage.Bucket {
		return OpenURI(t, StartS3(t))
	}}
}

// StartS3 starts a server and returns the URI of an empty bucket on it.
func StartS3(t testing.TB) string {
	t.Helper()
	bin := s3ServerBinary(t)
	const access, secret = "indexbuild", "indexbuild-secret"
	// The AWS SDK reads credentials from the environment (as in a pod with
	// the output Secret mounted as env vars); no instance metadata lookups.
	t.Setenv("AWS_ACCESS_KEY_ID", access)
	t.Setenv("AWS_SECRET_ACCESS_KEY", secret)
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")

	root := t.TempDir()
	if err := os.Mkdir(filepath.Join(root, "test"), 0o755); err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	cmd := exec.Command(bin, "--port", addr, "--access", access, "--secret", secret, "--quiet", "posix", root)
	log, err := os.Create(filepath.Join(t.TempDir(), "versitygw.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", bin, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
		log.Close()
	})
	waitListening(t, addr, exited, log.Name())
	return fmt.Sprintf("s3://test/out?endpoint=http://%s&region=us-east-1&use_path_style=true", addr)
}

func s3ServerBinary(t testing.TB) string {
	t.Helper()
	bin := os.Getenv(S3ServerEnv)
	if bin == "" {
		if root, ok := repoRoot(); ok {
			bin = filepath.Join(root, "bin", "versitygw")
		}
	}
	if _, err := os.Stat(bin); bin == "" || err != nil {
		msg := fmt.Sprintf("no S3-compatible server binary (set %s or run hack/build-s3-server.sh)", S3ServerEnv)
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return bin
}

// repoRoot is the nearest directory above the working directory (a test's
// package directory) holding go.mod.
func repoRoot() (string, bool) {
	dir, err := os.Getwd()
	if err != nil {
		return "", false
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, true
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", false
		}
		dir = parent
	}
}

func freeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// waitListening waits until the server accepts connections. The limit is
// only a guard against a server that never comes up, not an assertion.
func waitListening(t testing.TB, addr string, exited <-chan error, logName string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		select {
		case err := <-exited:
			out, _ := os.ReadFile(logName)
			t.Fatalf("S3 server exited before listening: %v\n%s", err, out)
		default:
		}
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("S3 server not listening on %s: %v", addr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
