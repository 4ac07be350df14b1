package controller

import (
	"slices"
	"testing"

	batchv1 "k8s.io/api/batch/v1"

	indexbuildv1alpha1 "github.com/indexbuild/indexbuild/api/v1alpha1"
	"github.com/indexbuild/indexbuild/internal/testutil"
)

func TestTaskStages(t *testing.T) {
	ib := testutil.MakeIndexBuild("b", "ns").Partitions(4).Obj()
	roles := map[string]bool{}
	for i, st := range taskStages {
		job := st.newJob(ib, podDefaults{image: "img"}, testPlan)
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

// testPlan is a task plan with a merge Job of 3 ranges.
var testPlan = taskPlan{merge: mergePlan{ranges: 3}}

// stageJob is the Job taskStages' recipe for role makes under testPlan.
func stageJob(ib *indexbuildv1alpha1.IndexBuild, role string, defaults podDefaults) *batchv1.Job {
	for _, st := range taskStages {
		if st.role == role {
			return st.newJob(ib, defaults, testPlan)
		}
	}
	panic("no stage " + role)
}

// stageJobs are every stage's Jobs under testPlan.
func stageJobs(ib *indexbuildv1alpha1.IndexBuild, defaults podDefaults) []*batchv1.Job {
	var jobs []*batchv1.Job
	for _, st := range taskStages {
		jobs = append(jobs, st.newJob(ib, defaults, testPlan))
	}
	return jobs
}

func TestStageOrder(t *testing.T) {
	var roles []string
	for _, st := range taskStages {
		roles = append(roles, st.role)
	}
	if !slices.Equal(roles, []string{RoleBuild, RoleMerge, RoleFinalize}) {
		t.Errorf("stages %v", roles)
	}
}

// A stage without a Job whose successor has one was skipped when that one
// was created, and is never decided again.
func TestLaterStageStarted(t *testing.T) {
	jobs := childJobs{current: map[string]*batchv1.Job{RoleBuild: {}, RoleFinalize: {}}}
	if !laterStageStarted(jobs, 1) {
		t.Error("merge without a Job but with finalize's: not seen as skipped")
	}
	if laterStageStarted(jobs, 2) {
		t.Error("finalize has no later stage")
	}
	if laterStageStarted(childJobs{current: map[string]*batchv1.Job{RoleBuild: {}}}, 1) {
		t.Error("merge after build alone is still to decide")
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
