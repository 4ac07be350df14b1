package controller

import (
	"slices"
	"testing"

	"k8s.io/utils/ptr"

	"github.com/indexbuild/indexbuild/internal/testutil"
)

func TestNewFinalizeJob(t *testing.T) {
	ib := testutil.MakeIndexBuild("books", "lib").JobID(3).Obj()
	ib.Spec.FinalizeBackoffLimit = ptr.To[int32](7)
	job := newFinalizeJob(ib, podDefaults{image: "indexbuild:dev"})
	if job.Name != "books-3-finalize" || job.Labels[LabelRole] != RoleFinalize {
		t.Fatalf("name %s labels %v", job.Name, job.Labels)
	}
	if job.Spec.CompletionMode != nil || *job.Spec.Completions != 1 || *job.Spec.BackoffLimit != 7 {
		t.Fatalf("spec %+v", job.Spec)
	}
	if job.Spec.PodFailurePolicy == nil || job.Annotations[AnnotationTaskMeta] == "" {
		t.Fatal("finalize Job lacks the pod failure policy or the task annotation")
	}
	c := job.Spec.Template.Spec.Containers[0]
	if c.Args[0] != "finalize" || !slices.Contains(c.Args, "--output=s3://indexes/books") || !slices.Contains(c.Args, "--partitions=4") {
		t.Fatalf("args %v", c.Args)
	}
	// Finalize compares the staged task manifest with the whole task, so it
	// gets the same task flags as the workers, source and builder included.
	build := newBuildJob(ib, podDefaults{image: "indexbuild:dev"}).Spec.Template.Spec.Containers[0].Args
	if !slices.Equal(c.Args[1:], build[1:]) {
		t.Fatalf("finalize task flags %v differ from the workers' %v", c.Args[1:], build[1:])
	}
}
