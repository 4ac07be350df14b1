package controller

import (
	"sync"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
)

// podStallGrace is how long a waiting Job's pod counts must stand still
// before its pods are looked into. Pods that are being created, scheduled
// and started move the counts; a refused pod, an image that cannot be
// pulled or a pod no node fits moves nothing. On a busy cluster every Job
// waits a while, and reporting why would be noise about pods on their way.
const podStallGrace = 10 * time.Second

// podStalls follows the pod counts of the Jobs that wait for pods.
type podStalls struct {
	mu        sync.Mutex
	jobs      map[types.UID]stillCounts
	lastSweep time.Time
}

// stillCounts are a waiting Job's pod counts, since when they stand, and
// when the Job was last observed.
type stillCounts struct {
	counts          podCounts
	since, lastSeen time.Time
}

// unobservedExpiry drops a Job not observed for this long: a waiting Job is
// observed every podCheckInterval, so it is gone (its build was deleted
// while it waited) and nothing else would forget it.
const unobservedExpiry = 10 * time.Minute

// podCounts are the pod numbers of a Job's status that move while its pods
// are created, scheduled, started and finished.
type podCounts struct {
	active, ready, succeeded, failed, terminating int32
}

func countsOf(job *batchv1.Job) podCounts {
	return podCounts{job.Status.Active, ptr.Deref(job.Status.Ready, 0), job.Status.Succeeded, job.Status.Failed, ptr.Deref(job.Status.Terminating, 0)}
}

func newPodStalls() *podStalls {
	return &podStalls{jobs: map[types.UID]stillCounts{}}
}

// observe notes a waiting Job's pod counts as of now and returns how much
// longer they must stand still to count as stalled: 0 when they have stood
// for podStallGrace.
func (s *podStalls) observe(job *batchv1.Job, now time.Time) time.Duration {
	if s == nil {
		return 0
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sweep(now)
	c, seen := s.jobs[job.UID]
	if counts := countsOf(job); !seen || counts != c.counts {
		c = stillCounts{counts: counts, since: now}
	}
	c.lastSeen = now
	s.jobs[job.UID] = c
	return max(0, c.since.Add(podStallGrace).Sub(now))
}

// sweep drops the Jobs not observed for unobservedExpiry, at most once per
// unobservedExpiry.
func (s *podStalls) sweep(now time.Time) {
	if now.Sub(s.lastSweep) < unobservedExpiry {
		return
	}
	s.lastSweep = now
	for uid, c := range s.jobs {
		if now.Sub(c.lastSeen) >= unobservedExpiry {
			delete(s.jobs, uid)
		}
	}
}

// forget drops a Job whose pods run (or that ended).
func (s *podStalls) forget(job types.UID) {
	if s == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.jobs, job)
}
