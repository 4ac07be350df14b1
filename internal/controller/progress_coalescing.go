package controller

import (
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/types"

	indexbuildv1alpha1 "github.com/indexbuild/indexbuild/api/v1alpha1"
)

// DefaultProgressInterval is how often, at most, a build's status is
// written when only its progress changed (--status-progress-interval).
const DefaultProgressInterval = 5 * time.Second

// progressCoalescer spaces out progress-only status writes: a running
// build's Job changes its counts with every pod that starts or ends, and
// writing each change would cost one write per pod event per build. Phase,
// reason and every other change are written at once; a progress-only
// change waits until interval has passed since the build's last write, so
// the status trails its Job by at most interval.
type progressCoalescer struct {
	interval time.Duration
	mu       sync.Mutex
	// lastWrite is when each build's status was last written by this
	// process. A restarted manager writes its first change at once.
	lastWrite map[types.NamespacedName]time.Time
}

func newProgressCoalescer(interval time.Duration) *progressCoalescer {
	return &progressCoalescer{interval: interval, lastWrite: map[types.NamespacedName]time.Time{}}
}

// wait is how long the write of after over before should wait: 0 to write
// now.
func (c *progressCoalescer) wait(key types.NamespacedName, before, after *indexbuildv1alpha1.IndexBuildStatus, now time.Time) time.Duration {
	if c.interval <= 0 || !progressOnly(before, after) {
		return 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	last, ok := c.lastWrite[key]
	if !ok {
		return 0
	}
	if elapsed := now.Sub(last); elapsed < c.interval {
		return c.interval - elapsed
	}
	return 0
}

// written records a stored status. Finished builds are forgotten: their
// status changes no more without a new task, whose first write is a phase
// change anyway.
func (c *progressCoalescer) written(key types.NamespacedName, status *indexbuildv1alpha1.IndexBuildStatus, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if isTerminal(status.Phase) {
		delete(c.lastWrite, key)
		return
	}
	c.lastWrite[key] = now
}

// forget drops a build that is gone.
func (c *progressCoalescer) forget(key types.NamespacedName) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.lastWrite, key)
}

// progressOnly reports whether after differs from before only in progress:
// the partition and merge range counts, the Partitions and Ranges columns,
// and the messages of
// conditions whose type, status, reason and observed generation stay.
func progressOnly(before, after *indexbuildv1alpha1.IndexBuildStatus) bool {
	if equality.Semantic.DeepEqual(before, after) {
		return false // nothing to write at all
	}
	masked := after.DeepCopy()
	masked.Partitions, masked.Progress = before.Partitions, before.Progress
	if masked.Merge != nil && before.Merge != nil && masked.Merge.Ranges == before.Merge.Ranges && masked.Merge.Skipped == before.Merge.Skipped {
		masked.Merge = before.Merge
	}
	if len(masked.Conditions) != len(before.Conditions) {
		return false
	}
	for i := range masked.Conditions {
		c, b := &masked.Conditions[i], before.Conditions[i]
		if c.Type == b.Type && c.Status == b.Status && c.Reason == b.Reason && c.ObservedGeneration == b.ObservedGeneration {
			c.Message, c.LastTransitionTime = b.Message, b.LastTransitionTime
		}
	}
	return equality.Semantic.DeepEqual(before, masked)
}
