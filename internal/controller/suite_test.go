package controller

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	indexbuildv1alpha1 "github.com/indexbuild/indexbuild/api/v1alpha1"
)

// The integration suite runs the reconciler against a real kube-apiserver and
// etcd (built by hack/build-k8s.sh; `make test` sets KUBEBUILDER_ASSETS).
// No Job controller or kubelet runs there: tests write Job and Pod status
// themselves, through the apiserver's validation of those transitions.

var (
	cfg       *rest.Config
	k8sClient client.WithWatch
	// cachedClient is the manager's client, reading through its cache.
	cachedClient client.Client
	// testManager is the suite's manager.
	testManager ctrl.Manager
	testEnv     *envtest.Environment
	ctx         context.Context
	cancel      context.CancelFunc
	reconciles  = &reconcileLog{byObject: map[types.NamespacedName]*reconcileCount{}}
	builderName = "indexbuild:test"
	// suitePolicy is the test manager's admin policy: builder images under
	// example.com/ and registry.invalid/, no command, the service account
	// "indexer", and Secrets that carry testSecretLabel=true.
	suitePolicy = AdminPolicy{
		BuilderImages:    []string{"example.com/*", "registry.invalid/*"},
		ServiceAccounts:  []string{"indexer"},
		SecretOptInLabel: testSecretLabel,
	}
	testSecretLabel = DefaultSecretOptInLabel
	// testFileStoreRoot is the one root the test manager allows for
	// hostPath file:// stores.
	testFileStoreRoot = "/var/lib/indexbuild"
	// metricsAddr is where the test manager serves /metrics.
	metricsAddr string
	// suiteProgressInterval is the test manager's --status-progress-interval.
	suiteProgressInterval = time.Second
	// suiteClock is the test reconciler's clock: real time, which a spec
	// may move ahead (suiteClock.skip) instead of waiting.
	suiteClock = &skippingClock{}
	// suiteReconciler is the test manager's reconciler, for specs that
	// reconcile at once what a timer would bring later.
	suiteReconciler *IndexBuildReconciler
)

// skippingClock is real time plus what specs skipped ahead. Deadlines and
// TTLs are compared with it; the workqueue's timers stay on real time, so
// a spec that skips reconciles at once what a timer would bring later.
type skippingClock struct {
	mu      sync.Mutex
	skipped time.Duration
}

func (c *skippingClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.skipped)
}

func (c *skippingClock) Since(t time.Time) time.Duration { return c.Now().Sub(t) }

// skip moves the clock d ahead until the spec ends.
func (c *skippingClock) skip(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.skipped += d
	DeferCleanup(func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		c.skipped -= d
	})
}

func TestControllers(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "Controller Suite")
}

// reconcileLog counts reconciles, and those that asked for a retry, per object.
type reconcileLog struct {
	mu       sync.Mutex
	byObject map[types.NamespacedName]*reconcileCount
}

type reconcileCount struct{ total, retried int }

func (l *reconcileLog) record(req reconcile.Request, res reconcile.Result, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	c := l.byObject[req.NamespacedName]
	if c == nil {
		c = &reconcileCount{}
		l.byObject[req.NamespacedName] = c
	}
	c.total++
	if err != nil || res.RequeueAfter > 0 || res.Requeue { //nolint:staticcheck // Requeue is what a requeue looks like too.
		c.retried++
	}
}

func (l *reconcileLog) get(key types.NamespacedName) reconcileCount {
	l.mu.Lock()
	defer l.mu.Unlock()
	if c := l.byObject[key]; c != nil {
		return *c
	}
	return reconcileCount{}
}

var _ = BeforeSuite(func() {
	logf.SetLogger(zap.New(zap.WriteTo(GinkgoWriter), zap.UseDevMode(true)))
	ctx, cancel = context.WithCancel(context.TODO())

	Expect(os.Getenv("KUBEBUILDER_ASSETS")).NotTo(BeEmpty(),
		"KUBEBUILDER_ASSETS is not set: run `make test`, or `make envtest` and point it at bin/k8s/<version>")
	Expect(indexbuildv1alpha1.AddToScheme(scheme.Scheme)).To(Succeed())

	testEnv = &envtest.Environment{
		CRDDirectoryPaths:     []string{filepath.Join("..", "..", "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
	}
	var err error
	cfg, err = testEnv.Start()
	Expect(err).NotTo(HaveOccurred())

	k8sClient, err = client.NewWithWatch(cfg, client.Options{Scheme: scheme.Scheme})
	Expect(err).NotTo(HaveOccurred())

	metricsAddr = freeLoopbackAddr()
	// The manager's requests are recorded for the RBAC check (rbac_test.go).
	mgrCfg := rest.CopyConfig(cfg)
	mgrCfg.Wrap(apiRequests.wrap)
	mgr, err := ctrl.NewManager(mgrCfg, ctrl.Options{
		Scheme:  scheme.Scheme,
		Metrics: metricsserver.Options{BindAddress: metricsAddr},
		Cache:   cache.Options{ByObject: CacheByObject()},
	})
	Expect(err).NotTo(HaveOccurred())
	cachedClient = mgr.GetClient()
	testManager = mgr
	suiteReconciler = NewIndexBuildReconciler(mgr, Options{
		BuilderImage:            builderName,
		FileStoreRoots:          []string{testFileStoreRoot},
		Policy:                  suitePolicy,
		MaxConcurrentReconciles: 4,
		ProgressInterval:        suiteProgressInterval,
		Clock:                   suiteClock,
	})
	r := suiteReconciler
	counting := reconcile.Func(func(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
		res, err := r.Reconcile(ctx, req)
		reconciles.record(req, res, err)
		return res, err
	})
	Expect(r.metrics.register(ctrlmetrics.Registry, mgr.GetClient())).To(Succeed())
	b, err := r.controllerBuilder(mgr)
	Expect(err).NotTo(HaveOccurred())
	Expect(b.Complete(counting)).To(Succeed())

	go func() {
		defer GinkgoRecover()
		Expect(mgr.Start(ctx)).To(Succeed())
	}()
})

var _ = AfterSuite(func() {
	cancel()
	checkRBAC()
	if testEnv != nil {
		Expect(testEnv.Stop()).To(Succeed())
	}
})

// freeLoopbackAddr returns a loopback address with a port nothing listens on.
func freeLoopbackAddr() string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	Expect(err).NotTo(HaveOccurred())
	defer l.Close()
	return l.Addr().String()
}

// newNamespace creates a namespace of its own for one spec.
func newNamespace(prefix string) *corev1.Namespace {
	n := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: prefix}}
	Expect(k8sClient.Create(ctx, n)).To(Succeed())
	return n
}

// optedInSecret creates a Secret that the suite's policy lets builds use.
func optedInSecret(ns, name string) {
	GinkgoHelper()
	Expect(k8sClient.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{
		Name: name, Namespace: ns, Labels: map[string]string{testSecretLabel: "true"},
	}})).To(Succeed())
}
