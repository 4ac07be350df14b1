package controller

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	indexbuildv1alpha1 "github.com/indexbuild/indexbuild/api/v1alpha1"
)

func building(succeeded, active int32, reason string) *indexbuildv1alpha1.IndexBuildStatus {
	ib := &indexbuildv1alpha1.IndexBuild{ObjectMeta: metav1.ObjectMeta{Generation: 1}}
	ib.Status.ObservedGeneration = 1
	w := newStatusWriter(ib)
	w.partitions(indexbuildv1alpha1.PartitionCounts{Total: 8, Succeeded: succeeded, Active: active})
	w.inProgress(indexbuildv1alpha1.PhaseBuilding, reason, "some message about progress")
	ib.Status.Conditions[0].Message = "progress message " + string(rune('a'+succeeded+active))
	return &ib.Status
}

func TestProgressOnly(t *testing.T) {
	base := building(1, 4, ReasonBuilding)
	finalizing := building(8, 0, ReasonFinalizing)
	finalizing.Phase = indexbuildv1alpha1.PhaseFinalizing
	newGeneration := building(2, 4, ReasonBuilding)
	newGeneration.ObservedGeneration = 2
	for _, tc := range []struct {
		name  string
		after *indexbuildv1alpha1.IndexBuildStatus
		want  bool
	}{
		{"no change", base.DeepCopy(), false},
		{"one more partition done", building(2, 3, ReasonBuilding), true},
		{"another pod running", building(1, 5, ReasonBuilding), true},
		{"reason changes (pods cannot run, suspended)", building(1, 4, ReasonSuspended), false},
		{"phase changes", finalizing, false},
		{"spec changed", newGeneration, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := progressOnly(base, tc.after); got != tc.want {
				t.Fatalf("progressOnly = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestProgressCoalescerWait(t *testing.T) {
	key := types.NamespacedName{Namespace: "ns", Name: "b"}
	t0 := time.Unix(1000, 0)
	c := newProgressCoalescer(5 * time.Second)
	before, progress := building(1, 4, ReasonBuilding), building(2, 4, ReasonBuilding)
	phase := building(8, 0, ReasonFinalizing)
	phase.Phase = indexbuildv1alpha1.PhaseFinalizing

	if got := c.wait(key, before, progress, t0); got != 0 {
		t.Fatalf("no write recorded yet: wait %s, want 0", got)
	}
	c.written(key, before, t0)
	if got := c.wait(key, before, progress, t0.Add(2*time.Second)); got != 3*time.Second {
		t.Fatalf("progress 2s after a write: wait %s, want 3s", got)
	}
	if got := c.wait(key, before, phase, t0.Add(2*time.Second)); got != 0 {
		t.Fatalf("phase change: wait %s, want 0", got)
	}
	if got := c.wait(key, before, progress, t0.Add(5*time.Second)); got != 0 {
		t.Fatalf("progress after the interval: wait %s, want 0", got)
	}
	succeeded := building(8, 0, ReasonCommitted)
	succeeded.Phase = indexbuildv1alpha1.PhaseSucceeded
	c.written(key, succeeded, t0.Add(6*time.Second))
	if len(c.lastWrite) != 0 {
		t.Fatalf("a finished build is remembered: %v", c.lastWrite)
	}
	if got := newProgressCoalescer(0).wait(key, before, progress, t0); got != 0 {
		t.Fatalf("interval 0 turns coalescing off: wait %s", got)
	}
}
