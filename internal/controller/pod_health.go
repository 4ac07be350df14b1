package controller

import (
	"context"
	"fmt"
	"strings"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	indexbuildv1alpha1 "github.com/indexbuild/indexbuild/api/v1alpha1"
)

// unschedulableGrace is how long a pod may wait for a node before the
// build says so: long enough for a cluster autoscaler to react to it.
const unschedulableGrace = 30 * time.Second

// podCheckInterval is how often a Job whose pods stand still without running
// is looked into again.
const podCheckInterval = 5 * time.Second

// failedCreateReason is the reason of the Job controller's Event when the
// API refuses a pod ("Error creating: <the API's message>").
const failedCreateReason = "FailedCreate"

// podTrouble is why a Job's pods do not run.
type podTrouble struct {
	Reason, Message string
}

// waitingForPods reports whether a running Job has fewer pods running than
// it wants: only then can anything be wrong with them.
func waitingForPods(job *batchv1.Job) bool {
	if classifyJob(job).finished() || ptr.Deref(job.Spec.Suspend, false) {
		return false
	}
	return job.Status.Active < wantedPods(job) || ptr.Deref(job.Status.Ready, 0) < job.Status.Active
}

// wantedPods is how many pods a running Job runs at once.
func wantedPods(job *batchv1.Job) int32 {
	return min(ptr.Deref(job.Spec.Parallelism, 1), ptr.Deref(job.Spec.Completions, 1)-job.Status.Succeeded)
}

// diagnosePods says why a Job's pods do not run, from its pods and its
// FailedCreate Events; nil when nothing is known to be wrong. A refused
// creation counts only when no pod was created after it.
func diagnosePods(job *batchv1.Job, pods []corev1.Pod, failedCreates []corev1.Event, now time.Time) *podTrouble {
	var lastPodCreated time.Time
	for i := range pods {
		if t := pods[i].CreationTimestamp.Time; t.After(lastPodCreated) {
			lastPodCreated = t
		}
	}
	var refused *corev1.Event
	for i := range failedCreates {
		e := &failedCreates[i]
		if eventTime(e).After(lastPodCreated) && (refused == nil || eventTime(e).After(eventTime(refused))) {
			refused = e
		}
	}
	if refused != nil {
		return &podTrouble{ReasonPodCreateFailed, fmt.Sprintf("Job %s cannot create pods: %s", job.Name, strings.TrimPrefix(refused.Message, "Error creating: "))}
	}

	var pull, create, unschedulable []string
	var unschedulableMsg string
	for i := range pods {
		pod := &pods[i]
		if pod.DeletionTimestamp != nil || podFinished(pod) {
			continue
		}
		for _, cs := range pod.Status.ContainerStatuses {
			w := cs.State.Waiting
			if w == nil {
				continue
			}
			switch w.Reason {
			case "ErrImagePull", "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull":
				pull = append(pull, fmt.Sprintf("pod %s cannot pull image %q (%s: %s)", pod.Name, cs.Image, w.Reason, w.Message))
			case "CreateContainerConfigError", "CreateContainerError":
				create = append(create, fmt.Sprintf("pod %s cannot start container %s (%s: %s)", pod.Name, cs.Name, w.Reason, w.Message))
			}
		}
		if c := podCondition(pod, corev1.PodScheduled); c != nil && c.Status == corev1.ConditionFalse &&
			c.Reason == corev1.PodReasonUnschedulable && now.Sub(c.LastTransitionTime.Time) >= unschedulableGrace {
			unschedulable = append(unschedulable, pod.Name)
			unschedulableMsg = c.Message
		}
	}
	switch {
	case len(pull) > 0:
		return &podTrouble{ReasonImagePullFailed, summarize(pull)}
	case len(create) > 0:
		return &podTrouble{ReasonContainerCreateFailed, summarize(create)}
	case len(unschedulable) > 0:
		return &podTrouble{ReasonUnschedulable, fmt.Sprintf("%s unschedulable for over %s: %s",
			summarize(unschedulable), unschedulableGrace, unschedulableMsg)}
	}
	return nil
}

// summarize keeps a message short: the first item, and how many more.
func summarize(items []string) string {
	if len(items) == 1 {
		return items[0]
	}
	return fmt.Sprintf("%s (and %d more)", items[0], len(items)-1)
}

func podCondition(pod *corev1.Pod, t corev1.PodConditionType) *corev1.PodCondition {
	for i := range pod.Status.Conditions {
		if pod.Status.Conditions[i].Type == t {
			return &pod.Status.Conditions[i]
		}
	}
	return nil
}

// eventTime is when an Event last happened, for both Event APIs.
func eventTime(e *corev1.Event) time.Time {
	t := e.LastTimestamp.Time
	for _, c := range []time.Time{e.EventTime.Time, e.FirstTimestamp.Time, e.CreationTimestamp.Time} {
		if t.IsZero() {
			t = c
		}
	}
	if e.Series != nil && e.Series.LastObservedTime.After(t) {
		t = e.Series.LastObservedTime.Time
	}
	return t
}

// +kubebuilder:rbac:groups="",resources=events,verbs=list;watch
// +kubebuilder:rbac:groups="",resources=pods,verbs=list;watch

// podFinished reports whether the pod's containers ran to their end
// (Succeeded or Failed); it never runs again.
func podFinished(pod *corev1.Pod) bool {
	return pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed
}

// podsStillGrace is how long a waiting Job's pods must stand still before
// they are looked into. Pods that are being created, scheduled and started
// move; a refused pod, an image that cannot be pulled or a pod no node fits
// does not. On a busy cluster every Job waits a while, and reporting why
// would be noise about pods on their way.
const podsStillGrace = 10 * time.Second

// podsMovedAt is when a Job's pods last moved, from the times the cached
// Job and pods carry: the Job started (or resumed), a pod was created,
// changed a condition, started or ended its container, or began to
// terminate.
func podsMovedAt(job *batchv1.Job, pods []corev1.Pod) time.Time {
	moved := job.CreationTimestamp.Time
	later := func(t time.Time) {
		if t.After(moved) {
			moved = t
		}
	}
	if job.Status.StartTime != nil {
		later(job.Status.StartTime.Time)
	}
	for i := range pods {
		pod := &pods[i]
		later(pod.CreationTimestamp.Time)
		if pod.DeletionTimestamp != nil {
			later(pod.DeletionTimestamp.Time)
		}
		for _, c := range pod.Status.Conditions {
			later(c.LastTransitionTime.Time)
		}
		for _, cs := range pod.Status.ContainerStatuses {
			if r := cs.State.Running; r != nil {
				later(r.StartedAt.Time)
			}
			if t := cs.State.Terminated; t != nil {
				later(t.FinishedAt.Time)
			}
		}
	}
	return moved
}

// reportPodTrouble puts why a running Job's pods do not run into the
// Ready and Reconciling conditions of an in-progress build (the phase
// stays), once they have stood still for podsStillGrace. It returns when to
// look again: pod trouble changes no Job status, so no event brings the
// next reconcile.
func (r *IndexBuildReconciler) reportPodTrouble(ctx context.Context, ib *indexbuildv1alpha1.IndexBuild, status phaseConditions, job *batchv1.Job, now time.Time) (time.Duration, error) {
	if !waitingForPods(job) {
		return 0, nil
	}
	pods, err := r.cachedJobPods(ctx, job)
	if err != nil {
		return 0, err
	}
	if released, err := r.releaseHeldPods(ctx, ib, status, job, pods, now); released || err != nil {
		return podCheckInterval, err
	}
	if still := now.Sub(podsMovedAt(job, pods)); still < podsStillGrace {
		return podsStillGrace - still, nil // pods on their way
	}
	trouble, err := r.diagnoseJobPods(ctx, job, pods, now)
	if err != nil || trouble == nil {
		return podCheckInterval, err
	}
	ready := findCondition(ib, indexbuildv1alpha1.ConditionReady)
	status.inProgress(ib.Status.Phase, trouble.Reason, ready.Message+"; "+trouble.Message)
	return podCheckInterval, nil
}

// diagnoseJobPods reads a Job's FailedCreate Events from the cache, when
// pods are missing, and says what keeps its pods from running.
func (r *IndexBuildReconciler) diagnoseJobPods(ctx context.Context, job *batchv1.Job, pods []corev1.Pod, now time.Time) (*podTrouble, error) {
	// A refused creation explains only pods that are missing.
	var events corev1.EventList
	if podsMissing(job, pods) {
		if err := r.List(ctx, &events, client.InNamespace(job.Namespace), client.MatchingFields{eventObjectUIDKey: string(job.UID)}); err != nil {
			return nil, fmt.Errorf("list Events of Job %s: %w", job.Name, err)
		}
	}
	return diagnosePods(job, pods, events.Items, now), nil
}

// cachedJobPods are a Job's pods that did not succeed, as the cache holds
// them (trimCachedPod).
func (r *IndexBuildReconciler) cachedJobPods(ctx context.Context, job *batchv1.Job) ([]corev1.Pod, error) {
	var pods corev1.PodList
	if err := r.List(ctx, &pods, client.InNamespace(job.Namespace), client.MatchingFields{podJobKey: job.Name}); err != nil {
		return nil, fmt.Errorf("list pods of Job %s: %w", job.Name, err)
	}
	return pods.Items, nil
}

// podsMissing reports whether a Job has fewer pods than it wants running.
func podsMissing(job *batchv1.Job, pods []corev1.Pod) bool {
	live := 0
	for i := range pods {
		if pods[i].DeletionTimestamp == nil && pods[i].Status.Phase != corev1.PodSucceeded && pods[i].Status.Phase != corev1.PodFailed {
			live++
		}
	}
	return int32(live) < wantedPods(job)
}
