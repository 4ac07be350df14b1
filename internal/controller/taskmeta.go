package controller

import (
	"fmt"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	indexbuildv1alpha1 "github.com/indexbuild/indexbuild/api/v1alpha1"
	"github.com/indexbuild/indexbuild/internal/retry"
	"github.com/indexbuild/indexbuild/internal/taskmeta"
)

// recordTask starts a new task: the spec's task metadata goes into
// status.task and the previous task's conditions are reset. status.commit
// stays: it names the version readers still get until this task publishes.
func recordTask(ib *indexbuildv1alpha1.IndexBuild, now time.Time) {
	m := specTaskMeta(ib)
	ib.Status.Task = &indexbuildv1alpha1.TaskStatus{
		Key:         taskKey(ib),
		JobID:       m.JobID,
		SchemaID:    m.SchemaID,
		TableID:     m.TableID,
		ElementType: indexbuildv1alpha1.ElementType(m.ElementType),
		ElementIDs:  m.ElementIDs,
		Source:      indexbuildv1alpha1.TaskSource{URI: m.Source, Format: indexbuildv1alpha1.SourceFormat(m.SourceFormat)},
		Partitions:  int32(m.Partitions),
		Builder:     ib.Spec.Builder.DeepCopy(),
		StartTime:   &metav1.Time{Time: now},
	}
	ib.Status.Conditions = nil
	ib.Status.Merge = nil
	ib.Status.Restarts, ib.Status.LastRestart = 0, nil
}

// isNewTask reports whether the spec's jobID starts a task other than the
// recorded one (or there is none recorded yet).
func isNewTask(ib *indexbuildv1alpha1.IndexBuild) bool {
	return ib.Status.Task == nil || ib.Status.Task.JobID != ib.Spec.JobID
}

// checkRecordedTask compares the spec against status.task.
func checkRecordedTask(ib *indexbuildv1alpha1.IndexBuild) error {
	t := ib.Status.Task
	recorded := taskmeta.Meta{
		JobID: t.JobID, SchemaID: t.SchemaID, TableID: t.TableID,
		ElementType: string(t.ElementType), ElementIDs: t.ElementIDs,
		Source: t.Source.URI, SourceFormat: string(t.Source.Format), Partitions: int(t.Partitions),
	}
	recorded.BuilderImage, recorded.BuilderCommand = builderMeta(t.Builder)
	return taskmeta.Check("status.task", taskKey(ib), recorded, specTaskMeta(ib))
}

// checkTask checks the recorded task metadata, in status.task and in the
// annotation of every Job of the task, against the spec.
func checkTask(ib *indexbuildv1alpha1.IndexBuild, jobs childJobs) error {
	if err := checkRecordedTask(ib); err != nil {
		return err
	}
	for _, job := range jobs.current {
		if err := checkChildJob(ib, job); err != nil {
			return err
		}
	}
	return nil
}

// checkChildJob compares the spec against the metadata a child Job was
// created with. A Job without readable metadata, or owned by another
// object, is never adopted.
func checkChildJob(ib *indexbuildv1alpha1.IndexBuild, job *batchv1.Job) error {
	if !metav1.IsControlledBy(job, ib) {
		return &jobConflictError{job: job.Name}
	}
	source := "Job " + job.Name
	raw, ok := job.Annotations[AnnotationTaskMeta]
	if !ok {
		return fmt.Errorf("%w: %s has no %s annotation (task %s, job %d)", retry.ErrStaleMeta, source, AnnotationTaskMeta, taskKey(ib), ib.Spec.JobID)
	}
	recorded, err := taskmeta.Decode(raw)
	if err != nil {
		return fmt.Errorf("%w: %s: %v (task %s, job %d)", retry.ErrStaleMeta, source, err, taskKey(ib), ib.Spec.JobID)
	}
	return taskmeta.Check(source, taskKey(ib), recorded, specTaskMeta(ib))
}

// jobConflictError is a Job with a child's name that this IndexBuild does
// not control, e.g. left behind by a deleted IndexBuild of the same name.
type jobConflictError struct{ job string }

func (e *jobConflictError) Error() string {
	return fmt.Sprintf("Job %s exists but is not controlled by this IndexBuild; delete it or change spec.jobID", e.job)
}

// previousJobError is a Job with a child's name that a deleted IndexBuild
// of the same name left (kubectl replace --force, a restore from backup):
// being deleted, or still controlled by the old object's UID until the
// garbage collector removes it. It is waited out, never adopted.
type previousJobError struct{ job string }

func (e *previousJobError) Error() string {
	return fmt.Sprintf("waiting for Job %s of a previous IndexBuild with this name to be deleted", e.job)
}

// previousJobsPollInterval is how often a build waiting for a previous
// object's Jobs looks again; their deletion usually brings an event first.
const previousJobsPollInterval = 2 * time.Second

// leftByPrevious reports whether job belongs to a previous incarnation of
// ib: it is being deleted, or its controller is an IndexBuild of the same
// name with another UID.
func leftByPrevious(ib *indexbuildv1alpha1.IndexBuild, job *batchv1.Job) bool {
	if metav1.IsControlledBy(job, ib) {
		return false
	}
	if !job.DeletionTimestamp.IsZero() {
		return true
	}
	ref := metav1.GetControllerOf(job)
	return ref != nil && ref.Kind == "IndexBuild" && ref.APIVersion == indexbuildv1alpha1.GroupVersion.String() &&
		ref.Name == ib.Name && ref.UID != ib.UID
}

// specTaskMeta is the task metadata the spec asks for now: every input of
// the build, credentials and pod settings excepted.
func specTaskMeta(ib *indexbuildv1alpha1.IndexBuild) taskmeta.Meta {
	m := taskmeta.Meta{
		JobID:        ib.Spec.JobID,
		SchemaID:     ib.Spec.SchemaID,
		TableID:      ib.Spec.TableID,
		ElementType:  string(ib.Spec.ElementType),
		ElementIDs:   append([]int64(nil), ib.Spec.ElementIDs...),
		Source:       ib.Spec.Source.URI,
		SourceFormat: string(ib.Spec.Source.Format),
		Partitions:   int(ib.Spec.Partitions),
	}
	m.BuilderImage, m.BuilderCommand = builderMeta(ib.Spec.Builder)
	return m
}

func builderMeta(b *indexbuildv1alpha1.BuilderSpec) (image string, command []string) {
	if b == nil {
		return "", nil
	}
	return b.Image, append([]string(nil), b.Command...)
}

func taskKey(ib *indexbuildv1alpha1.IndexBuild) string {
	return taskmeta.Key(ib.Namespace, ib.Name, ib.Spec.JobID)
}

// taskArgs are the task-metadata flags (taskmeta.RegisterFlags) plus the
// output and its owner that workers and finalize take: both compare the
// very same task with what the output recorded, and touch an output root
// only when it belongs to this IndexBuild.
func taskArgs(ib *indexbuildv1alpha1.IndexBuild) []string {
	return append(specTaskMeta(ib).Args(), "--output="+ib.Spec.Output.URI, "--owner="+ownerArg(ib))
}
