package controller

import (
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	"k8s.io/apimachinery/pkg/types"
)

func TestPodStalls(t *testing.T) {
	t0 := time.Unix(1000, 0)
	job := func(active, ready int32) *batchv1.Job {
		j := runningBuildJob(active, ready)
		j.UID = types.UID("job-a")
		return j
	}
	s := newPodStalls()
	for _, step := range []struct {
		name string
		at   time.Duration
		job  *batchv1.Job
		want time.Duration
	}{
		{"first seen waiting", 0, job(0, 0), podStallGrace},
		{"standing", 4 * time.Second, job(0, 0), podStallGrace - 4*time.Second},
		{"a pod is created: the grace starts again", 6 * time.Second, job(1, 0), podStallGrace},
		{"standing since the pod came", 15 * time.Second, job(1, 0), time.Second},
		{"stalled", 16 * time.Second, job(1, 0), 0},
		{"still stalled", time.Minute, job(1, 0), 0},
		{"the pod becomes ready", time.Minute, job(1, 1), podStallGrace},
	} {
		if got := s.observe(step.job, t0.Add(step.at)); got != step.want {
			t.Errorf("%s: observe = %s, want %s", step.name, got, step.want)
		}
	}
	s.forget("job-a")
	if got := s.observe(job(1, 1), t0.Add(2*time.Minute)); got != podStallGrace {
		t.Errorf("a forgotten Job is seen anew: observe = %s, want %s", got, podStallGrace)
	}
	// A Job no longer observed (its build was deleted while it waited) is
	// dropped; one observed all along stays.
	other := job(0, 0)
	other.UID = "job-b"
	s.observe(other, t0)
	for at := time.Duration(0); at <= 2*unobservedExpiry; at += podCheckInterval {
		s.observe(job(1, 1), t0.Add(2*time.Minute+at))
	}
	if _, kept := s.jobs["job-b"]; kept {
		t.Error("a Job not observed for unobservedExpiry is kept")
	}
	if _, kept := s.jobs["job-a"]; !kept {
		t.Error("a Job observed every podCheckInterval was dropped")
	}

	var none *podStalls
	if got := none.observe(job(0, 0), t0); got != 0 {
		t.Errorf("a reconciler without podStalls looks into pods at once: observe = %s", got)
	}
}
