package controller

import (
	"testing"

	indexbuildv1alpha1 "github.com/indexbuild/indexbuild/api/v1alpha1"
	"github.com/indexbuild/indexbuild/internal/testutil"
)

func TestTaskStages(t *testing.T) {
	ib := testutil.MakeIndexBuild("b", "ns").Partitions(4).Obj()
	roles := map[string]bool{}
	for i, st := range taskStages {
		job := st.newJob(ib, podDefaults{image: "img"})
		if job.Labels[LabelRole] != st.role || job.Name != childJobName(ib, st.role) {
			t.Errorf("stage %s: recipe makes Job %s with role %q", st.role, job.Name, job.Labels[LabelRole])
		}
		if roles[st.role] {
			t.Errorf("stage %s twice", st.role)
		}
		roles[st.role] = true
		if got := stageIndex(st.phase); got != i {
			t.Errorf("stage %s: stageIndex(%s) = %d, want %d", st.role, st.phase, got, i)
		}
		if st.progress(newPhaseConditions(ib, testNow), ib, nil) == "" {
			t.Errorf("stage %s says nothing before its Job exists", st.role)
		}
	}
	if publishingStage.role != RoleFinalize {
		t.Errorf("the publishing stage is %s, want finalize", publishingStage.role)
	}
	if stageIndex(indexbuildv1alpha1.PhasePending) != 0 || stageIndex(indexbuildv1alpha1.PhaseSucceeded) != len(taskStages) || stageIndex(indexbuildv1alpha1.PhaseFailed) != len(taskStages) {
		t.Error("Pending stands before the first stage, a finished task after the last")
	}
}

func TestBuildStageProgress(t *testing.T) {
	ib := testutil.MakeIndexBuild("b", "ns").Partitions(4).Obj()
	job := runningBuildJob(2, 2)
	job.Status.CompletedIndexes = "0"
	msg := taskStages[0].progress(newPhaseConditions(ib, testNow), ib, job)
	if msg != "1 of 4 partitions built, 2 running" {
		t.Errorf("message = %q", msg)
	}
	if ib.Status.Progress != "1/4" || ib.Status.Partitions.Active != 2 {
		t.Errorf("status progress %q, partitions %+v", ib.Status.Progress, ib.Status.Partitions)
	}
}
