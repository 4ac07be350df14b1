package controller

import (
	"fmt"
	"strconv"

	batchv1 "k8s.io/api/batch/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	indexbuildv1alpha1 "github.com/indexbuild/indexbuild/api/v1alpha1"
	"github.com/indexbuild/indexbuild/internal/retry"
	"github.com/indexbuild/indexbuild/internal/taskmeta"
)

// recordTask starts a new task: the spec's task metadata goes into
// status.task and everything the previous task reported is reset.
func recordTask(ib *indexbuildv1alpha1.IndexBuild, now metav1.Time) {
	m := specTaskMeta(ib)
	ib.Status.Task = &indexbuildv1alpha1.TaskStatus{
		Key:         taskKey(ib),
		JobID:       m.JobID,
		SchemaID:    m.SchemaID,
		TableID:     m.TableID,
		ElementType: indexbuildv1alpha1.ElementType(m.ElementType),
		ElementIDs:  m.ElementIDs,
		StartTime:   &now,
	}
	ib.Status.Commit = nil
	ib.Status.Conditions = nil
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
	}
	return taskmeta.Check("status.task", taskKey(ib), recorded, specTaskMeta(ib))
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

// specTaskMeta is the task metadata the spec asks for now.
func specTaskMeta(ib *indexbuildv1alpha1.IndexBuild) taskmeta.Meta {
	return taskmeta.Meta{
		JobID:       ib.Spec.JobID,
		SchemaID:    ib.Spec.SchemaID,
		TableID:     ib.Spec.TableID,
		ElementType: string(ib.Spec.ElementType),
		ElementIDs:  append([]int64(nil), ib.Spec.ElementIDs...),
	}
}

func taskKey(ib *indexbuildv1alpha1.IndexBuild) string {
	return taskmeta.Key(ib.Namespace, ib.Name, ib.Spec.JobID)
}

// taskArgs are the task-metadata flags (taskmeta.RegisterFlags) plus the
// partition count and output every data-plane subcommand takes.
func taskArgs(ib *indexbuildv1alpha1.IndexBuild) []string {
	return []string{
		"--job-id=" + strconv.FormatInt(ib.Spec.JobID, 10),
		"--schema-id=" + strconv.FormatInt(ib.Spec.SchemaID, 10),
		"--table-id=" + strconv.FormatInt(ib.Spec.TableID, 10),
		"--element-type=" + string(ib.Spec.ElementType),
		"--element-ids=" + taskmeta.FormatIDs(ib.Spec.ElementIDs),
		"--partitions=" + strconv.Itoa(int(ib.Spec.Partitions)),
		"--output=" + ib.Spec.Output.URI,
	}
}
