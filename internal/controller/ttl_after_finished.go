package controller

import (
	"context"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	indexbuildv1alpha1 "github.com/indexbuild/indexbuild/api/v1alpha1"
)

// jobsExpireAt is when a finished build's child Jobs are removed:
// status.completionTime plus spec.ttlSecondsAfterFinished.
func jobsExpireAt(ib *indexbuildv1alpha1.IndexBuild) (time.Time, bool) {
	ttl := ib.Spec.TTLSecondsAfterFinished
	if ttl == nil || !isTerminal(ib.Status.Phase) || ib.Status.CompletionTime == nil {
		return time.Time{}, false
	}
	return ib.Status.CompletionTime.Add(time.Duration(*ttl) * time.Second), true
}

// ttlCheckAfter is when to come back to remove a finished build's Jobs.
func ttlCheckAfter(ib *indexbuildv1alpha1.IndexBuild, now time.Time) time.Duration {
	at, ok := jobsExpireAt(ib)
	if !ok || !now.Before(at) {
		return 0
	}
	return at.Sub(now)
}

// removeExpiredJobs deletes the child Jobs (and with them their pods) of a
// build finished longer than its TTL ago. The IndexBuild stays: a GitOps
// tool would recreate a deleted one and build it again.
func (r *IndexBuildReconciler) removeExpiredJobs(ctx context.Context, s *snapshot) error {
	at, ok := jobsExpireAt(s.ib)
	if !ok || s.now.Before(at) {
		return nil
	}
	return r.deleteJobs(ctx, s.ib, s.jobs.all(), metav1.DeletePropagationBackground)
}
