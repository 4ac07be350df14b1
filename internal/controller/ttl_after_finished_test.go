package controller

import (
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	batchv1 "k8s.io/api/batch/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

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
		ib := testutil.MakeIndexBuild("short", n.Name).TTLSecondsAfterFinished(2).Obj()
		Expect(k8sClient.Create(ctx, ib)).To(Succeed())
		updateJobStatus(waitForJob(n.Name, "short-1-build"), testutil.JobSucceeded)
		finalize := waitForJob(n.Name, "short-1-finalize")
		updateJobStatus(finalize, testutil.JobSucceeded)

		var finishedAt time.Time
		Eventually(func(g Gomega) {
			got := getIndexBuild(g, ib)
			g.Expect(got.Status.Phase).To(Equal(indexbuildv1alpha1.PhaseSucceeded))
			g.Expect(got.Status.CompletionTime).NotTo(BeNil())
			finishedAt = got.Status.CompletionTime.Time
		}, timeout, interval).Should(Succeed())

		By("keeping the Jobs until the TTL passed")
		Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(finalize), &batchv1.Job{})).To(Succeed())
		Eventually(func(g Gomega) {
			var jobs batchv1.JobList
			g.Expect(k8sClient.List(ctx, &jobs, client.InNamespace(n.Name))).To(Succeed())
			for _, j := range jobs.Items {
				// envtest runs no garbage collector: a deleted Job is one
				// with a deletion timestamp, or gone.
				g.Expect(j.DeletionTimestamp).NotTo(BeNil(), "Job %s still there", j.Name)
			}
		}, timeout, interval).Should(Succeed())
		Expect(time.Since(finishedAt)).To(BeNumerically(">=", 2*time.Second-time.Second), "Jobs removed before the TTL")

		got := &indexbuildv1alpha1.IndexBuild{}
		Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(ib), got)).To(Succeed())
		Expect(got.DeletionTimestamp).To(BeNil())
		Expect(got.Status.Phase).To(Equal(indexbuildv1alpha1.PhaseSucceeded))
		expectQuiet(ib)
	})
})
