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
	// LabelMaxExecTime bounds each admitted Job's run (Kueue evicts it
	// past it); every stage Job gets it.
	LabelMaxExecTime = "kueue.x-k8s.io/max-exec-time-seconds"
	// AnnotationMinParallelism lets Kueue admit the build Job with fewer
	// pods than spec.parallelism (partial admission); the other stages run
	// one pod per index anyway.
	AnnotationMinParallelism = "kueue.x-k8s.io/job-min-parallelism"
)

// AnnotationSuspendedByOperator marks a Job the operator suspended for
// spec.suspend: the only suspension it ever lifts. A Job suspended by
// anyone else — Kueue's manageJobsWithoutQueueName suspends every Job
// without a queue label until it admits it — stays as it is, so two
// controllers never undo each other.
const AnnotationSuspendedByOperator = "indexbuild.dev/suspended-by-operator"

// suspendByOperator suspends job for spec.suspend.
func suspendByOperator(job *batchv1.Job) {
	job.Spec.Suspend = ptr.To(true)
	if job.Annotations == nil {
		job.Annotations = map[string]string{}
	}
	job.Annotations[AnnotationSuspendedByOperator] = "true"
}

// resumeByOperator lifts the operator's own suspension of job.
func resumeByOperator(job *batchv1.Job) {
	job.Spec.Suspend = ptr.To(false)
	delete(job.Annotations, AnnotationSuspendedByOperator)
}

func suspendedByOperator(job *batchv1.Job) bool {
	return job.Annotations[AnnotationSuspendedByOperator] == "true"
}

// addQueueLabels copies the IndexBuild's queue labels to a child Job. A
// queued Job is created suspended, as Kueue's webhook would make it
// anyway: Kueue, not the operator, decides when it starts.
func addQueueLabels(ib *indexbuildv1alpha1.IndexBuild, job *batchv1.Job) {
	for _, key := range []string{LabelQueueName, LabelPriorityClass, LabelMaxExecTime} {
		if v, ok := ib.Labels[key]; ok {
			job.Labels[key] = v
		}
	}
	if v, ok := ib.Annotations[AnnotationMinParallelism]; ok && job.Labels[LabelRole] == RoleBuild {
		if job.Annotations == nil {
			job.Annotations = map[string]string{}
		}
		job.Annotations[AnnotationMinParallelism] = v
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

// queuedMessage describes a Job held by its queue, or suspended by another
// controller; ok is false when the Job runs, or only the operator holds it.
func queuedMessage(job *batchv1.Job) (string, bool) {
	if !ptr.Deref(job.Spec.Suspend, false) || suspendedByOperator(job) || classifyJob(job).finished() {
		return "", false
	}
	if q := queueName(job); q != "" {
		return fmt.Sprintf("Job %s waits for queue %q to admit it", job.Name, q), true
	}
	return fmt.Sprintf("Job %s is suspended by another controller (Kueue's manageJobsWithoutQueueName?): it starts when that controller resumes it", job.Name), true
}
