package controller

import (
	"context"
	"fmt"
	"time"

	batchv1 "k8s.io/api/batch/v1"

	indexbuildv1alpha1 "github.com/indexbuild/indexbuild/api/v1alpha1"
)

// stage is one step of a task: a child Job run to completion before the
// next stage's Job is created. A new stage (the merge of global sort) is one
// more entry in taskStages, between build and finalize.
type stage struct {
	role string
	// newJob is the Job recipe (childJobName(ib, role) is its name).
	newJob func(ib *indexbuildv1alpha1.IndexBuild, defaults podDefaults) *batchv1.Job
	// outcome is the completion rule: whether the Job completed or failed,
	// and why.
	outcome func(*batchv1.Job) jobOutcome
	// The status words while the Job runs: the phase, the Ready reason, and
	// progress, which records the Job's progress in the status (job is nil
	// before it exists) and returns the Ready message.
	phase    indexbuildv1alpha1.Phase
	reason   string
	progress func(status phaseConditions, ib *indexbuildv1alpha1.IndexBuild, job *batchv1.Job) string
	// followsSuspend: spec.suspend holds the Job (the Job controller keeps
	// its finished indexes) and, before anything started, keeps it from
	// being created.
	followsSuspend bool
}

// taskStages are a task's stages, in order. The last one publishes: once
// its Job completed the task has Succeeded.
var taskStages = []stage{
	{
		role:    RoleBuild,
		newJob:  newBuildJob,
		outcome: classifyJob,
		phase:   indexbuildv1alpha1.PhaseBuilding,
		reason:  ReasonBuilding,
		progress: func(status phaseConditions, ib *indexbuildv1alpha1.IndexBuild, job *batchv1.Job) string {
			counts := indexbuildv1alpha1.PartitionCounts{Total: ib.Spec.Partitions}
			if job != nil {
				counts = partitionCounts(job, ib.Spec.Partitions)
			}
			status.partitions(counts)
			return fmt.Sprintf("%d of %d partitions built, %d running", counts.Succeeded, counts.Total, counts.Active)
		},
		followsSuspend: true,
	},
	{
		role:    RoleFinalize,
		newJob:  newFinalizeJob,
		outcome: classifyJob,
		phase:   indexbuildv1alpha1.PhaseFinalizing,
		reason:  ReasonFinalizing,
		progress: func(_ phaseConditions, ib *indexbuildv1alpha1.IndexBuild, _ *batchv1.Job) string {
			return "committing " + ib.Spec.Output.URI
		},
	},
}

// publishingStage is the stage whose completion is the task's success.
var publishingStage = taskStages[len(taskStages)-1]

// stageIndex is where a phase stands in taskStages: Pending before the
// first stage, a finished task after the last.
func stageIndex(phase indexbuildv1alpha1.Phase) int {
	if isTerminal(phase) {
		return len(taskStages)
	}
	for i, st := range taskStages {
		if st.phase == phase {
			return i
		}
	}
	return 0
}

// runStages is step 8 of reconcileTask: the first stage whose Job has not
// completed is where the task stands. Its Job is created when missing, a
// failed Job fails the task with its reason, a running one sets the phase
// and says why its pods do not run, if they do not. It returns when to look
// again for what brings no event.
func (r *IndexBuildReconciler) runStages(ctx context.Context, s *snapshot, status phaseConditions) (time.Duration, error) {
	ib := s.ib
	status.suspended(ib.Spec.Suspend)
	for i, st := range taskStages {
		job := s.jobs.current[st.role]
		if job == nil {
			st.progress(status, ib, nil)
			if i == 0 && st.followsSuspend && ib.Spec.Suspend {
				status.inProgress(indexbuildv1alpha1.PhasePending, ReasonSuspended, "suspended before the first worker started")
				return 0, nil
			}
			created, err := r.createJob(ctx, ib, st.newJob(ib, r.podDefaults))
			if created == nil {
				return r.failOnConflict(ctx, ib, status, err)
			}
			job = created
			s.jobs.current[st.role] = job
		}
		message := st.progress(status, ib, job)
		out := st.outcome(job)
		switch {
		case out.Complete:
			continue
		case out.Failed && restarts(s, job, out):
			r.restartStage(ctx, s, status, st, job, out)
			return 0, nil
		case out.Failed:
			r.failFromJob(ctx, ib, status, job, out)
			return 0, nil
		}
		reason := st.reason
		if st.followsSuspend {
			if err := r.syncSuspend(ctx, ib, job, ib.Spec.Suspend); err != nil {
				return 0, err
			}
		}
		if st.followsSuspend && ib.Spec.Suspend {
			reason = ReasonSuspended
		} else if queued, ok := queuedMessage(job); ok {
			reason, message = ReasonQueued, message+"; "+queued
		}
		status.inProgress(st.phase, reason, message)
		return r.reportPodTrouble(ctx, ib, status, job, s.now)
	}
	// Unreachable: step 5 ends a task whose publishing stage completed.
	return 0, nil
}
