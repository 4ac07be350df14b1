package controller

import (
	"strconv"

	batchv1 "k8s.io/api/batch/v1"
	"k8s.io/utils/ptr"

	indexbuildv1alpha1 "github.com/indexbuild/indexbuild/api/v1alpha1"
)

// newFinalizeJob is the single-pod Job that runs `indexbuild finalize`, the
// idempotent commit of the staged partitions (or of the merge stage's key
// ranges, mergeArgs) through the marker object.
func newFinalizeJob(ib *indexbuildv1alpha1.IndexBuild, defaults podDefaults, merge mergePlan) *batchv1.Job {
	args := append([]string{"finalize"}, taskArgs(ib)...)
	if ib.Spec.Output.KeepVersions > 0 {
		args = append(args, "--keep-versions="+strconv.Itoa(int(ib.Spec.Output.KeepVersions)))
	}
	args = append(args, mergeArgs(merge)...)
	job := newChildJob(ib, RoleFinalize, containerFinalize, defaults, args)
	job.Spec.Completions = ptr.To[int32](1)
	job.Spec.Parallelism = ptr.To[int32](1)
	job.Spec.BackoffLimit = ptr.To(ptr.Deref(ib.Spec.FinalizeBackoffLimit, 3))
	job.Spec.ActiveDeadlineSeconds = finalizeDeadline(ib)
	return job
}
