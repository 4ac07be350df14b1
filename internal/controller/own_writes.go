package controller

import (
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
)

// ownWriteExpiry bounds the wait for the cache to show a write: a relist
// after a dropped watch may skip the version, and then nothing says so.
const ownWriteExpiry = 5 * time.Second

// ownWrites remembers the resourceVersion of each IndexBuild's last status
// write by this process. A Job event often brings the next reconcile before
// the cache has seen that write; a status computed from the older copy ends
// in a 409 from the optimistic lock and a retry with backoff. The reconcile
// waits for its cache instead, which costs no request.
type ownWrites struct {
	mu       sync.Mutex
	versions map[types.NamespacedName]ownWrite
}

type ownWrite struct {
	version string
	at      time.Time
}

func newOwnWrites() *ownWrites {
	return &ownWrites{versions: map[types.NamespacedName]ownWrite{}}
}

// record notes a stored status write of obj (its new resourceVersion).
func (w *ownWrites) record(obj client.Object, now time.Time) {
	if w == nil {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.versions[client.ObjectKeyFromObject(obj)] = ownWrite{version: obj.GetResourceVersion(), at: now}
}

// cacheBehind reports whether cached is older than this process's last
// write of it: the cache has not delivered that version yet.
func (w *ownWrites) cacheBehind(cached client.Object, now time.Time) bool {
	if w == nil {
		return false
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	key := client.ObjectKeyFromObject(cached)
	own, ok := w.versions[key]
	if !ok {
		return false
	}
	if cached.GetResourceVersion() == own.version || now.Sub(own.at) > ownWriteExpiry {
		delete(w.versions, key)
		return false
	}
	return true
}

// forget drops an object that is gone.
func (w *ownWrites) forget(key types.NamespacedName) {
	if w == nil {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	delete(w.versions, key)
}

// observer is a predicate that passes every event and, on the way, notes
// that the cache has delivered a version this process wrote, even when a
// newer one from someone else follows before the next reconcile.
func (w *ownWrites) observer() predicate.Predicate {
	return predicate.Funcs{
		UpdateFunc: func(e event.UpdateEvent) bool {
			w.mu.Lock()
			defer w.mu.Unlock()
			key := client.ObjectKeyFromObject(e.ObjectNew)
			if own, ok := w.versions[key]; ok && own.version == e.ObjectNew.GetResourceVersion() {
				delete(w.versions, key)
			}
			return true
		},
	}
}
