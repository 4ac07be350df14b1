// Package controller reconciles IndexBuilds into a build Job (one worker per
// partition) and a finalize Job, and refuses to resume a task whose recorded
// metadata no longer matches the spec.
package controller

import (
	"context"
	"errors"
	"fmt"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrlcontroller "sigs.k8s.io/controller-runtime/pkg/controller"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	indexbuildv1alpha1 "github.com/indexbuild/indexbuild/api/v1alpha1"
	"github.com/indexbuild/indexbuild/internal/retry"
)

// IndexBuildReconciler reconciles IndexBuild objects.
type IndexBuildReconciler struct {
	client.Client
	// APIReader reads objects the manager does not cache (pods).
	APIReader client.Reader
	Scheme    *runtime.Scheme
	Recorder  events.EventRecorder
	// BuilderImage is the worker and finalize image when spec.builder does
	// not name one.
	BuilderImage string
	// FileStoreRoots are the node paths under which file:// stores may be
	// hostPaths (--file-store-roots); none by default.
	FileStoreRoots []string
	// MaxConcurrentReconciles is how many IndexBuilds are reconciled at
	// once (--max-concurrent-reconciles); 0 means 1.
	MaxConcurrentReconciles int
	// ProgressInterval is the least time between two status writes of a
	// build whose progress alone changed (--status-progress-interval); 0
	// writes every change.
	ProgressInterval time.Duration

	progress  *progressCoalescer
	ownWrites *ownWrites
	podStalls *podStalls
}

// +kubebuilder:rbac:groups=indexbuild.dev,resources=indexbuilds,verbs=get;list;watch;patch
// +kubebuilder:rbac:groups=indexbuild.dev,resources=indexbuilds/finalizers,verbs=update
// +kubebuilder:rbac:groups=indexbuild.dev,resources=indexbuilds/status,verbs=patch
// +kubebuilder:rbac:groups=batch,resources=jobs,verbs=get;list;watch;create;patch;delete
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// Reconcile moves one IndexBuild along Pending → Building → Finalizing →
// Succeeded/Failed, or through its deletion policy once deleted, and writes
// its status with at most one patch.
func (r *IndexBuildReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	ib := &indexbuildv1alpha1.IndexBuild{}
	if err := r.Get(ctx, req.NamespacedName, ib); err != nil {
		if apierrors.IsNotFound(err) {
			r.progress.forget(req.NamespacedName)
			r.ownWrites.forget(req.NamespacedName)
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if r.ownWrites.cacheBehind(ib, time.Now()) {
		// This process wrote a newer status than the cache holds.
		return ctrl.Result{RequeueAfter: cacheBehindRetry}, nil
	}
	if err := r.syncOutputFinalizer(ctx, ib); err != nil {
		return ctrl.Result{}, err
	}
	before := ib.DeepCopy()
	var err error
	if ib.DeletionTimestamp.IsZero() {
		err = r.reconcileTask(ctx, ib)
	} else {
		err = r.reconcileDeletion(ctx, ib)
	}
	var result ctrl.Result
	var wait *waitingError
	switch {
	case errors.Is(err, errReleased):
		return ctrl.Result{}, nil // the object is going: nothing to write
	case errors.Is(err, errCacheBehind):
		// Nothing was changed. Status-only updates do not trigger
		// reconciles, so come back once the cache has caught up.
		return ctrl.Result{RequeueAfter: cacheBehindRetry}, nil
	case errors.As(err, &wait):
		result.RequeueAfter, err = wait.delay, nil
	}
	ib.Status.ObservedGeneration = ib.Generation
	var changed bool
	var perr error
	if wait := r.progress.wait(req.NamespacedName, &before.Status, &ib.Status, time.Now()); wait > 0 {
		// Progress only, and written lately: it goes out with the next
		// change, or when the interval is up.
		result.RequeueAfter = soonest(result.RequeueAfter, wait)
	} else {
		changed, perr = r.patchStatus(ctx, before, ib)
	}
	if perr != nil {
		return ctrl.Result{}, errors.Join(err, perr)
	}
	if changed {
		if jobs, lerr := r.childJobs(ctx, ib); lerr == nil {
			observeStoredStatus(before, ib, jobs)
		}
	}
	if err == nil && ib.Status.Phase == indexbuildv1alpha1.PhaseFailed && ib.DeletionTimestamp.IsZero() {
		// A failed task's running Jobs are stopped only once the verdict is
		// stored: a Job whose annotation disagrees is the evidence of stale
		// metadata, and deleting it first could lose the verdict to a
		// failed status write.
		err = r.stopUnfinishedJobs(ctx, ib)
	}
	if err == nil && isTerminal(ib.Status.Phase) && ib.DeletionTimestamp.IsZero() {
		err = r.removeExpiredJobs(ctx, ib, time.Now())
	}
	if errors.Is(err, errCacheBehind) {
		// The status is stored; the Jobs are seen to once the cache shows
		// the IndexBuild as the API has it (someone else wrote it since),
		// which takes a moment, not a backoff.
		return ctrl.Result{RequeueAfter: cacheBehindRetry}, nil
	}
	// Errors are API trouble and retried with backoff; Job events and spec
	// changes bring the next reconcile. Waits (for Jobs of a previous
	// object, for a cleanup) look again after their delay, and so does
	// what time alone changes (requeueAfter: pods that do not run,
	// deadlines, TTL).
	if err == nil && ib.DeletionTimestamp.IsZero() {
		result.RequeueAfter = soonest(result.RequeueAfter, r.requeueAfter(ctx, ib))
	}
	return result, err
}

// waitingError is a reconcile that did what it could and waits for
// something outside it (pods stopping, a garbage collector) that may bring
// no event of its own; its status is written and it looks again after delay.
type waitingError struct{ delay time.Duration }

func (e *waitingError) Error() string { return fmt.Sprintf("waiting, looking again in %s", e.delay) }

// errReleased: the finalizer is removed and the IndexBuild is going.
var errReleased = errors.New("IndexBuild released for deletion")

func (r *IndexBuildReconciler) reconcileTask(ctx context.Context, ib *indexbuildv1alpha1.IndexBuild) error {
	jobs, err := r.childJobs(ctx, ib)
	if err != nil {
		return err
	}
	if isNewTask(ib) {
		// A new jobID is a new task: the old task's Jobs go, whatever state
		// they are in.
		if err := r.deleteJobs(ctx, ib, jobs, func(j *batchv1.Job) bool { return j.Labels[LabelJobID] != fmt.Sprint(ib.Spec.JobID) }, metav1.DeletePropagationBackground); err != nil {
			return err
		}
		recordTask(ib, metav1.Now())
		status := newStatusWriter(ib)
		// The PARTITIONS column reads 0/N from the start, also for a task
		// that fails before any Job exists.
		status.partitions(indexbuildv1alpha1.PartitionCounts{Total: ib.Spec.Partitions})
		status.inProgress(indexbuildv1alpha1.PhasePending, ReasonPending, "task "+taskKey(ib)+" recorded")
	}
	if ib.Status.Phase == indexbuildv1alpha1.PhaseFailed {
		return nil
	}

	// Nothing is resumed or adopted before its recorded metadata is checked.
	if err := checkRecordedTask(ib); err != nil {
		r.failStale(ctx, ib, err)
		return nil
	}
	if ib.Status.Phase == indexbuildv1alpha1.PhaseSucceeded {
		return nil
	}
	if err := checkFileStores(ib, r.FileStoreRoots); err != nil {
		newStatusWriter(ib).failed(ReasonFileStoreNotAllowed, err.Error())
		return nil
	}
	if msg, exceeded := checkDeadline(ib, time.Now()); exceeded {
		newStatusWriter(ib).failed(ReasonDeadlineExceeded, msg)
		return nil
	}
	var buildJob, finalizeJob *batchv1.Job
	for _, job := range jobs {
		if job.Labels[LabelJobID] != fmt.Sprint(ib.Spec.JobID) {
			continue
		}
		if err := checkChildJob(ib, job); err != nil {
			r.failStale(ctx, ib, err)
			return nil
		}
		switch job.Labels[LabelRole] {
		case RoleBuild:
			buildJob = job
		case RoleFinalize:
			finalizeJob = job
		}
	}

	status := newStatusWriter(ib)
	status.suspended(ib.Spec.Suspend)
	if buildJob == nil {
		status.partitions(indexbuildv1alpha1.PartitionCounts{Total: ib.Spec.Partitions})
		if ib.Spec.Suspend {
			status.inProgress(indexbuildv1alpha1.PhasePending, ReasonSuspended, "suspended before the first worker started")
			return nil
		}
		if buildJob, err = r.createJob(ctx, ib, newBuildJob(ib, r.BuilderImage)); buildJob == nil {
			return r.failOnConflict(ctx, ib, err)
		}
	}
	status.partitions(partitionCounts(buildJob, ib.Spec.Partitions))
	build := classifyJob(buildJob)
	switch {
	case build.Failed:
		return r.failFromJob(ctx, ib, buildJob, build)
	case !build.Complete:
		if err := r.syncSuspend(ctx, ib, buildJob, ib.Spec.Suspend); err != nil {
			return err
		}
		reason, msg := ReasonBuilding, fmt.Sprintf("%d of %d partitions built, %d running", ib.Status.Partitions.Succeeded, ib.Spec.Partitions, buildJob.Status.Active)
		if ib.Spec.Suspend {
			reason = ReasonSuspended
		} else if queued, ok := queuedMessage(buildJob); ok {
			reason, msg = ReasonQueued, msg+"; "+queued
		}
		status.inProgress(indexbuildv1alpha1.PhaseBuilding, reason, msg)
		return r.reportPodTrouble(ctx, ib, buildJob)
	}

	if finalizeJob == nil {
		if finalizeJob, err = r.createJob(ctx, ib, newFinalizeJob(ib, r.BuilderImage)); finalizeJob == nil {
			return r.failOnConflict(ctx, ib, err)
		}
	}
	finalize := classifyJob(finalizeJob)
	switch {
	case finalize.Failed:
		return r.failFromJob(ctx, ib, finalizeJob, finalize)
	case !finalize.Complete:
		reason, msg := ReasonFinalizing, "committing "+ib.Spec.Output.URI
		if queued, ok := queuedMessage(finalizeJob); ok {
			reason, msg = ReasonQueued, msg+"; "+queued
		}
		status.inProgress(indexbuildv1alpha1.PhaseFinalizing, reason, msg)
		return r.reportPodTrouble(ctx, ib, finalizeJob)
	}
	status.succeeded(r.commitFromFinalize(ctx, ib, finalizeJob))
	return nil
}

// childJobs lists the Jobs this IndexBuild controls, of every task.
func (r *IndexBuildReconciler) childJobs(ctx context.Context, ib *indexbuildv1alpha1.IndexBuild) ([]*batchv1.Job, error) {
	var list batchv1.JobList
	if err := r.List(ctx, &list, client.InNamespace(ib.Namespace), client.MatchingFields{jobControllerKey: ib.Name}); err != nil {
		return nil, fmt.Errorf("list Jobs: %w", err)
	}
	jobs := make([]*batchv1.Job, 0, len(list.Items))
	for i := range list.Items {
		if metav1.IsControlledBy(&list.Items[i], ib) {
			jobs = append(jobs, &list.Items[i])
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
	if err := checkFileStores(ib, r.FileStoreRoots); err != nil {
		return nil, err
	}
	if err := r.checkFresh(ctx, ib); err != nil {
		return nil, err
	}
	err := r.Create(ctx, job)
	if err == nil {
		logf.FromContext(ctx).Info("created Job", "job", job.Name, "task", taskKey(ib))
		return job, nil
	}
	if !apierrors.IsAlreadyExists(err) {
		return nil, fmt.Errorf("create Job %s: %w", job.Name, err)
	}
	// Read past the cache, which may not have seen the Job yet.
	existing := &batchv1.Job{}
	if err := r.APIReader.Get(ctx, types.NamespacedName{Namespace: job.Namespace, Name: job.Name}, existing); err != nil {
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

// failOnConflict ends a build whose Job could not be created or adopted:
// stale metadata and foreign Jobs are terminal, a previous object's Job is
// waited out, anything else is retried.
func (r *IndexBuildReconciler) failOnConflict(ctx context.Context, ib *indexbuildv1alpha1.IndexBuild, err error) error {
	var conflict *jobConflictError
	var previous *previousJobError
	switch {
	case errors.Is(err, retry.ErrStaleMeta):
		r.failStale(ctx, ib, err)
		return nil
	case errors.As(err, &previous):
		newStatusWriter(ib).inProgress(indexbuildv1alpha1.PhasePending, ReasonPreviousJobs, err.Error())
		return &waitingError{delay: previousJobsPollInterval}
	case errors.As(err, &conflict):
		newStatusWriter(ib).failed(ReasonJobConflict, err.Error())
		return nil
	default:
		return err
	}
}

// failStale ends a task whose metadata went stale: the build is marked
// Failed with StaleMeta (Reconcile then stops its running Jobs), and nothing
// requeues it. Only a new spec.jobID moves on.
func (r *IndexBuildReconciler) failStale(ctx context.Context, ib *indexbuildv1alpha1.IndexBuild, cause error) {
	logf.FromContext(ctx).Info("stale task metadata, failing the task", "task", taskKey(ib), "reason", cause.Error())
	newStatusWriter(ib).failed(ReasonStaleMeta, cause.Error())
}

// stopUnfinishedJobs deletes the failed build's Jobs that still run.
func (r *IndexBuildReconciler) stopUnfinishedJobs(ctx context.Context, ib *indexbuildv1alpha1.IndexBuild) error {
	jobs, err := r.childJobs(ctx, ib)
	if err != nil {
		return err
	}
	return r.deleteJobs(ctx, ib, jobs, func(j *batchv1.Job) bool { return !classifyJob(j).finished() }, metav1.DeletePropagationBackground)
}

// failFromJob ends the build with the reason its Job failed for.
func (r *IndexBuildReconciler) failFromJob(ctx context.Context, ib *indexbuildv1alpha1.IndexBuild, job *batchv1.Job, out jobOutcome) error {
	var workerErr string
	if code, ok := retry.ExitCodeForReason(out.Reason); ok {
		workerErr = r.workerError(ctx, job, out, code)
	}
	newStatusWriter(ib).failed(out.Reason, describeFailure(ib, job, out, workerErr))
	return nil
}

// deleteJobs deletes the Jobs that match, with their pods.
func (r *IndexBuildReconciler) deleteJobs(ctx context.Context, ib *indexbuildv1alpha1.IndexBuild, jobs []*batchv1.Job, match func(*batchv1.Job) bool, propagation metav1.DeletionPropagation) error {
	checked := false
	for _, job := range jobs {
		if !match(job) || !job.DeletionTimestamp.IsZero() {
			continue
		}
		if !checked {
			if err := r.checkFresh(ctx, ib); err != nil {
				return err
			}
			checked = true
		}
		err := r.Delete(ctx, job, client.PropagationPolicy(propagation))
		if err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("delete Job %s: %w", job.Name, err)
		}
		logf.FromContext(ctx).Info("deleted Job", "job", job.Name)
	}
	return nil
}

// syncSuspend mirrors spec.suspend onto the running build Job; the Job
// controller stops its pods and keeps finished partitions.
func (r *IndexBuildReconciler) syncSuspend(ctx context.Context, ib *indexbuildv1alpha1.IndexBuild, job *batchv1.Job, suspend bool) error {
	if ptr.Deref(job.Spec.Suspend, false) == suspend || queueName(job) != "" {
		return nil
	}
	if err := r.checkFresh(ctx, ib); err != nil {
		return err
	}
	patch := client.MergeFrom(job.DeepCopy())
	job.Spec.Suspend = ptr.To(suspend)
	if err := r.Patch(ctx, job, patch); err != nil {
		return fmt.Errorf("set suspend=%v on Job %s: %w", suspend, job.Name, err)
	}
	return nil
}

// patchStatus writes the status once, only when it changed, and records an
// Event when the phase changed.
func (r *IndexBuildReconciler) patchStatus(ctx context.Context, before, ib *indexbuildv1alpha1.IndexBuild) (bool, error) {
	if equality.Semantic.DeepEqual(before.Status, ib.Status) {
		return false, nil
	}
	// The optimistic lock keeps a reconcile that started from a stale
	// cached copy from overwriting a newer status, e.g. Failed with Building.
	if err := r.Status().Patch(ctx, ib, client.MergeFromWithOptions(before, client.MergeFromWithOptimisticLock{})); err != nil {
		return false, fmt.Errorf("patch status: %w", err)
	}
	now := time.Now()
	r.ownWrites.record(ib, now)
	r.progress.written(client.ObjectKeyFromObject(ib), &ib.Status, now)
	if before.Status.Phase != ib.Status.Phase {
		r.recordPhaseEvent(ib)
	} else {
		r.recordPodTroubleEvent(before, ib)
	}
	return true, nil
}

func (r *IndexBuildReconciler) recordPhaseEvent(ib *indexbuildv1alpha1.IndexBuild) {
	ready := findCondition(ib, indexbuildv1alpha1.ConditionReady)
	eventType := corev1.EventTypeNormal
	if ib.Status.Phase == indexbuildv1alpha1.PhaseFailed {
		eventType = corev1.EventTypeWarning
	}
	r.event(ib, eventType, ready.Reason, string(ib.Status.Phase)+": "+ready.Message)
}

// event records an Event on the IndexBuild; the action is the reason.
func (r *IndexBuildReconciler) event(ib *indexbuildv1alpha1.IndexBuild, eventType, reason, message string) {
	if r.Recorder == nil {
		return
	}
	action := string(ib.Status.Phase)
	if action == "" {
		action = reason
	}
	r.Recorder.Eventf(ib, nil, eventType, reason, action, "%s", message)
}

func findCondition(ib *indexbuildv1alpha1.IndexBuild, condType string) metav1.Condition {
	for _, c := range ib.Status.Conditions {
		if c.Type == condType {
			return c
		}
	}
	return metav1.Condition{Type: condType}
}

// cacheBehindRetry is how soon a reconcile that found its cached IndexBuild
// behind the API's copy runs again.
const cacheBehindRetry = 200 * time.Millisecond

// errCacheBehind means the cached IndexBuild is older than the API's copy
// (a cache freshness matter, not stale task metadata).
var errCacheBehind = errors.New("cached IndexBuild is older than the API's copy")

// checkFresh guards every change to child Jobs: the controller acts only on
// the newest IndexBuild. A reconcile triggered by a Job event can otherwise
// read a cached copy from before the last status write, and, say, recreate
// the Job of a build it has just failed. Creating, deleting and suspending
// Jobs is rare, so the uncached read costs little.
func (r *IndexBuildReconciler) checkFresh(ctx context.Context, ib *indexbuildv1alpha1.IndexBuild) error {
	latest := &indexbuildv1alpha1.IndexBuild{}
	if err := r.APIReader.Get(ctx, client.ObjectKeyFromObject(ib), latest); err != nil {
		return fmt.Errorf("read IndexBuild: %w", err)
	}
	if latest.ResourceVersion != ib.ResourceVersion {
		return errCacheBehind
	}
	return nil
}

// SetupWithManager registers the controller with the manager.
func (r *IndexBuildReconciler) SetupWithManager(mgr ctrl.Manager) error {
	if err := ctrlmetrics.Registry.Register(phaseCollector{reader: mgr.GetClient()}); err != nil {
		return fmt.Errorf("register metrics: %w", err)
	}
	b, err := r.controllerBuilder(mgr)
	if err != nil {
		return err
	}
	return b.Complete(r)
}

// controllerBuilder watches IndexBuild spec changes (not its own status
// writes, which would reconcile every build once more per patch) and the
// Jobs it owns.
func (r *IndexBuildReconciler) controllerBuilder(mgr ctrl.Manager) (*builder.Builder, error) {
	if err := indexCachedObjects(mgr); err != nil {
		return nil, err
	}
	r.progress = newProgressCoalescer(r.ProgressInterval)
	r.ownWrites = newOwnWrites()
	r.podStalls = newPodStalls()
	return ctrl.NewControllerManagedBy(mgr).
		For(&indexbuildv1alpha1.IndexBuild{}, builder.WithPredicates(r.ownWrites.observer(), predicate.GenerationChangedPredicate{})).
		Owns(&batchv1.Job{}).
		WithOptions(ctrlcontroller.Options{MaxConcurrentReconciles: r.MaxConcurrentReconciles}).
		Named("indexbuild"), nil
}
