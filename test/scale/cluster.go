package main

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// operatorUser is the identity the operator runs as: the audit policy logs
// its requests alone, and RBAC gives it the manager role of config/rbac.
const operatorUser = "indexbuild-operator"

// clusterConfig says which binaries to run and how to tune the parts that
// are not under test (identical for the operator run and the floor run).
type clusterConfig struct {
	k8sBin    string // etcd, kube-apiserver, kube-controller-manager, kube-scheduler
	kwok      string
	stages    []byte // KWOK Stage objects (kwokStages)
	nodes     int
	podsPer   int
	ctrlQPS   int // client QPS of kube-controller-manager and kube-scheduler
	dir       string
	logPrefix string
}

// cluster is a running control plane with KWOK nodes: etcd, kube-apiserver,
// kube-controller-manager (Job controller, garbage collector), kube-scheduler
// and KWOK, each on free loopback ports under its own data directory.
type cluster struct {
	cfg          clusterConfig
	procs        []*process
	adminCfg     *rest.Config
	adminKube    string // admin kubeconfig path
	operatorKube string
	auditLog     string
}

// process is a child process with its log file.
type process struct {
	name string
	cmd  *exec.Cmd
	log  *os.File
	done chan struct{} // closed once the process has ended
}

func startProcess(dir, name, bin string, args ...string) (*process, error) {
	logf, err := os.Create(filepath.Join(dir, name+".log"))
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	// Own process group: stopping the harness stops its children only.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &process{name: name, cmd: cmd, log: logf, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(p.done) }()
	return p, nil
}

// stop sends SIGTERM, then SIGKILL after grace.
func (p *process) stop(grace time.Duration) {
	if p == nil || p.cmd.Process == nil {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(grace):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
	p.log.Close()
}

// exited reports whether the process has ended (it should not have).
func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func freePorts(n int) ([]int, error) {
	// Hold them all open at once so no two are the same.
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	ports := make([]int, n)
	for i := range ports {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		ports[i] = l.Addr().(*net.TCPAddr).Port
	}
	return ports, nil
}

func randomToken() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// auditPolicy logs the operator's requests, and nobody else's: the request
// counts per verb, resource and response code come from it.
const auditPolicy = `apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
- level: Metadata
  users: ["` + operatorUser + `"]
- level: None
`

func startCluster(ctx context.Context, cfg clusterConfig) (_ *cluster, err error) {
	c := &cluster{cfg: cfg}
	defer func() {
		if err != nil {
			c.stop()
		}
	}()
	for _, d := range []string{"etcd", "pki"} {
		if err := os.MkdirAll(filepath.Join(cfg.dir, d), 0o755); err != nil {
			return nil, err
		}
	}
	ports, err := freePorts(4)
	if err != nil {
		return nil, err
	}
	etcdClient, etcdPeer, apiPort, kwokPort := ports[0], ports[1], ports[2], ports[3]

	// Service-account signing key (the API server requires one).
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	saKey := filepath.Join(cfg.dir, "pki", "sa.key")
	if err := os.WriteFile(saKey, pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}), 0o600); err != nil {
		return nil, err
	}
	adminToken, operatorToken := randomToken(), randomToken()
	tokens := filepath.Join(cfg.dir, "pki", "tokens.csv")
	if err := os.WriteFile(tokens, []byte(fmt.Sprintf("%s,admin,admin,\"system:masters\"\n%s,%s,%s\n", adminToken, operatorToken, operatorUser, operatorUser)), 0o600); err != nil {
		return nil, err
	}
	policy := filepath.Join(cfg.dir, "audit-policy.yaml")
	if err := os.WriteFile(policy, []byte(auditPolicy), 0o644); err != nil {
		return nil, err
	}
	c.auditLog = filepath.Join(cfg.dir, "audit.log")

	// etcd: fsync off, so the shared disk's noise stays out of both runs.
	etcdURL := "http://127.0.0.1:" + strconv.Itoa(etcdClient)
	peerURL := "http://127.0.0.1:" + strconv.Itoa(etcdPeer)
	p, err := startProcess(cfg.dir, "etcd", filepath.Join(cfg.k8sBin, "etcd"),
		"--data-dir="+filepath.Join(cfg.dir, "etcd"), "--name=bench",
		"--listen-client-urls="+etcdURL, "--advertise-client-urls="+etcdURL,
		"--listen-peer-urls="+peerURL, "--initial-advertise-peer-urls="+peerURL,
		"--initial-cluster=bench="+peerURL, "--unsafe-no-fsync",
		"--quota-backend-bytes=8589934592", "--auto-compaction-mode=periodic", "--auto-compaction-retention=1m",
		"--log-level=warn")
	if err != nil {
		return nil, err
	}
	c.procs = append(c.procs, p)

	p, err = startProcess(cfg.dir, "kube-apiserver", filepath.Join(cfg.k8sBin, "kube-apiserver"),
		"--etcd-servers="+etcdURL,
		"--bind-address=127.0.0.1", "--advertise-address=127.0.0.1", "--endpoint-reconciler-type=none", "--secure-port="+strconv.Itoa(apiPort),
		"--cert-dir="+filepath.Join(cfg.dir, "pki"),
		"--token-auth-file="+tokens, "--authorization-mode=RBAC",
		"--service-account-issuer=https://kubernetes.default.svc", "--service-account-key-file="+saKey,
		"--service-account-signing-key-file="+saKey, "--service-cluster-ip-range=10.0.0.0/24",
		"--audit-policy-file="+policy, "--audit-log-path="+c.auditLog, "--audit-log-maxsize=4096", "--audit-log-maxbackup=0",
		"--disable-admission-plugins=ServiceAccount,TaintNodesByCondition")
	if err != nil {
		return nil, err
	}
	c.procs = append(c.procs, p)

	server := "https://127.0.0.1:" + strconv.Itoa(apiPort)
	c.adminKube = filepath.Join(cfg.dir, "admin.kubeconfig")
	c.operatorKube = filepath.Join(cfg.dir, "operator.kubeconfig")
	if err := writeKubeconfig(c.adminKube, server, adminToken); err != nil {
		return nil, err
	}
	if err := writeKubeconfig(c.operatorKube, server, operatorToken); err != nil {
		return nil, err
	}
	c.adminCfg = &rest.Config{Host: server, BearerToken: adminToken, TLSClientConfig: rest.TLSClientConfig{Insecure: true}, QPS: 2000, Burst: 4000}
	if err := waitFor(ctx, 90*time.Second, c.procs[1], func() error { return c.healthy("/readyz") }); err != nil {
		return nil, fmt.Errorf("kube-apiserver not ready: %w", err)
	}

	qps, burst := strconv.Itoa(cfg.ctrlQPS), strconv.Itoa(2*cfg.ctrlQPS)
	p, err = startProcess(cfg.dir, "kube-controller-manager", filepath.Join(cfg.k8sBin, "kube-controller-manager"),
		"--kubeconfig="+c.adminKube, "--leader-elect=false", "--secure-port=0",
		"--controllers=job-controller,garbage-collector-controller,ttl-after-finished-controller",
		"--kube-api-qps="+qps, "--kube-api-burst="+burst)
	if err != nil {
		return nil, err
	}
	c.procs = append(c.procs, p)

	schedCfg := filepath.Join(cfg.dir, "scheduler.yaml")
	if err := os.WriteFile(schedCfg, []byte(fmt.Sprintf(`apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
clientConnection:
  kubeconfig: %s
  qps: %s
  burst: %s
leaderElection:
  leaderElect: false
`, c.adminKube, qps, burst)), 0o644); err != nil {
		return nil, err
	}
	p, err = startProcess(cfg.dir, "kube-scheduler", filepath.Join(cfg.k8sBin, "kube-scheduler"),
		"--config="+schedCfg, "--secure-port=0")
	if err != nil {
		return nil, err
	}
	c.procs = append(c.procs, p)

	stages := filepath.Join(cfg.dir, "kwok-stages.yaml")
	if err := os.WriteFile(stages, cfg.stages, 0o644); err != nil {
		return nil, err
	}
	p, err = startProcess(cfg.dir, "kwok", cfg.kwok,
		"--kubeconfig="+c.adminKube, "--config="+stages,
		"--manage-all-nodes=false", "--manage-nodes-with-label-selector="+kwokNodeLabel,
		"--server-address=127.0.0.1:"+strconv.Itoa(kwokPort), "--cidr=10.244.0.0/16", "--node-ip=10.0.1.1")
	if err != nil {
		return nil, err
	}
	c.procs = append(c.procs, p)
	return c, nil
}

func writeKubeconfig(path, server, token string) error {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["bench"] = &clientcmdapi.Cluster{Server: server, InsecureSkipTLSVerify: true}
	cfg.AuthInfos["bench"] = &clientcmdapi.AuthInfo{Token: token}
	cfg.Contexts["bench"] = &clientcmdapi.Context{Cluster: "bench", AuthInfo: "bench"}
	cfg.CurrentContext = "bench"
	return clientcmd.WriteToFile(*cfg, path)
}

func (c *cluster) healthy(path string) error {
	client, err := rest.HTTPClientFor(c.adminCfg)
	if err != nil {
		return err
	}
	client.Timeout = 5 * time.Second
	req, _ := http.NewRequest(http.MethodGet, c.adminCfg.Host+path, nil)
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", path, resp.Status)
	}
	return nil
}

// checkAlive fails when a control-plane process has died.
func (c *cluster) checkAlive() error {
	for _, p := range c.procs {
		if p.exited() {
			return fmt.Errorf("%s exited; see %s", p.name, filepath.Join(c.cfg.dir, p.name+".log"))
		}
	}
	return nil
}

// waitFor polls check until it succeeds, the process dies or timeout passes.
func waitFor(ctx context.Context, timeout time.Duration, p *process, check func() error) error {
	deadline := time.Now().Add(timeout)
	for {
		err := check()
		if err == nil {
			return nil
		}
		if p != nil && p.exited() {
			return fmt.Errorf("%s exited: %w", p.name, err)
		}
		if time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return errors.Join(err, ctx.Err())
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// cpuMark is the CPU time used so far by kube-apiserver and by the whole
// machine.
type cpuMark struct {
	apiServer         float64
	hostBusy, hostAll uint64 // /proc/stat jiffies
}

func (c *cluster) markCPU() (cpuMark, error) {
	var m cpuMark
	for _, p := range c.procs {
		if p.name == "kube-apiserver" {
			u, err := readProcUsage(p.cmd.Process.Pid)
			if err != nil {
				return m, err
			}
			m.apiServer = u.CPUSeconds
		}
	}
	stat, err := os.ReadFile("/proc/stat")
	if err != nil {
		return m, err
	}
	m.hostBusy, m.hostAll, err = parseHostCPU(string(stat))
	return m, err
}

// cpuUse is what a run used between two marks.
type cpuUse struct {
	APIServerSeconds float64
	HostBusyPercent  float64 // of all cores
}

func cpuUsed(from, to cpuMark) cpuUse {
	u := cpuUse{APIServerSeconds: to.apiServer - from.apiServer}
	if all := to.hostAll - from.hostAll; all > 0 {
		u.HostBusyPercent = 100 * float64(to.hostBusy-from.hostBusy) / float64(all)
	}
	return u
}

func (c *cluster) stop() {
	// Reverse order: KWOK and controllers before the API server and etcd.
	for i := len(c.procs) - 1; i >= 0; i-- {
		c.procs[i].stop(10 * time.Second)
	}
}

// logTail is the end of a component's log, for error messages.
func logTail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
