package controller

import (
	"context"
	"time"

	indexbuildv1alpha1 "github.com/indexbuild/indexbuild/api/v1alpha1"
)

// requeueAfter is the soonest time-driven look a build needs, 0 for none:
// pods that do not run, a deadline and a TTL change no Job and no spec, so
// no event would bring the reconcile that acts on them.
func (r *IndexBuildReconciler) requeueAfter(ctx context.Context, ib *indexbuildv1alpha1.IndexBuild) time.Duration {
	now := time.Now()
	after := soonest(deadlineCheckAfter(ib, now), ttlCheckAfter(ib, now))
	if !isTerminal(ib.Status.Phase) {
		if jobs, err := r.childJobs(ctx, ib); err == nil {
			after = soonest(after, r.podCheckAfter(jobs, now))
		}
	}
	return after
}

// soonest is the sooner of two requeue delays, where 0 means none.
func soonest(a, b time.Duration) time.Duration {
	if a == 0 || (b > 0 && b < a) {
		return b
	}
	return a
}
