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
	mu   sync.Mutex
	jobs map[types.UID]stillCounts
}

// stillCounts are a waiting Job's pod counts and since when they stand.
type stillCounts struct {
	counts podCounts
	since  time.Time
}

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
	c, seen := s.jobs[job.UID]
	if counts := countsOf(job); !seen || counts != c.counts {
		c = stillCounts{counts: counts, since: now}
		s.jobs[job.UID] = c
	}
	return max(0, c.since.Add(podStallGrace).Sub(now))
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
