package controller

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/url"
	"strconv"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	indexbuildv1alpha1 "github.com/indexbuild/indexbuild/api/v1alpha1"
	"github.com/indexbuild/indexbuild/internal/retry"
	"github.com/indexbuild/indexbuild/internal/taskmeta"
)

// Labels and annotations on every child Job.
const (
	LabelBuildName = "indexbuild.dev/name"
	LabelJobID     = "indexbuild.dev/job-id"
	LabelRole      = "indexbuild.dev/role"
	// AnnotationTaskMeta holds the task metadata the Job was created with
	// (taskmeta.Meta.Encode); it is checked before a Job is resumed.
	AnnotationTaskMeta = "indexbuild.dev/task-meta"
	// AnnotationTaskKey holds the task key, for people reading the Job.
	AnnotationTaskKey = "indexbuild.dev/task-key"
)

// Roles of child Jobs.
const (
	RoleBuild    = "build"
	RoleFinalize = "finalize"
)

// Container names in worker and finalize pods.
const (
	containerWorker   = "worker"
	containerFinalize = "finalize"
)

// Job and pod names must stay within 63 characters (pod hostnames of an
// Indexed Job append "-<index>"), so long IndexBuild names are shortened
// with a hash that keeps them unique.
const maxJobNameLength = 52

// childJobName is the deterministic name of the Job for role in the current
// task: <name>-<jobID>-<role>.
func childJobName(ib *indexbuildv1alpha1.IndexBuild, role string) string {
	suffix := fmt.Sprintf("-%d-%s", ib.Spec.JobID, role)
	name := ib.Name + suffix
	if len(name) <= maxJobNameLength {
		return name
	}
	sum := sha256.Sum256([]byte(name))
	hash := hex.EncodeToString(sum[:])[:8]
	keep := maxJobNameLength - len(suffix) - len(hash) - 1
	if keep < 1 {
		// Only a huge jobID gets here; the hash alone keeps the name unique.
		return ("ib-" + hash + suffix)[:maxJobNameLength]
	}
	return ib.Name[:keep] + "-" + hash + suffix
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

// podFailurePolicy fails the Job at once on the contract's non-retryable exit
// codes, in the rule order jobFailureReason relies on, and does not count
// disruptions (preemption, eviction, node drain) against the retry budget.
func podFailurePolicy() *batchv1.PodFailurePolicy {
	failOn := func(code int32) batchv1.PodFailurePolicyRule {
		return batchv1.PodFailurePolicyRule{
			Action: batchv1.PodFailurePolicyActionFailJob,
			OnExitCodes: &batchv1.PodFailurePolicyOnExitCodesRequirement{
				Operator: batchv1.PodFailurePolicyOnExitCodesOpIn,
				Values:   []int32{code},
			},
		}
	}
	return &batchv1.PodFailurePolicy{Rules: []batchv1.PodFailurePolicyRule{
		failOn(retry.ExitStaleMeta),
		failOn(retry.ExitInvalidInput),
		{
			Action: batchv1.PodFailurePolicyActionIgnore,
			OnPodConditions: []batchv1.PodFailurePolicyOnPodConditionsPattern{
				{Type: corev1.DisruptionTarget, Status: corev1.ConditionTrue},
			},
		},
	}}
}

// newChildJob builds what the build and finalize Jobs share: identity,
// labels, the task-metadata annotation, the owner reference and the pod.
func newChildJob(ib *indexbuildv1alpha1.IndexBuild, role, container, image string, args []string) *batchv1.Job {
	labels := map[string]string{
		LabelBuildName: ib.Name,
		LabelJobID:     strconv.FormatInt(ib.Spec.JobID, 10),
		LabelRole:      role,
	}
	var command []string
	if ib.Spec.Builder != nil {
		if ib.Spec.Builder.Image != "" {
			image = ib.Spec.Builder.Image
		}
		command = ib.Spec.Builder.Command
	}
	pod := corev1.PodSpec{
		RestartPolicy: corev1.RestartPolicyNever,
		Containers: []corev1.Container{{
			Name:                     container,
			Image:                    image,
			ImagePullPolicy:          corev1.PullIfNotPresent,
			Command:                  command,
			Args:                     args,
			TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError,
		}},
	}
	addSecretEnv(&pod.Containers[0], ib.Spec.Source.SecretRef)
	addSecretEnv(&pod.Containers[0], ib.Spec.Output.SecretRef)
	addFileStoreVolume(&pod, "source", ib.Spec.Source.URI, true)
	addFileStoreVolume(&pod, "output", ib.Spec.Output.URI, false)

	job := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{
			Name:      childJobName(ib, role),
			Namespace: ib.Namespace,
			Labels:    labels,
			Annotations: map[string]string{
				AnnotationTaskMeta: specTaskMeta(ib).Encode(),
				AnnotationTaskKey:  taskKey(ib),
			},
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(ib, indexbuildv1alpha1.GroupVersion.WithKind("IndexBuild"))},
		},
		Spec: batchv1.JobSpec{
			PodFailurePolicy: podFailurePolicy(),
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       pod,
			},
		},
	}
	return job
}

func addSecretEnv(c *corev1.Container, ref *indexbuildv1alpha1.SecretReference) {
	if ref == nil {
		return
	}
	c.EnvFrom = append(c.EnvFrom, corev1.EnvFromSource{
		SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: ref.Name}},
	})
}

// addFileStoreVolume mounts a file:// store into the pod at the same path
// from the node (hostPath): on a single-node cluster, or with the path on
// shared storage on every node, workers and finalize then see one store.
func addFileStoreVolume(pod *corev1.PodSpec, name, uri string, readOnly bool) {
	u, err := url.Parse(uri)
	if err != nil || u.Scheme != "file" || u.Path == "" {
		return
	}
	pod.Volumes = append(pod.Volumes, corev1.Volume{
		Name: name,
		VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{
			Path: u.Path,
			Type: ptr.To(corev1.HostPathDirectoryOrCreate),
		}},
	})
	pod.Containers[0].VolumeMounts = append(pod.Containers[0].VolumeMounts, corev1.VolumeMount{
		Name: name, MountPath: u.Path, ReadOnly: readOnly,
	})
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
