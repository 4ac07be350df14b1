package controller

import (
	"encoding/json"
	"fmt"
	"sync/atomic"
	"time"

	kstatus "github.com/fluxcd/cli-utils/pkg/kstatus/status"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	indexbuildv1alpha1 "github.com/indexbuild/indexbuild/api/v1alpha1"
	"github.com/indexbuild/indexbuild/internal/summary"
	"github.com/indexbuild/indexbuild/internal/testutil"
)

const (
	timeout  = 15 * time.Second
	interval = 100 * time.Millisecond
	// quietPeriod is how long a terminal build is watched for reconciles
	// and Job creations that must not happen.
	quietPeriod = 3 * time.Second
)

var _ = Describe("IndexBuild controller", func() {
	var ns string

	BeforeEach(func() {
		n := newNamespace("ib-test-")
		ns = n.Name
	})

	It("builds every partition, finalizes and records the commit", func() {
		ib := testutil.MakeIndexBuild("happy", ns).ElementIDs(1, 2).Partitions(4).Parallelism(2).Obj()
		Expect(k8sClient.Create(ctx, ib)).To(Succeed())

		build := waitForJob(ns, "happy-1-build")
		Expect(metav1.IsControlledBy(build, ib)).To(BeTrue())
		Expect(*build.Spec.Completions).To(Equal(int32(4)))
		Expect(*build.Spec.Parallelism).To(Equal(int32(2)))
		Expect(build.Spec.Template.Spec.Containers[0].Image).To(Equal(builderName))
		Eventually(func(g Gomega) {
			got := getIndexBuild(g, ib)
			g.Expect(got.Status.Phase).To(Equal(indexbuildv1alpha1.PhaseBuilding))
			g.Expect(got.Status.Task).NotTo(BeNil())
			g.Expect(got.Status.Task.Key).To(Equal(ns + "/happy/1"))
			g.Expect(got.Status.Task.ElementIDs).To(Equal([]int64{1, 2}))
			g.Expect(got.Status.ObservedGeneration).To(Equal(got.Generation))
			g.Expect(conditionStatus(got, indexbuildv1alpha1.ConditionReconciling)).To(Equal(metav1.ConditionTrue))
			g.Expect(kstatusOf(got)).To(Equal(kstatus.InProgressStatus))
		}, timeout, interval).Should(Succeed())

		updateJobStatus(build, func(j *batchv1.Job) { testutil.JobRunning(j, 2, "0,3") })
		Eventually(func(g Gomega) {
			got := getIndexBuild(g, ib)
			g.Expect(got.Status.Partitions).To(Equal(indexbuildv1alpha1.PartitionCounts{Total: 4, Succeeded: 2, Active: 2}))
			g.Expect(got.Status.Progress).To(Equal("2/4"))
		}, timeout, interval).Should(Succeed())

		updateJobStatus(build, testutil.JobSucceeded)
		// No worker left a summary here: the staged size is unknown, so
		// the merge Job gets one key range per partition.
		merge := waitForJob(ns, "happy-1-merge")
		Expect(*merge.Spec.Completions).To(Equal(int32(4)))
		expectReadyReason(ib, indexbuildv1alpha1.PhaseMerging, ReasonMerging, timeout, "0 of 4 key ranges merged")
		updateJobStatus(merge, testutil.JobSucceeded)
		finalize := waitForJob(ns, "happy-1-finalize")
		Expect(finalize.Spec.Template.Spec.Containers[0].Args[0]).To(Equal("finalize"))
		Expect(finalize.Spec.Template.Spec.Containers[0].Args).To(ContainElement("--merge-ranges=4"))
		Eventually(func(g Gomega) {
			g.Expect(getIndexBuild(g, ib).Status.Phase).To(Equal(indexbuildv1alpha1.PhaseFinalizing))
		}, timeout, interval).Should(Succeed())

		committedAt := time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)
		terminatedPod(finalize, "happy-1-finalize-abcde", 0, mustJSON(summary.Commit{
			MarkerURI: "s3://indexes/happy/metadata.json", Files: 8, Bytes: 4096, Rows: 1000, Partitions: 4, CommittedAt: committedAt,
		}))
		updateJobStatus(finalize, testutil.JobSucceeded)

		Eventually(func(g Gomega) {
			got := getIndexBuild(g, ib)
			g.Expect(got.Status.Phase).To(Equal(indexbuildv1alpha1.PhaseSucceeded))
			g.Expect(got.Status.Commit).NotTo(BeNil())
			g.Expect(got.Status.Commit.MarkerURI).To(Equal("s3://indexes/happy/metadata.json"))
			g.Expect(got.Status.Commit.Files).To(Equal(int32(8)))
			g.Expect(got.Status.Commit.Rows).To(Equal(int64(1000)))
			g.Expect(got.Status.Commit.Bytes).To(Equal(int64(4096)))
			g.Expect(got.Status.Commit.CommitTime.Time.Equal(committedAt)).To(BeTrue())
			g.Expect(got.Status.Progress).To(Equal("4/4"))
			g.Expect(got.Status.Merge).To(Equal(&indexbuildv1alpha1.MergeStatus{Ranges: 4, Succeeded: 4, Progress: "4/4"}))
			g.Expect(conditionStatus(got, indexbuildv1alpha1.ConditionReady)).To(Equal(metav1.ConditionTrue))
			g.Expect(conditionStatus(got, indexbuildv1alpha1.ConditionCommitted)).To(Equal(metav1.ConditionTrue))
			g.Expect(conditionStatus(got, indexbuildv1alpha1.ConditionReconciling)).To(Equal(metav1.ConditionFalse))
			g.Expect(conditionStatus(got, indexbuildv1alpha1.ConditionStalled)).To(Equal(metav1.ConditionFalse))
			g.Expect(kstatusOf(got)).To(Equal(kstatus.CurrentStatus))
		}, timeout, interval).Should(Succeed())
		expectEvent(ns, "happy", corev1.EventTypeNormal, ReasonCommitted)
		expectQuiet(ib)
	})

	DescribeTable("fails fast with StaleMeta when task metadata changes mid-build",
		func(field string, edit func(*indexbuildv1alpha1.IndexBuild), recorded, current string) {
			ib := testutil.MakeIndexBuild("edited", ns).ElementIDs(1, 2).Obj()
			Expect(k8sClient.Create(ctx, ib)).To(Succeed())
			build := waitForJob(ns, "edited-1-build")
			updateJobStatus(build, func(j *batchv1.Job) { testutil.JobRunning(j, 4, "") })
			Eventually(func(g Gomega) {
				g.Expect(getIndexBuild(g, ib).Status.Phase).To(Equal(indexbuildv1alpha1.PhaseBuilding))
			}, timeout, interval).Should(Succeed())

			patchSpec(ib, edit)

			var got *indexbuildv1alpha1.IndexBuild
			Eventually(func(g Gomega) {
				got = getIndexBuild(g, ib)
				g.Expect(got.Status.Phase).To(Equal(indexbuildv1alpha1.PhaseFailed))
			}, timeout, interval).Should(Succeed())
			stale := meta.FindStatusCondition(got.Status.Conditions, indexbuildv1alpha1.ConditionStaleMeta)
			Expect(stale).NotTo(BeNil())
			Expect(stale.Status).To(Equal(metav1.ConditionTrue))
			Expect(stale.Message).To(SatisfyAll(
				ContainSubstring(field), ContainSubstring(recorded), ContainSubstring(current),
				ContainSubstring(ns+"/edited/1"), ContainSubstring("job 1")))
			Expect(conditionStatus(got, indexbuildv1alpha1.ConditionStalled)).To(Equal(metav1.ConditionTrue))
			Expect(conditionStatus(got, indexbuildv1alpha1.ConditionReconciling)).To(Equal(metav1.ConditionFalse))
			Expect(got.Status.ObservedGeneration).To(Equal(got.Generation))
			Expect(kstatusOf(got)).To(Equal(kstatus.FailedStatus))

			By("stopping the task's workers")
			Eventually(func() bool {
				return apierrors.IsNotFound(k8sClient.Get(ctx, client.ObjectKeyFromObject(build), &batchv1.Job{}))
			}, timeout, interval).Should(BeTrue())
			expectEvent(ns, "edited", corev1.EventTypeWarning, ReasonStaleMeta)

			By("never creating another Job nor requeueing the build")
			expectQuiet(ib)
		},
		Entry("elementIDs", "elementIDs", func(ib *indexbuildv1alpha1.IndexBuild) { ib.Spec.ElementIDs = []int64{1, 3} }, "[1,2]", "[1,3]"),
		Entry("tableID", "tableID", func(ib *indexbuildv1alpha1.IndexBuild) { ib.Spec.TableID = 101 }, "100", "101"),
		Entry("schemaID", "schemaID", func(ib *indexbuildv1alpha1.IndexBuild) { ib.Spec.SchemaID = 2 }, "is 1", "is 2"),
		Entry("elementType", "elementType", func(ib *indexbuildv1alpha1.IndexBuild) {
			ib.Spec.ElementType = indexbuildv1alpha1.ElementTypeFulltext
		}, `"index"`, `"fulltext"`),
	)

	It("does not fail when only the order of elementIDs changes", func() {
		ib := testutil.MakeIndexBuild("reordered", ns).ElementIDs(1, 2).Obj()
		Expect(k8sClient.Create(ctx, ib)).To(Succeed())
		waitForJob(ns, "reordered-1-build")
		// The Job exists a moment before the status saying Building does;
		// a regression test for a check that raced that first status patch.
		Eventually(func(g Gomega) {
			g.Expect(getIndexBuild(g, ib).Status.Phase).To(Equal(indexbuildv1alpha1.PhaseBuilding))
		}, timeout, interval).Should(Succeed())
		patchSpec(ib, func(ib *indexbuildv1alpha1.IndexBuild) { ib.Spec.ElementIDs = []int64{2, 1} })
		Consistently(func(g Gomega) {
			got := getIndexBuild(g, ib)
			g.Expect(got.Status.Phase).To(Equal(indexbuildv1alpha1.PhaseBuilding), "conditions: %+v", got.Status.Conditions)
		}, 2*time.Second, interval).Should(Succeed())
	})

	It("never adopts a child Job whose task annotation disagrees", func() {
		ib := testutil.MakeIndexBuild("foreign", ns).Suspend(true).Obj()
		Expect(k8sClient.Create(ctx, ib)).To(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(getIndexBuild(g, ib).Status.Phase).To(Equal(indexbuildv1alpha1.PhasePending))
		}, timeout, interval).Should(Succeed())

		// A Job left from the same jobID but other elements, e.g. by an
		// earlier operator version or a restored backup.
		leftover := testutil.MakeIndexBuild("foreign", ns).ElementIDs(9).Obj()
		job := newBuildJob(leftover, podDefaults{image: builderName})
		job.OwnerReferences = []metav1.OwnerReference{*metav1.NewControllerRef(ib, indexbuildv1alpha1.GroupVersion.WithKind("IndexBuild"))}
		job.Spec.Suspend = ptr.To(true)
		Expect(k8sClient.Create(ctx, job)).To(Succeed())

		patchSpec(ib, func(ib *indexbuildv1alpha1.IndexBuild) { ib.Spec.Suspend = false })
		Eventually(func(g Gomega) {
			got := getIndexBuild(g, ib)
			g.Expect(got.Status.Phase).To(Equal(indexbuildv1alpha1.PhaseFailed))
			stale := meta.FindStatusCondition(got.Status.Conditions, indexbuildv1alpha1.ConditionStaleMeta)
			g.Expect(stale).NotTo(BeNil())
			g.Expect(stale.Message).To(SatisfyAll(ContainSubstring("Job foreign-1-build"), ContainSubstring("elementIDs"), ContainSubstring("[9]"), ContainSubstring("[1]")))
		}, timeout, interval).Should(Succeed())
		expectQuiet(ib)
	})

	It("leaves a same-named Job it does not control alone", func() {
		other := testutil.MakeIndexBuild("squatter", ns).Obj()
		job := newBuildJob(other, podDefaults{image: builderName})
		job.OwnerReferences = nil
		job.Spec.Suspend = ptr.To(true)
		Expect(k8sClient.Create(ctx, job)).To(Succeed())

		ib := testutil.MakeIndexBuild("squatter", ns).Obj()
		Expect(k8sClient.Create(ctx, ib)).To(Succeed())
		Eventually(func(g Gomega) {
			got := getIndexBuild(g, ib)
			g.Expect(got.Status.Phase).To(Equal(indexbuildv1alpha1.PhaseFailed))
			g.Expect(findCondition(got, indexbuildv1alpha1.ConditionStalled).Reason).To(Equal(ReasonJobConflict))
		}, timeout, interval).Should(Succeed())
		Consistently(func(g Gomega) {
			var j batchv1.Job
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(job), &j)).To(Succeed())
			g.Expect(j.OwnerReferences).To(BeEmpty())
		}, time.Second, interval).Should(Succeed())
	})

	DescribeTable("ends the build with the reason its worker gave",
		func(exitCode int32, rule int, workerError, reason string) {
			ib := testutil.MakeIndexBuild("worker-exit", ns).JobID(42).TableID(7).ElementIDs(5).Obj()
			Expect(k8sClient.Create(ctx, ib)).To(Succeed())
			build := waitForJob(ns, "worker-exit-42-build")
			terminatedPod(build, "worker-exit-42-build-1-xyz", exitCode, mustJSON(summary.Worker{Partition: 1, Error: workerError}))
			updateJobStatus(build, func(j *batchv1.Job) {
				testutil.JobFailedByPodFailurePolicy(j, "worker-exit-42-build-1-xyz", containerWorker, exitCode, rule)
			})
			Eventually(func(g Gomega) {
				got := getIndexBuild(g, ib)
				g.Expect(got.Status.Phase).To(Equal(indexbuildv1alpha1.PhaseFailed))
				ready := findCondition(got, indexbuildv1alpha1.ConditionReady)
				g.Expect(ready.Reason).To(Equal(reason))
				g.Expect(ready.Message).To(SatisfyAll(ContainSubstring(workerError), ContainSubstring(ns+"/worker-exit/42"), ContainSubstring("table 7")))
				g.Expect(conditionStatus(got, indexbuildv1alpha1.ConditionStalled)).To(Equal(metav1.ConditionTrue))
				if reason == ReasonStaleMeta {
					g.Expect(conditionStatus(got, indexbuildv1alpha1.ConditionStaleMeta)).To(Equal(metav1.ConditionTrue))
				}
			}, timeout, interval).Should(Succeed())
			expectEvent(ns, "worker-exit", corev1.EventTypeWarning, reason)
			expectQuiet(ib)
		},
		Entry("exit 3: element missing from the catalog", int32(3), 0, "stale task metadata: element 5 not found in table 7 (job 42)", ReasonStaleMeta),
		Entry("exit 4: bad data", int32(4), 1, `invalid input: data/part-2.jsonl line 17 column "year": not a number`, ReasonInvalidInput),
		Entry("exit 5: output owned by another IndexBuild", int32(5), 2, `output in use: s3://indexes/worker-exit belongs to IndexBuild team-b/worker-exit`, ReasonOutputInUse),
	)

	It("ends BackoffLimitExceeded when a partition runs out of retries, quoting the last worker's error", func() {
		ib := testutil.MakeIndexBuild("flaky", ns).Obj()
		Expect(k8sClient.Create(ctx, ib)).To(Succeed())
		build := waitForJob(ns, "flaky-1-build")
		terminatedPod(build, "flaky-1-build-3-a", 1, mustJSON(summary.Worker{Error: "storage read \"data/part-3.jsonl\": retryable storage error: connection reset"}))
		updateJobStatus(build, func(j *batchv1.Job) {
			j.Status.CompletedIndexes = "0-1"
			j.Status.Succeeded = 2
			testutil.JobIndexesFailed(j, "3")
		})
		Eventually(func(g Gomega) {
			got := getIndexBuild(g, ib)
			g.Expect(got.Status.Phase).To(Equal(indexbuildv1alpha1.PhaseFailed))
			g.Expect(findCondition(got, indexbuildv1alpha1.ConditionReady).Reason).To(Equal(ReasonBackoffLimitExceeded))
			g.Expect(got.Status.Partitions).To(Equal(indexbuildv1alpha1.PartitionCounts{Total: 4, Succeeded: 2, Failed: 1, FailedIndexes: "3"}))
			// Regression: the cause was read only for exit codes 3, 4 and 5.
			g.Expect(findCondition(got, indexbuildv1alpha1.ConditionReady).Message).To(ContainSubstring(`data/part-3.jsonl": retryable storage error: connection reset`))
		}, timeout, interval).Should(Succeed())
		expectQuiet(ib)
	})

	It("fails with StaleMeta when finalize finds another task's marker", func() {
		ib := testutil.MakeIndexBuild("marker", ns).Partitions(1).Obj()
		Expect(k8sClient.Create(ctx, ib)).To(Succeed())
		updateJobStatus(waitForJob(ns, "marker-1-build"), testutil.JobSucceeded)
		finalize := waitForJob(ns, "marker-1-finalize")
		updateJobStatus(finalize, func(j *batchv1.Job) {
			testutil.JobFailedByPodFailurePolicy(j, "marker-1-finalize-x", containerFinalize, 3, 0)
		})
		Eventually(func(g Gomega) {
			got := getIndexBuild(g, ib)
			g.Expect(got.Status.Phase).To(Equal(indexbuildv1alpha1.PhaseFailed))
			g.Expect(findCondition(got, indexbuildv1alpha1.ConditionReady).Reason).To(Equal(ReasonStaleMeta))
			g.Expect(conditionStatus(got, indexbuildv1alpha1.ConditionCommitted)).To(Equal(metav1.ConditionFalse))
		}, timeout, interval).Should(Succeed())
	})

	It("starts a fresh task when jobID changes, removing the old task's Jobs", func() {
		ib := testutil.MakeIndexBuild("rerun", ns).ElementIDs(1).Obj()
		Expect(k8sClient.Create(ctx, ib)).To(Succeed())
		oldBuild := waitForJob(ns, "rerun-1-build")
		patchSpec(ib, func(ib *indexbuildv1alpha1.IndexBuild) { ib.Spec.ElementIDs = []int64{4} })
		Eventually(func(g Gomega) {
			g.Expect(getIndexBuild(g, ib).Status.Phase).To(Equal(indexbuildv1alpha1.PhaseFailed))
		}, timeout, interval).Should(Succeed())

		patchSpec(ib, func(ib *indexbuildv1alpha1.IndexBuild) { ib.Spec.JobID = 2 })
		newBuild := waitForJob(ns, "rerun-2-build")
		Expect(newBuild.Annotations[AnnotationTaskMeta]).To(ContainSubstring(`"elementIDs":[4]`))
		Eventually(func(g Gomega) {
			got := getIndexBuild(g, ib)
			g.Expect(got.Status.Phase).To(Equal(indexbuildv1alpha1.PhaseBuilding))
			g.Expect(got.Status.Task.Key).To(Equal(ns + "/rerun/2"))
			g.Expect(got.Status.Task.ElementIDs).To(Equal([]int64{4}))
			g.Expect(meta.FindStatusCondition(got.Status.Conditions, indexbuildv1alpha1.ConditionStaleMeta).Status).To(Equal(metav1.ConditionFalse))
		}, timeout, interval).Should(Succeed())
		Expect(apierrors.IsNotFound(k8sClient.Get(ctx, client.ObjectKeyFromObject(oldBuild), &batchv1.Job{}))).To(BeTrue())
	})

	It("rebuilds in place: a new jobID after a success builds a new task and keeps the published commit until it commits", func() {
		ib := testutil.MakeIndexBuild("inplace", ns).Partitions(1).Builder("example.com/builder:1").Obj()
		Expect(k8sClient.Create(ctx, ib)).To(Succeed())
		updateJobStatus(waitForJob(ns, "inplace-1-build"), testutil.JobSucceeded)
		finalize := waitForJob(ns, "inplace-1-finalize")
		terminatedPod(finalize, "inplace-1-finalize-a", 0, mustJSON(summary.Commit{MarkerURI: "s3://indexes/inplace/versions/1/metadata.json", Files: 1, Rows: 10}))
		updateJobStatus(finalize, testutil.JobSucceeded)
		Eventually(func(g Gomega) {
			g.Expect(getIndexBuild(g, ib).Status.Phase).To(Equal(indexbuildv1alpha1.PhaseSucceeded))
		}, timeout, interval).Should(Succeed())

		patchSpec(ib, func(ib *indexbuildv1alpha1.IndexBuild) {
			ib.Spec.JobID = 2
			ib.Spec.ElementIDs = []int64{1, 2}
			ib.Spec.Source.URI = "s3://tables/books-v2"
			ib.Spec.Builder.Image = "example.com/builder:2"
		})
		build := waitForJob(ns, "inplace-2-build")
		Expect(build.Spec.Template.Spec.Containers[0].Args).To(ContainElements(
			"--job-id=2", "--element-ids=1,2", "--source=s3://tables/books-v2", "--builder-image=example.com/builder:2"))
		Eventually(func(g Gomega) {
			got := getIndexBuild(g, ib)
			g.Expect(got.Status.Phase).To(Equal(indexbuildv1alpha1.PhaseBuilding))
			g.Expect(got.Status.Task.Key).To(Equal(ns + "/inplace/2"))
			g.Expect(got.Status.Task.Source).To(Equal(indexbuildv1alpha1.TaskSource{URI: "s3://tables/books-v2", Format: "jsonl"}))
			g.Expect(got.Status.Task.Partitions).To(Equal(int32(1)))
			g.Expect(got.Status.Task.Builder).To(Equal(&indexbuildv1alpha1.BuilderSpec{Image: "example.com/builder:2"}))
			g.Expect(got.Status.Commit).NotTo(BeNil(), "the published version is still what readers get")
			g.Expect(got.Status.Commit.MarkerURI).To(Equal("s3://indexes/inplace/versions/1/metadata.json"))
		}, timeout, interval).Should(Succeed())
	})

	It("removes a running old task's Jobs when jobID changes mid-build", func() {
		ib := testutil.MakeIndexBuild("restart", ns).Obj()
		Expect(k8sClient.Create(ctx, ib)).To(Succeed())
		oldBuild := waitForJob(ns, "restart-1-build")
		patchSpec(ib, func(ib *indexbuildv1alpha1.IndexBuild) { ib.Spec.JobID = 2 })
		waitForJob(ns, "restart-2-build")
		Eventually(func() bool {
			return apierrors.IsNotFound(k8sClient.Get(ctx, client.ObjectKeyFromObject(oldBuild), &batchv1.Job{}))
		}, timeout, interval).Should(BeTrue())
	})

	It("holds the workers while suspended and resumes where it was", func() {
		ib := testutil.MakeIndexBuild("paused", ns).Obj()
		Expect(k8sClient.Create(ctx, ib)).To(Succeed())
		build := waitForJob(ns, "paused-1-build")
		Expect(*build.Spec.Suspend).To(BeFalse())

		patchSpec(ib, func(ib *indexbuildv1alpha1.IndexBuild) { ib.Spec.Suspend = true })
		Eventually(func(g Gomega) {
			var j batchv1.Job
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(build), &j)).To(Succeed())
			g.Expect(*j.Spec.Suspend).To(BeTrue())
			got := getIndexBuild(g, ib)
			g.Expect(conditionStatus(got, indexbuildv1alpha1.ConditionSuspended)).To(Equal(metav1.ConditionTrue))
			g.Expect(findCondition(got, indexbuildv1alpha1.ConditionReady).Reason).To(Equal(ReasonSuspended))
		}, timeout, interval).Should(Succeed())

		patchSpec(ib, func(ib *indexbuildv1alpha1.IndexBuild) { ib.Spec.Suspend = false })
		Eventually(func(g Gomega) {
			var j batchv1.Job
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(build), &j)).To(Succeed())
			g.Expect(*j.Spec.Suspend).To(BeFalse())
			g.Expect(j.UID).To(Equal(build.UID), "the same Job resumes")
			g.Expect(conditionStatus(getIndexBuild(g, ib), indexbuildv1alpha1.ConditionSuspended)).To(Equal(metav1.ConditionFalse))
		}, timeout, interval).Should(Succeed())
	})
})

func getIndexBuild(g Gomega, ib *indexbuildv1alpha1.IndexBuild) *indexbuildv1alpha1.IndexBuild {
	got := &indexbuildv1alpha1.IndexBuild{}
	g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(ib), got)).To(Succeed())
	return got
}

func conditionStatus(ib *indexbuildv1alpha1.IndexBuild, condType string) metav1.ConditionStatus {
	return findCondition(ib, condType).Status
}

func waitForJob(ns, name string) *batchv1.Job {
	job := &batchv1.Job{}
	Eventually(func() error {
		return k8sClient.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, job)
	}, timeout, interval).Should(Succeed(), "Job %s/%s was not created", ns, name)
	return job
}

// updateJobStatus writes Job status as the Job controller would.
func updateJobStatus(job *batchv1.Job, mutate func(*batchv1.Job)) {
	Expect(retry.RetryOnConflict(retry.DefaultRetry, func() error {
		if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(job), job); err != nil {
			return err
		}
		mutate(job)
		return k8sClient.Status().Update(ctx, job)
	})).To(Succeed())
}

func patchSpec(ib *indexbuildv1alpha1.IndexBuild, edit func(*indexbuildv1alpha1.IndexBuild)) {
	Expect(retry.RetryOnConflict(retry.DefaultRetry, func() error {
		got := &indexbuildv1alpha1.IndexBuild{}
		if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(ib), got); err != nil {
			return err
		}
		edit(got)
		return k8sClient.Update(ctx, got)
	})).To(Succeed())
}

// terminatedPod creates a pod of job whose container ended with exitCode
// and left message as its termination message, as the kubelet reports it.
func terminatedPod(job *batchv1.Job, name string, exitCode int32, message string) {
	pod := testutil.MakeJobPod(job, name)
	Expect(k8sClient.Create(ctx, pod)).To(Succeed())
	testutil.PodTerminated(pod, exitCode, message)
	Expect(k8sClient.Status().Update(ctx, pod)).To(Succeed())
}

// expectReadyReason waits until the build stands in phase with Ready's
// reason and a message holding every one of words.
func expectReadyReason(ib *indexbuildv1alpha1.IndexBuild, phase indexbuildv1alpha1.Phase, reason string, within time.Duration, words ...string) {
	GinkgoHelper()
	Eventually(func(g Gomega) {
		got := getIndexBuild(g, ib)
		g.Expect(got.Status.Phase).To(Equal(phase))
		ready := findCondition(got, indexbuildv1alpha1.ConditionReady)
		g.Expect(ready.Reason).To(Equal(reason))
		for _, w := range words {
			g.Expect(ready.Message).To(ContainSubstring(w))
		}
	}, within, interval).Should(Succeed())
}

func expectEvent(ns, name, eventType, reason string) {
	Eventually(func(g Gomega) {
		var events eventsv1.EventList
		g.Expect(k8sClient.List(ctx, &events, client.InNamespace(ns))).To(Succeed())
		var seen []string
		for _, e := range events.Items {
			if e.Regarding.Name == name && e.Type == eventType && e.Reason == reason {
				return
			}
			seen = append(seen, fmt.Sprintf("%s/%s/%s", e.Regarding.Name, e.Type, e.Reason))
		}
		g.Expect(seen).To(ContainElement(fmt.Sprintf("%s/%s/%s", name, eventType, reason)))
	}, timeout, interval).Should(Succeed())
}

// expectQuiet asserts that a terminal build is left alone: over a quiet
// period no Job is created in its namespace and it is not reconciled (a
// requeue, or an error retried with backoff, would show as reconciles).
func expectQuiet(ib *indexbuildv1alpha1.IndexBuild) {
	key := client.ObjectKeyFromObject(ib)
	// Let the events of the last transition (the status patch, a Job
	// deletion) drain before counting: the cache holds the IndexBuild as
	// the API has it (a loaded machine can delay it), then a second more.
	Eventually(func(g Gomega) {
		latest, cached := &indexbuildv1alpha1.IndexBuild{}, &indexbuildv1alpha1.IndexBuild{}
		g.Expect(k8sClient.Get(ctx, key, latest)).To(Succeed())
		g.Expect(cachedClient.Get(ctx, key, cached)).To(Succeed())
		g.Expect(cached.ResourceVersion).To(Equal(latest.ResourceVersion))
	}, timeout, interval).Should(Succeed())
	time.Sleep(time.Second)
	var jobs batchv1.JobList
	Expect(k8sClient.List(ctx, &jobs, client.InNamespace(ib.Namespace))).To(Succeed())
	w, err := k8sClient.Watch(ctx, &batchv1.JobList{}, client.InNamespace(ib.Namespace), &client.ListOptions{Raw: &metav1.ListOptions{ResourceVersion: jobs.ResourceVersion}})
	Expect(err).NotTo(HaveOccurred())
	defer w.Stop()
	var created atomic.Int32
	go func() {
		for ev := range w.ResultChan() {
			if ev.Type == watch.Added {
				created.Add(1)
			}
		}
	}()
	before := reconciles.get(key)
	Consistently(func() int {
		return reconciles.get(key).total - before.total
	}, quietPeriod, interval).Should(BeZero(), "a terminal IndexBuild was reconciled again")
	Expect(created.Load()).To(BeZero(), "a Job was created after the build ended")
	Expect(reconciles.get(key).retried).To(Equal(before.retried), "a reconcile of this build asked for a retry")
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	Expect(err).NotTo(HaveOccurred())
	return string(b)
}
