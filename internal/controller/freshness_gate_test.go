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

func TestFreshnessGateExpectations(t *testing.T) {
	t0 := time.Unix(1000, 0)
	for _, tc := range []struct {
		name   string
		steps  func(g *freshnessGate)
		cached string
		at     time.Time
		want   bool
	}{
		{"nothing written", func(*freshnessGate) {}, "5", t0, false},
		{"cache older than the write", func(g *freshnessGate) { g.expectStatusWrite(ibAt("7"), t0) }, "5", t0.Add(time.Second), true},
		{"cache has the write", func(g *freshnessGate) { g.expectStatusWrite(ibAt("7"), t0) }, "7", t0, false},
		{"the write was delivered, a newer one followed", func(g *freshnessGate) {
			g.expectStatusWrite(ibAt("7"), t0)
			g.observer().Update(event.UpdateEvent{ObjectOld: ibAt("5"), ObjectNew: ibAt("7")})
		}, "9", t0, false},
		{"another object's update", func(g *freshnessGate) {
			g.expectStatusWrite(ibAt("7"), t0)
			other := ibAt("7")
			other.Name = "c"
			g.observer().Update(event.UpdateEvent{ObjectOld: ibAt("5"), ObjectNew: other})
		}, "5", t0, true},
		{"a relist skipped the version: give up waiting", func(g *freshnessGate) { g.expectStatusWrite(ibAt("7"), t0) }, "9", t0.Add(expectationExpiry + time.Second), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := newFreshnessGate(nil)
			tc.steps(g)
			if got := g.satisfied(ibAt(tc.cached), tc.at) != nil; got != tc.want {
				t.Fatalf("cache behind = %v, want %v", got, tc.want)
			}
		})
	}
}
