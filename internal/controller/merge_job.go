package controller

import (
	"context"
	"fmt"
	"strconv"

	batchv1 "k8s.io/api/batch/v1"
	"k8s.io/utils/ptr"

	indexbuildv1alpha1 "github.com/indexbuild/indexbuild/api/v1alpha1"
	"github.com/indexbuild/indexbuild/internal/summary"
	"github.com/indexbuild/indexbuild/internal/units"
)

// Global sort's size rule for a merge with spec.merge.ranges unset. Below
// localMergeBytes staged by the workers, a merge Job's pods (scheduling,
// image, start-up: seconds each) cost more than merging in finalize's own
// pod, which reads that much in well under a second from a local disk and
// a few from object storage. Above it, each range merges about rangeBytes,
// a size one pod merges in tens of seconds without spilling its scratch.
const (
	localMergeBytes int64 = 64 << 20
	rangeBytes      int64 = 256 << 20
)

// mergePlan is how a task's merge stage runs, decided once as the stage is
// reached (mergeRule, mergeBySize) and never again once its Job exists.
type mergePlan struct {
	// ranges is the merge Job's key ranges (its completions); 0 when the
	// task has no merge Job.
	ranges int32
	// local: no merge Job because the build is small; finalize merges in
	// its own pod (--merge-local).
	local bool
	// skipped says why the task has no merge Job.
	skipped string
}

// stagedSize is what the build's workers staged: the sum of their
// summaries' bytes, known only when every partition left one.
type stagedSize struct {
	bytes int64
	known bool
}

// mergeRule is the merge plan as far as an existing Job and the spec
// decide it; decided is false when the staged size decides (mergeBySize).
// An existing merge Job is adopted as it is; fulltext elements keep their
// per-partition files and one partition is sorted across the table
// already; spec.merge.ranges is taken as asked.
func mergeRule(ib *indexbuildv1alpha1.IndexBuild, mergeJob *batchv1.Job) (plan mergePlan, decided bool) {
	switch {
	case mergeJob != nil:
		return mergePlan{ranges: ptr.Deref(mergeJob.Spec.Completions, 1)}, true
	case ib.Spec.ElementType == indexbuildv1alpha1.ElementTypeFulltext:
		return mergePlan{skipped: "fulltext elements keep their per-partition files"}, true
	case ib.Spec.Partitions <= 1:
		return mergePlan{skipped: "a single partition is sorted across the table already"}, true
	case ib.Spec.Merge != nil && ib.Spec.Merge.Ranges != nil:
		return mergePlan{ranges: *ib.Spec.Merge.Ranges}, true
	}
	return mergePlan{}, false
}

// mergeBySize decides the rest from the staged size: below
// localMergeBytes no Job at all, else one range per rangeBytes, at least
// one and at most one per partition. An unknown size (a partition's
// summary is gone, or the builder reports none) gets one range per
// partition: a merge Job is right whatever the size, a local merge of an
// unknown size may not fit finalize's pod.
func mergeBySize(ib *indexbuildv1alpha1.IndexBuild, staged stagedSize) mergePlan {
	switch {
	case !staged.known:
		return mergePlan{ranges: ib.Spec.Partitions}
	case staged.bytes < localMergeBytes:
		return mergePlan{local: true, skipped: fmt.Sprintf(
			"the workers staged %s, below %s: finalize merges in its own pod", units.Bytes(staged.bytes), units.Bytes(localMergeBytes))}
	}
	ranges := (staged.bytes + rangeBytes - 1) / rangeBytes
	return mergePlan{ranges: int32(min(max(ranges, 1), int64(ib.Spec.Partitions)))}
}

// stagedBytes reads the staged size from the build's succeeded pods'
// termination messages (summary.Worker), the newest one of each partition.
// A build Job that has not completed has no size yet.
func (r *IndexBuildReconciler) stagedBytes(ctx context.Context, ib *indexbuildv1alpha1.IndexBuild, build *batchv1.Job) (stagedSize, error) {
	if build == nil || !classifyJob(build).Complete {
		return stagedSize{}, nil
	}
	msgs, err := r.terminationMessages(ctx, build, 0, "")
	if err != nil {
		return stagedSize{}, fmt.Errorf("read the build's worker summaries: %w", err)
	}
	byPartition := map[int]int64{}
	for _, msg := range msgs {
		w, err := summary.ParseWorker(msg)
		if err != nil || w.Partition < 0 || w.Partition >= int(ib.Spec.Partitions) {
			continue
		}
		if _, seen := byPartition[w.Partition]; !seen {
			byPartition[w.Partition] = w.Bytes
		}
	}
	if len(byPartition) < int(ib.Spec.Partitions) {
		return stagedSize{}, nil
	}
	var size stagedSize
	for _, b := range byPartition {
		size.bytes += b
	}
	size.known = true
	return size, nil
}

// newMergeJob is the Indexed Job that merges key range r of plan.ranges
// in pod r (JOB_COMPLETION_INDEX). Merge pods check the task against the
// staged one and the catalog, like the workers, so they read the source
// and write the output.
func newMergeJob(ib *indexbuildv1alpha1.IndexBuild, defaults podDefaults, plan mergePlan) *batchv1.Job {
	args := append(append([]string{"merge"}, taskArgs(ib)...), "--ranges="+strconv.Itoa(int(plan.ranges)))
	job := newChildJob(ib, RoleMerge, containerMerge, defaults, args)
	var parallelism *int32
	if ib.Spec.Merge != nil {
		parallelism = ib.Spec.Merge.Parallelism
	}
	indexed(ib, job, plan.ranges, ptr.Deref(parallelism, plan.ranges))
	return job
}

// mergeArgs are finalize's flags for the merge stage's outcome: commit the
// merge Job's ranges, merge in-process, or commit per-partition files.
func mergeArgs(plan mergePlan) []string {
	switch {
	case plan.ranges > 0:
		return []string{"--merge-ranges=" + strconv.Itoa(int(plan.ranges))}
	case plan.local:
		return []string{"--merge-local"}
	}
	return nil
}

// mergeProgress records the merge Job's ranges in the status and says how
// far it is.
func mergeProgress(status phaseConditions, _ *indexbuildv1alpha1.IndexBuild, job *batchv1.Job) string {
	if job == nil {
		return "merging the partitions' sorted files by key range"
	}
	c := partitionCounts(job, ptr.Deref(job.Spec.Completions, 0))
	status.merge(indexbuildv1alpha1.MergeStatus{Ranges: c.Total, Succeeded: c.Succeeded, Failed: c.Failed, Active: c.Active})
	return fmt.Sprintf("%d of %d key ranges merged, %d running", c.Succeeded, c.Total, c.Active)
}

// skipMerge is the merge stage's skip rule: no Job when the plan has no
// ranges; the status says why.
func skipMerge(status phaseConditions, plan taskPlan) bool {
	if plan.merge.ranges > 0 {
		return false
	}
	status.merge(indexbuildv1alpha1.MergeStatus{Skipped: plan.merge.skipped})
	return true
}
