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
	var soonest time.Duration
	consider := func(d time.Duration) {
		if d > 0 && (soonest == 0 || d < soonest) {
			soonest = d
		}
	}
	consider(deadlineCheckAfter(ib, now))
	consider(ttlCheckAfter(ib, now))
	if !isTerminal(ib.Status.Phase) {
		if jobs, err := r.childJobs(ctx, ib); err == nil {
			consider(podCheckAfter(jobs))
		}
	}
	return soonest
}
