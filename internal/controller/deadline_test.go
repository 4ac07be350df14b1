package controller

import (
	"strings"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	indexbuildv1alpha1 "github.com/indexbuild/indexbuild/api/v1alpha1"
	"github.com/indexbuild/indexbuild/internal/testutil"
)

func TestCheckDeadline(t *testing.T) {
	start := time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)
	ib := testutil.MakeIndexBuild("b", "ns").ActiveDeadlineSeconds(60).Obj()
	if _, exceeded := checkDeadline(ib, start.Add(time.Hour)); exceeded {
		t.Fatal("a task not yet recorded has no deadline")
	}
	ib.Status.Task = &indexbuildv1alpha1.TaskStatus{StartTime: &metav1.Time{Time: start}}
	ib.Status.Phase = indexbuildv1alpha1.PhaseBuilding
	if _, exceeded := checkDeadline(ib, start.Add(59*time.Second)); exceeded {
		t.Fatal("exceeded before the deadline")
	}
	if d := deadlineCheckAfter(ib, start.Add(59*time.Second)); d != time.Second {
		t.Fatalf("deadlineCheckAfter = %v, want 1s", d)
	}
	msg, exceeded := checkDeadline(ib, start.Add(60*time.Second))
	if !exceeded || !strings.Contains(msg, "spec.activeDeadlineSeconds=60") || !strings.Contains(msg, "deadline 2026-11-21T12:01:00Z") {
		t.Fatalf("checkDeadline = %q, %v", msg, exceeded)
	}
	ib.Status.Phase = indexbuildv1alpha1.PhaseFailed
	if d := deadlineCheckAfter(ib, start); d != 0 {
		t.Fatalf("a finished task is not woken for its deadline: %v", d)
	}
	if d := deadlineCheckAfter(testutil.MakeIndexBuild("b", "ns").Obj(), start); d != 0 {
		t.Fatalf("no deadline, no wake-up: %v", d)
	}
}

func TestFinalizeDeadlineReachesTheJob(t *testing.T) {
	ib := testutil.MakeIndexBuild("b", "ns").FinalizeDeadlineSeconds(300).Obj()
	if d := newFinalizeJob(ib, "img").Spec.ActiveDeadlineSeconds; d == nil || *d != 300 {
		t.Fatalf("finalize activeDeadlineSeconds = %v", d)
	}
	if d := newBuildJob(ib, "img").Spec.ActiveDeadlineSeconds; d != nil {
		t.Fatalf("the build Job got a deadline of its own: %v (a suspended Job's deadline restarts)", *d)
	}
}

var _ = Describe("Deadlines", func() {
	var ns string
	BeforeEach(func() {
		n := newNamespace("ib-deadline-")
		ns = n.Name
	})

	expectDeadlineExceeded := func(ib *indexbuildv1alpha1.IndexBuild, message string) {
		GinkgoHelper()
		Eventually(func(g Gomega) {
			got := getIndexBuild(g, ib)
			g.Expect(got.Status.Phase).To(Equal(indexbuildv1alpha1.PhaseFailed))
			ready := findCondition(got, indexbuildv1alpha1.ConditionReady)
			g.Expect(ready.Reason).To(Equal(ReasonDeadlineExceeded))
			g.Expect(ready.Message).To(ContainSubstring(message))
			g.Expect(conditionStatus(got, indexbuildv1alpha1.ConditionStalled)).To(Equal(metav1.ConditionTrue))
		}, timeout, interval).Should(Succeed())
		expectEvent(ib.Namespace, ib.Name, corev1.EventTypeWarning, ReasonDeadlineExceeded)
	}

	It("ends a build past spec.activeDeadlineSeconds and stops its workers", func() {
		ib := testutil.MakeIndexBuild("slow", ns).ActiveDeadlineSeconds(2).Obj()
		Expect(k8sClient.Create(ctx, ib)).To(Succeed())
		build := waitForJob(ns, "slow-1-build")
		updateJobStatus(build, func(j *batchv1.Job) { testutil.JobRunning(j, 4, "0") })

		expectDeadlineExceeded(ib, "spec.activeDeadlineSeconds=2")
		Eventually(func() bool {
			return apierrors.IsNotFound(k8sClient.Get(ctx, client.ObjectKeyFromObject(build), &batchv1.Job{}))
		}, timeout, interval).Should(BeTrue())
		expectQuiet(ib)
	})

	It("ends a build whose finalize ran past its deadline", func() {
		ib := testutil.MakeIndexBuild("commit", ns).FinalizeDeadlineSeconds(30).Obj()
		Expect(k8sClient.Create(ctx, ib)).To(Succeed())
		updateJobStatus(waitForJob(ns, "commit-1-build"), testutil.JobSucceeded)
		finalize := waitForJob(ns, "commit-1-finalize")
		Expect(*finalize.Spec.ActiveDeadlineSeconds).To(Equal(int64(30)))
		updateJobStatus(finalize, func(j *batchv1.Job) {
			testutil.JobFailed(j, batchv1.JobReasonDeadlineExceeded, "Job was active longer than specified deadline")
		})
		expectDeadlineExceeded(ib, "Job was active longer than specified deadline")
		expectQuiet(ib)
	})
})
