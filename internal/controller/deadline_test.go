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
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	indexbuildv1alpha1 "github.com/indexbuild/indexbuild/api/v1alpha1"
	"github.com/indexbuild/indexbuild/internal/output"
	"github.com/indexbuild/indexbuild/internal/testutil"
)

func TestRunTimeCountsOnlyTimeAllowedToRun(t *testing.T) {
	t0 := time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)
	at := func(d time.Duration) *metav1.Time { return &metav1.Time{Time: t0.Add(d)} }
	job := func(role string, start *metav1.Time, suspended bool, end *metav1.Time) *batchv1.Job {
		j := &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: role}}
		j.Spec.Suspend = ptr.To(suspended)
		j.Status.StartTime = start
		j.Status.CompletionTime = end
		return j
	}
	jobs := func(js ...*batchv1.Job) childJobs {
		c := childJobs{current: map[string]*batchv1.Job{}}
		for _, j := range js {
			c.current[j.Name] = j
		}
		return c
	}
	now := t0.Add(time.Hour)
	for _, tc := range []struct {
		name    string
		jobs    childJobs
		want    time.Duration
		running bool
	}{
		{"no Job yet", jobs(), 0, false},
		{"queued: created suspended, never started", jobs(job(RoleBuild, nil, true, nil)), 0, false},
		{"admitted 10 minutes ago", jobs(job(RoleBuild, at(50*time.Minute), false, nil)), 10 * time.Minute, true},
		{"suspended again: its clock restarts on resume", jobs(job(RoleBuild, at(5*time.Minute), true, nil)), 0, false},
		{"build done, finalize queued", jobs(job(RoleBuild, at(10*time.Minute), false, at(40*time.Minute)), job(RoleFinalize, nil, true, nil)), 30 * time.Minute, false},
		{"build done, finalize running", jobs(job(RoleBuild, at(10*time.Minute), false, at(40*time.Minute)), job(RoleFinalize, at(55*time.Minute), false, nil)), 35 * time.Minute, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, running := runTime(tc.jobs, now)
			if got != tc.want || running != tc.running {
				t.Errorf("runTime = %v, %v; want %v, %v", got, running, tc.want, tc.running)
			}
		})
	}
}

func TestCheckDeadline(t *testing.T) {
	start := time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)
	ib := testutil.MakeIndexBuild("b", "ns").ActiveDeadlineSeconds(60).Obj()
	ib.Status.Phase = indexbuildv1alpha1.PhaseBuilding
	build := &batchv1.Job{}
	jobs := childJobs{current: map[string]*batchv1.Job{RoleBuild: build}}
	if _, exceeded := checkDeadline(ib, jobs, start.Add(time.Hour)); exceeded {
		t.Fatal("a Job that never started has used none of its deadline")
	}
	build.Status.StartTime = &metav1.Time{Time: start}
	if _, exceeded := checkDeadline(ib, jobs, start.Add(59*time.Second)); exceeded {
		t.Fatal("exceeded before the deadline")
	}
	if d := deadlineCheckAfter(ib, jobs, start.Add(59*time.Second)); d != time.Second {
		t.Fatalf("deadlineCheckAfter = %v, want 1s", d)
	}
	msg, exceeded := checkDeadline(ib, jobs, start.Add(60*time.Second))
	if !exceeded || !strings.Contains(msg, "spec.activeDeadlineSeconds=60") || !strings.Contains(msg, "ran 1m0s") {
		t.Fatalf("checkDeadline = %q, %v", msg, exceeded)
	}
	ib.Status.Phase = indexbuildv1alpha1.PhaseFailed
	if d := deadlineCheckAfter(ib, jobs, start); d != 0 {
		t.Fatalf("a finished task is not woken for its deadline: %v", d)
	}
	if d := deadlineCheckAfter(testutil.MakeIndexBuild("b", "ns").Obj(), jobs, start); d != 0 {
		t.Fatalf("no deadline, no wake-up: %v", d)
	}
}

func TestFinalizeDeadlineReachesTheJob(t *testing.T) {
	ib := testutil.MakeIndexBuild("b", "ns").FinalizeDeadlineSeconds(300).Obj()
	if d := newFinalizeJob(ib, podDefaults{image: "img"}, mergePlan{}).Spec.ActiveDeadlineSeconds; d == nil || *d != 300 {
		t.Fatalf("finalize activeDeadlineSeconds = %v", d)
	}
	if d := newBuildJob(ib, podDefaults{image: "img"}).Spec.ActiveDeadlineSeconds; d != nil {
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
		ib := testutil.MakeIndexBuild("slow", ns).ActiveDeadlineSeconds(600).Obj()
		Expect(k8sClient.Create(ctx, ib)).To(Succeed())
		build := waitForJob(ns, "slow-1-build")
		updateJobStatus(build, func(j *batchv1.Job) { testutil.JobRunning(j, 4, "0") })
		Eventually(func(g Gomega) {
			g.Expect(getIndexBuild(g, ib).Status.Phase).To(Equal(indexbuildv1alpha1.PhaseBuilding))
		}, timeout, interval).Should(Succeed())
		Expect(reconcileNow(ib).RequeueAfter).To(BeNumerically("<=", 600*time.Second), "no reconcile at the deadline")

		suiteClock.skip(601 * time.Second)
		reconcileNow(ib) // what the deadline's timer brings
		expectDeadlineExceeded(ib, "spec.activeDeadlineSeconds=600")
		Eventually(func() bool {
			return apierrors.IsNotFound(k8sClient.Get(ctx, client.ObjectKeyFromObject(build), &batchv1.Job{}))
		}, timeout, interval).Should(BeTrue())
		expectQuiet(ib)
	})

	// Regression: the deadline was checked before the finalize Job, so a
	// finalize that published before the deadline, seen by a reconcile
	// after it, ended Failed/DeadlineExceeded with status.commit naming the
	// previous version while the pointer named the new one.
	It("ends Succeeded with the new commit when finalize completed before the deadline and is seen after it", func() {
		ib := testutil.MakeIndexBuild("published", ns).ActiveDeadlineSeconds(600).Obj()
		Expect(k8sClient.Create(ctx, ib)).To(Succeed())
		updateJobStatus(waitForJob(ns, "published-1-build"), testutil.JobSucceeded)
		updateJobStatus(waitForJob(ns, "published-1-merge"), testutil.JobSucceeded)
		finalize := waitForJob(ns, "published-1-finalize")
		updateJobStatus(finalize, func(j *batchv1.Job) {
			testutil.JobRunning(j, 1, "")
			j.Status.Ready = ptr.To[int32](1)
		})
		Eventually(func(g Gomega) {
			got := getIndexBuild(g, ib)
			g.Expect(got.Status.Phase).To(Equal(indexbuildv1alpha1.PhaseFinalizing))
			cached := &indexbuildv1alpha1.IndexBuild{}
			g.Expect(cachedClient.Get(ctx, client.ObjectKeyFromObject(ib), cached)).To(Succeed())
			g.Expect(cached.ResourceVersion).To(Equal(got.ResourceVersion))
		}, timeout, interval).Should(Succeed())
		time.Sleep(2 * suiteProgressInterval) // let a coalesced progress write go out

		By("finalize completing before the deadline, its reconcile coming after it")
		suiteClock.skip(601 * time.Second)
		updateJobStatus(finalize, testutil.JobSucceeded)
		Eventually(func(g Gomega) {
			got := getIndexBuild(g, ib)
			g.Expect(got.Status.Phase).To(Equal(indexbuildv1alpha1.PhaseSucceeded))
			g.Expect(findCondition(got, indexbuildv1alpha1.ConditionReady).Reason).To(Equal(ReasonCommitted))
			g.Expect(got.Status.Commit).NotTo(BeNil())
			g.Expect(got.Status.Commit.Version).To(Equal(output.VersionPrefix(1)))
		}, timeout, interval).Should(Succeed())
		expectQuiet(ib)
	})

	It("ends a build whose finalize ran past its deadline", func() {
		ib := testutil.MakeIndexBuild("commit", ns).FinalizeDeadlineSeconds(30).Obj()
		Expect(k8sClient.Create(ctx, ib)).To(Succeed())
		updateJobStatus(waitForJob(ns, "commit-1-build"), testutil.JobSucceeded)
		updateJobStatus(waitForJob(ns, "commit-1-merge"), testutil.JobSucceeded)
		finalize := waitForJob(ns, "commit-1-finalize")
		Expect(*finalize.Spec.ActiveDeadlineSeconds).To(Equal(int64(30)))
		updateJobStatus(finalize, func(j *batchv1.Job) {
			testutil.JobFailed(j, batchv1.JobReasonDeadlineExceeded, "Job was active longer than specified deadline")
		})
		expectDeadlineExceeded(ib, "Job was active longer than specified deadline")
		expectQuiet(ib)
	})
})
