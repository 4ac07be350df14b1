package controller

import (
	"fmt"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"

	indexbuildv1alpha1 "github.com/indexbuild/indexbuild/api/v1alpha1"
)

// runTime is how long a task's pods have been allowed to run, counted the
// way a Job counts its activeDeadlineSeconds: each stage Job from its
// status.startTime (set when the Job starts, reset when it resumes after a
// suspension) to its end, or to now while it runs. Time queued in Kueue,
// suspended, or between stages does not count. running is true while a
// stage Job's time is counting.
func runTime(jobs childJobs, now time.Time) (d time.Duration, running bool) {
	for _, st := range taskStages {
		job := jobs.current[st.role]
		if job == nil || job.Status.StartTime == nil {
			continue
		}
		end, finished := jobEnd(job)
		if !finished {
			if ptr.Deref(job.Spec.Suspend, false) {
				continue // its clock restarts when it resumes
			}
			end, running = now, true
		}
		d += max(end.Sub(job.Status.StartTime.Time), 0)
	}
	return d, running
}

// jobEnd is when a finished Job finished.
func jobEnd(job *batchv1.Job) (time.Time, bool) {
	if job.Status.CompletionTime != nil {
		return job.Status.CompletionTime.Time, true
	}
	for _, c := range job.Status.Conditions {
		if (c.Type == batchv1.JobFailed || c.Type == batchv1.JobComplete) && c.Status == corev1.ConditionTrue {
			return c.LastTransitionTime.Time, true
		}
	}
	return time.Time{}, false
}

// checkDeadline returns the failure message of a task whose pods ran past
// spec.activeDeadlineSeconds.
func checkDeadline(ib *indexbuildv1alpha1.IndexBuild, jobs childJobs, now time.Time) (string, bool) {
	if ib.Spec.ActiveDeadlineSeconds == nil {
		return "", false
	}
	limit := time.Duration(*ib.Spec.ActiveDeadlineSeconds) * time.Second
	ran, _ := runTime(jobs, now)
	if ran < limit {
		return "", false
	}
	return fmt.Sprintf("task %s ran %s with its pods allowed to run, past spec.activeDeadlineSeconds=%d (time queued or suspended does not count)",
		taskKey(ib), ran.Round(time.Second), *ib.Spec.ActiveDeadlineSeconds), true
}

// deadlineCheckAfter is when to come back to fail an in-progress task at
// its deadline; 0 when there is none to wait for (no deadline, a finished
// task, or no clock running: an event starts it).
func deadlineCheckAfter(ib *indexbuildv1alpha1.IndexBuild, jobs childJobs, now time.Time) time.Duration {
	if ib.Spec.ActiveDeadlineSeconds == nil || isTerminal(ib.Status.Phase) {
		return 0
	}
	ran, running := runTime(jobs, now)
	if !running {
		return 0
	}
	return max(time.Duration(*ib.Spec.ActiveDeadlineSeconds)*time.Second-ran, time.Millisecond)
}

// finalizeDeadline is the finalize Job's activeDeadlineSeconds: the Job
// controller stops its pod and fails it DeadlineExceeded.
func finalizeDeadline(ib *indexbuildv1alpha1.IndexBuild) *int64 {
	if ib.Spec.Finalize == nil {
		return nil
	}
	return ib.Spec.Finalize.ActiveDeadlineSeconds
}
