package controller

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"

	indexbuildv1alpha1 "github.com/indexbuild/indexbuild/api/v1alpha1"
	"github.com/indexbuild/indexbuild/internal/indexset"
	"github.com/indexbuild/indexbuild/internal/retry"
)

// jobOutcome is what a child Job's status says about its task.
type jobOutcome struct {
	Complete bool
	Failed   bool
	// Reason is the IndexBuild failure reason when Failed: StaleMeta,
	// InvalidInput or BackoffLimitExceeded (or the Job's own reason, such
	// as DeadlineExceeded, for failures the contract does not name).
	Reason string
	// Message is the Job's failure message.
	Message string
	// FailedPod names the pod whose exit code failed the Job through the
	// pod failure policy, when the Job says so.
	FailedPod string
}

// finished reports whether the Job has ended, either way.
func (o jobOutcome) finished() bool { return o.Complete || o.Failed }

// The Job controller's message for a pod failure policy match, e.g.
// "Container worker for pod ns/p-0 failed with exit code 3 matching FailJob rule at index 0".
var podFailurePolicyMessage = regexp.MustCompile(`for pod ([^ ]+) failed with exit code (\d+)`)

// classifyJob reads a Job's terminal conditions. Only Complete and Failed
// count: FailureTarget and SuccessCriteriaMet come first, while pods may
// still be terminating.
func classifyJob(job *batchv1.Job) jobOutcome {
	for _, c := range job.Status.Conditions {
		if c.Status != corev1.ConditionTrue {
			continue
		}
		switch c.Type {
		case batchv1.JobComplete:
			return jobOutcome{Complete: true}
		case batchv1.JobFailed:
			return jobOutcome{Failed: true, Reason: failureReason(c.Reason, c.Message), Message: c.Message, FailedPod: failedPod(c.Message)}
		}
	}
	return jobOutcome{}
}

func failureReason(jobReason, message string) string {
	switch jobReason {
	case batchv1.JobReasonPodFailurePolicy:
		if m := podFailurePolicyMessage.FindStringSubmatch(message); m != nil {
			code, _ := strconv.ParseInt(m[2], 10, 32)
			if r := retry.ReasonForExitCode(int32(code)); r != "" {
				return r
			}
		}
		return jobReason
	case batchv1.JobReasonBackoffLimitExceeded, batchv1.JobReasonFailedIndexes, batchv1.JobReasonMaxFailedIndexesExceeded:
		return ReasonBackoffLimitExceeded
	default:
		return jobReason
	}
}

func failedPod(message string) string {
	m := podFailurePolicyMessage.FindStringSubmatch(message)
	if m == nil {
		return ""
	}
	// The message names the pod as namespace/name.
	if i := strings.LastIndexByte(m[1], '/'); i >= 0 {
		return m[1][i+1:]
	}
	return m[1]
}

// partitionCounts reads the build Job's progress: for an Indexed Job,
// succeeded pods are completed indexes, and failedIndexes lists the
// partitions out of retries.
func partitionCounts(job *batchv1.Job, total int32) indexbuildv1alpha1.PartitionCounts {
	counts := indexbuildv1alpha1.PartitionCounts{Total: total, Active: job.Status.Active}
	counts.Succeeded = int32(indexset.Count(job.Status.CompletedIndexes))
	if job.Status.FailedIndexes != nil {
		counts.Failed = int32(indexset.Count(*job.Status.FailedIndexes))
		counts.FailedIndexes = *job.Status.FailedIndexes
	}
	return counts
}

// describeFailure is the condition message for a failed child Job: the
// Job's own words, the worker's error from its termination message when
// there is one, and the task it belonged to.
func describeFailure(ib *indexbuildv1alpha1.IndexBuild, job *batchv1.Job, out jobOutcome, workerError string) string {
	msg := fmt.Sprintf("Job %s failed (%s)", job.Name, out.Message)
	if workerError != "" {
		msg += ": " + workerError
	}
	return msg + fmt.Sprintf(" [task %s, job %d, table %d, elements %v]", taskKey(ib), ib.Spec.JobID, ib.Spec.TableID, ib.Spec.ElementIDs)
}
