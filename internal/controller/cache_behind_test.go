package controller

import (
	"context"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	batchv1 "k8s.io/api/batch/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	indexbuildv1alpha1 "github.com/indexbuild/indexbuild/api/v1alpha1"
	"github.com/indexbuild/indexbuild/internal/testutil"
)

// laggingIndexBuildClient serves one IndexBuild from an old snapshot, the way
// the manager's cache does for a moment after the controller's own status
// write, and everything else as it is.
type laggingIndexBuildClient struct {
	client.Client
	snapshot *indexbuildv1alpha1.IndexBuild
}

func (c laggingIndexBuildClient) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	if ib, ok := obj.(*indexbuildv1alpha1.IndexBuild); ok && key == client.ObjectKeyFromObject(c.snapshot) {
		c.snapshot.DeepCopyInto(ib)
		return nil
	}
	return c.Client.Get(ctx, key, obj, opts...)
}

// Regression: a reconcile triggered by the deletion of a failed build's Job
// read the IndexBuild from a cache that had not seen the Failed status yet,
// created a new build Job and overwrote Failed with Building.
var _ = Describe("IndexBuild controller with a cache behind the API", func() {
	It("changes no Job and keeps the terminal status when its cached copy is old", func() {
		n := newNamespace("ib-cache-behind-")
		ib := testutil.MakeIndexBuild("lagging", n.Name).Obj()
		Expect(k8sClient.Create(ctx, ib)).To(Succeed())
		build := waitForJob(n.Name, "lagging-1-build")
		var snapshot *indexbuildv1alpha1.IndexBuild
		Eventually(func(g Gomega) {
			snapshot = getIndexBuild(g, ib)
			g.Expect(snapshot.Status.Phase).To(Equal(indexbuildv1alpha1.PhaseBuilding))
		}, timeout, interval).Should(Succeed())

		updateJobStatus(build, func(j *batchv1.Job) { testutil.JobFailedByPodFailurePolicy(j, "p", containerWorker, 3, 0) })
		Eventually(func(g Gomega) {
			g.Expect(getIndexBuild(g, ib).Status.Phase).To(Equal(indexbuildv1alpha1.PhaseFailed))
		}, timeout, interval).Should(Succeed())
		Expect(k8sClient.Delete(ctx, build, client.PropagationPolicy(metav1.DeletePropagationBackground))).To(Succeed())
		Eventually(func(g Gomega) {
			var jobs batchv1.JobList
			g.Expect(cachedClient.List(ctx, &jobs, client.InNamespace(n.Name))).To(Succeed())
			g.Expect(jobs.Items).To(BeEmpty())
		}, timeout, interval).Should(Succeed())

		lagging := NewIndexBuildReconciler(testManager, Options{BuilderImage: builderName})
		lagging.Client = laggingIndexBuildClient{Client: cachedClient, snapshot: snapshot}
		res, err := lagging.Reconcile(ctx, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(ib)})
		Expect(err).NotTo(HaveOccurred())
		Expect(res.RequeueAfter).To(BeNumerically(">", 0), "a reconcile from a lagging cache comes back once the cache caught up")

		var jobs batchv1.JobList
		Expect(k8sClient.List(ctx, &jobs, client.InNamespace(n.Name))).To(Succeed())
		Expect(jobs.Items).To(BeEmpty(), "a Job was created for a failed build")
		Eventually(func(g Gomega) {
			g.Expect(getIndexBuild(g, ib).Status.Phase).To(Equal(indexbuildv1alpha1.PhaseFailed))
		}, timeout, interval).Should(Succeed())
	})
})
