package controller

import (
	"slices"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/indexbuild/indexbuild/internal/testutil"
)

func TestHeldPods(t *testing.T) {
	now := time.Date(2026, 12, 5, 4, 0, 0, 0, time.UTC)
	pod := func(name string, phase corev1.PodPhase, deletedAgo time.Duration, finalizers ...string) corev1.Pod {
		p := corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Finalizers: finalizers}, Status: corev1.PodStatus{Phase: phase}}
		if deletedAgo >= 0 {
			p.DeletionTimestamp = &metav1.Time{Time: now.Add(-deletedAgo)}
		}
		return p
	}
	const notDeleted = -1
	tracking := batchv1.JobTrackingFinalizer
	cases := map[string]struct {
		pods []corev1.Pod
		want []string
	}{
		"failed, deleted past the grace, finalizer kept": {
			[]corev1.Pod{pod("p0", corev1.PodFailed, heldPodGrace, tracking)}, []string{"p0"}},
		"succeeded, held the same way": {
			[]corev1.Pod{pod("p0", corev1.PodSucceeded, time.Minute, "other", tracking)}, []string{"p0"}},
		"within the grace: the Job controller is on it": {
			[]corev1.Pod{pod("p0", corev1.PodFailed, heldPodGrace-time.Second, tracking)}, nil},
		"still running: it is stopping": {
			[]corev1.Pod{pod("p0", corev1.PodRunning, time.Minute, tracking)}, nil},
		"not deleted": {
			[]corev1.Pod{pod("p0", corev1.PodFailed, notDeleted, tracking)}, nil},
		"finalizer taken off": {
			[]corev1.Pod{pod("p0", corev1.PodFailed, time.Minute, "other")}, nil},
		"only the held ones": {
			[]corev1.Pod{pod("p0", corev1.PodFailed, time.Minute, tracking), pod("p1", corev1.PodPending, notDeleted), pod("p2", corev1.PodFailed, time.Minute, tracking)},
			[]string{"p0", "p2"}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if got := heldPods(tc.pods, now); !slices.Equal(got, tc.want) {
				t.Fatalf("heldPods = %v, want %v", got, tc.want)
			}
		})
	}
}

var _ = Describe("A namespace being deleted", func() {
	// holdPod makes the pod the Job controller keeps on Kubernetes 1.37: it
	// never started a container, ended Failed, was deleted, and still has
	// the Job controller's tracking finalizer.
	holdPod := func(job *batchv1.Job, name string) {
		GinkgoHelper()
		pod := testutil.MakeJobPod(job, name)
		pod.Finalizers = []string{batchv1.JobTrackingFinalizer}
		Expect(k8sClient.Create(ctx, pod)).To(Succeed())
		pod.Status.Phase = corev1.PodFailed
		Expect(k8sClient.Status().Update(ctx, pod)).To(Succeed())
		Expect(k8sClient.Delete(ctx, pod, client.GracePeriodSeconds(0))).To(Succeed())
		updateJobStatus(job, func(j *batchv1.Job) { testutil.JobRunning(j, 1, "") })
	}
	jobGone := func(job *batchv1.Job) func() bool {
		return func() bool {
			return apierrors.IsNotFound(k8sClient.Get(ctx, client.ObjectKeyFromObject(job), &batchv1.Job{}))
		}
	}

	It("loses the stage Job whose failed pods the Job controller holds, so the namespace can go", func() {
		ns := newNamespace("ib-ns-held-").Name
		ib := testutil.MakeIndexBuild("held", ns).Partitions(1).Obj()
		Expect(k8sClient.Create(ctx, ib)).To(Succeed())
		job := waitForJob(ns, "held-1-build")
		holdPod(job, "held-1-build-0-abcde")

		By("envtest runs no namespace controller: the namespace stays Terminating, as it does on the cluster")
		Expect(k8sClient.Delete(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})).To(Succeed())
		Eventually(jobGone(job), heldPodGrace+timeout, interval).Should(BeTrue())
	})

	It("leaves the Job alone when only a pod was deleted", func() {
		ns := newNamespace("ib-ns-alive-").Name
		ib := testutil.MakeIndexBuild("alive", ns).Partitions(1).Obj()
		Expect(k8sClient.Create(ctx, ib)).To(Succeed())
		job := waitForJob(ns, "alive-1-build")
		holdPod(job, "alive-1-build-0-abcde")

		Consistently(jobGone(job), heldPodGrace+2*podCheckInterval, interval).Should(BeFalse())
	})
})
