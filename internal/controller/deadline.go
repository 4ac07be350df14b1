package controller

import (
	"fmt"
	"time"

	indexbuildv1alpha1 "github.com/indexbuild/indexbuild/api/v1alpha1"
)

// taskDeadline is when the task must have ended: its recorded start plus
// spec.activeDeadlineSeconds. Time in a queue or suspended counts.
func taskDeadline(ib *indexbuildv1alpha1.IndexBuild) (time.Time, bool) {
	if ib.Spec.ActiveDeadlineSeconds == nil || ib.Status.Task == nil || ib.Status.Task.StartTime == nil {
		return time.Time{}, false
	}
	return ib.Status.Task.StartTime.Add(time.Duration(*ib.Spec.ActiveDeadlineSeconds) * time.Second), true
}

// checkDeadline returns the failure message of a task past its deadline.
func checkDeadline(ib *indexbuildv1alpha1.IndexBuild, now time.Time) (string, bool) {
	deadline, ok := taskDeadline(ib)
	if !ok || now.Before(deadline) {
		return "", false
	}
	return fmt.Sprintf("task %s ran past spec.activeDeadlineSeconds=%d (started %s, deadline %s)",
		taskKey(ib), *ib.Spec.ActiveDeadlineSeconds, ib.Status.Task.StartTime.UTC().Format(time.RFC3339), deadline.UTC().Format(time.RFC3339)), true
}

// deadlineCheckAfter is when to come back to fail an in-progress task at
// its deadline; 0 when there is none to wait for.
func deadlineCheckAfter(ib *indexbuildv1alpha1.IndexBuild, now time.Time) time.Duration {
	deadline, ok := taskDeadline(ib)
	if !ok || isTerminal(ib.Status.Phase) {
		return 0
	}
	return max(deadline.Sub(now), time.Millisecond)
}

// finalizeDeadline is the finalize Job's activeDeadlineSeconds: the Job
// controller stops its pod and fails it DeadlineExceeded.
func finalizeDeadline(ib *indexbuildv1alpha1.IndexBuild) *int64 {
	if ib.Spec.Finalize == nil {
		return nil
	}
	return ib.Spec.Finalize.ActiveDeadlineSeconds
}
