package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	indexbuildv1alpha1 "github.com/indexbuild/indexbuild/api/v1alpha1"
	"github.com/indexbuild/indexbuild/internal/controller"
	"github.com/indexbuild/indexbuild/internal/indexset"
	"github.com/indexbuild/indexbuild/internal/testutil"
)

const (
	benchNamespace = "bench"
	// kwokNodeLabel marks the nodes KWOK plays.
	kwokNodeLabel = "type=kwok"
)

// simulatedCommitFiles is the file count the simulated finalize pods
// report (kwok-stages.yaml).
const simulatedCommitFiles = 16

// size is one point of the benchmark: N IndexBuilds of P partitions.
type size struct{ N, P int }

func (s size) String() string { return fmt.Sprintf("%dx%d", s.N, s.P) }

// operatorResult is what one operator run measured.
type operatorResult struct {
	Wall       time.Duration
	API        apiCounts
	Reconciles float64
	Usage      procUsage
	LagP50     time.Duration
	LagMax     time.Duration
	// CPU is what kube-apiserver and the machine used from the first
	// create to the last Succeeded.
	CPU cpuUse
	// Jobs are the child Jobs the operator created, replayed by the floor.
	Jobs []batchv1.Job
}

// prepare installs what both runs need: the namespace and the fake nodes;
// for the operator run also the CRD and the operator's RBAC.
func prepare(ctx context.Context, c *cluster, repo string, cfg clusterConfig, forOperator bool) (client.Client, error) {
	cl, err := client.New(c.adminCfg, client.Options{Scheme: scheme})
	if err != nil {
		return nil, err
	}
	if forOperator {
		if err := installCRDs(ctx, cl, filepath.Join(repo, "config", "crd", "bases")); err != nil {
			return nil, err
		}
		if err := installRBAC(ctx, cl, filepath.Join(repo, "config", "rbac", "role.yaml")); err != nil {
			return nil, err
		}
	}
	if err := cl.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: benchNamespace}}); err != nil {
		return nil, fmt.Errorf("create namespace: %w", err)
	}
	for i := 0; i < cfg.nodes; i++ {
		capacity := corev1.ResourceList{
			corev1.ResourceCPU:    resource.MustParse("1000"),
			corev1.ResourceMemory: resource.MustParse("4Ti"),
			corev1.ResourcePods:   *resource.NewQuantity(int64(cfg.podsPer), resource.DecimalSI),
		}
		node := &corev1.Node{
			ObjectMeta: metav1.ObjectMeta{
				Name:        fmt.Sprintf("kwok-node-%d", i),
				Labels:      map[string]string{"type": "kwok", corev1.LabelHostname: fmt.Sprintf("kwok-node-%d", i)},
				Annotations: map[string]string{"kwok.x-k8s.io/node": "fake"},
			},
			Status: corev1.NodeStatus{Capacity: capacity, Allocatable: capacity},
		}
		if err := cl.Create(ctx, node); err != nil {
			return nil, fmt.Errorf("create node: %w", err)
		}
	}
	// Ready nodes (KWOK's node stage) and the default ServiceAccount.
	err = waitFor(ctx, 60*time.Second, nil, func() error {
		if err := c.checkAlive(); err != nil {
			return err
		}
		var nodes corev1.NodeList
		if err := cl.List(ctx, &nodes); err != nil {
			return err
		}
		ready := 0
		for _, n := range nodes.Items {
			for _, cond := range n.Status.Conditions {
				if cond.Type == corev1.NodeReady && cond.Status == corev1.ConditionTrue {
					ready++
				}
			}
		}
		if ready < cfg.nodes {
			return fmt.Errorf("%d of %d nodes ready", ready, cfg.nodes)
		}
		return nil
	})
	return cl, err
}

func installCRDs(ctx context.Context, cl client.Client, dir string) error {
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil || len(files) == 0 {
		return fmt.Errorf("no CRDs in %s: %v", dir, err)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		crd := &unstructured.Unstructured{}
		if err := yaml.Unmarshal(b, &crd.Object); err != nil {
			return fmt.Errorf("%s: %w", f, err)
		}
		if err := cl.Create(ctx, crd); err != nil {
			return fmt.Errorf("create CRD %s: %w", crd.GetName(), err)
		}
	}
	// Established: the IndexBuild API answers.
	return waitFor(ctx, 30*time.Second, nil, func() error {
		return cl.List(ctx, &indexbuildv1alpha1.IndexBuildList{}, client.InNamespace("default"))
	})
}

// installRBAC gives the operator's user the manager role of config/rbac,
// so the benchmark also shows the role is enough.
func installRBAC(ctx context.Context, cl client.Client, rolePath string) error {
	b, err := os.ReadFile(rolePath)
	if err != nil {
		return err
	}
	role := &rbacv1.ClusterRole{}
	if err := yaml.Unmarshal(b, role); err != nil {
		return fmt.Errorf("%s: %w", rolePath, err)
	}
	if err := cl.Create(ctx, role); err != nil {
		return fmt.Errorf("create ClusterRole: %w", err)
	}
	binding := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "indexbuild-operator"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role.Name},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: operatorUser}},
	}
	if err := cl.Create(ctx, binding); err != nil {
		return fmt.Errorf("create ClusterRoleBinding: %w", err)
	}
	return nil
}

// createAll runs create(i) for i in [0,n) on a few goroutines.
func createAll(ctx context.Context, n int, create func(i int) error) error {
	var next atomic.Int64
	errs := make(chan error, 16)
	var wg sync.WaitGroup
	for w := 0; w < 16; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n || ctx.Err() != nil {
					return
				}
				if err := create(i); err != nil {
					select {
					case errs <- err:
					default:
					}
					return
				}
			}
		}()
	}
	wg.Wait()
	select {
	case err := <-errs:
		return err
	default:
		return nil
	}
}

func buildName(i int) string { return fmt.Sprintf("b%04d", i) }

// runOperator measures the operator: N IndexBuilds applied at once, from
// the first create to the last Succeeded.
func runOperator(ctx context.Context, cfg clusterConfig, opts options, sz size) (*operatorResult, error) {
	c, err := startCluster(ctx, cfg)
	if err != nil {
		return nil, err
	}
	defer c.stop()
	cl, err := prepare(ctx, c, opts.repo, cfg, true)
	if err != nil {
		return nil, err
	}
	ports, err := freePorts(2)
	if err != nil {
		return nil, err
	}
	metricsURL := fmt.Sprintf("http://127.0.0.1:%d/metrics", ports[0])
	args := append([]string{
		"--kubeconfig=" + c.operatorKube,
		fmt.Sprintf("--metrics-bind-address=127.0.0.1:%d", ports[0]), "--metrics-secure=false",
		fmt.Sprintf("--health-probe-bind-address=127.0.0.1:%d", ports[1]),
		"--builder-image=indexbuild:bench", "--watch-namespace=" + benchNamespace,
	}, opts.managerArgs...)
	mgr, err := startProcess(cfg.dir, "manager", opts.manager, args...)
	if err != nil {
		return nil, err
	}
	defer mgr.stop(10 * time.Second)
	if err := waitFor(ctx, 60*time.Second, mgr, func() error { _, err := scrapeMetrics(metricsURL); return err }); err != nil {
		return nil, fmt.Errorf("manager not serving metrics: %w\n%s", err, logTail(filepath.Join(cfg.dir, "manager.log"), 20))
	}

	lag := newLagTracker()
	var mu sync.Mutex
	succeeded := map[string]bool{}
	var failed error
	var last time.Time
	done := make(chan struct{})
	finish := sync.OnceFunc(func() { close(done) })
	onBuild := func(obj any) {
		ib, ok := obj.(*indexbuildv1alpha1.IndexBuild)
		if !ok {
			return
		}
		now := time.Now()
		lag.statusProgress(ib.Name, ib.Status.Partitions.Succeeded, now)
		mu.Lock()
		defer mu.Unlock()
		switch ib.Status.Phase {
		case indexbuildv1alpha1.PhaseFailed:
			if failed == nil {
				failed = fmt.Errorf("IndexBuild %s failed: %+v", ib.Name, ib.Status.Conditions)
				finish()
			}
		case indexbuildv1alpha1.PhaseSucceeded:
			if c := ib.Status.Commit; (c == nil || c.Files != simulatedCommitFiles) && failed == nil {
				// The simulated finalize reports its commit in its
				// termination message; the status must carry it.
				failed = fmt.Errorf("IndexBuild %s Succeeded without the finalize pod's commit summary: %+v", ib.Name, c)
				finish()
			}
			if !succeeded[ib.Name] {
				succeeded[ib.Name] = true
				last = now
				if len(succeeded) == sz.N {
					finish()
				}
			}
		}
	}
	onJob := func(obj any) {
		job, ok := obj.(*batchv1.Job)
		if !ok || job.Labels[controller.LabelRole] != controller.RoleBuild {
			return
		}
		lag.jobProgress(job.Labels[controller.LabelBuildName], int32(indexset.Count(job.Status.CompletedIndexes)), time.Now())
	}
	watchCtx, stopWatching := context.WithCancel(ctx)
	defer stopWatching()
	if err := watchObjects(watchCtx, c, map[client.Object]func(any){&indexbuildv1alpha1.IndexBuild{}: onBuild, &batchv1.Job{}: onJob}); err != nil {
		return nil, err
	}

	start, cpu, err := createAndWait(ctx, c, mgr, sz.N, func(i int) error {
		ib := testutil.MakeIndexBuild(buildName(i), benchNamespace).Partitions(int32(sz.P)).Obj()
		return cl.Create(ctx, ib)
	}, done, opts.timeout)
	if err != nil {
		mu.Lock()
		n := len(succeeded)
		mu.Unlock()
		return nil, fmt.Errorf("%d of %d builds Succeeded: %w", n, sz.N, err)
	}
	mu.Lock()
	res := &operatorResult{Wall: last.Sub(start), CPU: cpu}
	err = failed
	mu.Unlock()
	if err != nil {
		return nil, err
	}
	res.LagP50, res.LagMax = lag.quantile(0.5), lag.quantile(1)

	families, err := scrapeMetrics(metricsURL)
	if err != nil {
		return nil, fmt.Errorf("scrape manager metrics: %w", err)
	}
	res.Reconciles = sumCounter(families, "controller_runtime_reconcile_total", map[string]string{"controller": "indexbuild"})
	if res.Usage, err = readProcUsage(mgr.cmd.Process.Pid); err != nil {
		return nil, err
	}
	var jobs batchv1.JobList
	if err := cl.List(ctx, &jobs, client.InNamespace(benchNamespace), client.HasLabels{controller.LabelBuildName}); err != nil {
		return nil, err
	}
	res.Jobs = jobs.Items
	mgr.stop(10 * time.Second)
	if res.API, err = countAuditFile(c.auditLog, operatorUser); err != nil {
		return nil, err
	}
	return res, nil
}

// createAndWait is one measured run: n creates at once, then until done.
// It returns when the first create started and the CPU used from then on.
func createAndWait(ctx context.Context, c *cluster, mgr *process, n int, create func(i int) error, done <-chan struct{}, timeout time.Duration) (time.Time, cpuUse, error) {
	before, err := c.markCPU()
	if err != nil {
		return time.Time{}, cpuUse{}, err
	}
	start := time.Now()
	if err := createAll(ctx, n, create); err != nil {
		return start, cpuUse{}, fmt.Errorf("create: %w", err)
	}
	if err := waitDone(ctx, c, mgr, done, timeout); err != nil {
		return start, cpuUse{}, err
	}
	after, err := c.markCPU()
	return start, cpuUsed(before, after), err
}

func waitDone(ctx context.Context, c *cluster, mgr *process, done <-chan struct{}, timeout time.Duration) error {
	deadline := time.After(timeout)
	tick := time.NewTicker(2 * time.Second)
	defer tick.Stop()
	for {
		select {
		case <-done:
			return nil
		case <-deadline:
			return fmt.Errorf("timed out after %s", timeout)
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
			if err := c.checkAlive(); err != nil {
				return err
			}
			if mgr != nil && mgr.exited() {
				return errors.New("manager exited")
			}
		}
	}
}

// floorResult is what one floor run measured.
type floorResult struct {
	Wall time.Duration
	// CPU is what kube-apiserver and the machine used from the first
	// create to the last finalize Complete.
	CPU cpuUse
}

// floorJob turns a Job the operator created into the same Job created
// directly: no owner, and the selector and controller labels left for the
// API server to set anew.
func floorJob(job batchv1.Job) *batchv1.Job {
	out := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{
			Name: job.Name, Namespace: benchNamespace,
			Labels: job.Labels, Annotations: job.Annotations,
		},
		Spec: job.Spec,
	}
	out.Spec.Selector = nil
	out.Spec.ManualSelector = nil
	tmpl := map[string]string{}
	for k, v := range job.Spec.Template.Labels {
		switch k {
		case batchv1.ControllerUidLabel, batchv1.JobNameLabel, "controller-uid", "job-name":
			continue
		}
		tmpl[k] = v
	}
	out.Spec.Template.Labels = tmpl
	return out
}

// runFloor measures bare Jobs on a fresh harness: per build, the build
// Job, then once it is Complete the merge Job if the operator made one, then
// the finalize Job, exactly as the operator created them.
func runFloor(ctx context.Context, cfg clusterConfig, opts options, sz size, jobs []batchv1.Job) (floorResult, error) {
	var res floorResult
	byRole := map[string]map[string]*batchv1.Job{}
	for _, j := range jobs {
		role := j.Labels[controller.LabelRole]
		if byRole[role] == nil {
			byRole[role] = map[string]*batchv1.Job{}
		}
		byRole[role][j.Labels[controller.LabelBuildName]] = floorJob(j)
	}
	builds, finalizes := byRole[controller.RoleBuild], byRole[controller.RoleFinalize]
	if len(builds) != sz.N || len(finalizes) != sz.N {
		return res, fmt.Errorf("operator run left %d build and %d finalize Jobs, want %d each", len(builds), len(finalizes), sz.N)
	}
	// next is the Job that follows a completed one of role in the build's
	// chain: the merge Job where there is one, else finalize.
	next := func(role, name string) *batchv1.Job {
		if merge := byRole[controller.RoleMerge][name]; role == controller.RoleBuild && merge != nil {
			return merge
		}
		return finalizes[name]
	}
	c, err := startCluster(ctx, cfg)
	if err != nil {
		return res, err
	}
	defer c.stop()
	cl, err := prepare(ctx, c, opts.repo, cfg, false)
	if err != nil {
		return res, err
	}
	var mu sync.Mutex
	started, completed := map[string]bool{}, map[string]bool{}
	var last time.Time
	var createErr error
	done := make(chan struct{})
	finish := sync.OnceFunc(func() { close(done) })
	onJob := func(obj any) {
		job, ok := obj.(*batchv1.Job)
		if !ok || !jobComplete(job) {
			return
		}
		name := job.Labels[controller.LabelBuildName]
		now := time.Now()
		mu.Lock()
		defer mu.Unlock()
		switch role := job.Labels[controller.LabelRole]; role {
		case controller.RoleBuild, controller.RoleMerge:
			if started[job.Name] {
				return
			}
			started[job.Name] = true
			follow := next(role, name)
			go func() {
				if err := cl.Create(ctx, follow); err != nil && !apierrors.IsAlreadyExists(err) {
					mu.Lock()
					if createErr == nil {
						createErr = err
						finish()
					}
					mu.Unlock()
				}
			}()
		case controller.RoleFinalize:
			if completed[name] {
				return
			}
			completed[name] = true
			last = now
			if len(completed) == sz.N {
				finish()
			}
		}
	}
	watchCtx, stopWatching := context.WithCancel(ctx)
	defer stopWatching()
	if err := watchObjects(watchCtx, c, map[client.Object]func(any){&batchv1.Job{}: onJob}); err != nil {
		return res, err
	}
	start, cpu, err := createAndWait(ctx, c, nil, sz.N, func(i int) error { return cl.Create(ctx, builds[buildName(i)]) }, done, opts.timeout)
	if err != nil {
		mu.Lock()
		n := len(completed)
		mu.Unlock()
		return res, fmt.Errorf("%d of %d finalize Jobs complete: %w", n, sz.N, err)
	}
	mu.Lock()
	defer mu.Unlock()
	if createErr != nil {
		return res, createErr
	}
	res.Wall, res.CPU = last.Sub(start), cpu
	return res, nil
}

// watchObjects calls each handler with every object of its type in the
// bench namespace as it is added or updated, until ctx ends; it returns once
// the handlers have seen what exists.
func watchObjects(ctx context.Context, c *cluster, handlers map[client.Object]func(any)) error {
	informers, err := cache.New(c.adminCfg, cache.Options{Scheme: scheme, DefaultNamespaces: map[string]cache.Config{benchNamespace: {}}})
	if err != nil {
		return err
	}
	for obj, handle := range handlers {
		informer, err := informers.GetInformer(ctx, obj)
		if err != nil {
			return err
		}
		if _, err := informer.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
			AddFunc:    handle,
			UpdateFunc: func(_, obj any) { handle(obj) },
		}); err != nil {
			return err
		}
	}
	go func() { _ = informers.Start(ctx) }()
	if !informers.WaitForCacheSync(ctx) {
		return errors.New("harness informers did not sync")
	}
	return nil
}

func jobComplete(job *batchv1.Job) bool {
	for _, c := range job.Status.Conditions {
		if c.Type == batchv1.JobComplete && c.Status == corev1.ConditionTrue {
			return true
		}
	}
	return false
}
