package controller

import (
	batchv1 "k8s.io/api/batch/v1"

	"github.com/indexbuild/indexbuild/internal/retry"
)

// Reasons of the Ready condition (and of the others where they say why),
// all of them: the REASON column of kubectl get ib, Event reasons and the
// label of indexbuild_build_failures_total. The README's status section
// lists them for users.

// A build on its way.
const (
	ReasonPending    = "Pending"
	ReasonBuilding   = "Building"
	ReasonMerging    = "Merging"
	ReasonFinalizing = "Finalizing"
	ReasonSuspended  = "Suspended"
	// ReasonQueued: a child Job waits for its Kueue queue to admit it (or
	// was preempted and waits again).
	ReasonQueued = "Queued"
	// ReasonJobRefused: the API refused to create a child Job for a reason
	// that can heal (a quota, an admission webhook, permissions, a
	// namespace being deleted); the message quotes it, and the create is
	// retried with backoff.
	ReasonJobRefused = "JobRefused"
	// ReasonRestarting: a stage Job ran out of retries and is recreated
	// under the same task (spec.failurePolicy.maxRestarts).
	ReasonRestarting = "Restarting"
	// ReasonSecretNotFound: a Secret the build names does not exist, so
	// the admin policy cannot read its opt-in; retried with backoff.
	ReasonSecretNotFound = "SecretNotFound"
	// ReasonPreviousJobs: Jobs of a deleted IndexBuild of the same name
	// (kubectl replace --force, a restore) are still going away.
	ReasonPreviousJobs = "WaitingForPreviousJobs"
)

// A build on its way whose pods do not run. They are not failures: a quota
// can free up, an image can be pushed, a node can join.
const (
	// ReasonPodCreateFailed: the API refused the Job's pods (Pod Security,
	// ResourceQuota, an admission webhook).
	ReasonPodCreateFailed = "PodCreateFailed"
	// ReasonImagePullFailed: the kubelet cannot pull the builder image.
	ReasonImagePullFailed = "ImagePullFailed"
	// ReasonContainerCreateFailed: the kubelet cannot start the container
	// (a missing Secret or ConfigMap, a bad mount).
	ReasonContainerCreateFailed = "ContainerCreateFailed"
	// ReasonUnschedulable: no node fits the pods, for longer than
	// unschedulableGrace.
	ReasonUnschedulable = "Unschedulable"
	// ReasonNamespaceDeleting: the namespace is being deleted and the
	// operator deleted a stage Job whose pods held it up
	// (releaseHeldPods).
	ReasonNamespaceDeleting = "NamespaceDeleting"
)

// A build that ended.
const (
	ReasonCommitted = "Committed"
	// ReasonStaleMeta, ReasonInvalidInput, ReasonOutputInUse and
	// ReasonBackoffLimitExceeded are the worker contract's failures (package
	// retry maps them to and from exit codes).
	ReasonStaleMeta            = retry.ReasonStaleMeta
	ReasonInvalidInput         = retry.ReasonInvalidInput
	ReasonOutputInUse          = retry.ReasonOutputInUse
	ReasonBackoffLimitExceeded = retry.ReasonBackoffLimitExceeded
	// ReasonDeadlineExceeded: the task ran past spec.activeDeadlineSeconds,
	// or its finalize past spec.finalize.activeDeadlineSeconds (the Job
	// controller's reason of the same name passes through).
	ReasonDeadlineExceeded = batchv1.JobReasonDeadlineExceeded
	// ReasonFileStoreNotAllowed: a file:// store would be a hostPath outside
	// the roots the cluster admin allows.
	ReasonFileStoreNotAllowed = "FileStoreNotAllowed"
	// ReasonPolicyDenied: the admin's policy (manager flags) does not allow
	// what the spec chose for its pods: a builder image or command, a
	// service account, a Secret that has not opted in. The message names
	// the field, its value and the rule; no pod was created.
	ReasonPolicyDenied = "PolicyDenied"
	// ReasonJobConflict: a Job with a child's name belongs to something else.
	ReasonJobConflict = "JobConflict"
	// ReasonJobInvalid: the API refused a child Job as invalid (the
	// message quotes it and names the spec fields behind it); no retry can
	// create it from this spec.
	ReasonJobInvalid = "JobInvalid"
)

// A deleted IndexBuild with deletionPolicy Delete.
const (
	ReasonDeletingOutput      = "DeletingOutput"
	ReasonOutputCleanupFailed = "OutputCleanupFailed"
)

// Reasons of the other conditions while they are False.
const (
	ReasonNotCommitted = "NotCommitted"
	ReasonTaskMetaOK   = "TaskMetaMatches"
	ReasonNotSuspended = "NotSuspended"
)

// isBlockedReason reports whether reason says why a build on its way does
// not move: the API refuses its Job, or the Job's pods do not run. A
// Warning Event marks each change into one.
func isBlockedReason(reason string) bool {
	switch reason {
	case ReasonJobRefused, ReasonSecretNotFound, ReasonPodCreateFailed, ReasonImagePullFailed, ReasonContainerCreateFailed, ReasonUnschedulable:
		return true
	}
	return false
}
