package controller

import (
	"context"
	"fmt"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	indexbuildv1alpha1 "github.com/indexbuild/indexbuild/api/v1alpha1"
)

// lastAppliedAnnotation is kubectl apply's copy of the whole object, as big
// as the spec and never read by the operator.
const lastAppliedAnnotation = corev1.LastAppliedConfigAnnotation

// CacheByObject limits the manager's Job and pod caches to the operator's
// own Jobs and their pods that did not succeed, so they do not hold every
// Job and pod in the cluster, and its Event cache to the Job controller's
// refused pod creations; and keeps only what the controller reads of the
// objects it caches: at a thousand builds the managedFields, the Jobs' pod
// templates and the pods' specs would be most of the cache.
func CacheByObject() map[client.Object]cache.ByObject {
	own, err := labels.NewRequirement(LabelBuildName, selection.Exists, nil)
	if err != nil {
		// A constant, valid label key: NewRequirement cannot fail.
		panic(err)
	}
	return map[client.Object]cache.ByObject{
		&batchv1.Job{}:                   {Label: labels.NewSelector().Add(*own), Transform: trimCachedJob},
		&corev1.Pod{}:                    {Label: labels.NewSelector().Add(*own), Field: unfinishedOrFailedPods, Transform: trimCachedPod},
		&indexbuildv1alpha1.IndexBuild{}: {Transform: trimCachedIndexBuild},
		&corev1.Event{}:                  {Field: refusedPodCreations, Transform: cache.TransformStripManagedFields()},
	}
}

// unfinishedOrFailedPods leaves out the pods that succeeded: nothing is
// wrong with them, and at a thousand builds they are most of the pods. The
// one thing read from a succeeded pod, finalize's commit summary, is read
// from the API once per build (terminationMessages).
var unfinishedOrFailedPods = fields.OneTermNotEqualSelector("status.phase", string(corev1.PodSucceeded))

// refusedPodCreations selects the Events the Job controller records when
// the API refuses one of a Job's pods. The API server keeps no watch cache
// of Events: a list reads every Event of the namespace from etcd, a watch
// only passes on the new ones that match. Watched, they cost one list at
// start and nothing per diagnosis.
var refusedPodCreations = fields.SelectorFromSet(fields.Set{
	"involvedObject.kind": "Job",
	"reason":              failedCreateReason,
})

// trimCachedJob drops from a cached Job what the controller never reads:
// managedFields, the pod template, the selector and the pod failure policy.
// The controller changes Jobs with patches of what it sets, never with an
// update of the cached copy, which would send the trimmed object back.
func trimCachedJob(obj any) (any, error) {
	job, ok := obj.(*batchv1.Job)
	if !ok {
		return obj, nil // a deletion tombstone
	}
	job.ManagedFields = nil
	job.Spec.Template = corev1.PodTemplateSpec{}
	job.Spec.Selector = nil
	job.Spec.PodFailurePolicy = nil
	return job, nil
}

// trimCachedPod keeps of a pod what tells why it does not run, how it
// ended and when it last moved (podsMovedAt): its name, labels, times and
// finalizers (heldPods), its phase, its PodScheduled and Ready conditions and its containers'
// states.
func trimCachedPod(obj any) (any, error) {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return obj, nil
	}
	trimmed := &corev1.Pod{
		TypeMeta: pod.TypeMeta,
		ObjectMeta: metav1.ObjectMeta{
			Name: pod.Name, Namespace: pod.Namespace, UID: pod.UID, ResourceVersion: pod.ResourceVersion,
			Labels: pod.Labels, CreationTimestamp: pod.CreationTimestamp, DeletionTimestamp: pod.DeletionTimestamp,
			Finalizers: pod.Finalizers,
		},
		Status: corev1.PodStatus{Phase: pod.Status.Phase},
	}
	for _, t := range []corev1.PodConditionType{corev1.PodScheduled, corev1.PodReady} {
		if c := podCondition(pod, t); c != nil {
			trimmed.Status.Conditions = append(trimmed.Status.Conditions, *c)
		}
	}
	for _, cs := range pod.Status.ContainerStatuses {
		trimmed.Status.ContainerStatuses = append(trimmed.Status.ContainerStatuses, corev1.ContainerStatus{Name: cs.Name, Image: cs.Image, State: cs.State})
	}
	return trimmed, nil
}

// trimCachedIndexBuild drops managedFields and kubectl's last-applied copy.
func trimCachedIndexBuild(obj any) (any, error) {
	ib, ok := obj.(*indexbuildv1alpha1.IndexBuild)
	if !ok {
		return obj, nil
	}
	ib.ManagedFields = nil
	delete(ib.Annotations, lastAppliedAnnotation)
	return ib, nil
}

// Indexes of cached objects. Every reconcile lists its IndexBuild's Jobs,
// and a waiting Job's pods (and Events) are read: a label or field selector
// would scan every cached object of the namespace each time, an index
// returns the few that match.
const (
	// jobControllerKey: the name of the IndexBuild that controls a Job.
	jobControllerKey = ".metadata.controller.indexbuild"
	// podJobKey: the name of a pod's Job.
	podJobKey = ".metadata.labels.job-name"
	// eventObjectUIDKey: the UID of the object an Event is about.
	eventObjectUIDKey = ".involvedObject.uid"
)

// indexCachedObjects adds the indexes the controller reads the cache by.
func indexCachedObjects(mgr ctrl.Manager) error {
	indexes := []struct {
		obj   client.Object
		key   string
		value func(client.Object) []string
	}{
		{&batchv1.Job{}, jobControllerKey, func(obj client.Object) []string {
			ref := metav1.GetControllerOf(obj)
			if ref == nil || ref.Kind != "IndexBuild" || ref.APIVersion != indexbuildv1alpha1.GroupVersion.String() {
				return nil
			}
			return []string{ref.Name}
		}},
		{&corev1.Pod{}, podJobKey, func(obj client.Object) []string {
			if job, ok := obj.GetLabels()[batchv1.JobNameLabel]; ok {
				return []string{job}
			}
			return nil
		}},
		{&corev1.Event{}, eventObjectUIDKey, func(obj client.Object) []string {
			return []string{string(obj.(*corev1.Event).InvolvedObject.UID)}
		}},
	}
	for _, ix := range indexes {
		if err := mgr.GetFieldIndexer().IndexField(context.Background(), ix.obj, ix.key, ix.value); err != nil {
			return fmt.Errorf("index cached %T by %s: %w", ix.obj, ix.key, err)
		}
	}
	return nil
}
