package controller

import (
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	indexbuildv1alpha1 "github.com/indexbuild/indexbuild/api/v1alpha1"
	"github.com/indexbuild/indexbuild/internal/testutil"
)

func TestPhaseConditionsKeepKstatusConsistent(t *testing.T) {
	type want struct {
		phase                                          indexbuildv1alpha1.Phase
		ready, reconciling, stalled, staleMeta, commit metav1.ConditionStatus
	}
	tests := []struct {
		name  string
		apply func(w phaseConditions)
		want  want
	}{
		{"building", func(w phaseConditions) { w.inProgress(indexbuildv1alpha1.PhaseBuilding, ReasonBuilding, "") },
			want{indexbuildv1alpha1.PhaseBuilding, "False", "True", "False", "False", "False"}},
		{"stale", func(w phaseConditions) { w.failed(ReasonStaleMeta, "elementIDs changed") },
			want{indexbuildv1alpha1.PhaseFailed, "False", "False", "True", "True", "False"}},
		{"invalid input", func(w phaseConditions) { w.failed(ReasonInvalidInput, "bad line") },
			want{indexbuildv1alpha1.PhaseFailed, "False", "False", "True", "", "False"}},
		{"succeeded", func(w phaseConditions) {
			w.succeeded(indexbuildv1alpha1.CommitStatus{MarkerURI: "mem://x/metadata.json"})
		},
			want{indexbuildv1alpha1.PhaseSucceeded, "True", "False", "False", "", "True"}},
		{"building then stale", func(w phaseConditions) {
			w.inProgress(indexbuildv1alpha1.PhaseBuilding, ReasonBuilding, "")
			w.failed(ReasonStaleMeta, "tableID changed")
		}, want{indexbuildv1alpha1.PhaseFailed, "False", "False", "True", "True", "False"}},
		{"committed then stale keeps Committed", func(w phaseConditions) {
			w.succeeded(indexbuildv1alpha1.CommitStatus{})
			w.failed(ReasonStaleMeta, "elementIDs changed")
		}, want{indexbuildv1alpha1.PhaseFailed, "False", "False", "True", "True", "True"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ib := testutil.MakeIndexBuild("b", "ns").Obj()
			ib.Generation = 4
			tt.apply(newPhaseConditions(ib, testNow))
			if ib.Status.Phase != tt.want.phase {
				t.Errorf("phase = %s, want %s", ib.Status.Phase, tt.want.phase)
			}
			for condType, status := range map[string]metav1.ConditionStatus{
				indexbuildv1alpha1.ConditionReady:       tt.want.ready,
				indexbuildv1alpha1.ConditionReconciling: tt.want.reconciling,
				indexbuildv1alpha1.ConditionStalled:     tt.want.stalled,
				indexbuildv1alpha1.ConditionStaleMeta:   tt.want.staleMeta,
				indexbuildv1alpha1.ConditionCommitted:   tt.want.commit,
			} {
				c := meta.FindStatusCondition(ib.Status.Conditions, condType)
				if status == "" {
					if c != nil {
						t.Errorf("%s = %s, want it absent", condType, c.Status)
					}
					continue
				}
				if c == nil || c.Status != status {
					t.Errorf("%s = %v, want %s", condType, c, status)
					continue
				}
				if c.ObservedGeneration != 4 {
					t.Errorf("%s observedGeneration = %d", condType, c.ObservedGeneration)
				}
			}
		})
	}
}

func TestProgressColumn(t *testing.T) {
	ib := testutil.MakeIndexBuild("b", "ns").Obj()
	newPhaseConditions(ib, testNow).partitions(indexbuildv1alpha1.PartitionCounts{Total: 8, Succeeded: 3})
	if ib.Status.Progress != "3/8" {
		t.Fatalf("progress = %q", ib.Status.Progress)
	}
}

// testNow is the reconcile time of status tests.
var testNow = time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)
