package controller

import (
	"context"
	"fmt"
	"slices"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	indexbuildv1alpha1 "github.com/indexbuild/indexbuild/api/v1alpha1"
)

// A namespace being deleted removes its pods before anything else (ordered
// namespace deletion), and each pod of a Job goes only once the Job
// controller has taken its tracking finalizer off. For the pods of an
// Indexed Job with a pod failure policy that never started a container (a
// subPath the kubelet refuses, a missing Secret) it does not: they end
// Failed, keep the finalizer, and the namespace stays Terminating for good.
// Seen on Kubernetes 1.37 with a plain Job, no operator involved; a Job
// without backoffLimitPerIndex and podFailurePolicy lets its namespace go.
// With the Job gone, the Job controller releases its orphaned pods at once,
// so the operator deletes a stage Job whose pods are held in a terminating
// namespace: nothing can run there any more.

// heldPodGrace is how long past its deletion time a finished pod may keep
// the Job controller's finalizer before the namespace is looked at: the Job
// controller normally takes it off within a second.
const heldPodGrace = 10 * time.Second

// heldPods names the pods that ended, were deleted more than heldPodGrace
// ago and still carry the Job controller's tracking finalizer.
func heldPods(pods []corev1.Pod, now time.Time) []string {
	var held []string
	for i := range pods {
		pod := &pods[i]
		if podFinished(pod) && pod.DeletionTimestamp != nil && now.Sub(pod.DeletionTimestamp.Time) >= heldPodGrace &&
			slices.Contains(pod.Finalizers, batchv1.JobTrackingFinalizer) {
			held = append(held, pod.Name)
		}
	}
	return held
}

// releaseHeldPods deletes a stage Job whose pods hold up the deletion of
// their namespace, and says so in the status. It reports whether it did.
func (r *IndexBuildReconciler) releaseHeldPods(ctx context.Context, ib *indexbuildv1alpha1.IndexBuild, status phaseConditions, job *batchv1.Job, pods []corev1.Pod, now time.Time) (bool, error) {
	held := heldPods(pods, now)
	if len(held) == 0 {
		return false, nil
	}
	if !r.namespaceTerminating(ctx, job) {
		return false, nil // someone deleted a pod; the Job controller will count it
	}
	if err := r.deleteJobs(ctx, ib, []*batchv1.Job{job}, metav1.DeletePropagationBackground); err != nil {
		return false, err
	}
	status.inProgress(ib.Status.Phase, ReasonNamespaceDeleting, fmt.Sprintf(
		"namespace %s is being deleted: deleted Job %s, whose pods %s the Job controller kept from going", ib.Namespace, job.Name, summarize(held)))
	return true, nil
}

// namespaceTerminating asks the API whether a Job could still be created in
// the namespace, by a dry run: the namespace admission plugin refuses
// creations in a namespace being deleted before anything else looks at the
// object, while in a live namespace the empty Job is refused as invalid.
// Reading the Namespace would need rights a namespace-scoped install (a
// Role) cannot grant.
func (r *IndexBuildReconciler) namespaceTerminating(ctx context.Context, job *batchv1.Job) bool {
	probe := &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: job.Name, Namespace: job.Namespace}}
	return apierrors.HasStatusCause(r.Create(ctx, probe, client.DryRunAll), corev1.NamespaceTerminatingCause)
}
