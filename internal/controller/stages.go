package controller

import (
	"context"
	"fmt"
	"time"

	batchv1 "k8s.io/api/batch/v1"

	indexbuildv1alpha1 "github.com/indexbuild/indexbuild/api/v1alpha1"
)

// stage is one step of a task: a child Job run to completion before the
// next stage's Job is created, unless the stage's skip rule says the task
// needs none.
type stage struct {
	role string
	// newJob is the Job recipe (childJobName(ib, role) is its name).
	newJob func(ib *indexbuildv1alpha1.IndexBuild, defaults podDefaults, plan taskPlan) *batchv1.Job
	// skip is the stage's skip rule, asked when the stage is reached
	// without a Job: true runs none (and records why in the status) and
	// moves on. nil: the stage always runs.
	skip func(status phaseConditions, plan taskPlan) bool
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

// taskPlan is what the stages' recipes and skip rules decide on beyond the
// spec: the merge stage's plan.
type taskPlan struct {
	merge mergePlan
}

// taskStages are a task's stages, in order. The last one publishes: once
// its Job completed the task has Succeeded.
var taskStages = []stage{
	{
		role: RoleBuild,
		newJob: func(ib *indexbuildv1alpha1.IndexBuild, defaults podDefaults, _ taskPlan) *batchv1.Job {
			return newBuildJob(ib, defaults)
		},
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
		role: RoleMerge,
		newJob: func(ib *indexbuildv1alpha1.IndexBuild, defaults podDefaults, plan taskPlan) *batchv1.Job {
			return newMergeJob(ib, defaults, plan.merge)
		},
		skip:           skipMerge,
		outcome:        classifyJob,
		phase:          indexbuildv1alpha1.PhaseMerging,
		reason:         ReasonMerging,
		progress:       mergeProgress,
		followsSuspend: true,
	},
	{
		role: RoleFinalize,
		newJob: func(ib *indexbuildv1alpha1.IndexBuild, defaults podDefaults, plan taskPlan) *batchv1.Job {
			return newFinalizeJob(ib, defaults, plan.merge)
		},
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
// completed, and that is not skipped, is where the task stands. Its Job is
// created when missing, a failed Job fails the task with its reason, a
// running one sets the phase and says why its pods do not run, if they do
// not. A stage without a Job whose successor has one was skipped when that
// one was created: what a task runs is decided once. It returns when to
// look again for what brings no event.
func (r *IndexBuildReconciler) runStages(ctx context.Context, s *snapshot, status phaseConditions) (time.Duration, error) {
	ib := s.ib
	status.suspended(ib.Spec.Suspend)
	var plan *taskPlan
	for i, st := range taskStages {
		job := s.jobs.current[st.role]
		if job == nil {
			if laterStageStarted(s.jobs, i) {
				continue
			}
			if plan == nil {
				p, err := r.planTask(ctx, s)
				if err != nil {
					return 0, err
				}
				plan = &p
			}
			if st.skip != nil && st.skip(status, *plan) {
				continue
			}
			st.progress(status, ib, nil)
			if i == 0 && st.followsSuspend && ib.Spec.Suspend {
				status.inProgress(indexbuildv1alpha1.PhasePending, ReasonSuspended, "suspended before the first worker started")
				return 0, nil
			}
			created, err := r.createJob(ctx, ib, st.newJob(ib, r.podDefaults, *plan))
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

// laterStageStarted reports whether a stage after taskStages[i] has a Job.
func laterStageStarted(jobs childJobs, i int) bool {
	for _, st := range taskStages[i+1:] {
		if jobs.current[st.role] != nil {
			return true
		}
	}
	return false
}

// planTask decides the task's plan as a stage without a Job is reached:
// the merge plan from the merge Job if there is one, else from the spec
// and, once the build completed, the size its workers staged (read from
// the API only when the rule needs it).
func (r *IndexBuildReconciler) planTask(ctx context.Context, s *snapshot) (taskPlan, error) {
	if plan, decided := mergeRule(s.ib, s.jobs.current[RoleMerge]); decided {
		return taskPlan{merge: plan}, nil
	}
	staged, err := r.stagedBytes(ctx, s.ib, s.jobs.current[RoleBuild])
	if err != nil {
		return taskPlan{}, err
	}
	return taskPlan{merge: mergeBySize(s.ib, staged)}, nil
}
