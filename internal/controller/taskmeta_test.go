package controller

import (
	"errors"
	"strings"
	"testing"

	batchv1 "k8s.io/api/batch/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	indexbuildv1alpha1 "github.com/indexbuild/indexbuild/api/v1alpha1"
	"github.com/indexbuild/indexbuild/internal/retry"
	"github.com/indexbuild/indexbuild/internal/taskmeta"
	"github.com/indexbuild/indexbuild/internal/testutil"
)

// A recorded task is compared field by field with the spec: every build
// input counts, pod settings do not. Credentials and claims cannot change
// under one jobID (admission refuses it, admission_test.go), so they are
// not compared here.
func TestCheckRecordedTask(t *testing.T) {
	for _, tc := range []struct {
		name  string
		edit  func(*indexbuildv1alpha1.IndexBuild)
		field string // "" when the task may be resumed
	}{
		{name: "unchanged", edit: func(*indexbuildv1alpha1.IndexBuild) {}},
		{name: "elementIDs reordered", edit: func(ib *indexbuildv1alpha1.IndexBuild) { ib.Spec.ElementIDs = []int64{2, 1} }},
		{name: "parallelism", edit: func(ib *indexbuildv1alpha1.IndexBuild) { p := int32(1); ib.Spec.Parallelism = &p }},
		{name: "source secret", edit: func(ib *indexbuildv1alpha1.IndexBuild) {
			ib.Spec.Source.SecretRef = &indexbuildv1alpha1.SecretReference{Name: "rotated"}
		}},
		{name: "keepVersions", edit: func(ib *indexbuildv1alpha1.IndexBuild) { ib.Spec.Output.KeepVersions = 5 }},
		{name: "tableID", edit: func(ib *indexbuildv1alpha1.IndexBuild) { ib.Spec.TableID = 101 }, field: "tableID"},
		{name: "source URI", edit: func(ib *indexbuildv1alpha1.IndexBuild) { ib.Spec.Source.URI = "s3://tables/other" }, field: "source.uri"},
		{name: "source format", edit: func(ib *indexbuildv1alpha1.IndexBuild) { ib.Spec.Source.Format = "csv" }, field: "source.format"},
		{name: "partitions", edit: func(ib *indexbuildv1alpha1.IndexBuild) { ib.Spec.Partitions = 8 }, field: "partitions"},
		{name: "builder image", edit: func(ib *indexbuildv1alpha1.IndexBuild) { ib.Spec.Builder.Image = "example.com/b:2" }, field: "builder.image"},
		{name: "builder command", edit: func(ib *indexbuildv1alpha1.IndexBuild) { ib.Spec.Builder.Command = nil }, field: "builder.command"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ib := testutil.MakeIndexBuild("b", "ns").ElementIDs(1, 2).Builder("example.com/b:1", "/bin/b").Obj()
			recordTask(ib, testNow)
			tc.edit(ib)
			err := checkRecordedTask(ib)
			if tc.field == "" {
				if err != nil {
					t.Fatalf("checkRecordedTask = %v, want nil", err)
				}
				return
			}
			var mm *taskmeta.MismatchError
			if !errors.As(err, &mm) || mm.Field != tc.field || mm.Source != "status.task" {
				t.Fatalf("checkRecordedTask = %v, want a mismatch of %s in status.task", err, tc.field)
			}
			if !errors.Is(err, retry.ErrStaleMeta) {
				t.Fatalf("%v is not stale metadata", err)
			}
		})
	}
}

func TestRecordTaskKeepsThePublishedCommit(t *testing.T) {
	ib := testutil.MakeIndexBuild("b", "ns").Obj()
	ib.Status.Commit = &indexbuildv1alpha1.CommitStatus{Version: "versions/1/", MarkerURI: "s3://indexes/b/versions/1/metadata.json"}
	ib.Status.Conditions = []metav1.Condition{{Type: indexbuildv1alpha1.ConditionReady, Status: metav1.ConditionTrue}}
	ib.Status.Merge = &indexbuildv1alpha1.MergeStatus{Ranges: 4, Succeeded: 4, Progress: "4/4"}
	ib.Spec.JobID = 2
	recordTask(ib, testNow)
	if ib.Status.Merge != nil {
		t.Errorf("the previous task's merge stage is kept: %+v", ib.Status.Merge)
	}
	if ib.Status.Commit == nil || ib.Status.Commit.Version != "versions/1/" {
		t.Fatalf("status.commit = %+v, want the published version kept", ib.Status.Commit)
	}
	if len(ib.Status.Conditions) != 0 || ib.Status.Task.JobID != 2 || ib.Status.Task.Source.URI != ib.Spec.Source.URI {
		t.Fatalf("new task not recorded cleanly: %+v %+v", ib.Status.Task, ib.Status.Conditions)
	}
}

func TestCheckChildJob(t *testing.T) {
	ib := testutil.MakeIndexBuild("b", "ns").ElementIDs(1, 2).Obj()
	ib.UID = "uid-1"
	own := newBuildJob(ib, podDefaults{image: "img"})
	if err := checkChildJob(ib, own); err != nil {
		t.Fatalf("own Job: %v", err)
	}
	noAnnotation := own.DeepCopy()
	delete(noAnnotation.Annotations, AnnotationTaskMeta)
	otherSource := testutil.MakeIndexBuild("b", "ns").ElementIDs(1, 2).SourceURI("s3://tables/other").Obj()
	otherSource.UID = ib.UID
	foreign := own.DeepCopy()
	foreign.OwnerReferences = nil
	for name, tc := range map[string]struct {
		job  *batchv1.Job
		want string
	}{
		"no annotation":          {noAnnotation, "has no " + AnnotationTaskMeta},
		"annotation of a source": {newBuildJob(otherSource, podDefaults{image: "img"}), "source.uri"},
	} {
		err := checkChildJob(ib, tc.job)
		if !errors.Is(err, retry.ErrStaleMeta) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want stale metadata naming %q", name, err, tc.want)
		}
	}
	var conflict *jobConflictError
	if err := checkChildJob(ib, foreign); !errors.As(err, &conflict) {
		t.Errorf("foreign Job: %v, want a conflict", err)
	}
}

// A Job of a previous object of the same name is waited out; anything else
// that is not ours is a conflict or stale metadata, never waited on.
func TestLeftByPrevious(t *testing.T) {
	ib := testutil.MakeIndexBuild("b", "ns").Obj()
	ib.UID = "new"
	previous := testutil.MakeIndexBuild("b", "ns").Obj()
	previous.UID = "old"
	otherName := testutil.MakeIndexBuild("c", "ns").Obj()
	otherName.UID = "old"
	deleting := newBuildJob(otherName, podDefaults{image: "img"})
	deleting.OwnerReferences = nil
	now := metav1.Now()
	deleting.DeletionTimestamp = &now
	for name, tc := range map[string]struct {
		job  *batchv1.Job
		want bool
	}{
		"ours":                          {newBuildJob(ib, podDefaults{image: "img"}), false},
		"previous object of this name":  {newBuildJob(previous, podDefaults{image: "img"}), true},
		"an IndexBuild of another name": {newBuildJob(otherName, podDefaults{image: "img"}), false},
		"no controller, not being deleted": {func() *batchv1.Job {
			j := newBuildJob(ib, podDefaults{image: "img"})
			j.OwnerReferences = nil
			return j
		}(), false},
		"being deleted": {deleting, true},
	} {
		if got := leftByPrevious(ib, tc.job); got != tc.want {
			t.Errorf("%s: leftByPrevious = %v, want %v", name, got, tc.want)
		}
	}
}
