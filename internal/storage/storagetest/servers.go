package storagetest

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
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

// shared is a server started once per test process, on first use, on a
// free loopback port, killed when the process ends.
type shared struct {
	server
	// args are the program's arguments to listen on host:port.
	args func(host, port string) []string
	// found makes the server known to this process's clients (environment
	// variables the cloud SDKs read).
	found func(addr string)

	once sync.Once
	addr string
	err  error
}

// address starts the server on first use and returns its address.
func (sh *shared) address(t testing.TB) string {
	t.Helper()
	bin := sh.program(t)
	sh.once.Do(func() { sh.addr, sh.err = sh.run(bin) })
	if sh.err != nil {
		t.Fatal(sh.err)
	}
	return sh.addr
}

func (sh *shared) run(bin string) (string, error) {
	addr, err := freeAddr("127.0.0.1")
	if err != nil {
		return "", err
	}
	host, port, _ := strings.Cut(addr, ":")
	dir, err := os.MkdirTemp("", "indexbuild-"+strings.ToLower(sh.name))
	if err != nil {
		return "", err
	}
	cmd := exec.Command(bin, sh.args(host, port)...)
	cmd.Dir = dir
	if _, err := sh.start(cmd, addr, filepath.Join(dir, "server.log"), true); err != nil {
		return "", err
	}
	sh.found(addr)
	return addr, nil
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
