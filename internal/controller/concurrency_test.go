package controller

import (
	"context"
	"fmt"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/config"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/indexbuild/indexbuild/internal/testutil"
)

// inFlight counts reconciles running at once; each waits until want run
// together (or a deadline passes), so the peak shows the concurrency the
// controller allows.
type inFlight struct {
	mu        sync.Mutex
	now, peak int
	want      int
}

func (f *inFlight) reconcile(context.Context, reconcile.Request) (reconcile.Result, error) {
	f.mu.Lock()
	f.now++
	f.peak = max(f.peak, f.now)
	f.mu.Unlock()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		f.mu.Lock()
		enough := f.peak >= f.want
		f.mu.Unlock()
		if enough {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	f.mu.Lock()
	f.now--
	f.mu.Unlock()
	return reconcile.Result{}, nil
}

var _ = Describe("IndexBuild controller concurrency", func() {
	It("reconciles up to MaxConcurrentReconciles IndexBuilds at once", func() {
		n := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "ib-concurrency-"}}
		Expect(k8sClient.Create(ctx, n)).To(Succeed())
		// A manager of its own, watching only this namespace; the suite's
		// manager builds these IndexBuilds as usual meanwhile.
		mgr, err := ctrl.NewManager(cfg, ctrl.Options{
			Scheme:     scheme.Scheme,
			Metrics:    metricsserver.Options{BindAddress: "0"},
			Cache:      cache.Options{ByObject: CacheByObject(), DefaultNamespaces: map[string]cache.Config{n.Name: {}}},
			Controller: config.Controller{SkipNameValidation: ptr.To(true)},
		})
		Expect(err).NotTo(HaveOccurred())
		r := NewIndexBuildReconciler(mgr, Options{MaxConcurrentReconciles: 3})
		flight := &inFlight{want: 3}
		b, err := r.controllerBuilder(mgr)
		Expect(err).NotTo(HaveOccurred())
		Expect(b.Complete(reconcile.Func(flight.reconcile))).To(Succeed())
		mgrCtx, stop := context.WithCancel(ctx)
		defer stop()
		go func() {
			defer GinkgoRecover()
			Expect(mgr.Start(mgrCtx)).To(Succeed())
		}()

		for i := range 4 {
			Expect(k8sClient.Create(ctx, testutil.MakeIndexBuild(fmt.Sprintf("parallel-%d", i), n.Name).Obj())).To(Succeed())
		}
		Eventually(func() int {
			flight.mu.Lock()
			defer flight.mu.Unlock()
			return flight.peak
		}, timeout, interval).Should(Equal(3), "IndexBuilds reconciled at once")
		Consistently(func() int {
			flight.mu.Lock()
			defer flight.mu.Unlock()
			return flight.peak
		}, time.Second, interval).Should(Equal(3), "more reconciles at once than MaxConcurrentReconciles")
	})
})
