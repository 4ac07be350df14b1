package controller

import (
	"slices"
	"testing"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/indexbuild/indexbuild/internal/taskmeta"
	"github.com/indexbuild/indexbuild/internal/testutil"
)

func TestNewBuildJob(t *testing.T) {
	ib := testutil.MakeIndexBuild("books", "lib").JobID(9).ElementIDs(1, 2).Partitions(6).Parallelism(2).BackoffLimitPerPartition(5).SourceSecret("s3-creds").Obj()
	ib.UID = "uid-1"
	job := newBuildJob(ib, podDefaults{image: "indexbuild:dev"})

	if job.Name != "books-9-build" || job.Namespace != "lib" {
		t.Fatalf("name = %s/%s", job.Namespace, job.Name)
	}
	if !metav1.IsControlledBy(job, ib) {
		t.Fatal("Job is not controlled by the IndexBuild")
	}
	if ptr.Deref(job.Spec.CompletionMode, "") != batchv1.IndexedCompletion || *job.Spec.Completions != 6 || *job.Spec.Parallelism != 2 {
		t.Fatalf("completion mode %v completions %v parallelism %v", job.Spec.CompletionMode, *job.Spec.Completions, *job.Spec.Parallelism)
	}
	if *job.Spec.BackoffLimitPerIndex != 5 || *job.Spec.MaxFailedIndexes != 0 {
		t.Fatalf("backoffLimitPerIndex %d maxFailedIndexes %d", *job.Spec.BackoffLimitPerIndex, *job.Spec.MaxFailedIndexes)
	}
	meta, err := taskmeta.Decode(job.Annotations[AnnotationTaskMeta])
	if err != nil {
		t.Fatal(err)
	}
	if err := taskmeta.Check("annotation", "k", meta, specTaskMeta(ib)); err != nil {
		t.Fatalf("annotation does not hold the task: %v", err)
	}
	pod := job.Spec.Template.Spec
	if pod.RestartPolicy != corev1.RestartPolicyNever {
		t.Fatalf("restartPolicy %s: pod failure policies need Never", pod.RestartPolicy)
	}
	c := pod.Containers[0]
	if c.Image != "indexbuild:dev" || c.Args[0] != "build" {
		t.Fatalf("image %s args %v", c.Image, c.Args)
	}
	for _, want := range []string{"--job-id=9", "--element-ids=1,2", "--partitions=6", "--source=s3://tables/books", "--source-format=jsonl", "--output=s3://indexes/books", "--table-id=100"} {
		if !slices.Contains(c.Args, want) {
			t.Errorf("args %v lack %s", c.Args, want)
		}
	}
	if len(c.EnvFrom) != 1 || c.EnvFrom[0].SecretRef.Name != "s3-creds" {
		t.Errorf("envFrom = %+v", c.EnvFrom)
	}
	if c.TerminationMessagePolicy != corev1.TerminationMessageFallbackToLogsOnError {
		t.Errorf("terminationMessagePolicy = %s", c.TerminationMessagePolicy)
	}
}

func TestBuilderOverride(t *testing.T) {
	ib := testutil.MakeIndexBuild("b", "ns").Builder("example.com/my-builder:v2", "/bin/my-builder").Obj()
	c := newBuildJob(ib, podDefaults{image: "indexbuild:dev"}).Spec.Template.Spec.Containers[0]
	if c.Image != "example.com/my-builder:v2" || !slices.Equal(c.Command, []string{"/bin/my-builder"}) || c.Args[0] != "build" {
		t.Fatalf("image %s command %v args %v", c.Image, c.Command, c.Args)
	}
}
