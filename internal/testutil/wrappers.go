// Package testutil builds test objects (MakeIndexBuild(name, ns).X(...).Obj())
// and writes Job and Pod status the way the Job controller and the kubelet
// would, for integration tests on envtest where neither runs.
package testutil

import (
	"fmt"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	indexbuildv1alpha1 "github.com/indexbuild/indexbuild/api/v1alpha1"
	"github.com/indexbuild/indexbuild/internal/indexset"
)

// IndexBuildWrapper wraps an IndexBuild for fluent construction.
type IndexBuildWrapper struct{ indexbuildv1alpha1.IndexBuild }

// MakeIndexBuild returns a valid IndexBuild: job 1 building index element 1
// of table 100 in 4 partitions.
func MakeIndexBuild(name, namespace string) *IndexBuildWrapper {
	return &IndexBuildWrapper{indexbuildv1alpha1.IndexBuild{
		TypeMeta:   metav1.TypeMeta{APIVersion: indexbuildv1alpha1.GroupVersion.String(), Kind: "IndexBuild"},
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace},
		Spec: indexbuildv1alpha1.IndexBuildSpec{
			JobID:       1,
			SchemaID:    1,
			TableID:     100,
			ElementType: indexbuildv1alpha1.ElementTypeIndex,
			ElementIDs:  []int64{1},
			Source:      indexbuildv1alpha1.SourceSpec{URI: "s3://tables/books", Format: "jsonl"},
			Output:      indexbuildv1alpha1.OutputSpec{URI: "s3://indexes/" + name},
			Partitions:  4,
		},
	}}
}

// Obj returns the IndexBuild.
func (w *IndexBuildWrapper) Obj() *indexbuildv1alpha1.IndexBuild { return &w.IndexBuild }

func (w *IndexBuildWrapper) JobID(id int64) *IndexBuildWrapper    { w.Spec.JobID = id; return w }
func (w *IndexBuildWrapper) TableID(id int64) *IndexBuildWrapper  { w.Spec.TableID = id; return w }
func (w *IndexBuildWrapper) SchemaID(id int64) *IndexBuildWrapper { w.Spec.SchemaID = id; return w }
func (w *IndexBuildWrapper) Partitions(n int32) *IndexBuildWrapper {
	w.Spec.Partitions = n
	return w
}
func (w *IndexBuildWrapper) Parallelism(n int32) *IndexBuildWrapper {
	w.Spec.Parallelism = ptr.To(n)
	return w
}
func (w *IndexBuildWrapper) ElementIDs(ids ...int64) *IndexBuildWrapper {
	w.Spec.ElementIDs = ids
	return w
}
func (w *IndexBuildWrapper) ElementType(t indexbuildv1alpha1.ElementType) *IndexBuildWrapper {
	w.Spec.ElementType = t
	return w
}
func (w *IndexBuildWrapper) Suspend(s bool) *IndexBuildWrapper { w.Spec.Suspend = s; return w }
func (w *IndexBuildWrapper) SourceURI(uri string) *IndexBuildWrapper {
	w.Spec.Source.URI = uri
	return w
}
func (w *IndexBuildWrapper) OutputURI(uri string) *IndexBuildWrapper {
	w.Spec.Output.URI = uri
	return w
}
func (w *IndexBuildWrapper) SourceSecret(name string) *IndexBuildWrapper {
	w.Spec.Source.SecretRef = &indexbuildv1alpha1.SecretReference{Name: name}
	return w
}
func (w *IndexBuildWrapper) OutputSecret(name string) *IndexBuildWrapper {
	w.Spec.Output.SecretRef = &indexbuildv1alpha1.SecretReference{Name: name}
	return w
}
func (w *IndexBuildWrapper) DeletionPolicy(p indexbuildv1alpha1.DeletionPolicy) *IndexBuildWrapper {
	w.Spec.Output.DeletionPolicy = p
	return w
}
func (w *IndexBuildWrapper) KeepVersions(n int32) *IndexBuildWrapper {
	w.Spec.Output.KeepVersions = n
	return w
}
func (w *IndexBuildWrapper) BackoffLimitPerPartition(n int32) *IndexBuildWrapper {
	w.Spec.BackoffLimitPerPartition = ptr.To(n)
	return w
}
func (w *IndexBuildWrapper) Builder(image string, command ...string) *IndexBuildWrapper {
	w.Spec.Builder = &indexbuildv1alpha1.BuilderSpec{Image: image, Command: command}
	return w
}

// The functions below change a Job's status the way the Job controller
// does, in transitions the apiserver accepts: FailureTarget before Failed,
// SuccessCriteriaMet before Complete, startTime on every finished Job.

// JobRunning marks active pods and the partitions completed so far.
func JobRunning(job *batchv1.Job, active int32, completedIndexes string) {
	job.Status.StartTime = startTime(job)
	job.Status.Active = active
	job.Status.CompletedIndexes = completedIndexes
	job.Status.Succeeded = int32(indexset.Count(completedIndexes))
}

// JobSucceeded completes every index of the Job.
func JobSucceeded(job *batchv1.Job) {
	now := metav1.Now()
	job.Status.StartTime = startTime(job)
	job.Status.Active = 0
	job.Status.Ready = ptr.To[int32](0)
	completions := ptr.Deref(job.Spec.Completions, 1)
	job.Status.Succeeded = completions
	if ptr.Deref(job.Spec.CompletionMode, batchv1.NonIndexedCompletion) == batchv1.IndexedCompletion {
		job.Status.CompletedIndexes = indexset.FirstN(int(completions))
	}
	job.Status.CompletionTime = &now
	job.Status.Conditions = append(job.Status.Conditions,
		batchv1.JobCondition{Type: batchv1.JobSuccessCriteriaMet, Status: corev1.ConditionTrue, Reason: batchv1.JobReasonCompletionsReached, LastTransitionTime: now},
		batchv1.JobCondition{Type: batchv1.JobComplete, Status: corev1.ConditionTrue, Reason: batchv1.JobReasonCompletionsReached, LastTransitionTime: now},
	)
}

// JobFailed fails the Job with the given reason and message.
func JobFailed(job *batchv1.Job, reason, message string) {
	now := metav1.Now()
	job.Status.StartTime = startTime(job)
	job.Status.Active = 0
	job.Status.Ready = ptr.To[int32](0)
	job.Status.Failed++
	job.Status.Conditions = append(job.Status.Conditions,
		batchv1.JobCondition{Type: batchv1.JobFailureTarget, Status: corev1.ConditionTrue, Reason: reason, Message: message, LastTransitionTime: now},
		batchv1.JobCondition{Type: batchv1.JobFailed, Status: corev1.ConditionTrue, Reason: reason, Message: message, LastTransitionTime: now},
	)
}

// JobFailedByPodFailurePolicy fails the Job the way a FailJob rule does,
// with the Job controller's message naming pod, exit code and rule.
func JobFailedByPodFailurePolicy(job *batchv1.Job, podName, container string, exitCode int32, rule int) {
	JobFailed(job, batchv1.JobReasonPodFailurePolicy, fmt.Sprintf(
		"Container %s for pod %s/%s failed with exit code %d matching FailJob rule at index %d", container, job.Namespace, podName, exitCode, rule))
}

// JobIndexesFailed fails an Indexed Job whose partitions ran out of retries.
func JobIndexesFailed(job *batchv1.Job, failedIndexes string) {
	job.Status.FailedIndexes = ptr.To(failedIndexes)
	JobFailed(job, batchv1.JobReasonMaxFailedIndexesExceeded, "Job has exceeded the specified maximal number of failed indexes")
}

// MakeJobPod is a pod of job as the Job controller creates it.
func MakeJobPod(job *batchv1.Job, name string) *corev1.Pod {
	labels := map[string]string{batchv1.JobNameLabel: job.Name}
	for k, v := range job.Spec.Template.Labels {
		labels[k] = v
	}
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: job.Namespace, Labels: labels},
		Spec:       *job.Spec.Template.Spec.DeepCopy(),
	}
}

// PodTerminated sets the status the kubelet writes for a pod whose only
// container exited with exitCode and left message as its termination message.
func PodTerminated(pod *corev1.Pod, exitCode int32, message string) {
	now := metav1.Now()
	phase := corev1.PodSucceeded
	if exitCode != 0 {
		phase = corev1.PodFailed
	}
	pod.Status.Phase = phase
	pod.Status.ContainerStatuses = []corev1.ContainerStatus{{
		Name:  pod.Spec.Containers[0].Name,
		Image: pod.Spec.Containers[0].Image,
		State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
			ExitCode: exitCode, Message: message, StartedAt: now, FinishedAt: now,
		}},
	}}
}

func startTime(job *batchv1.Job) *metav1.Time {
	if job.Status.StartTime != nil {
		return job.Status.StartTime
	}
	now := metav1.NewTime(time.Now().Add(-time.Second))
	return &now
}

// SourceClaim backs the file:// source with a PersistentVolumeClaim.
func (w *IndexBuildWrapper) SourceClaim(name string) *IndexBuildWrapper {
	w.Spec.Source.PersistentVolumeClaim = &indexbuildv1alpha1.PersistentVolumeClaimReference{ClaimName: name}
	return w
}

// OutputClaim backs the file:// output with a PersistentVolumeClaim.
func (w *IndexBuildWrapper) OutputClaim(name string) *IndexBuildWrapper {
	w.Spec.Output.PersistentVolumeClaim = &indexbuildv1alpha1.PersistentVolumeClaimReference{ClaimName: name}
	return w
}

// Pod sets the pod settings of every pod of the build.
func (w *IndexBuildWrapper) Pod(settings indexbuildv1alpha1.PodSettings) *IndexBuildWrapper {
	w.Spec.Pod = &settings
	return w
}

// WorkerResources sets the worker containers' resources.
func (w *IndexBuildWrapper) WorkerResources(r corev1.ResourceRequirements) *IndexBuildWrapper {
	w.Spec.Worker = &indexbuildv1alpha1.WorkerSpec{Resources: r}
	return w
}

// WorkerVolumeMounts sets the worker container's mounts of spec.pod.volumes.
func (w *IndexBuildWrapper) WorkerVolumeMounts(m ...corev1.VolumeMount) *IndexBuildWrapper {
	if w.Spec.Worker == nil {
		w.Spec.Worker = &indexbuildv1alpha1.WorkerSpec{}
	}
	w.Spec.Worker.VolumeMounts = m
	return w
}

// FinalizeVolumeMounts sets the finalize container's mounts of spec.pod.volumes.
func (w *IndexBuildWrapper) FinalizeVolumeMounts(m ...corev1.VolumeMount) *IndexBuildWrapper {
	if w.Spec.Finalize == nil {
		w.Spec.Finalize = &indexbuildv1alpha1.FinalizeSpec{}
	}
	w.Spec.Finalize.VolumeMounts = m
	return w
}

// MaxRestarts sets spec.failurePolicy.maxRestarts.
func (w *IndexBuildWrapper) MaxRestarts(n int32) *IndexBuildWrapper {
	w.Spec.FailurePolicy = &indexbuildv1alpha1.FailurePolicy{MaxRestarts: n}
	return w
}

// FinalizeResources sets the finalize container's resources.
func (w *IndexBuildWrapper) FinalizeResources(r corev1.ResourceRequirements) *IndexBuildWrapper {
	if w.Spec.Finalize == nil {
		w.Spec.Finalize = &indexbuildv1alpha1.FinalizeSpec{}
	}
	w.Spec.Finalize.Resources = r
	return w
}

// ActiveDeadlineSeconds limits the whole task.
func (w *IndexBuildWrapper) ActiveDeadlineSeconds(s int64) *IndexBuildWrapper {
	w.Spec.ActiveDeadlineSeconds = ptr.To(s)
	return w
}

// FinalizeDeadlineSeconds limits finalize.
func (w *IndexBuildWrapper) FinalizeDeadlineSeconds(s int64) *IndexBuildWrapper {
	if w.Spec.Finalize == nil {
		w.Spec.Finalize = &indexbuildv1alpha1.FinalizeSpec{}
	}
	w.Spec.Finalize.ActiveDeadlineSeconds = ptr.To(s)
	return w
}

// TTLSecondsAfterFinished removes child Jobs that long after the build ended.
func (w *IndexBuildWrapper) TTLSecondsAfterFinished(s int32) *IndexBuildWrapper {
	w.Spec.TTLSecondsAfterFinished = ptr.To(s)
	return w
}

// Label sets a label on the IndexBuild.
func (w *IndexBuildWrapper) Label(key, value string) *IndexBuildWrapper {
	if w.Labels == nil {
		w.Labels = map[string]string{}
	}
	w.Labels[key] = value
	return w
}

// MergeRanges sets spec.merge.ranges.
func (w *IndexBuildWrapper) MergeRanges(n int32) *IndexBuildWrapper {
	if w.Spec.Merge == nil {
		w.Spec.Merge = &indexbuildv1alpha1.MergeSpec{}
	}
	w.Spec.Merge.Ranges = ptr.To(n)
	return w
}
