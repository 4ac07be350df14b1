package controller

import (
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	batchv1 "k8s.io/api/batch/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	indexbuildv1alpha1 "github.com/indexbuild/indexbuild/api/v1alpha1"
	"github.com/indexbuild/indexbuild/internal/testutil"
)

func TestTTLCheckAfter(t *testing.T) {
	done := time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)
	ib := testutil.MakeIndexBuild("b", "ns").TTLSecondsAfterFinished(60).Obj()
	ib.Status.Phase = indexbuildv1alpha1.PhaseBuilding
	if d := ttlCheckAfter(ib, done); d != 0 {
		t.Fatalf("a running build has no TTL wake-up: %v", d)
	}
	ib.Status.Phase = indexbuildv1alpha1.PhaseSucceeded
	ib.Status.CompletionTime = &metav1.Time{Time: done}
	if d := ttlCheckAfter(ib, done.Add(20*time.Second)); d != 40*time.Second {
		t.Fatalf("ttlCheckAfter = %v, want 40s", d)
	}
	if d := ttlCheckAfter(ib, done.Add(time.Minute)); d != 0 {
		t.Fatalf("an expired TTL needs no further wake-up: %v", d)
	}
}

var _ = Describe("ttlSecondsAfterFinished", func() {
	It("removes a finished build's Jobs and pods, never the IndexBuild", func() {
		n := newNamespace("ib-ttl-")
		ib := testutil.MakeIndexBuild("short", n.Name).TTLSecondsAfterFinished(600).Obj()
		Expect(k8sClient.Create(ctx, ib)).To(Succeed())
		updateJobStatus(waitForJob(n.Name, "short-1-build"), testutil.JobSucceeded)
		updateJobStatus(waitForJob(n.Name, "short-1-merge"), testutil.JobSucceeded)
		finalize := waitForJob(n.Name, "short-1-finalize")
		updateJobStatus(finalize, testutil.JobSucceeded)
		Eventually(func(g Gomega) {
			got := getIndexBuild(g, ib)
			g.Expect(got.Status.Phase).To(Equal(indexbuildv1alpha1.PhaseSucceeded))
			g.Expect(got.Status.CompletionTime).NotTo(BeNil())
		}, timeout, interval).Should(Succeed())

		By("keeping the Jobs until the TTL passed, and coming back when it does")
		res := reconcileNow(ib)
		Expect(res.RequeueAfter).To(BeNumerically("~", 600*time.Second, 30*time.Second))
		Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(finalize), &batchv1.Job{})).To(Succeed())
		var kept batchv1.JobList
		Expect(k8sClient.List(ctx, &kept, client.InNamespace(n.Name))).To(Succeed())
		Expect(kept.Items).To(HaveLen(3), "build, merge and finalize")

		By("removing them once it passed")
		suiteClock.skip(601 * time.Second)
		reconcileNow(ib)
		var jobs batchv1.JobList
		Expect(k8sClient.List(ctx, &jobs, client.InNamespace(n.Name))).To(Succeed())
		for _, j := range jobs.Items {
			// envtest runs no garbage collector: a deleted Job is one with a
			// deletion timestamp, or gone.
			Expect(j.DeletionTimestamp).NotTo(BeNil(), "Job %s still there", j.Name)
		}

		got := &indexbuildv1alpha1.IndexBuild{}
		Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(ib), got)).To(Succeed())
		Expect(got.DeletionTimestamp).To(BeNil())
		Expect(got.Status.Phase).To(Equal(indexbuildv1alpha1.PhaseSucceeded))
		expectQuiet(ib)
	})
})

// reconcileNow runs the suite's reconciler on ib at once, as a timer would
// later, once its cache holds ib as the API does (the freshness gate would
// send it back otherwise).
func reconcileNow(ib *indexbuildv1alpha1.IndexBuild) reconcile.Result {
	GinkgoHelper()
	var res reconcile.Result
	Eventually(func(g Gomega) {
		var err error
		res, err = suiteReconciler.Reconcile(ctx, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(ib)})
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(res.RequeueAfter).NotTo(Equal(cacheBehindRetry), "the cache is behind")
	}, timeout, interval).Should(Succeed())
	return res
}
