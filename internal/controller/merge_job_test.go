package controller

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	indexbuildv1alpha1 "github.com/indexbuild/indexbuild/api/v1alpha1"
	"github.com/indexbuild/indexbuild/internal/summary"
	"github.com/indexbuild/indexbuild/internal/testutil"
)

const mib = int64(1 << 20)

func TestMergePlan(t *testing.T) {
	index := func(partitions int32) *testutil.IndexBuildWrapper {
		return testutil.MakeIndexBuild("b", "ns").Partitions(partitions)
	}
	existing := &batchv1.Job{Spec: batchv1.JobSpec{Completions: ptr.To[int32](5)}}
	for name, tc := range map[string]struct {
		ib       *indexbuildv1alpha1.IndexBuild
		job      *batchv1.Job
		staged   stagedSize
		ranges   int32
		local    bool
		skipped  string
		bySizeOf bool // the staged size decided
	}{
		"an existing Job is adopted, whatever the rest says": {ib: index(1).ElementType(indexbuildv1alpha1.ElementTypeFulltext).Obj(), job: existing, ranges: 5},
		"fulltext":                            {ib: index(8).ElementType(indexbuildv1alpha1.ElementTypeFulltext).Obj(), skipped: "fulltext"},
		"one partition":                       {ib: index(1).MergeRanges(4).Obj(), skipped: "single partition"},
		"explicit ranges, small build":        {ib: index(8).MergeRanges(3).Obj(), staged: stagedSize{bytes: 1, known: true}, ranges: 3},
		"explicit ranges above partitions":    {ib: index(2).MergeRanges(16).Obj(), ranges: 16},
		"unknown size: a range per partition": {ib: index(8).Obj(), ranges: 8, bySizeOf: true},
		"small build: finalize merges":        {ib: index(8).Obj(), staged: stagedSize{bytes: 64*mib - 1, known: true}, local: true, skipped: "64.0 MiB", bySizeOf: true},
		"empty build: finalize merges":        {ib: index(8).Obj(), staged: stagedSize{known: true}, local: true, skipped: "0 B", bySizeOf: true},
		"at the threshold: one range":         {ib: index(8).Obj(), staged: stagedSize{bytes: 64 * mib, known: true}, ranges: 1, bySizeOf: true},
		"one range per 256 MiB, rounded up":   {ib: index(8).Obj(), staged: stagedSize{bytes: 3*256*mib + 1, known: true}, ranges: 4, bySizeOf: true},
		"at most a range per partition":       {ib: index(8).Obj(), staged: stagedSize{bytes: 100 * 256 * mib, known: true}, ranges: 8, bySizeOf: true},
	} {
		plan, decided := mergeRule(tc.ib, tc.job)
		if decided == tc.bySizeOf {
			t.Errorf("%s: decided by the rule %v, want %v", name, decided, !tc.bySizeOf)
		}
		if !decided {
			plan = mergeBySize(tc.ib, tc.staged)
		}
		if plan.ranges != tc.ranges || plan.local != tc.local || (plan.skipped == "") != (tc.skipped == "") || !strings.Contains(plan.skipped, tc.skipped) {
			t.Errorf("%s: plan %+v, want ranges %d local %v skipped %q", name, plan, tc.ranges, tc.local, tc.skipped)
		}
	}
}

func TestNewMergeJob(t *testing.T) {
	ib := testutil.MakeIndexBuild("books", "lib").JobID(9).ElementIDs(1, 2).Partitions(6).BackoffLimitPerPartition(5).
		SourceSecret("src").OutputSecret("out").Label(LabelQueueName, "team-a").Obj()
	ib.Spec.Merge = &indexbuildv1alpha1.MergeSpec{Parallelism: ptr.To[int32](2)}
	job := newMergeJob(ib, podDefaults{image: "indexbuild:dev"}, mergePlan{ranges: 4})

	if job.Name != "books-9-merge" || job.Labels[LabelRole] != RoleMerge || job.Labels[LabelQueueName] != "team-a" {
		t.Fatalf("name %s labels %v", job.Name, job.Labels)
	}
	if !metav1.IsControlledBy(job, ib) || job.Annotations[AnnotationTaskMeta] != specTaskMeta(ib).Encode() || job.Spec.PodFailurePolicy == nil {
		t.Fatal("merge Job lacks its owner, task annotation or pod failure policy")
	}
	if ptr.Deref(job.Spec.CompletionMode, "") != batchv1.IndexedCompletion || *job.Spec.Completions != 4 || *job.Spec.Parallelism != 2 ||
		*job.Spec.BackoffLimitPerIndex != 5 || *job.Spec.MaxFailedIndexes != 0 {
		t.Fatalf("spec %+v", job.Spec)
	}
	if !ptr.Deref(job.Spec.Suspend, false) {
		t.Error("a queued merge Job must be created suspended")
	}
	c := job.Spec.Template.Spec.Containers[0]
	build := newBuildJob(ib, podDefaults{image: "indexbuild:dev"}).Spec.Template.Spec.Containers[0]
	if c.Name != containerMerge || c.Image != "indexbuild:dev" || c.Args[0] != "merge" ||
		!slices.Equal(c.Args[1:len(c.Args)-1], build.Args[1:]) || c.Args[len(c.Args)-1] != "--ranges=4" {
		t.Fatalf("container %s image %s args %v (the workers' %v)", c.Name, c.Image, c.Args, build.Args)
	}
	// Merge pods check the catalog (source) and write the output.
	if len(c.EnvFrom) != 2 || c.EnvFrom[0].SecretRef.Name != "src" || c.EnvFrom[1].SecretRef.Name != "out" {
		t.Errorf("envFrom %+v", c.EnvFrom)
	}

	// Parallelism defaults to the ranges; an unqueued Job follows
	// spec.suspend.
	plain := testutil.MakeIndexBuild("books", "lib").Suspend(true).Obj()
	job = newMergeJob(plain, podDefaults{image: "img"}, mergePlan{ranges: 7})
	if *job.Spec.Parallelism != 7 || !ptr.Deref(job.Spec.Suspend, false) {
		t.Errorf("parallelism %d suspend %v", *job.Spec.Parallelism, job.Spec.Suspend)
	}
}

func TestMergeResources(t *testing.T) {
	worker := corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2")}}
	own := corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("8Gi")}}
	ib := testutil.MakeIndexBuild("b", "ns").WorkerResources(worker).Obj()
	if got := roleResources(ib, RoleMerge); got.Requests.Cpu().String() != "2" {
		t.Errorf("without spec.merge.resources: %+v, want the workers'", got)
	}
	ib.Spec.Merge = &indexbuildv1alpha1.MergeSpec{Resources: &own}
	got := newMergeJob(ib, podDefaults{image: "img"}, mergePlan{ranges: 2}).Spec.Template.Spec.Containers[0].Resources
	if got.Requests.Memory().String() != "8Gi" || !got.Requests.Cpu().IsZero() {
		t.Errorf("with spec.merge.resources: %+v", got)
	}
	if fields := specFieldsOf(RoleMerge, "spec.template.spec.containers[0].resources.requests", ""); !slices.Contains(fields, "spec.merge.resources") {
		t.Errorf("a refused merge Job's resources point at %v", fields)
	}
}

func TestMergeStageStatus(t *testing.T) {
	ib := testutil.MakeIndexBuild("b", "ns").Partitions(8).Obj()
	job := newMergeJob(ib, podDefaults{image: "img"}, mergePlan{ranges: 8})
	testutil.JobRunning(job, 2, "0-2")
	msg := mergeProgress(newPhaseConditions(ib, testNow), ib, job)
	if msg != "3 of 8 key ranges merged, 2 running" {
		t.Errorf("message %q", msg)
	}
	if m := ib.Status.Merge; m == nil || *m != (indexbuildv1alpha1.MergeStatus{Ranges: 8, Succeeded: 3, Active: 2, Progress: "3/8"}) {
		t.Errorf("status.merge %+v", m)
	}

	if skipMerge(newPhaseConditions(ib, testNow), taskPlan{merge: mergePlan{ranges: 8}}) {
		t.Error("a plan with ranges skipped the merge Job")
	}
	if !skipMerge(newPhaseConditions(ib, testNow), taskPlan{merge: mergePlan{local: true, skipped: "small"}}) {
		t.Error("a plan without ranges ran a merge Job")
	}
	if m := ib.Status.Merge; m == nil || *m != (indexbuildv1alpha1.MergeStatus{Skipped: "small"}) {
		t.Errorf("status.merge of a skipped stage %+v", m)
	}
}

// The staged size is the newest summary of every partition's succeeded
// pods; a partition without one leaves it unknown. (The envtest specs read
// it from a real apiserver.)
func TestStagedBytes(t *testing.T) {
	ib := testutil.MakeIndexBuild("b", "ns").Partitions(3).Obj()
	build := newBuildJob(ib, podDefaults{image: "img"})
	testutil.JobSucceeded(build)
	pod := func(name string, code int32, s summary.Worker, age int) *corev1.Pod {
		p := testutil.MakeJobPod(build, name)
		testutil.PodTerminated(p, code, fmt.Sprintf(`{"partition":%d,"bytes":%d}`, s.Partition, s.Bytes))
		p.Status.ContainerStatuses[0].State.Terminated.FinishedAt = metav1.NewTime(testNow.Add(-time.Duration(age) * time.Second))
		return p
	}
	pods := []*corev1.Pod{
		pod("p0-old", 0, summary.Worker{Partition: 0, Bytes: 999}, 10),
		pod("p0", 0, summary.Worker{Partition: 0, Bytes: 100}, 1),
		pod("p1", 0, summary.Worker{Partition: 1, Bytes: 20}, 1),
		pod("p2-failed", 1, summary.Worker{Partition: 2, Bytes: 5000}, 1),
	}
	read := func(pods ...*corev1.Pod) stagedSize {
		c := fake.NewClientBuilder()
		for _, p := range pods {
			c = c.WithObjects(p)
		}
		r := &IndexBuildReconciler{apiReader: c.Build()}
		size, err := r.stagedBytes(context.Background(), ib, build)
		if err != nil {
			t.Fatal(err)
		}
		return size
	}
	if got := read(pods...); got.known {
		t.Errorf("partition 2 has no succeeded pod, yet the size is known: %+v", got)
	}
	if got := read(append(pods, pod("p2", 0, summary.Worker{Partition: 2, Bytes: 3}, 1))...); got != (stagedSize{bytes: 123, known: true}) {
		t.Errorf("size %+v, want 123 bytes known", got)
	}
}

var _ = Describe("Merge stage", func() {
	var ns string
	BeforeEach(func() { ns = newNamespace("ib-merge-").Name })

	// buildStaged completes the build Job with one succeeded pod per
	// partition whose summary says it staged bytes.
	buildStaged := func(ib *indexbuildv1alpha1.IndexBuild, bytes ...int64) {
		GinkgoHelper()
		build := waitForJob(ns, childJobName(ib, RoleBuild))
		for p, b := range bytes {
			terminatedPod(build, fmt.Sprintf("%s-%d-w", build.Name, p), 0, mustJSON(summary.Worker{Partition: p, Bytes: b, Rows: 10}))
		}
		updateJobStatus(build, testutil.JobSucceeded)
	}
	containerArgs := func(job *batchv1.Job) []string { return job.Spec.Template.Spec.Containers[0].Args }
	mergeFlags := func(job *batchv1.Job) []string {
		var flags []string
		for _, a := range containerArgs(job) {
			if strings.HasPrefix(a, "--merge") {
				flags = append(flags, a)
			}
		}
		return flags
	}
	It("merges after the build in as many key ranges as the staged size asks, then finalize commits them", func() {
		ib := testutil.MakeIndexBuild("sized", ns).Partitions(8).ElementIDs(1, 2).Obj()
		Expect(k8sClient.Create(ctx, ib)).To(Succeed())
		// 3 × 256 MiB and a byte: four ranges.
		buildStaged(ib, 3*256*mib/8, 3*256*mib/8, 3*256*mib/8, 3*256*mib/8, 3*256*mib/8, 3*256*mib/8, 3*256*mib/8, 3*256*mib/8+1)

		merge := waitForJob(ns, "sized-1-merge")
		Expect(metav1.IsControlledBy(merge, ib)).To(BeTrue())
		Expect(merge.Labels).To(SatisfyAll(HaveKeyWithValue(LabelRole, RoleMerge), HaveKeyWithValue(LabelBuildName, "sized"), HaveKeyWithValue(LabelJobID, "1")))
		Expect(*merge.Spec.CompletionMode).To(Equal(batchv1.IndexedCompletion))
		Expect(*merge.Spec.Completions).To(Equal(int32(4)))
		Expect(*merge.Spec.Parallelism).To(Equal(int32(4)))
		Expect(merge.Spec.Template.Spec.Containers[0].Image).To(Equal(builderName))
		Expect(containerArgs(merge)).To(SatisfyAll(
			HaveExactElements(append(append([]string{"merge"}, taskArgs(ib)...), "--ranges=4")),
			ContainElements("--element-ids=1,2", "--owner="+ns+"/sized")))
		expectReadyReason(ib, indexbuildv1alpha1.PhaseMerging, ReasonMerging, timeout, "0 of 4 key ranges merged, 0 running")

		updateJobStatus(merge, func(j *batchv1.Job) { testutil.JobRunning(j, 1, "0-2") })
		expectReadyReason(ib, indexbuildv1alpha1.PhaseMerging, ReasonMerging, suiteProgressInterval+timeout, "3 of 4 key ranges merged, 1 running")
		Expect(getIndexBuild(Default, ib).Status.Merge).To(Equal(&indexbuildv1alpha1.MergeStatus{Ranges: 4, Succeeded: 3, Active: 1, Progress: "3/4"}))
		Expect(printedColumns(ib)).To(SatisfyAll(HaveKeyWithValue("Phase", "Merging"), HaveKeyWithValue("Ranges", "3/4"),
			HaveKeyWithValue("Partitions", "8/8"), HaveKeyWithValue("Reason", "Merging")), "kubectl get ib")

		updateJobStatus(merge, testutil.JobSucceeded)
		finalize := waitForJob(ns, "sized-1-finalize")
		Expect(mergeFlags(finalize)).To(Equal([]string{"--merge-ranges=4"}))
		expectReadyReason(ib, indexbuildv1alpha1.PhaseFinalizing, ReasonFinalizing, timeout)
		updateJobStatus(finalize, testutil.JobSucceeded)
		expectReadyReason(ib, indexbuildv1alpha1.PhaseSucceeded, ReasonCommitted, timeout)
		Expect(getIndexBuild(Default, ib).Status.Merge).To(Equal(&indexbuildv1alpha1.MergeStatus{Ranges: 4, Succeeded: 4, Progress: "4/4"}))
		expectQuiet(ib)
	})

	DescribeTable("skips the merge Job where the task needs none",
		func(ib *indexbuildv1alpha1.IndexBuild, staged []int64, wantFlags []string, skipped string) {
			ib.Namespace = ns
			Expect(k8sClient.Create(ctx, ib)).To(Succeed())
			buildStaged(ib, staged...)
			finalize := waitForJob(ns, childJobName(ib, RoleFinalize))
			Expect(mergeFlags(finalize)).To(Equal(wantFlags))
			expectNoJob(ns, childJobName(ib, RoleMerge))
			got := getIndexBuild(Default, ib)
			Expect(got.Status.Merge).NotTo(BeNil())
			Expect(got.Status.Merge.Ranges).To(BeZero())
			Expect(got.Status.Merge.Skipped).To(ContainSubstring(skipped))

			By("never deciding again once finalize exists, though the workers' summaries are gone")
			var pods corev1.PodList
			Expect(k8sClient.List(ctx, &pods, client.InNamespace(ns))).To(Succeed())
			for i := range pods.Items {
				Expect(k8sClient.Delete(ctx, &pods.Items[i], client.GracePeriodSeconds(0))).To(Succeed())
			}
			updateJobStatus(finalize, func(j *batchv1.Job) { testutil.JobRunning(j, 1, "") })
			expectReadyReason(ib, indexbuildv1alpha1.PhaseFinalizing, ReasonFinalizing, timeout)
			expectNoJob(ns, childJobName(ib, RoleMerge))
		},
		Entry("fulltext elements", testutil.MakeIndexBuild("fulltext", "").ElementType(indexbuildv1alpha1.ElementTypeFulltext).Partitions(4).Obj(),
			[]int64{512 * mib, 512 * mib, 512 * mib, 512 * mib}, nil, "fulltext"),
		Entry("one partition", testutil.MakeIndexBuild("single", "").Partitions(1).MergeRanges(4).Obj(),
			[]int64{512 * mib}, nil, "single partition"),
		Entry("a small build: finalize merges in its own pod", testutil.MakeIndexBuild("small", "").Partitions(4).Obj(),
			[]int64{mib, mib, mib, mib}, []string{"--merge-local"}, "4.0 MiB, below 64.0 MiB"),
	)

	It("runs the ranges spec.merge asks for, whatever the size", func() {
		ib := testutil.MakeIndexBuild("explicit", ns).Partitions(4).MergeRanges(6).Obj()
		ib.Spec.Merge.Parallelism = ptr.To[int32](2)
		Expect(k8sClient.Create(ctx, ib)).To(Succeed())
		buildStaged(ib, mib, mib, mib, mib)
		merge := waitForJob(ns, "explicit-1-merge")
		Expect(*merge.Spec.Completions).To(Equal(int32(6)))
		Expect(*merge.Spec.Parallelism).To(Equal(int32(2)))
		Expect(containerArgs(merge)).To(ContainElement("--ranges=6"))
		updateJobStatus(merge, testutil.JobSucceeded)
		Expect(mergeFlags(waitForJob(ns, "explicit-1-finalize"))).To(Equal([]string{"--merge-ranges=6"}))
	})

	It("adopts an existing merge Job as it is, never deciding its ranges again", func() {
		ib := testutil.MakeIndexBuild("adopt", ns).Partitions(4).Obj()
		Expect(k8sClient.Create(ctx, ib)).To(Succeed())
		build := waitForJob(ns, "adopt-1-build")
		patchSpec(ib, func(ib *indexbuildv1alpha1.IndexBuild) { ib.Spec.Suspend = true })
		expectReadyReason(ib, indexbuildv1alpha1.PhaseBuilding, ReasonSuspended, timeout)
		// The merge Job an earlier reconcile created with 3 ranges (a
		// restarted manager, a status write that was lost).
		existing := newMergeJob(getIndexBuild(Default, ib), podDefaults{image: builderName}, mergePlan{ranges: 3})
		Expect(*existing.Spec.Suspend).To(BeTrue())
		Expect(k8sClient.Create(ctx, existing)).To(Succeed())
		// Small enough for a local merge, were it decided now.
		buildStaged(ib, mib, mib, mib, mib)
		Expect(build.Name).To(Equal(childJobName(ib, RoleBuild)))
		expectReadyReason(ib, indexbuildv1alpha1.PhaseMerging, ReasonSuspended, timeout, "0 of 3 key ranges merged")

		patchSpec(ib, func(ib *indexbuildv1alpha1.IndexBuild) { ib.Spec.Suspend = false })
		expectReadyReason(ib, indexbuildv1alpha1.PhaseMerging, ReasonMerging, timeout, "0 of 3 key ranges merged")
		Eventually(func(g Gomega) {
			got := &batchv1.Job{}
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(existing), got)).To(Succeed())
			g.Expect(got.UID).To(Equal(existing.UID))
			g.Expect(*got.Spec.Completions).To(Equal(int32(3)))
			g.Expect(*got.Spec.Suspend).To(BeFalse(), "the adopted Job follows spec.suspend")
		}, timeout, interval).Should(Succeed())
		updateJobStatus(existing, testutil.JobSucceeded)
		Expect(mergeFlags(waitForJob(ns, "adopt-1-finalize"))).To(Equal([]string{"--merge-ranges=3"}))
	})

	DescribeTable("ends the build with the reason a merge pod gave",
		func(exitCode int32, rule int, podError, reason string) {
			ib := testutil.MakeIndexBuild("merge-exit", ns).JobID(7).TableID(9).Partitions(4).Obj()
			Expect(k8sClient.Create(ctx, ib)).To(Succeed())
			buildStaged(ib)
			merge := waitForJob(ns, "merge-exit-7-merge")
			terminatedPod(merge, "merge-exit-7-merge-2-abc", exitCode, mustJSON(summary.Merge{Range: 2, Ranges: 4, Error: podError}))
			updateJobStatus(merge, func(j *batchv1.Job) {
				testutil.JobFailedByPodFailurePolicy(j, "merge-exit-7-merge-2-abc", containerMerge, exitCode, rule)
			})
			expectReadyReason(ib, indexbuildv1alpha1.PhaseFailed, reason, timeout, podError, ns+"/merge-exit/7", "table 9", "Job merge-exit-7-merge")
			got := getIndexBuild(Default, ib)
			Expect(conditionStatus(got, indexbuildv1alpha1.ConditionStalled)).To(Equal(metav1.ConditionTrue))
			Expect(conditionStatus(got, indexbuildv1alpha1.ConditionStaleMeta)).To(Equal(map[bool]metav1.ConditionStatus{true: metav1.ConditionTrue, false: metav1.ConditionFalse}[reason == ReasonStaleMeta]))
			expectEvent(ns, "merge-exit", corev1.EventTypeWarning, reason)
			expectNoJob(ns, "merge-exit-7-finalize")
			expectQuiet(ib)
		},
		Entry("exit 4: a unique index with a duplicate key across partitions", int32(4), 1,
			`invalid input: unique index 2 (idx_isbn): duplicate key ("978-1") in rows "7" and "912"`, ReasonInvalidInput),
		Entry("exit 3: the task changed under the staged partitions", int32(3), 0,
			"stale task metadata: partition 3 was built for job 6", ReasonStaleMeta),
		Entry("exit 5: the output belongs to another IndexBuild", int32(5), 2,
			"output in use: s3://indexes/merge-exit belongs to IndexBuild other/x", ReasonOutputInUse),
	)

	It("ends BackoffLimitExceeded when a range runs out of retries, counting it", func() {
		ib := testutil.MakeIndexBuild("merge-flaky", ns).Partitions(4).Obj()
		Expect(k8sClient.Create(ctx, ib)).To(Succeed())
		buildStaged(ib)
		merge := waitForJob(ns, "merge-flaky-1-merge")
		terminatedPod(merge, "merge-flaky-1-merge-1-a", 1, mustJSON(summary.Merge{Range: 1, Ranges: 4, Error: "storage read: connection reset"}))
		updateJobStatus(merge, func(j *batchv1.Job) {
			j.Status.CompletedIndexes = "0"
			j.Status.Succeeded = 1
			testutil.JobIndexesFailed(j, "1")
		})
		expectReadyReason(ib, indexbuildv1alpha1.PhaseFailed, ReasonBackoffLimitExceeded, timeout, "connection reset")
		Expect(getIndexBuild(Default, ib).Status.Merge).To(Equal(&indexbuildv1alpha1.MergeStatus{Ranges: 4, Succeeded: 1, Failed: 1, Progress: "1/4"}))
	})

	It("checks the task metadata before the merge goes on: a change fails it StaleMeta and stops the merge pods", func() {
		ib := testutil.MakeIndexBuild("merge-stale", ns).Partitions(4).Obj()
		Expect(k8sClient.Create(ctx, ib)).To(Succeed())
		buildStaged(ib)
		merge := waitForJob(ns, "merge-stale-1-merge")
		updateJobStatus(merge, func(j *batchv1.Job) { testutil.JobRunning(j, 4, "") })
		expectReadyReason(ib, indexbuildv1alpha1.PhaseMerging, ReasonMerging, timeout)

		patchSpec(ib, func(ib *indexbuildv1alpha1.IndexBuild) { ib.Spec.TableID = 101 })
		expectReadyReason(ib, indexbuildv1alpha1.PhaseFailed, ReasonStaleMeta, timeout, "tableID", "100", "101")
		Expect(conditionStatus(getIndexBuild(Default, ib), indexbuildv1alpha1.ConditionStaleMeta)).To(Equal(metav1.ConditionTrue))
		Eventually(func() bool {
			return apierrors.IsNotFound(k8sClient.Get(ctx, client.ObjectKeyFromObject(merge), &batchv1.Job{}))
		}, timeout, interval).Should(BeTrue(), "the merge Job was not stopped")
		expectNoJob(ns, "merge-stale-1-finalize")
		expectQuiet(ib)
	})

	It("holds the merge pods while suspended and resumes the same Job", func() {
		ib := testutil.MakeIndexBuild("merge-paused", ns).Partitions(4).Obj()
		Expect(k8sClient.Create(ctx, ib)).To(Succeed())
		buildStaged(ib)
		merge := waitForJob(ns, "merge-paused-1-merge")
		Expect(*merge.Spec.Suspend).To(BeFalse())
		updateJobStatus(merge, func(j *batchv1.Job) { testutil.JobRunning(j, 2, "0") })

		patchSpec(ib, func(ib *indexbuildv1alpha1.IndexBuild) { ib.Spec.Suspend = true })
		Eventually(func(g Gomega) {
			got := &batchv1.Job{}
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(merge), got)).To(Succeed())
			g.Expect(*got.Spec.Suspend).To(BeTrue())
		}, timeout, interval).Should(Succeed())
		expectReadyReason(ib, indexbuildv1alpha1.PhaseMerging, ReasonSuspended, timeout)
		Expect(conditionStatus(getIndexBuild(Default, ib), indexbuildv1alpha1.ConditionSuspended)).To(Equal(metav1.ConditionTrue))

		patchSpec(ib, func(ib *indexbuildv1alpha1.IndexBuild) { ib.Spec.Suspend = false })
		Eventually(func(g Gomega) {
			got := &batchv1.Job{}
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(merge), got)).To(Succeed())
			g.Expect(*got.Spec.Suspend).To(BeFalse())
			g.Expect(got.UID).To(Equal(merge.UID), "the same Job resumes")
		}, timeout, interval).Should(Succeed())
		expectReadyReason(ib, indexbuildv1alpha1.PhaseMerging, ReasonMerging, timeout, "1 of 4 key ranges merged")
	})

	It("creates the merge Job suspended when the build is suspended as it completes", func() {
		ib := testutil.MakeIndexBuild("merge-held", ns).Partitions(4).Obj()
		Expect(k8sClient.Create(ctx, ib)).To(Succeed())
		build := waitForJob(ns, "merge-held-1-build")
		patchSpec(ib, func(ib *indexbuildv1alpha1.IndexBuild) { ib.Spec.Suspend = true })
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(build), build)).To(Succeed())
			g.Expect(*build.Spec.Suspend).To(BeTrue())
		}, timeout, interval).Should(Succeed())
		updateJobStatus(build, testutil.JobSucceeded)
		merge := waitForJob(ns, "merge-held-1-merge")
		Expect(*merge.Spec.Suspend).To(BeTrue())
		expectReadyReason(ib, indexbuildv1alpha1.PhaseMerging, ReasonSuspended, timeout)
	})

	It("ends a merge past spec.activeDeadlineSeconds and stops its pods", func() {
		ib := testutil.MakeIndexBuild("merge-slow", ns).Partitions(4).ActiveDeadlineSeconds(600).Obj()
		Expect(k8sClient.Create(ctx, ib)).To(Succeed())
		buildStaged(ib)
		merge := waitForJob(ns, "merge-slow-1-merge")
		updateJobStatus(merge, func(j *batchv1.Job) { testutil.JobRunning(j, 4, "") })
		expectReadyReason(ib, indexbuildv1alpha1.PhaseMerging, ReasonMerging, timeout)
		Expect(reconcileNow(ib).RequeueAfter).To(BeNumerically("<=", 600*time.Second), "no reconcile at the deadline")

		suiteClock.skip(601 * time.Second)
		reconcileNow(ib)
		expectReadyReason(ib, indexbuildv1alpha1.PhaseFailed, ReasonDeadlineExceeded, timeout, "spec.activeDeadlineSeconds=600")
		Eventually(func() bool {
			return apierrors.IsNotFound(k8sClient.Get(ctx, client.ObjectKeyFromObject(merge), &batchv1.Job{}))
		}, timeout, interval).Should(BeTrue(), "the merge Job was not stopped")
		expectNoJob(ns, "merge-slow-1-finalize")
		expectQuiet(ib)
	})
})

// expectNoJob asserts that a Job does not exist (and is not created).
func expectNoJob(ns, name string) {
	GinkgoHelper()
	Consistently(func() bool {
		return apierrors.IsNotFound(k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &batchv1.Job{}))
	}, time.Second, interval).Should(BeTrue(), "Job %s exists", name)
}

// printedColumns is the row kubectl get shows for ib: the apiserver's
// table of the CRD's printer columns.
func printedColumns(ib *indexbuildv1alpha1.IndexBuild) map[string]any {
	GinkgoHelper()
	raw, err := kubernetes.NewForConfigOrDie(cfg).Discovery().RESTClient().Get().
		AbsPath("/apis", indexbuildv1alpha1.GroupVersion.Group, indexbuildv1alpha1.GroupVersion.Version, "namespaces", ib.Namespace, "indexbuilds", ib.Name).
		SetHeader("Accept", "application/json;as=Table;v=v1;g=meta.k8s.io").DoRaw(ctx)
	Expect(err).NotTo(HaveOccurred())
	var table metav1.Table
	Expect(json.Unmarshal(raw, &table)).To(Succeed())
	Expect(table.Rows).To(HaveLen(1))
	row := map[string]any{}
	for i, col := range table.ColumnDefinitions {
		row[col.Name] = table.Rows[0].Cells[i]
	}
	return row
}
