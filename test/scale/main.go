// Command scale is the scale harness behind `make bench-scale`: for each
// size it runs N IndexBuilds of P partitions through the operator on a
// simulated cluster (etcd, kube-apiserver, kube-controller-manager and
// kube-scheduler from upstream, KWOK playing nodes and pods), then the same
// Jobs created directly on a fresh copy of that cluster (the floor), and
// prints one table: wall times and their ratio, the operator's API requests
// per build, reconciles, conflicts, peak RSS, CPU, and how far the status
// trails the Jobs.
package main

import (
	"context"
	_ "embed"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	kruntime "k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	indexbuildv1alpha1 "github.com/indexbuild/indexbuild/api/v1alpha1"
)

//go:embed kwok-stages.yaml
var kwokStagesTemplate string

var scheme = kruntime.NewScheme()

func init() {
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		panic(err)
	}
	if err := indexbuildv1alpha1.AddToScheme(scheme); err != nil {
		panic(err)
	}
}

type options struct {
	sizes       []size
	podRun      time.Duration
	podJitter   time.Duration
	repo        string
	k8sBin      string
	kwok        string
	manager     string
	managerArgs []string
	workDir     string
	nodes       int
	ctrlQPS     int
	timeout     time.Duration
	keep        bool
}

func main() {
	var opts options
	var sizes, managerArgs string
	flag.StringVar(&sizes, "sizes", "100x8,300x8,1000x8,100x64", "comma-separated NxP: N IndexBuilds of P partitions each")
	flag.DurationVar(&opts.podRun, "pod-run", 10*time.Second, "how long every simulated worker and finalize pod runs")
	flag.DurationVar(&opts.podJitter, "pod-jitter", 2*time.Second, "random extra run time per pod, up to this")
	flag.StringVar(&opts.repo, "repo", ".", "repository root (CRDs and RBAC are read from config/)")
	flag.StringVar(&opts.k8sBin, "k8s-bin", "bin/k8s/1.37.0", "directory with etcd, kube-apiserver, kube-controller-manager, kube-scheduler")
	flag.StringVar(&opts.kwok, "kwok", "bin/kwok-v0.8.0", "KWOK binary")
	flag.StringVar(&opts.manager, "manager", "bin/manager", "operator binary (go build ./cmd/manager)")
	flag.StringVar(&managerArgs, "manager-args", "", "extra operator flags, space-separated")
	flag.StringVar(&opts.workDir, "work-dir", "", "where the clusters keep data and logs (default: a temporary directory, removed unless -keep)")
	flag.IntVar(&opts.nodes, "nodes", 10, "KWOK nodes")
	flag.IntVar(&opts.ctrlQPS, "control-plane-qps", 200, "client QPS of kube-controller-manager and kube-scheduler (burst twice that)")
	flag.DurationVar(&opts.timeout, "timeout", 30*time.Minute, "longest a single run may take")
	flag.BoolVar(&opts.keep, "keep", false, "keep the work directory (logs, audit logs)")
	flag.Parse()
	ctrllog.SetLogger(zap.New(zap.WriteTo(os.Stderr)))

	var err error
	if opts.sizes, err = parseSizes(sizes); err != nil {
		fail(err)
	}
	opts.managerArgs = strings.Fields(managerArgs)
	for _, p := range []*string{&opts.repo, &opts.k8sBin, &opts.kwok, &opts.manager} {
		if *p, err = filepath.Abs(*p); err != nil {
			fail(err)
		}
	}
	if opts.workDir == "" {
		if opts.workDir, err = os.MkdirTemp("", "bench-scale-"); err != nil {
			fail(err)
		}
		if !opts.keep {
			defer os.RemoveAll(opts.workDir)
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	stages := strings.NewReplacer("__RUN_MS__", strconv.FormatInt(opts.podRun.Milliseconds(), 10),
		// KWOK's jitterDuration is the upper end of the delay, not an addition.
		"__MAX_MS__", strconv.FormatInt((opts.podRun+opts.podJitter).Milliseconds(), 10)).Replace(kwokStagesTemplate)
	var rows []row
	for _, sz := range opts.sizes {
		cfg := clusterConfig{k8sBin: opts.k8sBin, kwok: opts.kwok, stages: []byte(stages), nodes: opts.nodes,
			podsPer: max(110, 2*sz.N*(sz.P+1)/opts.nodes), ctrlQPS: opts.ctrlQPS}
		cfg.dir = filepath.Join(opts.workDir, sz.String(), "operator")
		fmt.Fprintf(os.Stderr, "bench-scale: %s operator run (logs in %s)\n", sz, cfg.dir)
		op, err := runOperator(ctx, cfg, opts, sz)
		if err != nil {
			fail(fmt.Errorf("%s operator run: %w (logs in %s; -keep keeps them)", sz, err, cfg.dir))
		}
		cfg.dir = filepath.Join(opts.workDir, sz.String(), "floor")
		fmt.Fprintf(os.Stderr, "bench-scale: %s floor run, bare Jobs (logs in %s)\n", sz, cfg.dir)
		floor, err := runFloor(ctx, cfg, opts, sz, op.Jobs)
		if err != nil {
			fail(fmt.Errorf("%s floor run: %w (logs in %s; -keep keeps them)", sz, err, cfg.dir))
		}
		r := newRow(sz, op, floor)
		fmt.Fprintf(os.Stderr, "bench-scale: %s\n", r.summary())
		rows = append(rows, r)
	}
	fmt.Printf("IndexBuild operator vs bare Jobs on one simulated cluster: %d cores, pods run %s (+ up to %s), %d KWOK nodes, control plane QPS %d\n",
		runtime.NumCPU(), opts.podRun, opts.podJitter, opts.nodes, opts.ctrlQPS)
	if len(opts.managerArgs) > 0 {
		fmt.Printf("operator flags: %s\n", strings.Join(opts.managerArgs, " "))
	}
	fmt.Println()
	printTable(os.Stdout, rows)
}

func parseSizes(s string) ([]size, error) {
	var out []size
	for _, f := range strings.Split(s, ",") {
		n, p, ok := strings.Cut(strings.TrimSpace(f), "x")
		ni, err1 := strconv.Atoi(n)
		pi, err2 := strconv.Atoi(p)
		if !ok || err1 != nil || err2 != nil || ni < 1 || pi < 1 {
			return nil, fmt.Errorf("size %q: want NxP, e.g. 100x8", f)
		}
		out = append(out, size{N: ni, P: pi})
	}
	return out, nil
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "bench-scale:", err)
	os.Exit(1)
}
