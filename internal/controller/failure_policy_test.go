package controller

import (
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	batchv1 "k8s.io/api/batch/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	indexbuildv1alpha1 "github.com/indexbuild/indexbuild/api/v1alpha1"
	"github.com/indexbuild/indexbuild/internal/testutil"
)

func TestRestartDecision(t *testing.T) {
	failedJob := &batchv1.Job{ObjectMeta: metav1.ObjectMeta{UID: types.UID("job-1")}}
	for _, tc := range []struct {
		name     string
		max      int32
		restarts int32
		lastUID  types.UID
		reason   string
		want     bool
	}{
		{"out of retries, restarts left", 2, 1, "", ReasonBackoffLimitExceeded, true},
		{"out of retries, none left", 2, 2, "", ReasonBackoffLimitExceeded, false},
		{"no failure policy", 0, 0, "", ReasonBackoffLimitExceeded, false},
		{"stale metadata is never restarted", 5, 0, "", ReasonStaleMeta, false},
		{"bad input is never restarted", 5, 0, "", ReasonInvalidInput, false},
		{"a foreign output is never restarted", 5, 0, "", ReasonOutputInUse, false},
		{"a deadline is never restarted", 5, 0, "", "DeadlineExceeded", false},
		{"the same failed Job, counted already, even with none left", 1, 1, "job-1", ReasonBackoffLimitExceeded, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ib := testutil.MakeIndexBuild("b", "ns").MaxRestarts(tc.max).Obj()
			ib.Status.Restarts = tc.restarts
			if tc.lastUID != "" {
				ib.Status.LastRestart = &indexbuildv1alpha1.RestartStatus{JobUID: tc.lastUID}
			}
			if got := restarts(&snapshot{ib: ib}, failedJob, jobOutcome{Failed: true, Reason: tc.reason}); got != tc.want {
				t.Errorf("restarts = %v, want %v", got, tc.want)
			}
		})
	}
}

var _ = Describe("Failure policy", func() {
	var ns string
	BeforeEach(func() { ns = newNamespace("ib-restart-").Name })

	jobUID := func(name string) types.UID {
		GinkgoHelper()
		var uid types.UID
		Eventually(func(g Gomega) {
			job := &batchv1.Job{}
			g.Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, job)).To(Succeed())
			uid = job.UID
		}, timeout, interval).Should(Succeed())
		return uid
	}
	newJobReplaces := func(name string, old types.UID) *batchv1.Job {
		GinkgoHelper()
		job := &batchv1.Job{}
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, job)).To(Succeed())
			g.Expect(job.UID).NotTo(Equal(old))
		}, timeout, interval).Should(Succeed())
		return job
	}

	It("recreates a build Job that ran out of retries under the same task, maxRestarts times, then fails", func() {
		ib := testutil.MakeIndexBuild("flaky", ns).Partitions(4).MaxRestarts(1).Obj()
		Expect(k8sClient.Create(ctx, ib)).To(Succeed())
		first := waitForJob(ns, "flaky-1-build")
		updateJobStatus(first, func(j *batchv1.Job) {
			testutil.JobRunning(j, 0, "0,1,3")
			testutil.JobIndexesFailed(j, "2")
		})

		second := newJobReplaces("flaky-1-build", first.UID)
		Expect(second.Labels[LabelJobID]).To(Equal("1"), "the restart runs the same task")
		Eventually(func(g Gomega) {
			got := getIndexBuild(g, ib)
			g.Expect(got.Status.Phase).To(Equal(indexbuildv1alpha1.PhaseBuilding))
			g.Expect(got.Status.Restarts).To(Equal(int32(1)))
			g.Expect(got.Status.LastRestart).NotTo(BeNil())
			g.Expect(got.Status.LastRestart.Reason).To(Equal(ReasonBackoffLimitExceeded))
			g.Expect(got.Status.LastRestart.JobUID).To(Equal(first.UID))
		}, timeout, interval).Should(Succeed())

		By("the second Job out of retries too: no restarts left, Failed")
		updateJobStatus(second, func(j *batchv1.Job) { testutil.JobIndexesFailed(j, "2") })
		expectReadyReason(ib, indexbuildv1alpha1.PhaseFailed, ReasonBackoffLimitExceeded, timeout)
		Consistently(func(g Gomega) {
			g.Expect(jobUID("flaky-1-build")).To(Equal(second.UID))
			g.Expect(getIndexBuild(g, ib).Status.Restarts).To(Equal(int32(1)))
		}, quietPeriod, interval).Should(Succeed())

		By("kubectl indexbuild retry --failed raises maxRestarts: one more restart")
		patchSpec(ib, func(ib *indexbuildv1alpha1.IndexBuild) { ib.Spec.FailurePolicy.MaxRestarts = 2 })
		newJobReplaces("flaky-1-build", second.UID)
		Eventually(func(g Gomega) {
			got := getIndexBuild(g, ib)
			g.Expect(got.Status.Phase).To(Equal(indexbuildv1alpha1.PhaseBuilding))
			g.Expect(got.Status.Restarts).To(Equal(int32(2)))
			g.Expect(got.Status.LastRestart.JobUID).To(Equal(second.UID))
		}, timeout, interval).Should(Succeed())
	})

	It("never restarts stale metadata or bad input", func() {
		for i, code := range []int32{3, 4} {
			name := []string{"stale", "bad"}[i]
			ib := testutil.MakeIndexBuild(name, ns).MaxRestarts(3).Obj()
			Expect(k8sClient.Create(ctx, ib)).To(Succeed())
			job := waitForJob(ns, name+"-1-build")
			updateJobStatus(job, func(j *batchv1.Job) { testutil.JobFailedByPodFailurePolicy(j, "p", containerWorker, code, 1) })
			expectReadyReason(ib, indexbuildv1alpha1.PhaseFailed, []string{ReasonStaleMeta, ReasonInvalidInput}[i], timeout)
			Consistently(func(g Gomega) {
				g.Expect(getIndexBuild(g, ib).Status.Restarts).To(BeZero())
				g.Expect(jobUID(name + "-1-build")).To(Equal(job.UID))
			}, quietPeriod, interval).Should(Succeed())
		}
	})
})
