package controller

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/event"

	indexbuildv1alpha1 "github.com/indexbuild/indexbuild/api/v1alpha1"
)

func ibAt(version string) *indexbuildv1alpha1.IndexBuild {
	return &indexbuildv1alpha1.IndexBuild{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "b", ResourceVersion: version}}
}

func TestOwnWrites(t *testing.T) {
	t0 := time.Unix(1000, 0)
	for _, tc := range []struct {
		name   string
		steps  func(w *ownWrites)
		cached string
		at     time.Time
		want   bool
	}{
		{"nothing written", func(*ownWrites) {}, "5", t0, false},
		{"cache older than the write", func(w *ownWrites) { w.record(ibAt("7"), t0) }, "5", t0.Add(time.Second), true},
		{"cache has the write", func(w *ownWrites) { w.record(ibAt("7"), t0) }, "7", t0, false},
		{"the write was delivered, a newer one followed", func(w *ownWrites) {
			w.record(ibAt("7"), t0)
			w.observer().Update(event.UpdateEvent{ObjectOld: ibAt("5"), ObjectNew: ibAt("7")})
		}, "9", t0, false},
		{"another object's update", func(w *ownWrites) {
			w.record(ibAt("7"), t0)
			other := ibAt("7")
			other.Name = "c"
			w.observer().Update(event.UpdateEvent{ObjectOld: ibAt("5"), ObjectNew: other})
		}, "5", t0, true},
		{"a relist skipped the version: give up waiting", func(w *ownWrites) { w.record(ibAt("7"), t0) }, "9", t0.Add(ownWriteExpiry + time.Second), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newOwnWrites()
			tc.steps(w)
			if got := w.cacheBehind(ibAt(tc.cached), tc.at); got != tc.want {
				t.Fatalf("cacheBehind = %v, want %v", got, tc.want)
			}
		})
	}
	var none *ownWrites
	if none.cacheBehind(ibAt("1"), t0) {
		t.Fatal("a reconciler without ownWrites waits")
	}
}
