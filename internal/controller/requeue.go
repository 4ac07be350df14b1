package controller

import (
	"time"

	indexbuildv1alpha1 "github.com/indexbuild/indexbuild/api/v1alpha1"
)

// timedCheckAfter is the soonest look a build needs for what time alone
// changes, 0 for none: a deadline and a TTL change no Job and no spec, so
// no event would bring the reconcile that acts on them. (Pods that do not
// run are looked at again as reportPodTrouble says.)
func timedCheckAfter(ib *indexbuildv1alpha1.IndexBuild, jobs childJobs, now time.Time) time.Duration {
	return soonest(deadlineCheckAfter(ib, jobs, now), ttlCheckAfter(ib, now))
}

// soonest is the sooner of two requeue delays, where 0 means none.
func soonest(a, b time.Duration) time.Duration {
	if a == 0 || (b > 0 && b < a) {
		return b
	}
	return a
}
