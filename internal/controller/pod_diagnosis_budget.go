package controller

import (
	"sync"
	"time"

	"golang.org/x/time/rate"
	batchv1 "k8s.io/api/batch/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
)

// Finding out why a Job's pods do not run takes two uncached lists (its
// pods, its FailedCreate Events), and every build waits for pods at first.
// A Job whose pods are being created, scheduled and started changes its pod
// counts as they go; a refused pod, an image that cannot be pulled or a pod
// no node fits changes nothing. So a waiting Job is looked into only once its
// counts have stood still for podStallGrace: at a thousand builds the Job
// controller and the scheduler keep most Jobs waiting for a while, and
// diagnosing each of them cost most of the operator's reads and a tenth of
// the API server's CPU. After that a Job is diagnosed at most once per
// podCheckInterval, and all Jobs together at most podDiagnosisRate times a
// second; in between, the last diagnosis stands.
const (
	podStallGrace     = 10 * time.Second
	podDiagnosisRate  = 5
	podDiagnosisBurst = 20
)

// podDiagnoses follows each waiting Job's pod counts, remembers its last
// diagnosis and rations new ones.
type podDiagnoses struct {
	limiter *rate.Limiter
	mu      sync.Mutex
	jobs    map[types.UID]waitingJob
}

// waitingJob is what is known of a Job that waits for pods.
type waitingJob struct {
	counts     podCounts
	stillSince time.Time   // when counts last changed (or were first seen)
	trouble    *podTrouble // the last diagnosis; nil: nothing wrong found, or none yet
	diagnosed  time.Time   // zero: not diagnosed since counts last changed
}

// podCounts are the pod numbers of a Job's status that move while its pods
// are created, scheduled, started and finished.
type podCounts struct {
	active, ready, succeeded, failed, terminating int32
}

func countsOf(job *batchv1.Job) podCounts {
	return podCounts{job.Status.Active, ptr.Deref(job.Status.Ready, 0), job.Status.Succeeded, job.Status.Failed, ptr.Deref(job.Status.Terminating, 0)}
}

func newPodDiagnoses() *podDiagnoses {
	return &podDiagnoses{
		limiter: rate.NewLimiter(podDiagnosisRate, podDiagnosisBurst),
		jobs:    map[types.UID]waitingJob{},
	}
}

// observe notes a waiting Job's pod counts as of now. It returns the
// diagnosis that stands, with due false, or due true when a new one is due
// and within the budget (the caller then diagnoses and records it). Counts
// that moved drop the last diagnosis: the pods are on their way.
func (d *podDiagnoses) observe(job *batchv1.Job, now time.Time) (trouble *podTrouble, due bool) {
	if d == nil {
		return nil, true
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	w, seen := d.jobs[job.UID]
	if counts := countsOf(job); !seen || counts != w.counts {
		w = waitingJob{counts: counts, stillSince: now}
		d.jobs[job.UID] = w
	}
	if now.Before(d.dueAt(w)) || !d.limiter.AllowN(now, 1) {
		return w.trouble, false
	}
	return nil, true
}

// dueAt is when a waiting Job's next diagnosis is due.
func (d *podDiagnoses) dueAt(w waitingJob) time.Time {
	due := w.stillSince.Add(podStallGrace)
	if next := w.diagnosed.Add(podCheckInterval); next.After(due) {
		due = next
	}
	return due
}

// nextLook is how soon a waiting Job should be reconciled again for its
// pods: when its next diagnosis is due, or podCheckInterval when that is
// past (the budget held it back).
func (d *podDiagnoses) nextLook(job *batchv1.Job, now time.Time) time.Duration {
	if d == nil {
		return podCheckInterval
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	w, seen := d.jobs[job.UID]
	if !seen || w.counts != countsOf(job) {
		return podStallGrace
	}
	if wait := d.dueAt(w).Sub(now); wait > 0 {
		return wait
	}
	return podCheckInterval
}

// record keeps a new diagnosis of a waiting Job.
func (d *podDiagnoses) record(job types.UID, trouble *podTrouble, now time.Time) {
	if d == nil {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if w, seen := d.jobs[job]; seen {
		w.trouble, w.diagnosed = trouble, now
		d.jobs[job] = w
	}
}

// forget drops a Job whose pods run (or that ended).
func (d *podDiagnoses) forget(job types.UID) {
	if d == nil {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.jobs, job)
}
