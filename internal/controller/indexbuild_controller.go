// Package controller reconciles IndexBuilds into their task's stages, one
// child Job each (stages.go: a build Job with one worker per partition, a
// merge Job with one pod per key range, then a finalize Job), and refuses to resume a task whose recorded
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
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"
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

// IndexBuildReconciler reconciles IndexBuild objects. Make it with
// NewIndexBuildReconciler.
type IndexBuildReconciler struct {
	client.Client
	apiReader   client.Reader
	recorder    events.EventRecorder
	clock       clock.PassiveClock
	podDefaults podDefaults
	policy      AdminPolicy
	concurrency int

	freshness *freshnessGate
	progress  *progressCoalescer
	metrics   *buildMetrics
}

// Options are the reconciler's settings (the manager's flags).
type Options struct {
	// BuilderImage is the worker and finalize image when spec.builder does
	// not name one.
	BuilderImage string
	// FileStoreRoots are the node paths under which file:// stores may be
	// hostPaths (--file-store-roots); none by default.
	FileStoreRoots []string
	// Policy is what the admin lets an IndexBuild's author choose for its
	// pods (builder image and command, service account, Secrets).
	Policy AdminPolicy
	// MaxConcurrentReconciles is how many IndexBuilds are reconciled at
	// once (--max-concurrent-reconciles); 0 means 1.
	MaxConcurrentReconciles int
	// ProgressInterval is the least time between two status writes of a
	// build whose progress alone changed (--status-progress-interval); 0
	// writes every change.
	ProgressInterval time.Duration
	// MetricLabelKeys are IndexBuild label keys whose values every metric
	// series carries besides the namespace (--metrics-indexbuild-labels).
	MetricLabelKeys []string
	// Clock is the reconciler's time (deadlines, TTLs, pod grace periods,
	// status times); the real clock when nil.
	Clock clock.PassiveClock
}

// NewIndexBuildReconciler makes the reconciler with the manager's client,
// uncached reader and event recorder; SetupWithManager starts it.
func NewIndexBuildReconciler(mgr ctrl.Manager, opts Options) *IndexBuildReconciler {
	clk := opts.Clock
	if clk == nil {
		clk = clock.RealClock{}
	}
	return &IndexBuildReconciler{
		Client:      mgr.GetClient(),
		apiReader:   mgr.GetAPIReader(),
		recorder:    mgr.GetEventRecorder("indexbuild-controller"),
		clock:       clk,
		podDefaults: podDefaults{image: opts.BuilderImage, fileStoreRoots: opts.FileStoreRoots},
		policy:      opts.Policy,
		concurrency: opts.MaxConcurrentReconciles,
		freshness:   newFreshnessGate(mgr.GetAPIReader()),
		progress:    newProgressCoalescer(opts.ProgressInterval),
		metrics:     newBuildMetrics(opts.MetricLabelKeys),
	}
}

// +kubebuilder:rbac:groups=indexbuild.dev,resources=indexbuilds,verbs=get;list;watch;patch
// +kubebuilder:rbac:groups=indexbuild.dev,resources=indexbuilds/finalizers,verbs=update
// +kubebuilder:rbac:groups=indexbuild.dev,resources=indexbuilds/status,verbs=patch
// +kubebuilder:rbac:groups=batch,resources=jobs,verbs=get;list;watch;create;patch;delete
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch
// The admin policy reads a Secret's labels (its opt-in) before a build may
// load it; get only, no list or watch.
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get

// snapshot is what one reconcile decides on: the IndexBuild as cached, its
// child Jobs listed once, and the time.
type snapshot struct {
	ib   *indexbuildv1alpha1.IndexBuild
	jobs childJobs
	now  time.Time
	// restart is a failed stage Job to delete once the status that counts
	// its restart is stored (failure_policy.go).
	restart *batchv1.Job
}

// Reconcile moves one IndexBuild along its stages (Pending → Building →
// Merging → Finalizing → Succeeded/Failed), or through its deletion policy once
// deleted, in JobSet's shape: get the IndexBuild and its child Jobs once,
// decide (reconcileTask or reconcileDeletion, which make only the Job
// changes the status names), write the status with at most one patch, then
// do what must wait until that status is stored (Events, metrics, stopping
// a failed task's Jobs, TTL).
func (r *IndexBuildReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	ib := &indexbuildv1alpha1.IndexBuild{}
	if err := r.Get(ctx, req.NamespacedName, ib); err != nil {
		if apierrors.IsNotFound(err) {
			r.progress.forget(req.NamespacedName)
			r.freshness.forget(req.NamespacedName)
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	result, err := r.reconcileSnapshot(ctx, ib, r.clock.Now())
	switch {
	case errors.Is(err, errReleased):
		return ctrl.Result{}, nil // the object is going: nothing to write
	case errors.Is(err, errCacheBehind):
		// The freshness gate stopped a change: come back once the cache has
		// caught up, which takes a moment, not a backoff.
		return ctrl.Result{RequeueAfter: cacheBehindRetry}, nil
	}
	// Errors are API trouble and retried with backoff; Job events and spec
	// changes bring the next reconcile, RequeueAfter what time alone
	// changes.
	return result, err
}

// reconcileSnapshot is Reconcile after the Get: the freshness gate, the
// finalizer, the child Jobs listed once, the decision, the one status
// write and what follows it.
func (r *IndexBuildReconciler) reconcileSnapshot(ctx context.Context, ib *indexbuildv1alpha1.IndexBuild, now time.Time) (ctrl.Result, error) {
	if err := r.freshness.satisfied(ib, now); err != nil {
		return ctrl.Result{}, err
	}
	if err := r.syncOutputFinalizer(ctx, ib); err != nil {
		return ctrl.Result{}, err
	}
	jobs, err := r.listChildJobs(ctx, ib)
	if err != nil {
		return ctrl.Result{}, err
	}
	s := &snapshot{ib: ib, jobs: jobs, now: now}
	before := ib.DeepCopy()
	alive := ib.DeletionTimestamp.IsZero()

	var lookAgain time.Duration
	if alive {
		lookAgain, err = r.reconcileTask(ctx, s)
	} else {
		r.metrics.forget(ib)
		lookAgain, err = r.reconcileDeletion(ctx, s)
	}
	if errors.Is(err, errReleased) || errors.Is(err, errCacheBehind) {
		return ctrl.Result{}, err
	}

	ib.Status.ObservedGeneration = ib.Generation
	stored := false
	if wait := r.progress.wait(client.ObjectKeyFromObject(ib), &before.Status, &ib.Status, now); wait > 0 {
		// Progress only, and written lately: it goes out with the next
		// change, or when the interval is up.
		lookAgain = soonest(lookAgain, wait)
	} else {
		var werr error
		if stored, werr = r.writeStatus(ctx, before, ib, now); werr != nil {
			return ctrl.Result{}, errors.Join(err, werr)
		}
	}
	if stored {
		r.recordEvents(before, ib)
		r.metrics.observeStoredStatus(before, ib, s.jobs)
	}
	if err != nil || !alive {
		return ctrl.Result{RequeueAfter: lookAgain}, err
	}
	if err := r.afterStatusStored(ctx, s); err != nil {
		return ctrl.Result{}, err
	}
	return ctrl.Result{RequeueAfter: soonest(lookAgain, timedCheckAfter(ib, s.jobs, now))}, nil
}

// afterStatusStored changes the Jobs of a finished task, once its status is
// stored. A failed task's running Jobs are stopped only then: a Job whose
// annotation disagrees is the evidence of stale metadata, and deleting it
// first could lose the verdict to a failed status write. Past the TTL, a
// finished task's Jobs go.
func (r *IndexBuildReconciler) afterStatusStored(ctx context.Context, s *snapshot) error {
	if s.restart != nil {
		if err := r.deleteJobs(ctx, s.ib, []*batchv1.Job{s.restart}, metav1.DeletePropagationBackground); err != nil {
			return err
		}
	}
	if s.ib.Status.Phase == indexbuildv1alpha1.PhaseFailed {
		var running []*batchv1.Job
		for _, job := range s.jobs.all() {
			if !classifyJob(job).finished() {
				running = append(running, job)
			}
		}
		if err := r.deleteJobs(ctx, s.ib, running, metav1.DeletePropagationBackground); err != nil {
			return err
		}
	}
	return r.removeExpiredJobs(ctx, s)
}

// errReleased: the finalizer is removed and the IndexBuild is going.
var errReleased = errors.New("IndexBuild released for deletion")

// reconcileTask decides where the current task stands and makes the Job
// changes that decision needs; it returns when to look again for what
// brings no event. The steps run in this order, and the order is the
// policy:
//
//  1. A new spec.jobID is a new task: it is recorded, and the previous
//     task's Jobs go, whatever state they are in. Nothing below looks at
//     them.
//  2. A Failed task stays Failed, with the reason it failed for. Only a new
//     jobID (1) moves on — or a restart spec.failurePolicy allows
//     (failure_policy.go); its spec may have been edited since, but
//     reporting StaleMeta over the failure would hide its cause.
//  3. Nothing is resumed, adopted or reported Ready before its task
//     metadata is checked: status.task, then every Job of the task. A
//     mismatch is StaleMeta, also for a Succeeded task, whose Ready=True
//     would otherwise describe a build of another spec.
//  4. A Succeeded task stays Succeeded.
//  5. A completed publishing stage (finalize) has moved the output's
//     pointer: the task Succeeded, with the version it published, whatever
//     deadline passed or store rule changed since; Failed would contradict
//     what readers already get.
//  6. A file:// store outside the allowed roots fails the task before any
//     pod could mount it (every Job mounts the stores). The admin policy
//     (admin_policy.go) is judged as each Job is created (createJob): it
//     reads Secrets, so it is not asked again on every reconcile.
//  7. The task deadline fails a task still going.
//  8. The stages (stages.go), in order: the first one whose Job has not
//     completed is where the task stands.
func (r *IndexBuildReconciler) reconcileTask(ctx context.Context, s *snapshot) (time.Duration, error) {
	ib := s.ib
	status := newPhaseConditions(ib, s.now)
	// 1.
	if isNewTask(ib) {
		if err := r.deleteJobs(ctx, ib, s.jobs.previous, metav1.DeletePropagationBackground); err != nil {
			return 0, err
		}
		recordTask(ib, s.now)
		// The PARTITIONS column reads 0/N from the start, also for a task
		// that fails before any Job exists.
		status.partitions(indexbuildv1alpha1.PartitionCounts{Total: ib.Spec.Partitions})
		status.inProgress(indexbuildv1alpha1.PhasePending, ReasonPending, "task "+taskKey(ib)+" recorded")
	}
	// 2.
	if ib.Status.Phase == indexbuildv1alpha1.PhaseFailed && !resumeToRestart(s) {
		return 0, nil
	}
	// 3.
	if err := checkTask(ib, s.jobs); err != nil {
		r.failStale(ctx, ib, status, err)
		return 0, nil
	}
	// 4.
	if ib.Status.Phase == indexbuildv1alpha1.PhaseSucceeded {
		return 0, nil
	}
	// 5.
	if job := s.jobs.current[publishingStage.role]; job != nil && publishingStage.outcome(job).Complete {
		status.succeeded(r.commitFromFinalize(ctx, ib, job))
		return 0, nil
	}
	// 6.
	if err := checkFileStores(ib, r.podDefaults.fileStoreRoots); err != nil {
		status.failed(ReasonFileStoreNotAllowed, err.Error())
		return 0, nil
	}
	// 7.
	if msg, exceeded := checkDeadline(ib, s.jobs, s.now); exceeded {
		status.failed(ReasonDeadlineExceeded, msg)
		return 0, nil
	}
	// 8.
	return r.runStages(ctx, s, status)
}

// failOnConflict ends a build whose Job could not be created or adopted:
// stale metadata, foreign Jobs and a Job the API refuses as invalid are
// terminal, a previous object's Job is waited out, a refusal that can heal
// is shown and retried with backoff, anything else is retried.
func (r *IndexBuildReconciler) failOnConflict(ctx context.Context, ib *indexbuildv1alpha1.IndexBuild, status phaseConditions, err error) (time.Duration, error) {
	var conflict *jobConflictError
	var previous *previousJobError
	var refused *jobRefusedError
	var notAllowed *policyRefusal
	var missing *secretMissingError
	switch {
	case errors.As(err, &notAllowed):
		status.failed(ReasonPolicyDenied, err.Error())
		return 0, nil
	case errors.As(err, &missing):
		status.inProgress(indexbuildv1alpha1.PhasePending, ReasonSecretNotFound, err.Error())
		return 0, err
	case errors.As(err, &refused) && refused.invalid():
		status.failed(ReasonJobInvalid, refused.message())
		return 0, nil
	case errors.As(err, &refused):
		phase := ib.Status.Phase
		if phase == "" {
			phase = indexbuildv1alpha1.PhasePending
		}
		status.inProgress(phase, ReasonJobRefused, refused.message())
		return 0, err
	case errors.Is(err, retry.ErrStaleMeta):
		r.failStale(ctx, ib, status, err)
		return 0, nil
	case errors.As(err, &previous):
		status.inProgress(indexbuildv1alpha1.PhasePending, ReasonPreviousJobs, err.Error())
		return previousJobsPollInterval, nil
	case errors.As(err, &conflict):
		status.failed(ReasonJobConflict, err.Error())
		return 0, nil
	default:
		return 0, err
	}
}

// failStale ends a task whose metadata went stale: the build is marked
// Failed with StaleMeta (its running Jobs are stopped once that is stored),
// and nothing requeues it. Only a new spec.jobID moves on.
func (r *IndexBuildReconciler) failStale(ctx context.Context, ib *indexbuildv1alpha1.IndexBuild, status phaseConditions, cause error) {
	logf.FromContext(ctx).Info("stale task metadata, failing the task", "task", taskKey(ib), "reason", cause.Error())
	status.failed(ReasonStaleMeta, cause.Error())
}

// failFromJob ends the build with the reason its Job failed for.
func (r *IndexBuildReconciler) failFromJob(ctx context.Context, ib *indexbuildv1alpha1.IndexBuild, status phaseConditions, job *batchv1.Job, out jobOutcome) {
	status.failed(out.Reason, r.jobFailure(ctx, ib, job, out))
}

// jobFailure says why a Job failed in the worker's own words: for the
// contract's failures those of the pod that ended with their exit code,
// for any other (retries spent, a deadline) the last failed pod's,
// whatever its exit code.
func (r *IndexBuildReconciler) jobFailure(ctx context.Context, ib *indexbuildv1alpha1.IndexBuild, job *batchv1.Job, out jobOutcome) string {
	code, ok := retry.ExitCodeForReason(out.Reason)
	if !ok {
		code = anyFailure
	}
	return describeFailure(ib, job, out, r.workerError(ctx, job, out, code))
}

// writeStatus writes the status once, only when it changed, with an
// optimistic lock: a reconcile that started from an old cached copy must
// not overwrite a newer status, e.g. Failed with Building.
func (r *IndexBuildReconciler) writeStatus(ctx context.Context, before, ib *indexbuildv1alpha1.IndexBuild, now time.Time) (bool, error) {
	if equality.Semantic.DeepEqual(before.Status, ib.Status) {
		return false, nil
	}
	if err := r.Status().Patch(ctx, ib, client.MergeFromWithOptions(before, client.MergeFromWithOptimisticLock{})); err != nil {
		return false, fmt.Errorf("patch status: %w", err)
	}
	r.freshness.expectStatusWrite(ib, now)
	r.progress.written(client.ObjectKeyFromObject(ib), &ib.Status, now)
	return true, nil
}

// recordEvents records an Event for a stored phase change, or for pods
// that start having a (different) trouble.
func (r *IndexBuildReconciler) recordEvents(before, ib *indexbuildv1alpha1.IndexBuild) {
	ready, was := findCondition(ib, indexbuildv1alpha1.ConditionReady), findCondition(before, indexbuildv1alpha1.ConditionReady)
	switch {
	case before.Status.Phase != ib.Status.Phase:
		eventType := corev1.EventTypeNormal
		if ib.Status.Phase == indexbuildv1alpha1.PhaseFailed || isBlockedReason(ready.Reason) {
			eventType = corev1.EventTypeWarning
		}
		r.event(ib, eventType, ready.Reason, string(ib.Status.Phase)+": "+ready.Message)
	case isBlockedReason(ready.Reason) && was.Reason != ready.Reason:
		r.event(ib, corev1.EventTypeWarning, ready.Reason, ready.Message)
	}
}

// event records an Event on the IndexBuild; the action is the phase, or
// the reason before there is one.
func (r *IndexBuildReconciler) event(ib *indexbuildv1alpha1.IndexBuild, eventType, reason, message string) {
	action := string(ib.Status.Phase)
	if action == "" {
		action = reason
	}
	r.recorder.Eventf(ib, nil, eventType, reason, action, "%s", message)
}

func findCondition(ib *indexbuildv1alpha1.IndexBuild, condType string) metav1.Condition {
	for _, c := range ib.Status.Conditions {
		if c.Type == condType {
			return c
		}
	}
	return metav1.Condition{Type: condType}
}

// SetupWithManager registers the controller, its cache indexes and its
// metrics with the manager.
func (r *IndexBuildReconciler) SetupWithManager(mgr ctrl.Manager) error {
	if err := r.metrics.register(ctrlmetrics.Registry, mgr.GetClient()); err != nil {
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
	return ctrl.NewControllerManagedBy(mgr).
		For(&indexbuildv1alpha1.IndexBuild{}, builder.WithPredicates(r.freshness.observer(), predicate.GenerationChangedPredicate{})).
		Owns(&batchv1.Job{}).
		WithOptions(ctrlcontroller.Options{MaxConcurrentReconciles: r.concurrency}).
		Named("indexbuild"), nil
}
