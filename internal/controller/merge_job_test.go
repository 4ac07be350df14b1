package controller

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
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
		"empty build: finalize merges":        {ib: index(8).Obj(), staged: stagedSize{known: true}, local: true, skipped: "0.0 MiB", bySizeOf: true},
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
