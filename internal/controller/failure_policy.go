package controller

import (
	"context"
	"fmt"

	batchv1 "k8s.io/api/batch/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	indexbuildv1alpha1 "github.com/indexbuild/indexbuild/api/v1alpha1"
)

// spec.failurePolicy (JobSet's word): a stage Job that ran out of retries
// is recreated under the same task, up to maxRestarts times. Only running
// out of retries is restarted — a bad node, a flaky store; a new Job of the
// same task cannot heal stale metadata, bad input, a foreign output or a
// deadline. Task metadata is checked again before the new Job (step 3 of
// reconcileTask, then createJob), and finished partitions are not built
// again: their workers find them staged and exit 0 at once.
//
// A restart is counted in the stored status first (status.restarts, and
// status.lastRestart with the failed Job's UID) and the failed Job deleted
// only then (afterStatusStored): a reconcile that finds the same failed
// Job again recognises its UID and does not count it twice.

// MaxRestarts is spec.failurePolicy.maxRestarts.
func MaxRestarts(ib *indexbuildv1alpha1.IndexBuild) int32 {
	return ptr.Deref(ib.Spec.FailurePolicy, indexbuildv1alpha1.FailurePolicy{}).MaxRestarts
}

// RestartableReason is a failure a new Job of the same task may not repeat.
func RestartableReason(reason string) bool { return reason == ReasonBackoffLimitExceeded }

// restarts decides whether a failed stage Job is restarted: it was counted
// already, or it failed for a restartable reason with restarts left.
func restarts(s *snapshot, job *batchv1.Job, out jobOutcome) bool {
	if last := s.ib.Status.LastRestart; last != nil && last.JobUID == job.UID {
		return true
	}
	return RestartableReason(out.Reason) && s.ib.Status.Restarts < MaxRestarts(s.ib)
}

// resumeToRestart is step 2's exception: a task that ended Failed for a
// restartable reason moves on when spec.failurePolicy.maxRestarts was
// raised since (kubectl indexbuild retry --failed). The restart is counted
// here, against the failed stage Job when it is still there.
func resumeToRestart(s *snapshot) bool {
	ib := s.ib
	ready := findCondition(ib, indexbuildv1alpha1.ConditionReady)
	if !RestartableReason(ready.Reason) || ib.Status.Restarts >= MaxRestarts(ib) {
		return false
	}
	restart := indexbuildv1alpha1.RestartStatus{Time: metav1.NewTime(s.now), Reason: ready.Reason, Message: ready.Message}
	for _, st := range taskStages {
		if job := s.jobs.current[st.role]; job != nil && classifyJob(job).Failed {
			restart.Role, restart.JobUID = st.role, job.UID
			break
		}
	}
	countRestart(ib, restart)
	return true
}

// countRestart records one more restart in the status, and its cause.
func countRestart(ib *indexbuildv1alpha1.IndexBuild, restart indexbuildv1alpha1.RestartStatus) {
	ib.Status.Restarts++
	ib.Status.LastRestart = &restart
}

// restartStage counts the restart of a failed stage Job (once) and has it
// deleted after the status is stored; runStages creates its successor once
// it is gone.
func (r *IndexBuildReconciler) restartStage(ctx context.Context, s *snapshot, status phaseConditions, st stage, job *batchv1.Job, out jobOutcome) {
	ib := s.ib
	if last := ib.Status.LastRestart; last == nil || last.JobUID != job.UID {
		countRestart(ib, indexbuildv1alpha1.RestartStatus{
			Time: metav1.NewTime(s.now), Role: st.role, JobUID: job.UID, Reason: out.Reason, Message: r.jobFailure(ctx, ib, job, out),
		})
	}
	s.restart = job
	status.inProgress(st.phase, ReasonRestarting, fmt.Sprintf("restart %d of %d (spec.failurePolicy.maxRestarts) under the same task; finished partitions are kept. It failed: %s",
		ib.Status.Restarts, MaxRestarts(ib), ib.Status.LastRestart.Message))
}
