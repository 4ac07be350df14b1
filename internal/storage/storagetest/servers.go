package storagetest

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"
)

// server is one kind of test server: a program the Makefile builds or
// installs under bin/, or the one an environment variable names.
type server struct {
	name string // for messages: "S3", "GCS", "Azure"
	env  string // variable naming the program
	bin  string // its path under the repository root otherwise
	make string // the make target that provides it
}

// program returns the server's program. Without it the test is skipped, or
// fails when CI=true: CI must not pass by silently skipping the tests
// against real servers.
func (s server) program(t testing.TB) string {
	t.Helper()
	bin := os.Getenv(s.env)
	if bin == "" {
		if root, ok := repoRoot(); ok {
			bin = filepath.Join(root, s.bin)
		}
	}
	if _, err := os.Stat(bin); bin == "" || err != nil {
		msg := fmt.Sprintf("no %s test server (set %s or run make %s)", s.name, s.env, s.make)
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return bin
}

// start starts cmd with its output in logName and waits until it accepts
// connections on addr. The returned channel gets cmd's exit. With
// forProcess the server lives as long as the test process (it is killed
// when the process ends, however it ends); otherwise the caller stops it.
func (s server) start(cmd *exec.Cmd, addr, logName string, forProcess bool) (<-chan error, error) {
	log, err := os.Create(logName)
	if err != nil {
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = log, log
	started := make(chan error, 1)
	exited := make(chan error, 1)
	go func() {
		if forProcess {
			// The kernel sends the server SIGKILL when the thread that
			// started it ends; this goroutine keeps its thread until the
			// server exits, so that is when the test process ends.
			runtime.LockOSThread()
			dieWithParent(cmd)
		}
		if err := cmd.Start(); err != nil {
			log.Close()
			started <- fmt.Errorf("start %s: %w", cmd.Path, err)
			return
		}
		started <- nil
		exited <- cmd.Wait()
		log.Close()
	}()
	if err := <-started; err != nil {
		return nil, err
	}
	if err := waitListening(addr, exited); err != nil {
		_ = cmd.Process.Kill()
		out, _ := os.ReadFile(logName)
		return nil, fmt.Errorf("%s server: %w\n%s", s.name, err, out)
	}
	return exited, nil
}

// shared is a server started once per test process, on first use.
type shared struct {
	once sync.Once
	addr string
	err  error
}

// get starts the server with run on first use and returns its address.
func (sh *shared) get(t testing.TB, run func() (string, error)) string {
	t.Helper()
	sh.once.Do(func() { sh.addr, sh.err = run() })
	if sh.err != nil {
		t.Fatal(sh.err)
	}
	return sh.addr
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

// freeAddr is a free port on host, as host:port.
func freeAddr(host string) (string, error) {
	l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// waitListening waits until a server accepts connections. The limit is
// only a guard against a server that never comes up, not an assertion.
func waitListening(addr string, exited <-chan error) error {
	deadline := time.Now().Add(60 * time.Second)
	for {
		select {
		case err := <-exited:
			return fmt.Errorf("exited before listening: %v", err)
		default:
		}
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not listening on %s: %v", addr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
