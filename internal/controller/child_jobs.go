package controller

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

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
	RoleBuild = "build"
	// RoleMerge merges the partitions' sorted files by key range (global
	// sort), one pod per range.
	RoleMerge    = "merge"
	RoleFinalize = "finalize"
	// RoleCleanup deletes the output of an IndexBuild deleted with
	// deletionPolicy Delete.
	RoleCleanup = "cleanup"
)

// Job and pod names must stay within 63 characters (pod hostnames of an
// Indexed Job append "-<index>") and be DNS labels, so long IndexBuild
// names are shortened, and dots (valid in an IndexBuild's name, not in a
// hostname) replaced, with a hash of the full name that keeps them unique.
const maxJobNameLength = 52

// childJobName is the deterministic name of the Job for role in the current
// task: <name>-<jobID>-<role>.
func childJobName(ib *indexbuildv1alpha1.IndexBuild, role string) string {
	suffix := fmt.Sprintf("-%d-%s", ib.Spec.JobID, role)
	name := ib.Name + suffix
	if len(name) <= maxJobNameLength && !strings.Contains(ib.Name, ".") {
		return name
	}
	sum := sha256.Sum256([]byte(name))
	hash := hex.EncodeToString(sum[:])[:8]
	keep := min(len(ib.Name), maxJobNameLength-len(suffix)-len(hash)-1)
	if keep < 1 {
		// Only a huge jobID gets here; the hash alone keeps the name unique.
		return ("ib-" + hash + suffix)[:maxJobNameLength]
	}
	return strings.ReplaceAll(ib.Name[:keep], ".", "-") + "-" + hash + suffix
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

// newChildJob builds what every stage's Job shares: identity,
// labels, the task-metadata annotation, the owner reference, the pod
// failure policy and the pod (podRecipe).
func newChildJob(ib *indexbuildv1alpha1.IndexBuild, role, container string, defaults podDefaults, args []string) *batchv1.Job {
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
			Template:         podRecipe(ib, role, container, defaults, args, labels),
		},
	}
	addQueueLabels(ib, job)
	return job
}

// childJobs are the Jobs an IndexBuild controls, listed once per reconcile
// (listChildJobs) and passed down.
type childJobs struct {
	// current are the current task's Jobs (spec.jobID) by role: build,
	// merge, finalize, cleanup.
	current map[string]*batchv1.Job
	// previous are the Jobs of earlier tasks.
	previous []*batchv1.Job
}

// all is every child Job.
func (c childJobs) all() []*batchv1.Job {
	jobs := make([]*batchv1.Job, 0, len(c.current)+len(c.previous))
	for _, j := range c.current {
		jobs = append(jobs, j)
	}
	return append(jobs, c.previous...)
}

// listChildJobs reads the IndexBuild's Jobs from the cache, through the
// index of their controller.
func (r *IndexBuildReconciler) listChildJobs(ctx context.Context, ib *indexbuildv1alpha1.IndexBuild) (childJobs, error) {
	var list batchv1.JobList
	if err := r.List(ctx, &list, client.InNamespace(ib.Namespace), client.MatchingFields{jobControllerKey: ib.Name}); err != nil {
		return childJobs{}, fmt.Errorf("list Jobs: %w", err)
	}
	jobs := childJobs{current: map[string]*batchv1.Job{}}
	jobID := strconv.FormatInt(ib.Spec.JobID, 10)
	for i := range list.Items {
		job := &list.Items[i]
		switch {
		case !metav1.IsControlledBy(job, ib):
		case job.Labels[LabelJobID] == jobID:
			jobs.current[job.Labels[LabelRole]] = job
		default:
			jobs.previous = append(jobs.previous, job)
		}
	}
	return jobs, nil
}

// createJob creates a child Job. When a Job of that name exists already
// (the cache had not seen it yet, or something else made it) the existing
// one is returned for the caller to check before it is used; a nil Job
// comes with the reason.
func (r *IndexBuildReconciler) createJob(ctx context.Context, ib *indexbuildv1alpha1.IndexBuild, job *batchv1.Job) (*batchv1.Job, error) {
	// Every Job, whatever its role, mounts the build's stores: none may
	// reach a node path the admin did not allow.
	if err := checkFileStores(ib, r.podDefaults.fileStoreRoots); err != nil {
		return nil, err
	}
	// Nor may they run what the admin's policy does not allow.
	if err := r.checkPolicy(ctx, ib, job.Labels[LabelRole]); err != nil {
		return nil, err
	}
	if err := r.freshness.confirmLatest(ctx, ib); err != nil {
		return nil, err
	}
	err := r.Create(ctx, job)
	if err == nil {
		logf.FromContext(ctx).Info("created Job", "job", job.Name, "task", taskKey(ib))
		return job, nil
	}
	if !apierrors.IsAlreadyExists(err) {
		if apierrors.IsInvalid(err) || apierrors.IsForbidden(err) || apierrors.IsBadRequest(err) || apierrors.IsInternalError(err) {
			return nil, &jobRefusedError{job: job.Name, role: job.Labels[LabelRole], err: err}
		}
		return nil, fmt.Errorf("create Job %s: %w", job.Name, err)
	}
	// Read past the cache, which may not have seen the Job yet.
	existing := &batchv1.Job{}
	if err := r.apiReader.Get(ctx, types.NamespacedName{Namespace: job.Namespace, Name: job.Name}, existing); err != nil {
		return nil, fmt.Errorf("get existing Job %s: %w", job.Name, err)
	}
	if leftByPrevious(ib, existing) {
		return nil, &previousJobError{job: existing.Name}
	}
	if err := checkChildJob(ib, existing); err != nil {
		return nil, err
	}
	return existing, nil
}

// deleteJobs deletes Jobs, with their pods, past the freshness gate.
func (r *IndexBuildReconciler) deleteJobs(ctx context.Context, ib *indexbuildv1alpha1.IndexBuild, jobs []*batchv1.Job, propagation metav1.DeletionPropagation) error {
	confirmed := false
	for _, job := range jobs {
		if !job.DeletionTimestamp.IsZero() {
			continue
		}
		if !confirmed {
			if err := r.freshness.confirmLatest(ctx, ib); err != nil {
				return err
			}
			confirmed = true
		}
		err := r.Delete(ctx, job, client.PropagationPolicy(propagation))
		if err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("delete Job %s: %w", job.Name, err)
		}
		logf.FromContext(ctx).Info("deleted Job", "job", job.Name)
	}
	return nil
}

// syncSuspend mirrors spec.suspend onto a running Job of a stage that
// follows it; the Job controller stops its pods and keeps finished indexes.
// A queued Job is Kueue's to suspend, and the operator lifts only its own
// suspensions (AnnotationSuspendedByOperator).
func (r *IndexBuildReconciler) syncSuspend(ctx context.Context, ib *indexbuildv1alpha1.IndexBuild, job *batchv1.Job, suspend bool) error {
	change := suspend && !ptr.Deref(job.Spec.Suspend, false) || !suspend && suspendedByOperator(job)
	if !change || queueName(job) != "" {
		return nil
	}
	if err := r.freshness.confirmLatest(ctx, ib); err != nil {
		return err
	}
	patch := client.MergeFrom(job.DeepCopy())
	if suspend {
		suspendByOperator(job)
	} else {
		resumeByOperator(job)
	}
	if err := r.Patch(ctx, job, patch); err != nil {
		return fmt.Errorf("set suspend=%v on Job %s: %w", suspend, job.Name, err)
	}
	return nil
}
