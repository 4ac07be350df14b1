package controller

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	indexbuildv1alpha1 "github.com/indexbuild/indexbuild/api/v1alpha1"
	"github.com/indexbuild/indexbuild/internal/testutil"
)

// envtest runs no garbage collector: a Job deleted in the foreground keeps
// its foregroundDeletion finalizer until the test, standing in for the
// collector, takes it off.
var _ = Describe("IndexBuild deletion policy", func() {
	var ns string

	BeforeEach(func() {
		n := newNamespace("ib-deletion-")
		ns = n.Name
	})

	It("Retain: holds no finalizer, so deleting the IndexBuild never waits for the operator", func() {
		ib := testutil.MakeIndexBuild("retained", ns).Obj()
		Expect(k8sClient.Create(ctx, ib)).To(Succeed())
		waitForJob(ns, "retained-1-build")
		Expect(getIndexBuild(Default, ib).Finalizers).To(BeEmpty())
		Expect(k8sClient.Delete(ctx, ib)).To(Succeed())
		Eventually(func() bool {
			return apierrors.IsNotFound(k8sClient.Get(ctx, client.ObjectKeyFromObject(ib), &indexbuildv1alpha1.IndexBuild{}))
		}, timeout, interval).Should(BeTrue())
	})

	It("Delete: stops the task's pods, runs the cleanup pod with the output's credentials, then lets the IndexBuild go", func() {
		optedInSecret(ns, "store-creds")
		ib := testutil.MakeIndexBuild("wiped", ns).DeletionPolicy(indexbuildv1alpha1.DeletionPolicyDelete).OutputSecret("store-creds").Obj()
		Expect(k8sClient.Create(ctx, ib)).To(Succeed())
		build := waitForJob(ns, "wiped-1-build")
		Eventually(func(g Gomega) {
			g.Expect(getIndexBuild(g, ib).Finalizers).To(ContainElement(FinalizerOutputCleanup))
		}, timeout, interval).Should(Succeed())

		Expect(k8sClient.Delete(ctx, ib)).To(Succeed())
		By("deleting the build Job in the foreground, so it goes only once its pods are gone")
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(build), build)).To(Succeed())
			g.Expect(build.DeletionTimestamp).NotTo(BeNil())
			g.Expect(build.Finalizers).To(ContainElement(metav1.FinalizerDeleteDependents))
		}, timeout, interval).Should(Succeed())
		Consistently(func() error {
			return k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: "wiped-1-cleanup"}, &batchv1.Job{})
		}, time.Second, interval).ShouldNot(Succeed(), "cleanup started while a worker could still write")
		Eventually(func(g Gomega) {
			ready := findCondition(getIndexBuild(g, ib), indexbuildv1alpha1.ConditionReady)
			g.Expect(ready.Reason).To(Equal(ReasonDeletingOutput))
			g.Expect(ready.Message).To(ContainSubstring("stopping 1 Job(s)"))
		}, timeout, interval).Should(Succeed())
		collectGarbage(build)

		cleanup := waitForJob(ns, "wiped-1-cleanup")
		c := cleanup.Spec.Template.Spec.Containers[0]
		Expect(c.Args).To(Equal([]string{"delete-output", "--output=" + ib.Spec.Output.URI, "--owner=" + ns + "/wiped"}))
		Expect(c.EnvFrom).To(ContainElement(HaveField("SecretRef.Name", "store-creds")))
		Expect(metav1.IsControlledBy(cleanup, ib)).To(BeTrue())

		updateJobStatus(cleanup, testutil.JobSucceeded)
		Eventually(func() bool {
			return apierrors.IsNotFound(k8sClient.Get(ctx, client.ObjectKeyFromObject(ib), &indexbuildv1alpha1.IndexBuild{}))
		}, timeout, interval).Should(BeTrue())
	})

	It("Delete: a cleanup that fails (retries and deadline spent, e.g. its Secret deleted too) ends the deletion with a Warning Event naming the output", func() {
		// The output's Secret exists when the cleanup starts; the source's
		// is not even judged, as the cleanup pod does not load it.
		optedInSecret(ns, "output-creds")
		ib := testutil.MakeIndexBuild("stuck", ns).DeletionPolicy(indexbuildv1alpha1.DeletionPolicyDelete).Suspend(true).
			SourceSecret("source-creds").OutputSecret("output-creds").SourceClaim("gone-claim").Obj()
		ib.Spec.Source.URI = "file:///data/table"
		Expect(k8sClient.Create(ctx, ib)).To(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(getIndexBuild(g, ib).Finalizers).To(ContainElement(FinalizerOutputCleanup))
		}, timeout, interval).Should(Succeed())
		Expect(k8sClient.Delete(ctx, ib)).To(Succeed())

		cleanup := waitForJob(ns, "stuck-1-cleanup")
		By("loading only the output's Secret and store, with a deadline")
		pod := cleanup.Spec.Template.Spec
		Expect(pod.Containers[0].EnvFrom).To(ConsistOf(HaveField("SecretRef.Name", "output-creds")))
		Expect(pod.Volumes).NotTo(ContainElement(HaveField("Name", "source")))
		Expect(cleanup.Spec.ActiveDeadlineSeconds).To(HaveValue(BeEquivalentTo(cleanupDeadlineSeconds)))

		updateJobStatus(cleanup, func(j *batchv1.Job) {
			testutil.JobFailed(j, batchv1.JobReasonDeadlineExceeded, "Job was active longer than specified deadline")
		})
		Eventually(func() bool {
			return apierrors.IsNotFound(k8sClient.Get(ctx, client.ObjectKeyFromObject(ib), &indexbuildv1alpha1.IndexBuild{}))
		}, timeout, interval).Should(BeTrue())
		expectEvent(ns, "stuck", corev1.EventTypeWarning, ReasonOutputCleanupFailed)
	})

	It("Delete: an output no IndexBuild owns is left alone, and the Warning Event quotes the cleanup pod saying so", func() {
		ib := testutil.MakeIndexBuild("unowned", ns).DeletionPolicy(indexbuildv1alpha1.DeletionPolicyDelete).Suspend(true).Obj()
		Expect(k8sClient.Create(ctx, ib)).To(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(getIndexBuild(g, ib).Finalizers).To(ContainElement(FinalizerOutputCleanup))
		}, timeout, interval).Should(Succeed())
		Expect(k8sClient.Delete(ctx, ib)).To(Succeed())

		cleanup := waitForJob(ns, "unowned-1-cleanup")
		// What `indexbuild delete-output --owner` says of a root without
		// _owner.json (internal/output: NotOwnedError), exit 5.
		said := "indexbuild delete-output: OutputInUse: output " + ib.Spec.Output.URI + " has no _owner.json, so no IndexBuild owns it and IndexBuild " + ns + "/unowned leaves it as it is"
		terminatedPod(cleanup, "unowned-1-cleanup-a", 5, said)
		updateJobStatus(cleanup, func(j *batchv1.Job) {
			testutil.JobFailedByPodFailurePolicy(j, "unowned-1-cleanup-a", containerCleanup, 5, 2)
		})
		Eventually(func() bool {
			return apierrors.IsNotFound(k8sClient.Get(ctx, client.ObjectKeyFromObject(ib), &indexbuildv1alpha1.IndexBuild{}))
		}, timeout, interval).Should(BeTrue())
		Eventually(func(g Gomega) {
			var events eventsv1.EventList
			g.Expect(k8sClient.List(ctx, &events, client.InNamespace(ns))).To(Succeed())
			var notes []string
			for _, e := range events.Items {
				if e.Regarding.Name == "unowned" && e.Reason == ReasonOutputCleanupFailed {
					notes = append(notes, e.Type+": "+e.Note)
				}
			}
			g.Expect(notes).To(ContainElement(SatisfyAll(HavePrefix(corev1.EventTypeWarning),
				ContainSubstring("output "+ib.Spec.Output.URI+" was not deleted and is left as it is"), ContainSubstring("has no _owner.json"))))
		}, timeout, interval).Should(Succeed())
	})

	It("Delete: in a namespace being deleted, where no cleanup pod can run, the IndexBuild goes (the Warning Event is refused there too)", func() {
		ib := testutil.MakeIndexBuild("doomed", ns).DeletionPolicy(indexbuildv1alpha1.DeletionPolicyDelete).Suspend(true).Obj()
		Expect(k8sClient.Create(ctx, ib)).To(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(getIndexBuild(g, ib).Finalizers).To(ContainElement(FinalizerOutputCleanup))
		}, timeout, interval).Should(Succeed())
		// envtest runs no namespace controller: the namespace stays
		// Terminating, and the API refuses new objects in it.
		Expect(k8sClient.Delete(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})).To(Succeed())
		Expect(k8sClient.Delete(ctx, ib)).To(Succeed()) // as the namespace controller would
		Eventually(func() bool {
			return apierrors.IsNotFound(k8sClient.Get(ctx, client.ObjectKeyFromObject(ib), &indexbuildv1alpha1.IndexBuild{}))
		}, timeout, interval).Should(BeTrue())
		Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: "doomed-1-cleanup"}, &batchv1.Job{})).NotTo(Succeed())
	})

	It("drops the finalizer when the policy goes back to Retain", func() {
		ib := testutil.MakeIndexBuild("changed-mind", ns).DeletionPolicy(indexbuildv1alpha1.DeletionPolicyDelete).Suspend(true).Obj()
		Expect(k8sClient.Create(ctx, ib)).To(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(getIndexBuild(g, ib).Finalizers).To(ContainElement(FinalizerOutputCleanup))
		}, timeout, interval).Should(Succeed())
		patchSpec(ib, func(ib *indexbuildv1alpha1.IndexBuild) {
			ib.Spec.Output.DeletionPolicy = indexbuildv1alpha1.DeletionPolicyRetain
		})
		Eventually(func(g Gomega) {
			g.Expect(getIndexBuild(g, ib).Finalizers).NotTo(ContainElement(FinalizerOutputCleanup))
		}, timeout, interval).Should(Succeed())
	})
})

var _ = Describe("IndexBuild recreated under the same name", func() {
	var ns string

	BeforeEach(func() {
		n := newNamespace("ib-recreate-")
		ns = n.Name
	})

	It("waits out the previous object's Jobs until they are collected, then builds (kubectl replace --force)", func() {
		old := testutil.MakeIndexBuild("phoenix", ns).Obj()
		Expect(k8sClient.Create(ctx, old)).To(Succeed())
		oldBuild := waitForJob(ns, "phoenix-1-build")
		Expect(k8sClient.Delete(ctx, old)).To(Succeed())
		Eventually(func() bool {
			return apierrors.IsNotFound(k8sClient.Get(ctx, client.ObjectKeyFromObject(old), &indexbuildv1alpha1.IndexBuild{}))
		}, timeout, interval).Should(BeTrue())

		recreated := testutil.MakeIndexBuild("phoenix", ns).Obj()
		Expect(k8sClient.Create(ctx, recreated)).To(Succeed())
		expectReadyReason(recreated, indexbuildv1alpha1.PhasePending, ReasonPreviousJobs, timeout, "phoenix-1-build")
		Consistently(func(g Gomega) {
			g.Expect(getIndexBuild(g, recreated).Status.Phase).NotTo(Equal(indexbuildv1alpha1.PhaseFailed))
		}, time.Second, interval).Should(Succeed())

		By("the garbage collector removing the old Job")
		Expect(k8sClient.Delete(ctx, oldBuild, client.PropagationPolicy(metav1.DeletePropagationBackground))).To(Succeed())
		Eventually(func(g Gomega) {
			job := &batchv1.Job{}
			g.Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: "phoenix-1-build"}, job)).To(Succeed())
			g.Expect(metav1.IsControlledBy(job, getIndexBuild(g, recreated))).To(BeTrue())
			g.Expect(getIndexBuild(g, recreated).Status.Phase).To(Equal(indexbuildv1alpha1.PhaseBuilding))
		}, timeout, interval).Should(Succeed())
	})

	It("waits for a same-named Job that is being deleted", func() {
		other := testutil.MakeIndexBuild("lingering", ns).Obj()
		job := newBuildJob(other, podDefaults{image: builderName})
		job.OwnerReferences = nil
		job.Finalizers = []string{"test.indexbuild.dev/hold"}
		Expect(k8sClient.Create(ctx, job)).To(Succeed())
		Expect(k8sClient.Delete(ctx, job, client.PropagationPolicy(metav1.DeletePropagationBackground))).To(Succeed())

		ib := testutil.MakeIndexBuild("lingering", ns).Obj()
		Expect(k8sClient.Create(ctx, ib)).To(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(findCondition(getIndexBuild(g, ib), indexbuildv1alpha1.ConditionReady).Reason).To(Equal(ReasonPreviousJobs))
		}, timeout, interval).Should(Succeed())

		collectGarbage(job, "test.indexbuild.dev/hold")
		Eventually(func(g Gomega) {
			g.Expect(getIndexBuild(g, ib).Status.Phase).To(Equal(indexbuildv1alpha1.PhaseBuilding))
		}, timeout, interval).Should(Succeed())
	})
})

// collectGarbage finishes the deletion of a Job as the garbage collector
// would: it takes off the finalizers it waits on (foregroundDeletion unless
// others are named).
func collectGarbage(job *batchv1.Job, finalizers ...string) {
	if len(finalizers) == 0 {
		finalizers = []string{metav1.FinalizerDeleteDependents}
	}
	Expect(retry.RetryOnConflict(retry.DefaultRetry, func() error {
		if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(job), job); err != nil {
			return client.IgnoreNotFound(err)
		}
		for _, f := range finalizers {
			controllerutil.RemoveFinalizer(job, f)
		}
		return k8sClient.Update(ctx, job)
	})).To(Succeed())
	Eventually(func() bool {
		return apierrors.IsNotFound(k8sClient.Get(ctx, client.ObjectKeyFromObject(job), &batchv1.Job{}))
	}, timeout, interval).Should(BeTrue())
}
