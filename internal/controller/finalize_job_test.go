package controller

import (
	"slices"
	"strings"
	"testing"

	"k8s.io/utils/ptr"

	"github.com/indexbuild/indexbuild/internal/testutil"
)

func TestNewFinalizeJob(t *testing.T) {
	ib := testutil.MakeIndexBuild("books", "lib").JobID(3).Obj()
	ib.Spec.FinalizeBackoffLimit = ptr.To[int32](7)
	job := newFinalizeJob(ib, podDefaults{image: "indexbuild:dev"}, mergePlan{})
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

// Finalize commits what the merge stage left: the merge Job's ranges, an
// in-process merge of a small build, or the partitions' own files.
func TestFinalizeMergeArgs(t *testing.T) {
	ib := testutil.MakeIndexBuild("books", "lib").Obj()
	for name, tc := range map[string]struct {
		plan mergePlan
		want []string
	}{
		"merge Job of 8 ranges": {mergePlan{ranges: 8}, []string{"--merge-ranges=8"}},
		"small build":           {mergePlan{local: true, skipped: "small"}, []string{"--merge-local"}},
		"fulltext":              {mergePlan{skipped: "fulltext"}, nil},
	} {
		args := newFinalizeJob(ib, podDefaults{image: "img"}, tc.plan).Spec.Template.Spec.Containers[0].Args
		var merge []string
		for _, a := range args {
			if strings.HasPrefix(a, "--merge") {
				merge = append(merge, a)
			}
		}
		if !slices.Equal(merge, tc.want) {
			t.Errorf("%s: merge flags %v, want %v (args %v)", name, merge, tc.want, args)
		}
	}
}
