package controller

import (
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	indexbuildv1alpha1 "github.com/indexbuild/indexbuild/api/v1alpha1"
)

// phaseConditions is an IndexBuild's in-memory status seen as its phase and
// conditions, which it sets together so the kstatus trio (Ready,
// Reconciling, Stalled) never contradicts the phase. Reconcile writes the
// status once, afterwards.
type phaseConditions struct {
	status     *indexbuildv1alpha1.IndexBuildStatus
	generation int64
	// now is the reconcile's time, for status.completionTime.
	now time.Time
}

func newPhaseConditions(ib *indexbuildv1alpha1.IndexBuild, now time.Time) phaseConditions {
	return phaseConditions{status: &ib.Status, generation: ib.Generation, now: now}
}

func (w phaseConditions) set(condType string, status metav1.ConditionStatus, reason, message string) {
	meta.SetStatusCondition(&w.status.Conditions, metav1.Condition{
		Type: condType, Status: status, Reason: reason, Message: message, ObservedGeneration: w.generation,
	})
}

// inProgress marks a build that is moving: Pending, Building, Merging or
// Finalizing.
func (w phaseConditions) inProgress(phase indexbuildv1alpha1.Phase, reason, message string) {
	w.status.Phase = phase
	w.status.CompletionTime = nil
	w.set(indexbuildv1alpha1.ConditionReady, metav1.ConditionFalse, reason, message)
	w.set(indexbuildv1alpha1.ConditionReconciling, metav1.ConditionTrue, reason, message)
	w.set(indexbuildv1alpha1.ConditionStalled, metav1.ConditionFalse, reason, "")
	w.set(indexbuildv1alpha1.ConditionStaleMeta, metav1.ConditionFalse, ReasonTaskMetaOK, "")
	w.set(indexbuildv1alpha1.ConditionCommitted, metav1.ConditionFalse, ReasonNotCommitted, "")
}

// suspended records whether spec.suspend holds the build.
func (w phaseConditions) suspended(on bool) {
	if on {
		w.set(indexbuildv1alpha1.ConditionSuspended, metav1.ConditionTrue, ReasonSuspended, "spec.suspend is true: no workers run until it is false")
		return
	}
	w.set(indexbuildv1alpha1.ConditionSuspended, metav1.ConditionFalse, ReasonNotSuspended, "")
}

// failed marks a terminal failure. Nothing retries it until spec.jobID
// changes, which kstatus reads from Stalled=True.
func (w phaseConditions) failed(reason, message string) {
	w.status.Phase = indexbuildv1alpha1.PhaseFailed
	w.completed()
	w.set(indexbuildv1alpha1.ConditionReady, metav1.ConditionFalse, reason, message)
	w.set(indexbuildv1alpha1.ConditionReconciling, metav1.ConditionFalse, reason, "")
	w.set(indexbuildv1alpha1.ConditionStalled, metav1.ConditionTrue, reason, message+"; change spec.jobID to start a new task")
	if reason == ReasonStaleMeta {
		w.set(indexbuildv1alpha1.ConditionStaleMeta, metav1.ConditionTrue, reason, message)
	}
	if !meta.IsStatusConditionTrue(w.status.Conditions, indexbuildv1alpha1.ConditionCommitted) {
		w.set(indexbuildv1alpha1.ConditionCommitted, metav1.ConditionFalse, reason, "")
	}
}

// deleting marks an IndexBuild whose output the operator is deleting
// (deletionPolicy Delete).
func (w phaseConditions) deleting(reason, message string) {
	w.set(indexbuildv1alpha1.ConditionReady, metav1.ConditionFalse, reason, message)
	w.set(indexbuildv1alpha1.ConditionReconciling, metav1.ConditionTrue, reason, message)
	w.set(indexbuildv1alpha1.ConditionStalled, metav1.ConditionFalse, reason, "")
}

// cleanupFailed marks a deletion whose cleanup pod could not delete the
// output; the IndexBuild stays until it can, or until the policy is Retain.
func (w phaseConditions) cleanupFailed(message string) {
	w.set(indexbuildv1alpha1.ConditionReady, metav1.ConditionFalse, ReasonOutputCleanupFailed, message)
	w.set(indexbuildv1alpha1.ConditionReconciling, metav1.ConditionFalse, ReasonOutputCleanupFailed, "")
	w.set(indexbuildv1alpha1.ConditionStalled, metav1.ConditionTrue, ReasonOutputCleanupFailed, message)
}

// succeeded marks a committed build.
func (w phaseConditions) succeeded(commit indexbuildv1alpha1.CommitStatus) {
	w.status.Phase = indexbuildv1alpha1.PhaseSucceeded
	w.status.Commit = &commit
	w.completed()
	message := fmt.Sprintf("committed %d files, %d rows at %s", commit.Files, commit.Rows, commit.MarkerURI)
	w.set(indexbuildv1alpha1.ConditionReady, metav1.ConditionTrue, ReasonCommitted, message)
	w.set(indexbuildv1alpha1.ConditionReconciling, metav1.ConditionFalse, ReasonCommitted, "")
	w.set(indexbuildv1alpha1.ConditionStalled, metav1.ConditionFalse, ReasonCommitted, "")
	w.set(indexbuildv1alpha1.ConditionCommitted, metav1.ConditionTrue, ReasonCommitted, message)
}

// completed records when the task ended, once.
func (w phaseConditions) completed() {
	if w.status.CompletionTime == nil {
		w.status.CompletionTime = &metav1.Time{Time: w.now}
	}
}

// partitions records partition progress and the kubectl "Partitions" column.
func (w phaseConditions) partitions(counts indexbuildv1alpha1.PartitionCounts) {
	w.status.Partitions = counts
	w.status.Progress = fmt.Sprintf("%d/%d", counts.Succeeded, counts.Total)
}

// merge records where the merge stage stands, and the kubectl "Ranges"
// column while it has ranges.
func (w phaseConditions) merge(m indexbuildv1alpha1.MergeStatus) {
	if m.Ranges > 0 {
		m.Progress = fmt.Sprintf("%d/%d", m.Succeeded, m.Ranges)
	}
	w.status.Merge = &m
}

// isTerminal reports whether the build has ended for its current task.
func isTerminal(phase indexbuildv1alpha1.Phase) bool {
	return phase == indexbuildv1alpha1.PhaseSucceeded || phase == indexbuildv1alpha1.PhaseFailed
}
