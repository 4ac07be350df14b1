package controller

import (
	"context"
	"errors"
	"fmt"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	indexbuildv1alpha1 "github.com/indexbuild/indexbuild/api/v1alpha1"
)

// FinalizerOutputCleanup holds an IndexBuild whose spec.output.deletionPolicy
// is Delete until a cleanup pod has removed its output. The operator has no
// store credentials of its own, so the pod runs with the build's.
const FinalizerOutputCleanup = "indexbuild.dev/output-cleanup"

// deletionPollInterval is how often a deletion that waits for pods to stop
// or for the cleanup Job looks again (Job events usually come first).
const deletionPollInterval = 2 * time.Second

// cleanupDeadlineSeconds bounds the cleanup Job: pods that cannot start,
// retries included. Deleting an output's objects takes seconds, not
// minutes.
const cleanupDeadlineSeconds = 300

// syncOutputFinalizer holds the finalizer exactly while deletionPolicy is
// Delete, so that deleting a Retain build never waits for the operator.
// Once the object is being deleted, reconcileDeletion owns the finalizer.
func (r *IndexBuildReconciler) syncOutputFinalizer(ctx context.Context, ib *indexbuildv1alpha1.IndexBuild) error {
	want := ib.Spec.Output.DeletionPolicy == indexbuildv1alpha1.DeletionPolicyDelete
	if !ib.DeletionTimestamp.IsZero() || controllerutil.ContainsFinalizer(ib, FinalizerOutputCleanup) == want {
		return nil
	}
	patch := client.MergeFromWithOptions(ib.DeepCopy(), client.MergeFromWithOptimisticLock{})
	if want {
		controllerutil.AddFinalizer(ib, FinalizerOutputCleanup)
	} else {
		controllerutil.RemoveFinalizer(ib, FinalizerOutputCleanup)
	}
	if err := r.Patch(ctx, ib, patch); err != nil {
		return fmt.Errorf("set finalizer %s=%v: %w", FinalizerOutputCleanup, want, err)
	}
	return nil
}

// reconcileDeletion runs the Delete policy of a deleted IndexBuild: stop the
// task's pods (a worker still running could write after the cleanup), run
// the cleanup Job, and release the object once the output is gone. Deletion
// always ends: a cleanup that cannot run (a namespace being deleted) or
// failed (its retries and deadline spent) releases the object with a
// Warning Event naming the output left behind.
func (r *IndexBuildReconciler) reconcileDeletion(ctx context.Context, s *snapshot) (time.Duration, error) {
	ib := s.ib
	if !controllerutil.ContainsFinalizer(ib, FinalizerOutputCleanup) {
		return 0, nil // Retain: owner references take the Jobs with it
	}
	if ib.Spec.Output.DeletionPolicy != indexbuildv1alpha1.DeletionPolicyDelete {
		return 0, r.releaseDeleted(ctx, ib, "deletionPolicy is Retain: output kept")
	}
	// Every Job but the cleanup ones writes to the output.
	var running []*batchv1.Job
	for _, job := range s.jobs.all() {
		if job.Labels[LabelRole] != RoleCleanup {
			running = append(running, job)
		}
	}
	status := newPhaseConditions(ib, s.now)
	if len(running) > 0 {
		// Foreground: a Job goes only once its pods are gone, so its absence
		// means no worker or finalize can still write.
		if err := r.deleteJobs(ctx, ib, running, metav1.DeletePropagationForeground); err != nil {
			return 0, err
		}
		status.deleting(ReasonDeletingOutput, fmt.Sprintf("stopping %d Job(s) before deleting %s", len(running), ib.Spec.Output.URI))
		return deletionPollInterval, nil
	}
	cleanup := s.jobs.current[RoleCleanup]
	if cleanup == nil {
		var err error
		if cleanup, err = r.createJob(ctx, ib, newCleanupJob(ib, r.podDefaults)); cleanup == nil {
			var notAllowed *fileStoreError
			var refused *jobRefusedError
			var denied *policyRefusal
			var missing *secretMissingError
			switch {
			case errors.As(err, &denied), errors.As(err, &missing):
				// The policy will not let a cleanup pod load what it needs:
				// no pod may run, so deletion ends here.
				return 0, r.giveUpCleanup(ctx, ib, "no cleanup pod may run: "+err.Error())
			case errors.As(err, &notAllowed):
				status.cleanupFailed(err.Error() + "; no cleanup pod may mount it: set spec.output.deletionPolicy to Retain to let the IndexBuild go")
				return 0, nil
			case apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause):
				// Nothing can run in a namespace being deleted, and the
				// namespace waits for this IndexBuild.
				return 0, r.giveUpCleanup(ctx, ib, "its namespace is being deleted and no cleanup pod can run there")
			case errors.As(err, &refused):
				status.cleanupFailed(refused.message())
			}
			return 0, err
		}
	}
	out := classifyJob(cleanup)
	switch {
	case out.Complete:
		return 0, r.releaseDeleted(ctx, ib, "output "+ib.Spec.Output.URI+" deleted")
	case out.Failed:
		// The cleanup Job had its retries and its deadline (a missing
		// Secret or claim keeps its pod from ever starting), or refused an
		// output it does not own (OutputInUse: another IndexBuild's, or
		// nobody's): deletion ends, the output stays, and the Event quotes
		// the cleanup pod's words.
		return 0, r.giveUpCleanup(ctx, ib, r.jobFailure(ctx, ib, cleanup, out))
	default:
		status.deleting(ReasonDeletingOutput, "deleting "+ib.Spec.Output.URI+" (Job "+cleanup.Name+")")
		return deletionPollInterval, nil
	}
}

// giveUpCleanup ends a deletion whose cleanup cannot succeed: a Warning
// Event names the output left behind and why, and the IndexBuild goes.
func (r *IndexBuildReconciler) giveUpCleanup(ctx context.Context, ib *indexbuildv1alpha1.IndexBuild, why string) error {
	r.event(ib, corev1.EventTypeWarning, ReasonOutputCleanupFailed, fmt.Sprintf("output %s was not deleted and is left as it is: %s", ib.Spec.Output.URI, why))
	return r.releaseDeleted(ctx, ib, "output cleanup failed: "+why)
}

// releaseDeleted removes the finalizer; the API server then deletes the
// IndexBuild and the garbage collector its Jobs.
func (r *IndexBuildReconciler) releaseDeleted(ctx context.Context, ib *indexbuildv1alpha1.IndexBuild, why string) error {
	patch := client.MergeFrom(ib.DeepCopy())
	controllerutil.RemoveFinalizer(ib, FinalizerOutputCleanup)
	if err := r.Patch(ctx, ib, patch); err != nil {
		return client.IgnoreNotFound(fmt.Errorf("remove finalizer %s: %w", FinalizerOutputCleanup, err))
	}
	logf.FromContext(ctx).Info("released deleted IndexBuild", "reason", why)
	return errReleased
}

// newCleanupJob is the single-pod Job that runs `indexbuild delete-output`:
// it removes the output's versions, pointer and ownership record, and
// refuses (exit 5) an output another IndexBuild owns or that no
// IndexBuild owns: an IndexBuild deletes only what it owns.
func newCleanupJob(ib *indexbuildv1alpha1.IndexBuild, defaults podDefaults) *batchv1.Job {
	args := []string{"delete-output", "--output=" + ib.Spec.Output.URI, "--owner=" + ownerArg(ib)}
	job := newChildJob(ib, RoleCleanup, containerCleanup, defaults, args)
	job.Spec.Completions = ptr.To[int32](1)
	job.Spec.Parallelism = ptr.To[int32](1)
	job.Spec.BackoffLimit = ptr.To[int32](3)
	// A pod that can never start (its Secret or claim deleted together
	// with the IndexBuild) must not hold the deletion forever.
	job.Spec.ActiveDeadlineSeconds = ptr.To[int64](cleanupDeadlineSeconds)
	return job
}

// ownerArg names the IndexBuild that owns its output root.
func ownerArg(ib *indexbuildv1alpha1.IndexBuild) string { return ib.Namespace + "/" + ib.Name }
