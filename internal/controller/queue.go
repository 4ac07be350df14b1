package controller

import (
	"fmt"

	batchv1 "k8s.io/api/batch/v1"
	"k8s.io/utils/ptr"

	indexbuildv1alpha1 "github.com/indexbuild/indexbuild/api/v1alpha1"
)

// Kueue's labels: an IndexBuild that carries them hands its Jobs to that
// queue (and priority class).
const (
	LabelQueueName     = "kueue.x-k8s.io/queue-name"
	LabelPriorityClass = "kueue.x-k8s.io/priority-class"
)

// addQueueLabels copies the IndexBuild's queue labels to a child Job. A
// queued Job is created suspended, as Kueue's webhook would make it
// anyway: Kueue, not the operator, decides when it starts.
func addQueueLabels(ib *indexbuildv1alpha1.IndexBuild, job *batchv1.Job) {
	for _, key := range []string{LabelQueueName, LabelPriorityClass} {
		if v, ok := ib.Labels[key]; ok {
			job.Labels[key] = v
		}
	}
	if queueName(job) != "" {
		job.Spec.Suspend = ptr.To(true)
	}
}

// queueName is the queue a child Job waits in, "" when it is not queued.
// The operator never changes suspend on a queued Job: un-suspending is
// admission, Kueue's alone, and Kueue suspends on preemption (which the
// Job controller does not count as a failure).
func queueName(job *batchv1.Job) string {
	return job.Labels[LabelQueueName]
}

// queuedMessage describes a Job held by its queue; ok is false when the
// Job is not queued or runs.
func queuedMessage(job *batchv1.Job) (string, bool) {
	q := queueName(job)
	if q == "" || !ptr.Deref(job.Spec.Suspend, false) || classifyJob(job).finished() {
		return "", false
	}
	return fmt.Sprintf("Job %s waits for queue %q to admit it", job.Name, q), true
}
