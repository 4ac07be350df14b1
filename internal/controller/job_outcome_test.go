package controller

import (
	"strings"
	"testing"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"

	"github.com/indexbuild/indexbuild/internal/testutil"
)

func TestClassifyJob(t *testing.T) {
	ib := testutil.MakeIndexBuild("b", "ns").Obj()
	tests := []struct {
		name      string
		mutate    func(*batchv1.Job)
		complete  bool
		failed    bool
		reason    string
		failedPod string
	}{
		{name: "new", mutate: func(*batchv1.Job) {}},
		{name: "running", mutate: func(j *batchv1.Job) { testutil.JobRunning(j, 2, "0") }},
		{name: "complete", mutate: testutil.JobSucceeded, complete: true},
		{name: "exit 3 fails with StaleMeta", mutate: func(j *batchv1.Job) {
			testutil.JobFailedByPodFailurePolicy(j, "b-1-build-2-x", "worker", 3, 0)
		}, failed: true, reason: ReasonStaleMeta, failedPod: "b-1-build-2-x"},
		{name: "exit 4 fails with InvalidInput", mutate: func(j *batchv1.Job) {
			testutil.JobFailedByPodFailurePolicy(j, "p", "worker", 4, 1)
		}, failed: true, reason: ReasonInvalidInput, failedPod: "p"},
		{name: "other exit code keeps the Job's reason", mutate: func(j *batchv1.Job) {
			testutil.JobFailedByPodFailurePolicy(j, "p", "worker", 42, 0)
		}, failed: true, reason: batchv1.JobReasonPodFailurePolicy, failedPod: "p"},
		{name: "indexes out of retries", mutate: func(j *batchv1.Job) { testutil.JobIndexesFailed(j, "2") }, failed: true, reason: ReasonBackoffLimitExceeded},
		{name: "backoff limit", mutate: func(j *batchv1.Job) {
			testutil.JobFailed(j, batchv1.JobReasonBackoffLimitExceeded, "Job has reached the specified backoff limit")
		}, failed: true, reason: ReasonBackoffLimitExceeded},
		{name: "deadline", mutate: func(j *batchv1.Job) { testutil.JobFailed(j, batchv1.JobReasonDeadlineExceeded, "too slow") }, failed: true, reason: batchv1.JobReasonDeadlineExceeded},
		{name: "failure target only is not terminal yet", mutate: func(j *batchv1.Job) {
			j.Status.Conditions = []batchv1.JobCondition{{Type: batchv1.JobFailureTarget, Status: corev1.ConditionTrue, Reason: batchv1.JobReasonPodFailurePolicy}}
		}},
		{name: "false conditions do not count", mutate: func(j *batchv1.Job) {
			j.Status.Conditions = []batchv1.JobCondition{{Type: batchv1.JobFailed, Status: corev1.ConditionFalse}}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			job := newBuildJob(ib, podDefaults{image: "img"})
			tt.mutate(job)
			got := classifyJob(job)
			if got.Complete != tt.complete || got.Failed != tt.failed || got.Reason != tt.reason || got.FailedPod != tt.failedPod {
				t.Fatalf("classifyJob = %+v, want complete=%v failed=%v reason=%q pod=%q", got, tt.complete, tt.failed, tt.reason, tt.failedPod)
			}
			if got.finished() != (tt.complete || tt.failed) {
				t.Fatalf("finished() = %v", got.finished())
			}
		})
	}
}

func TestPartitionCounts(t *testing.T) {
	job := newBuildJob(testutil.MakeIndexBuild("b", "ns").Partitions(8).Obj(), podDefaults{image: "img"})
	testutil.JobRunning(job, 3, "0-2,5")
	job.Status.FailedIndexes = ptr.To("6,7")
	got := partitionCounts(job, 8)
	if got.Total != 8 || got.Succeeded != 4 || got.Active != 3 || got.Failed != 2 || got.FailedIndexes != "6,7" {
		t.Fatalf("partitionCounts = %+v", got)
	}
}

func TestDescribeFailureNamesTheTask(t *testing.T) {
	ib := testutil.MakeIndexBuild("orders", "shop").JobID(77).TableID(12).ElementIDs(3, 4).Obj()
	job := newBuildJob(ib, podDefaults{image: "img"})
	testutil.JobFailedByPodFailurePolicy(job, "p", "worker", 3, 0)
	msg := describeFailure(ib, job, classifyJob(job), "element 4 not found in table 12 (job 77)")
	for _, want := range []string{"orders-77-build", "exit code 3", "element 4 not found", "shop/orders/77", "job 77", "table 12", "[3 4]"} {
		if !strings.Contains(msg, want) {
			t.Errorf("message %q lacks %q", msg, want)
		}
	}
}
