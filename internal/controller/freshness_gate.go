package controller

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	indexbuildv1alpha1 "github.com/indexbuild/indexbuild/api/v1alpha1"
)

// The cache freshness gate keeps the controller from acting on a cached
// IndexBuild older than the API's. (Cache freshness, not "stale" task
// metadata, which is taskmeta.go's.) In the words of Kueue's expectations
// (pkg/util/expectations), it has two halves:
//
//   - Own writes are expectations. Every status write of this process
//     expects the cache to deliver its resourceVersion; a reconcile waits
//     until the cache has observed it. A Job event often brings the next
//     reconcile before that, and a status computed from the older copy
//     would end in a 409 from the optimistic lock and a retry with backoff;
//     waiting costs no request.
//   - Before a Job changes, one uncached read confirms the cached copy is
//     the latest: someone else may have written it since (the user's spec,
//     another manager's status). A reconcile triggered by a Job event could
//     otherwise, say, recreate the Job of a build it has just failed.
//     Creating, deleting and suspending Jobs is rare, so the read costs
//     little.
//
// Either way the reconcile changes nothing and ends with errCacheBehind;
// Reconcile looks again after cacheBehindRetry, since status-only updates
// bring no reconcile of their own.
type freshnessGate struct {
	apiReader client.Reader

	mu sync.Mutex
	// expected is the resourceVersion of each IndexBuild's last status write
	// by this process not yet observed in the cache, and when it was written.
	expected map[types.NamespacedName]expectedWrite
}

type expectedWrite struct {
	version   string
	writtenAt time.Time
}

// expectationExpiry bounds the wait for the cache to observe a write: a
// relist after a dropped watch may skip the version, and then nothing says
// so.
const expectationExpiry = 5 * time.Second

// cacheBehindRetry is how soon a reconcile stopped by the gate runs again.
const cacheBehindRetry = 200 * time.Millisecond

// errCacheBehind: the cached IndexBuild is older than the API's copy.
var errCacheBehind = errors.New("cached IndexBuild is older than the API's copy")

func newFreshnessGate(apiReader client.Reader) *freshnessGate {
	return &freshnessGate{apiReader: apiReader, expected: map[types.NamespacedName]expectedWrite{}}
}

// expectStatusWrite records a stored status write of obj (its new
// resourceVersion) for the cache to deliver.
func (g *freshnessGate) expectStatusWrite(obj client.Object, now time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.expected[client.ObjectKeyFromObject(obj)] = expectedWrite{version: obj.GetResourceVersion(), writtenAt: now}
}

// satisfied is the gate at the start of a reconcile: errCacheBehind while
// the cache has not yet delivered this process's last write of cached.
func (g *freshnessGate) satisfied(cached client.Object, now time.Time) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	key := client.ObjectKeyFromObject(cached)
	want, ok := g.expected[key]
	if !ok {
		return nil
	}
	if cached.GetResourceVersion() == want.version || now.Sub(want.writtenAt) > expectationExpiry {
		delete(g.expected, key)
		return nil
	}
	return errCacheBehind
}

// confirmLatest is the gate before every change to child Jobs: an uncached
// read of ib, errCacheBehind when the API holds a newer one.
func (g *freshnessGate) confirmLatest(ctx context.Context, ib *indexbuildv1alpha1.IndexBuild) error {
	latest := &indexbuildv1alpha1.IndexBuild{}
	if err := g.apiReader.Get(ctx, client.ObjectKeyFromObject(ib), latest); err != nil {
		return fmt.Errorf("read IndexBuild: %w", err)
	}
	if latest.ResourceVersion != ib.ResourceVersion {
		return errCacheBehind
	}
	return nil
}

// forget drops an object that is gone.
func (g *freshnessGate) forget(key types.NamespacedName) {
	g.mu.Lock()
	defer g.mu.Unlock()
	delete(g.expected, key)
}

// observer is a predicate that passes every event and, on the way, marks
// an expected write observed when the cache delivers it, even when a newer
// one from someone else follows before the next reconcile.
func (g *freshnessGate) observer() predicate.Predicate {
	return predicate.Funcs{
		UpdateFunc: func(e event.UpdateEvent) bool {
			g.mu.Lock()
			defer g.mu.Unlock()
			key := client.ObjectKeyFromObject(e.ObjectNew)
			if want, ok := g.expected[key]; ok && want.version == e.ObjectNew.GetResourceVersion() {
				delete(g.expected, key)
			}
			return true
		},
	}
}
