package controller

import (
	batchv1 "k8s.io/api/batch/v1"
	"k8s.io/utils/ptr"

	indexbuildv1alpha1 "github.com/indexbuild/indexbuild/api/v1alpha1"
)

// newBuildJob is the Indexed Job that runs one worker per partition. The
// partition index reaches the worker as JOB_COMPLETION_INDEX.
func newBuildJob(ib *indexbuildv1alpha1.IndexBuild, defaults podDefaults) *batchv1.Job {
	args := append([]string{"build"}, taskArgs(ib)...)
	job := newChildJob(ib, RoleBuild, containerWorker, defaults, args)
	indexed(ib, job, ib.Spec.Partitions, ptr.Deref(ib.Spec.Parallelism, ib.Spec.Partitions))
	return job
}

// indexed makes job an Indexed Job of completions pods, at most
// parallelism at once, each index retried spec.backoffLimitPerPartition
// times. It follows spec.suspend (the Job controller keeps finished
// indexes), and a queued Job starts suspended.
func indexed(ib *indexbuildv1alpha1.IndexBuild, job *batchv1.Job, completions, parallelism int32) {
	job.Spec.CompletionMode = ptr.To(batchv1.IndexedCompletion)
	job.Spec.Completions = ptr.To(completions)
	job.Spec.Parallelism = ptr.To(parallelism)
	job.Spec.BackoffLimitPerIndex = ptr.To(ptr.Deref(ib.Spec.BackoffLimitPerPartition, 3))
	// One index out of retries dooms the build: the next stage needs them
	// all, so stop the others at once instead of finishing work nobody can
	// use.
	job.Spec.MaxFailedIndexes = ptr.To[int32](0)
	job.Spec.Suspend = ptr.To(queueName(job) != "")
	if ib.Spec.Suspend {
		suspendByOperator(job)
	}
}
