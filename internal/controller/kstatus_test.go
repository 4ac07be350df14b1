package controller

import (
	"testing"

	kstatus "github.com/fluxcd/cli-utils/pkg/kstatus/status"
	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"

	indexbuildv1alpha1 "github.com/indexbuild/indexbuild/api/v1alpha1"
	"github.com/indexbuild/indexbuild/internal/testutil"
)

// kstatusOf computes what Flux, Argo CD's kstatus-based checks and
// `kubectl wait`-style tooling read from an IndexBuild.
func kstatusOf(ib *indexbuildv1alpha1.IndexBuild) (kstatus.Status, error) {
	obj, err := runtime.DefaultUnstructuredConverter.ToUnstructured(ib)
	if err != nil {
		return "", err
	}
	res, err := kstatus.Compute(&unstructured.Unstructured{Object: obj})
	if err != nil {
		return "", err
	}
	return res.Status, nil
}

func TestKstatusOfEveryPhase(t *testing.T) {
	tests := []struct {
		name  string
		apply func(ib *indexbuildv1alpha1.IndexBuild)
		want  kstatus.Status
	}{
		{"pending", func(ib *indexbuildv1alpha1.IndexBuild) {
			newPhaseConditions(ib, testNow).inProgress(indexbuildv1alpha1.PhasePending, ReasonPending, "")
		}, kstatus.InProgressStatus},
		{"building", func(ib *indexbuildv1alpha1.IndexBuild) {
			newPhaseConditions(ib, testNow).inProgress(indexbuildv1alpha1.PhaseBuilding, ReasonBuilding, "")
		}, kstatus.InProgressStatus},
		{"suspended", func(ib *indexbuildv1alpha1.IndexBuild) {
			newPhaseConditions(ib, testNow).inProgress(indexbuildv1alpha1.PhaseBuilding, ReasonSuspended, "")
		}, kstatus.InProgressStatus},
		{"finalizing", func(ib *indexbuildv1alpha1.IndexBuild) {
			newPhaseConditions(ib, testNow).inProgress(indexbuildv1alpha1.PhaseFinalizing, ReasonFinalizing, "")
		}, kstatus.InProgressStatus},
		{"succeeded", func(ib *indexbuildv1alpha1.IndexBuild) {
			newPhaseConditions(ib, testNow).succeeded(indexbuildv1alpha1.CommitStatus{})
		}, kstatus.CurrentStatus},
		{"succeeded, spec changed since", func(ib *indexbuildv1alpha1.IndexBuild) {
			newPhaseConditions(ib, testNow).succeeded(indexbuildv1alpha1.CommitStatus{})
			ib.Status.ObservedGeneration = ib.Generation - 1
		}, kstatus.InProgressStatus},
		{"stale metadata", func(ib *indexbuildv1alpha1.IndexBuild) {
			newPhaseConditions(ib, testNow).failed(ReasonStaleMeta, "elementIDs changed")
		}, kstatus.FailedStatus},
		{"invalid input", func(ib *indexbuildv1alpha1.IndexBuild) {
			newPhaseConditions(ib, testNow).failed(ReasonInvalidInput, "bad line")
		}, kstatus.FailedStatus},
		{"out of retries", func(ib *indexbuildv1alpha1.IndexBuild) {
			newPhaseConditions(ib, testNow).failed(ReasonBackoffLimitExceeded, "partition 3")
		}, kstatus.FailedStatus},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			ib := testutil.MakeIndexBuild("b", "ns").Obj()
			ib.Generation = 3
			ib.Status.ObservedGeneration = 3
			tt.apply(ib)
			got, err := kstatusOf(ib)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(got).To(Equal(tt.want))
		})
	}
}
