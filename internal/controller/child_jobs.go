package controller

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	indexbuildv1alpha1 "github.com/indexbuild/indexbuild/api/v1alpha1"
	"github.com/indexbuild/indexbuild/internal/retry"
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
	// RoleCleanup deletes the output of an IndexBuild deleted with
	// deletionPolicy Delete.
	RoleCleanup = "cleanup"
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
	var rules []batchv1.PodFailurePolicyRule
	for _, n := range retry.NonRetryable {
		rules = append(rules, failOn(n.ExitCode))
	}
	return &batchv1.PodFailurePolicy{Rules: append(rules, batchv1.PodFailurePolicyRule{
		Action: batchv1.PodFailurePolicyActionIgnore,
		OnPodConditions: []batchv1.PodFailurePolicyOnPodConditionsPattern{
			{Type: corev1.DisruptionTarget, Status: corev1.ConditionTrue},
		},
	})}
}

// newChildJob builds what the build and finalize Jobs share: identity,
// labels, the task-metadata annotation, the owner reference, the pod
// failure policy and the pod (podRecipe).
func newChildJob(ib *indexbuildv1alpha1.IndexBuild, role, container, image string, args []string) *batchv1.Job {
	labels := map[string]string{
		LabelBuildName: ib.Name,
		LabelJobID:     strconv.FormatInt(ib.Spec.JobID, 10),
		LabelRole:      role,
	}
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
			Template:         podRecipe(ib, role, container, image, args, labels),
		},
	}
	addQueueLabels(ib, job)
	return job
}
