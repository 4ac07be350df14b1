package controller

import (
	"sync"
	"time"

	"golang.org/x/time/rate"
	"k8s.io/apimachinery/pkg/types"
)

// Finding out why a Job's pods do not run takes two uncached lists (its
// pods, its FailedCreate Events), and every build waits for pods at first.
// Unrationed, a thousand builds waiting on a busy scheduler cost hundreds of
// lists a second and slow the API server for everyone. So a Job is
// diagnosed at most once per podCheckInterval, and all Jobs together at most
// podDiagnosisRate times a second; in between, the last diagnosis stands.
//
// Events are not in the API server's watch cache: a list reads every Event
// of the namespace from etcd (0.4 s of API server time each at a thousand
// builds). They are read only when pods are missing, and at most
// eventListRate times a second in all.
const (
	podDiagnosisRate  = 5
	podDiagnosisBurst = 20
	eventListRate     = 1
	eventListBurst    = 5
)

// podDiagnoses remembers the last diagnosis of each waiting Job and rations
// new ones.
type podDiagnoses struct {
	limiter    *rate.Limiter
	eventLists *rate.Limiter
	mu         sync.Mutex
	last       map[types.UID]podDiagnosis
}

type podDiagnosis struct {
	trouble *podTrouble // nil: nothing wrong was found
	at      time.Time
}

func newPodDiagnoses() *podDiagnoses {
	return &podDiagnoses{
		limiter:    rate.NewLimiter(podDiagnosisRate, podDiagnosisBurst),
		eventLists: rate.NewLimiter(eventListRate, eventListBurst),
		last:       map[types.UID]podDiagnosis{},
	}
}

// reuse returns the diagnosis that stands for job now, with ok true, or ok
// false when a new one is due and within the budget (the caller then
// diagnoses and records it).
func (d *podDiagnoses) reuse(job types.UID, now time.Time) (trouble *podTrouble, ok bool) {
	if d == nil {
		return nil, false
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	last, seen := d.last[job]
	if seen && now.Sub(last.at) < podCheckInterval {
		return last.trouble, true
	}
	if !d.limiter.AllowN(now, 1) {
		return last.trouble, true
	}
	return nil, false
}

// allowEventList reports whether a diagnosis may list Events now.
func (d *podDiagnoses) allowEventList(now time.Time) bool {
	return d == nil || d.eventLists.AllowN(now, 1)
}

// record keeps a new diagnosis of job.
func (d *podDiagnoses) record(job types.UID, trouble *podTrouble, now time.Time) {
	if d == nil {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.last[job] = podDiagnosis{trouble: trouble, at: now}
}

// forget drops a Job whose pods run (or that ended).
func (d *podDiagnoses) forget(job types.UID) {
	if d == nil {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.last, job)
}
