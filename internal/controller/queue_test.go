package controller

import (
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	batchv1 "k8s.io/api/batch/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	indexbuildv1alpha1 "github.com/indexbuild/indexbuild/api/v1alpha1"
	"github.com/indexbuild/indexbuild/internal/testutil"
)

func TestQueueLabelsAreCopied(t *testing.T) {
	ib := testutil.MakeIndexBuild("b", "ns").Label(LabelQueueName, "team-a").Label(LabelPriorityClass, "low").Label("other", "x").
		Label(LabelMaxExecTime, "3600").Obj()
	ib.Annotations = map[string]string{AnnotationMinParallelism: "2"}
	for _, job := range stageJobs(ib, podDefaults{image: "img"}) {
		if job.Labels[LabelQueueName] != "team-a" || job.Labels[LabelPriorityClass] != "low" || job.Labels["other"] != "" ||
			job.Labels[LabelMaxExecTime] != "3600" {
			t.Errorf("%s: labels %v", job.Name, job.Labels)
		}
		// Partial admission is for the build's parallel pods only.
		if got, want := job.Annotations[AnnotationMinParallelism], map[string]string{RoleBuild: "2"}[job.Labels[LabelRole]]; got != want {
			t.Errorf("%s: %s = %q, want %q", job.Name, AnnotationMinParallelism, got, want)
		}
		if !ptr.Deref(job.Spec.Suspend, false) {
			t.Errorf("%s: a queued Job must be created suspended", job.Name)
		}
	}
	plain := newBuildJob(testutil.MakeIndexBuild("b", "ns").Obj(), podDefaults{image: "img"})
	if _, ok := plain.Labels[LabelQueueName]; ok || ptr.Deref(plain.Spec.Suspend, false) {
		t.Errorf("an unqueued Job: labels %v suspend %v", plain.Labels, plain.Spec.Suspend)
	}
}

// kueue does to a Job what Kueue's controller does: admission injects the
// flavor's node selector into the (suspended) template and un-suspends;
// preemption suspends again. Kueue itself is not available to the tests.
type kueue struct{}

func (kueue) edit(job *batchv1.Job, mutate func(*batchv1.Job)) {
	GinkgoHelper()
	Expect(retry.RetryOnConflict(retry.DefaultRetry, func() error {
		if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(job), job); err != nil {
			return err
		}
		mutate(job)
		return k8sClient.Update(ctx, job)
	})).To(Succeed())
}

func (k kueue) admit(job *batchv1.Job) {
	k.edit(job, func(j *batchv1.Job) {
		j.Spec.Template.Spec.NodeSelector = map[string]string{"cloud.example.com/flavor": "spot"}
	})
	k.edit(job, func(j *batchv1.Job) { j.Spec.Suspend = ptr.To(false) })
}

func (k kueue) preempt(job *batchv1.Job) {
	k.edit(job, func(j *batchv1.Job) { j.Spec.Suspend = ptr.To(true) })
	updateJobStatus(job, func(j *batchv1.Job) {
		testutil.JobRunning(j, 0, j.Status.CompletedIndexes)
		j.Status.Ready = ptr.To[int32](0)
	})
}

var _ = Describe("Kueue", func() {
	It("under manageJobsWithoutQueueName, leaves a Job Kueue suspended to Kueue, and resumes only its own suspension", func() {
		n := newNamespace("ib-kueue-managed-")
		ib := testutil.MakeIndexBuild("unlabelled", n.Name).Obj()
		Expect(k8sClient.Create(ctx, ib)).To(Succeed())
		build := waitForJob(n.Name, "unlabelled-1-build")
		Expect(ptr.Deref(build.Spec.Suspend, false)).To(BeFalse())

		By("Kueue suspends the Job it manages: the operator does not un-suspend it, and says why the build waits")
		var q kueue
		q.edit(build, func(j *batchv1.Job) { j.Spec.Suspend = ptr.To(true) })
		expectReadyReason(ib, indexbuildv1alpha1.PhaseBuilding, ReasonQueued, timeout, "suspended by another controller")
		Consistently(func(g Gomega) {
			got := &batchv1.Job{}
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(build), got)).To(Succeed())
			g.Expect(ptr.Deref(got.Spec.Suspend, false)).To(BeTrue())
		}, quietPeriod, interval).Should(Succeed())

		By("Kueue admits it; spec.suspend suspends and resumes it as the operator's own")
		q.edit(build, func(j *batchv1.Job) { j.Spec.Suspend = ptr.To(false) })
		patchSpec(ib, func(ib *indexbuildv1alpha1.IndexBuild) { ib.Spec.Suspend = true })
		Eventually(func(g Gomega) {
			got := &batchv1.Job{}
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(build), got)).To(Succeed())
			g.Expect(ptr.Deref(got.Spec.Suspend, false)).To(BeTrue())
			g.Expect(got.Annotations).To(HaveKeyWithValue(AnnotationSuspendedByOperator, "true"))
		}, timeout, interval).Should(Succeed())
		patchSpec(ib, func(ib *indexbuildv1alpha1.IndexBuild) { ib.Spec.Suspend = false })
		Eventually(func(g Gomega) {
			got := &batchv1.Job{}
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(build), got)).To(Succeed())
			g.Expect(ptr.Deref(got.Spec.Suspend, false)).To(BeFalse())
			g.Expect(got.Annotations).NotTo(HaveKey(AnnotationSuspendedByOperator))
		}, timeout, interval).Should(Succeed())
	})

	It("does not count time queued towards spec.activeDeadlineSeconds", func() {
		n := newNamespace("ib-kueue-deadline-")
		ib := testutil.MakeIndexBuild("waits", n.Name).Label(LabelQueueName, "busy").ActiveDeadlineSeconds(600).Obj()
		Expect(k8sClient.Create(ctx, ib)).To(Succeed())
		build := waitForJob(n.Name, "waits-1-build")
		expectReadyReason(ib, indexbuildv1alpha1.PhaseBuilding, ReasonQueued, timeout)

		By("an hour in the queue: still queued, not DeadlineExceeded")
		suiteClock.skip(time.Hour)
		reconcileNow(ib)
		expectReadyReason(ib, indexbuildv1alpha1.PhaseBuilding, ReasonQueued, timeout)

		By("admitted, then running past the deadline: DeadlineExceeded")
		var q kueue
		q.admit(build)
		updateJobStatus(build, func(j *batchv1.Job) {
			testutil.JobRunning(j, 4, "")
			j.Status.StartTime = &metav1.Time{Time: suiteClock.Now()}
			j.Status.Ready = ptr.To[int32](4)
		})
		expectReadyReason(ib, indexbuildv1alpha1.PhaseBuilding, ReasonBuilding, timeout)
		Expect(reconcileNow(ib).RequeueAfter).To(BeNumerically("<=", 600*time.Second))
		suiteClock.skip(601 * time.Second)
		reconcileNow(ib)
		expectReadyReason(ib, indexbuildv1alpha1.PhaseFailed, ReasonDeadlineExceeded, timeout, "spec.activeDeadlineSeconds=600", "time queued or suspended does not count")
	})

	It("leaves admission, preemption and the admitted template to the queue", func() {
		n := newNamespace("ib-kueue-")
		ib := testutil.MakeIndexBuild("queued", n.Name).Label(LabelQueueName, "team-a").Label(LabelPriorityClass, "low").Obj()
		Expect(k8sClient.Create(ctx, ib)).To(Succeed())
		expectReason := func(phase indexbuildv1alpha1.Phase, reason string) {
			GinkgoHelper()
			Eventually(func(g Gomega) {
				got := getIndexBuild(g, ib)
				g.Expect(got.Status.Phase).To(Equal(phase))
				g.Expect(findCondition(got, indexbuildv1alpha1.ConditionReady).Reason).To(Equal(reason))
			}, timeout, interval).Should(Succeed())
		}
		stays := func(job *batchv1.Job, suspended bool) {
			GinkgoHelper()
			Consistently(func(g Gomega) {
				got := &batchv1.Job{}
				g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(job), got)).To(Succeed())
				g.Expect(ptr.Deref(got.Spec.Suspend, false)).To(Equal(suspended))
				if !suspended {
					g.Expect(got.Spec.Template.Spec.NodeSelector).To(HaveKeyWithValue("cloud.example.com/flavor", "spot"))
				}
			}, quietPeriod, interval).Should(Succeed())
		}
		var q kueue

		build := waitForJob(n.Name, "queued-1-build")
		Expect(build.Labels).To(SatisfyAll(HaveKeyWithValue(LabelQueueName, "team-a"), HaveKeyWithValue(LabelPriorityClass, "low")))
		Expect(*build.Spec.Suspend).To(BeTrue())
		expectReason(indexbuildv1alpha1.PhaseBuilding, ReasonQueued)
		stays(build, true)

		By("admission: the operator neither suspends the Job again nor undoes the injected node selector")
		q.admit(build)
		updateJobStatus(build, func(j *batchv1.Job) {
			testutil.JobRunning(j, 4, "0")
			j.Status.Ready = ptr.To[int32](4)
		})
		expectReason(indexbuildv1alpha1.PhaseBuilding, ReasonBuilding)
		stays(build, false)

		By("preemption: the build waits in the queue again, not failed, not resumed by the operator")
		q.preempt(build)
		expectReason(indexbuildv1alpha1.PhaseBuilding, ReasonQueued)
		stays(build, true)

		By("readmission and the rest of the build")
		q.admit(build)
		updateJobStatus(build, testutil.JobSucceeded)

		By("the merge Job waits in the same queue")
		merge := waitForJob(n.Name, "queued-1-merge")
		Expect(merge.Labels).To(SatisfyAll(HaveKeyWithValue(LabelQueueName, "team-a"), HaveKeyWithValue(LabelPriorityClass, "low")))
		Expect(*merge.Spec.Suspend).To(BeTrue())
		expectReason(indexbuildv1alpha1.PhaseMerging, ReasonQueued)
		stays(merge, true)
		q.admit(merge)
		expectReason(indexbuildv1alpha1.PhaseMerging, ReasonMerging)
		updateJobStatus(merge, testutil.JobSucceeded)

		finalize := waitForJob(n.Name, "queued-1-finalize")
		Expect(finalize.Labels).To(HaveKeyWithValue(LabelQueueName, "team-a"))
		expectReason(indexbuildv1alpha1.PhaseFinalizing, ReasonQueued)
		q.admit(finalize)
		updateJobStatus(finalize, testutil.JobSucceeded)
		expectReason(indexbuildv1alpha1.PhaseSucceeded, ReasonCommitted)
	})
})
