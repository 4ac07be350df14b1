package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// ElementType is the kind of index an IndexBuild produces.
// +kubebuilder:validation:Enum=index;fulltext
type ElementType string

const (
	// ElementTypeIndex is a sorted key index (key -> row handle).
	ElementTypeIndex ElementType = "index"
	// ElementTypeFulltext is an inverted (full-text) index.
	ElementTypeFulltext ElementType = "fulltext"
)

// SourceFormat is the format of the table's data files.
// +kubebuilder:validation:Enum=jsonl;csv;parquet
type SourceFormat string

// SecretReference names a Secret in the IndexBuild's namespace whose keys are
// passed to worker and finalize pods as environment variables (for example
// AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY).
type SecretReference struct {
	// name of the Secret.
	// +kubebuilder:validation:MinLength=1
	Name string `json:"name"`
}

// SourceSpec says where the table to index lives.
// +kubebuilder:validation:XValidation:rule="!has(self.persistentVolumeClaim) || self.uri.startsWith('file://')",message="spec.source.persistentVolumeClaim needs a file:// uri",fieldPath=".persistentVolumeClaim"
type SourceSpec struct {
	// uri of the table root in object storage: the folder holding _table.json
	// and the data files. Schemes: file://, s3://, gs://, azblob:// (mem:// lives in one process only, so it is for tests of the data plane, not for IndexBuilds).
	// +kubebuilder:validation:MaxLength=2048
	// +kubebuilder:validation:XValidation:rule="self.matches('^(file|s3|gs|azblob)://.+')",message="spec.source.uri must start with file://, s3://, gs:// or azblob:// and name a location"
	URI string `json:"uri"`

	// format of the data files.
	// +kubebuilder:default=jsonl
	// +optional
	Format SourceFormat `json:"format,omitempty"`

	// secretRef holds credentials for reading the source.
	// +optional
	SecretRef *SecretReference `json:"secretRef,omitempty"`

	// persistentVolumeClaim backs a file:// source: the claim is mounted
	// read-only at the URI's path. Without it a file:// URI is a hostPath,
	// allowed only under the roots the operator is configured with.
	// +optional
	PersistentVolumeClaim *PersistentVolumeClaimReference `json:"persistentVolumeClaim,omitempty"`
}

// PersistentVolumeClaimReference names a PersistentVolumeClaim in the
// IndexBuild's namespace.
type PersistentVolumeClaimReference struct {
	// claimName of the PersistentVolumeClaim.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	ClaimName string `json:"claimName"`
}

// DeletionPolicy says what happens to the output when its IndexBuild is
// deleted, like a PersistentVolume's reclaim policy.
// +kubebuilder:validation:Enum=Retain;Delete
type DeletionPolicy string

const (
	// DeletionPolicyRetain leaves the output (every version) in place.
	DeletionPolicyRetain DeletionPolicy = "Retain"
	// DeletionPolicyDelete removes the output before the IndexBuild goes.
	DeletionPolicyDelete DeletionPolicy = "Delete"
)

// OutputSpec says where the committed index goes.
// +kubebuilder:validation:XValidation:rule="!has(self.persistentVolumeClaim) || self.uri.startsWith('file://')",message="spec.output.persistentVolumeClaim needs a file:// uri",fieldPath=".persistentVolumeClaim"
type OutputSpec struct {
	// uri of the index root in object storage. The root belongs to one
	// IndexBuild (namespace/name, recorded in <uri>/_owner.json). Each task
	// (jobID) stages and commits its own version under
	// <uri>/versions/<jobID>/; <uri>/current.json names the version readers
	// open. Schemes: file://, s3://, gs://, azblob:// (mem:// lives in one process only, so it is for tests of the data plane, not for IndexBuilds).
	// +kubebuilder:validation:MaxLength=2048
	// +kubebuilder:validation:XValidation:rule="self.matches('^(file|s3|gs|azblob)://.+')",message="spec.output.uri must start with file://, s3://, gs:// or azblob:// and name a location"
	URI string `json:"uri"`

	// secretRef holds credentials for writing the output.
	// +optional
	SecretRef *SecretReference `json:"secretRef,omitempty"`

	// persistentVolumeClaim backs a file:// output: the claim is mounted
	// read-write at the URI's path. With ReadWriteMany storage, workers on
	// every node share it.
	// +optional
	PersistentVolumeClaim *PersistentVolumeClaimReference `json:"persistentVolumeClaim,omitempty"`

	// keepVersions is how many committed versions stay after a new one is
	// published, the published one included; older versions and the
	// staging of failed or superseded tasks are removed.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=100
	// +kubebuilder:default=2
	// +optional
	KeepVersions int32 `json:"keepVersions,omitempty"`

	// deletionPolicy: Retain (default) keeps the output when the IndexBuild
	// is deleted; Delete removes every version of it first, with a cleanup
	// pod that uses the output's credentials.
	// +kubebuilder:default=Retain
	// +optional
	DeletionPolicy DeletionPolicy `json:"deletionPolicy,omitempty"`
}

// PodSettings are what every pod of the build (workers, finalize) gets.
// They do not change what is built, so they are not task metadata: a
// change applies to Jobs created afterwards, never to running pods.
type PodSettings struct {
	// labels added to the pods (keys under indexbuild.dev/ are the
	// operator's own and refused).
	// +kubebuilder:validation:XValidation:rule="self.all(k, !k.startsWith('indexbuild.dev/'))",message="spec.pod.labels must not use the indexbuild.dev/ prefix"
	// +optional
	Labels map[string]string `json:"labels,omitempty"`

	// annotations added to the pods.
	// +optional
	Annotations map[string]string `json:"annotations,omitempty"`

	// serviceAccountName the pods run as (for cloud IAM such as IRSA or
	// Workload Identity). Without one, no service-account token is mounted.
	// +kubebuilder:validation:MaxLength=253
	// +optional
	ServiceAccountName string `json:"serviceAccountName,omitempty"`

	// nodeSelector restricts the nodes the pods run on.
	// +optional
	NodeSelector map[string]string `json:"nodeSelector,omitempty"`

	// tolerations of the pods.
	// +listType=atomic
	// +optional
	Tolerations []corev1.Toleration `json:"tolerations,omitempty"`

	// affinity of the pods.
	// +optional
	Affinity *corev1.Affinity `json:"affinity,omitempty"`

	// topologySpreadConstraints of the pods.
	// +listType=atomic
	// +optional
	TopologySpreadConstraints []corev1.TopologySpreadConstraint `json:"topologySpreadConstraints,omitempty"`

	// priorityClassName of the pods.
	// +kubebuilder:validation:MaxLength=253
	// +optional
	PriorityClassName string `json:"priorityClassName,omitempty"`

	// imagePullSecrets for the builder image.
	// +listType=atomic
	// +optional
	ImagePullSecrets []corev1.LocalObjectReference `json:"imagePullSecrets,omitempty"`

	// env added to the container (after the store credentials).
	// +listType=atomic
	// +optional
	Env []corev1.EnvVar `json:"env,omitempty"`

	// envFrom adds every key of ConfigMaps and Secrets to the container's
	// environment (a Secret only with the admin's opt-in label, as for env).
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=16
	// +optional
	EnvFrom []corev1.EnvFromSource `json:"envFrom,omitempty"`

	// volumes the containers may mount (spec.worker.volumeMounts,
	// spec.finalize.volumeMounts), e.g. a CA bundle ConfigMap for an
	// S3-compatible store with a private CA. Only kinds the restricted Pod
	// Security level admits and the operator's policy can judge:
	// configMap, secret (with the admin's opt-in label), emptyDir,
	// persistentVolumeClaim. "scratch", "source" and "output" are the
	// operator's own names.
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=16
	// +kubebuilder:validation:XValidation:rule="self.all(v, !(v.name in ['scratch', 'source', 'output']))",message="spec.pod.volumes: scratch, source and output are the operator's own volume names"
	// +optional
	Volumes []PodVolume `json:"volumes,omitempty"`

	// scratchSize sizes the emptyDir mounted at /tmp (TMPDIR) for sort
	// spills and element files; it is also requested as ephemeral storage.
	// Default: no limit and no request.
	// +optional
	ScratchSize *resource.Quantity `json:"scratchSize,omitempty"`
}

// FailurePolicy restarts a failed stage under the same task.
type FailurePolicy struct {
	// maxRestarts is how often a stage Job that ran out of retries
	// (BackoffLimitExceeded: a bad node, a flaky store) is recreated under
	// the same jobID: task metadata is checked again first, and finished
	// partitions are not built again (their workers exit 0 at once).
	// StaleMeta, InvalidInput, OutputInUse and deadlines are never
	// restarted. Raising it on a build that ended Failed for
	// BackoffLimitExceeded restarts it (kubectl indexbuild retry --failed).
	// Default 0.
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=100
	// +optional
	MaxRestarts int32 `json:"maxRestarts,omitempty"`
}

// RestartStatus is the failure behind the last restart.
type RestartStatus struct {
	// time of the restart.
	Time metav1.Time `json:"time"`
	// role of the Job that failed: build, merge or finalize.
	Role string `json:"role"`
	// jobUID is the failed Job the restart replaced.
	JobUID types.UID `json:"jobUID"`
	// reason and message of its failure, as the Ready condition had them.
	Reason  string `json:"reason"`
	Message string `json:"message"`
}

// PodVolume is one of spec.pod.volumes: a name and exactly one source.
// +kubebuilder:validation:XValidation:rule="[has(self.configMap), has(self.secret), has(self.emptyDir), has(self.persistentVolumeClaim)].filter(x, x).size() == 1",message="a volume sets exactly one of configMap, secret, emptyDir and persistentVolumeClaim"
type PodVolume struct {
	// name the volume mounts refer to.
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	Name string `json:"name"`
	// configMap mounts a ConfigMap's keys as files.
	// +optional
	ConfigMap *corev1.ConfigMapVolumeSource `json:"configMap,omitempty"`
	// secret mounts a Secret's keys as files (with the admin's opt-in label).
	// +optional
	Secret *corev1.SecretVolumeSource `json:"secret,omitempty"`
	// emptyDir is a scratch directory of the pod.
	// +optional
	EmptyDir *corev1.EmptyDirVolumeSource `json:"emptyDir,omitempty"`
	// persistentVolumeClaim mounts a claim of the namespace.
	// +optional
	PersistentVolumeClaim *corev1.PersistentVolumeClaimVolumeSource `json:"persistentVolumeClaim,omitempty"`
}

// VolumeMounts mount spec.pod.volumes into one role's container; /tmp is
// the operator's scratch directory.
// +listType=atomic
// +kubebuilder:validation:MaxItems=16
// +kubebuilder:validation:XValidation:rule="self.all(m, m.mountPath != '/tmp' && !m.mountPath.startsWith('/tmp/'))",message="volumeMounts must not mount at or under /tmp, the operator's scratch directory"
type VolumeMounts []corev1.VolumeMount

// WorkerSpec holds settings of the worker pods only.
type WorkerSpec struct {
	// resources of each worker container.
	// +optional
	Resources corev1.ResourceRequirements `json:"resources,omitempty"`

	// volumeMounts of spec.pod.volumes in the worker container.
	// +optional
	VolumeMounts VolumeMounts `json:"volumeMounts,omitempty"`
}

// FinalizeSpec holds settings of the finalize pod only.
type FinalizeSpec struct {
	// resources of the finalize container.
	// +optional
	Resources corev1.ResourceRequirements `json:"resources,omitempty"`

	// volumeMounts of spec.pod.volumes in the finalize container, and in
	// the merge and output cleanup containers.
	// +optional
	VolumeMounts VolumeMounts `json:"volumeMounts,omitempty"`

	// activeDeadlineSeconds limits how long finalize may run; past it the
	// build ends Failed with reason DeadlineExceeded.
	// +kubebuilder:validation:Minimum=1
	// +optional
	ActiveDeadlineSeconds *int64 `json:"activeDeadlineSeconds,omitempty"`
}

// MergeSpec holds settings of the merge stage of global sort: after the
// workers, an Indexed Job with one pod per key range merges every
// partition's sorted file of each index element into one file per range,
// and checks unique elements across the whole table. It runs for
// elementType index with more than one partition; fulltext elements keep
// per-partition files.
// +kubebuilder:validation:XValidation:rule="!has(self.parallelism) || !has(self.ranges) || self.parallelism <= self.ranges",message="spec.merge.parallelism must not exceed spec.merge.ranges",fieldPath=".parallelism"
type MergeSpec struct {
	// ranges is the number of key ranges (merge pods, and committed files
	// per element). Unset: chosen from the size the workers staged, one
	// range per 256 MiB, at most spec.partitions; below 64 MiB no merge Job
	// runs and finalize merges in its own pod.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=1024
	// +optional
	Ranges *int32 `json:"ranges,omitempty"`

	// parallelism is the maximum number of merge pods running at once.
	// Default: ranges.
	// +kubebuilder:validation:Minimum=1
	// +optional
	Parallelism *int32 `json:"parallelism,omitempty"`

	// resources of each merge container. Default: spec.worker.resources
	// (a merge pod reads and writes about a worker's share of the data).
	// +optional
	Resources *corev1.ResourceRequirements `json:"resources,omitempty"`
}

// BuilderSpec overrides the image and command of the worker and finalize
// pods. Any image that implements the worker contract (README) will do.
type BuilderSpec struct {
	// image for worker and finalize pods. Default: the operator's own
	// data-plane image.
	// +optional
	Image string `json:"image,omitempty"`

	// command replaces the image's entrypoint; the subcommand (build or
	// finalize) and the task flags follow as arguments.
	// +optional
	Command []string `json:"command,omitempty"`
}

// IndexBuildSpec is what to build. Every input of the build is fixed per
// task: jobID, schemaID, tableID, elementType, elementIDs, source.uri,
// source.format, partitions and builder are task metadata; the stores'
// secretRef and persistentVolumeClaim are inputs too (a Secret can point
// the same URI at another store, a claim is another volume). Changing
// jobID starts a new task. Under the same jobID, a change to source
// (uri, format, secretRef, persistentVolumeClaim), partitions, builder,
// output.uri, output.secretRef, output.persistentVolumeClaim or
// merge.ranges is refused at admission, and a change to schemaID, tableID, elementType or
// elementIDs fails the build with StaleMeta.
// +kubebuilder:validation:XValidation:rule="!has(self.parallelism) || self.parallelism <= self.partitions",message="spec.parallelism must not exceed spec.partitions",fieldPath=".parallelism"
// +kubebuilder:validation:XValidation:rule="!has(self.worker) || !has(self.worker.volumeMounts) || self.worker.volumeMounts.all(m, has(self.pod) && has(self.pod.volumes) && self.pod.volumes.exists(v, v.name == m.name))",message="spec.worker.volumeMounts must name volumes of spec.pod.volumes",fieldPath=".worker.volumeMounts"
// +kubebuilder:validation:XValidation:rule="!has(self.finalize) || !has(self.finalize.volumeMounts) || self.finalize.volumeMounts.all(m, has(self.pod) && has(self.pod.volumes) && self.pod.volumes.exists(v, v.name == m.name))",message="spec.finalize.volumeMounts must name volumes of spec.pod.volumes",fieldPath=".finalize.volumeMounts"
// +kubebuilder:validation:XValidation:rule="self.jobID != oldSelf.jobID || self.partitions == oldSelf.partitions",message="spec.partitions can only change together with spec.jobID: change spec.jobID to start a new task",fieldPath=".partitions"
// +kubebuilder:validation:XValidation:rule="self.jobID != oldSelf.jobID || (has(self.merge) && has(self.merge.ranges)) == (has(oldSelf.merge) && has(oldSelf.merge.ranges)) && (!has(self.merge) || !has(self.merge.ranges) || self.merge.ranges == oldSelf.merge.ranges)",message="spec.merge.ranges can only change together with spec.jobID: change spec.jobID to start a new task",fieldPath=".merge.ranges"
// +kubebuilder:validation:XValidation:rule="self.jobID != oldSelf.jobID || self.output.uri == oldSelf.output.uri",message="spec.output.uri can only change together with spec.jobID: change spec.jobID to start a new task",fieldPath=".output.uri"
// +kubebuilder:validation:XValidation:rule="self.jobID != oldSelf.jobID || self.source.uri == oldSelf.source.uri",message="spec.source.uri can only change together with spec.jobID: change spec.jobID to start a new task",fieldPath=".source.uri"
// +kubebuilder:validation:XValidation:rule="self.jobID != oldSelf.jobID || self.source.format == oldSelf.source.format",message="spec.source.format can only change together with spec.jobID: change spec.jobID to start a new task",fieldPath=".source.format"
// +kubebuilder:validation:XValidation:rule="self.jobID != oldSelf.jobID || (has(self.builder) == has(oldSelf.builder) && (!has(self.builder) || self.builder == oldSelf.builder))",message="spec.builder can only change together with spec.jobID: change spec.jobID to start a new task",fieldPath=".builder"
// +kubebuilder:validation:XValidation:rule="self.jobID != oldSelf.jobID || (has(self.source.secretRef) == has(oldSelf.source.secretRef) && (!has(self.source.secretRef) || self.source.secretRef == oldSelf.source.secretRef))",message="spec.source.secretRef can only change together with spec.jobID: change spec.jobID to start a new task",fieldPath=".source.secretRef"
// +kubebuilder:validation:XValidation:rule="self.jobID != oldSelf.jobID || (has(self.source.persistentVolumeClaim) == has(oldSelf.source.persistentVolumeClaim) && (!has(self.source.persistentVolumeClaim) || self.source.persistentVolumeClaim == oldSelf.source.persistentVolumeClaim))",message="spec.source.persistentVolumeClaim can only change together with spec.jobID: change spec.jobID to start a new task",fieldPath=".source.persistentVolumeClaim"
// +kubebuilder:validation:XValidation:rule="self.jobID != oldSelf.jobID || (has(self.output.secretRef) == has(oldSelf.output.secretRef) && (!has(self.output.secretRef) || self.output.secretRef == oldSelf.output.secretRef))",message="spec.output.secretRef can only change together with spec.jobID: change spec.jobID to start a new task",fieldPath=".output.secretRef"
// +kubebuilder:validation:XValidation:rule="self.jobID != oldSelf.jobID || (has(self.output.persistentVolumeClaim) == has(oldSelf.output.persistentVolumeClaim) && (!has(self.output.persistentVolumeClaim) || self.output.persistentVolumeClaim == oldSelf.output.persistentVolumeClaim))",message="spec.output.persistentVolumeClaim can only change together with spec.jobID: change spec.jobID to start a new task",fieldPath=".output.persistentVolumeClaim"
type IndexBuildSpec struct {
	// jobID identifies this build attempt. The task key is
	// <namespace>/<name>/<jobID>. Change it to start a new task, for example
	// to retry after a terminal failure.
	// +kubebuilder:validation:Minimum=1
	JobID int64 `json:"jobID"`

	// schemaID of the table the index belongs to.
	// +kubebuilder:validation:Minimum=1
	SchemaID int64 `json:"schemaID"`

	// tableID of the table the index belongs to.
	// +kubebuilder:validation:Minimum=1
	TableID int64 `json:"tableID"`

	// elementType: index (sorted key index) or fulltext (inverted index).
	ElementType ElementType `json:"elementType"`

	// elementIDs are the index definitions (from the table's _table.json) to
	// build. Non-empty, unique, positive.
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:XValidation:rule="self.all(id, id > 0)",message="spec.elementIDs must all be positive"
	// +kubebuilder:validation:XValidation:rule="self.all(id, self.exists_one(x, x == id))",message="spec.elementIDs must be unique"
	ElementIDs []int64 `json:"elementIDs"`

	// source is the table to index.
	Source SourceSpec `json:"source"`

	// output is where the index is committed.
	Output OutputSpec `json:"output"`

	// partitions is the number of worker partitions (one pod each).
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=10000
	// +kubebuilder:default=1
	// +optional
	Partitions int32 `json:"partitions,omitempty"`

	// parallelism is the maximum number of workers running at once.
	// Default: partitions.
	// +kubebuilder:validation:Minimum=1
	// +optional
	Parallelism *int32 `json:"parallelism,omitempty"`

	// builder overrides the worker and finalize image and command.
	// +optional
	Builder *BuilderSpec `json:"builder,omitempty"`

	// backoffLimitPerPartition is how often a partition is retried after a
	// retryable failure (exit code 1, crash, eviction does not count).
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=100
	// +kubebuilder:default=3
	// +optional
	BackoffLimitPerPartition *int32 `json:"backoffLimitPerPartition,omitempty"`

	// finalizeBackoffLimit is how often finalize is retried after a
	// retryable failure.
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=100
	// +kubebuilder:default=3
	// +optional
	FinalizeBackoffLimit *int32 `json:"finalizeBackoffLimit,omitempty"`

	// suspend pauses the build: running workers are stopped, finished
	// partitions are kept, and the build resumes where it was when suspend
	// is set back to false.
	// +optional
	Suspend bool `json:"suspend,omitempty"`

	// pod settings of every pod the build runs: scheduling, identity,
	// environment, labels and annotations, scratch space.
	// +optional
	Pod *PodSettings `json:"pod,omitempty"`

	// worker settings of the worker pods only.
	// +optional
	Worker *WorkerSpec `json:"worker,omitempty"`

	// finalize settings of the finalize pod only.
	// +optional
	Finalize *FinalizeSpec `json:"finalize,omitempty"`

	// merge settings of the merge stage (global sort of index elements).
	// +optional
	Merge *MergeSpec `json:"merge,omitempty"`

	// activeDeadlineSeconds limits the time the task's pods are allowed to
	// run, over all its stages, counted as a Job counts its own: from each
	// stage Job's start, restarting when a suspended Job resumes; time
	// queued in Kueue or suspended does not count. Past it the build ends
	// Failed with reason DeadlineExceeded and its pods are stopped.
	// +kubebuilder:validation:Minimum=1
	// +optional
	ActiveDeadlineSeconds *int64 `json:"activeDeadlineSeconds,omitempty"`

	// ttlSecondsAfterFinished removes the child Jobs (and their pods) this
	// long after the build Succeeded or Failed. The IndexBuild itself and
	// its status stay.
	// +kubebuilder:validation:Minimum=0
	// +optional
	TTLSecondsAfterFinished *int32 `json:"ttlSecondsAfterFinished,omitempty"`

	// failurePolicy says what happens when a stage Job fails.
	// +optional
	FailurePolicy *FailurePolicy `json:"failurePolicy,omitempty"`
}

// Phase is where a build stands.
// +kubebuilder:validation:Enum=Pending;Building;Merging;Finalizing;Succeeded;Failed
type Phase string

const (
	PhasePending    Phase = "Pending"
	PhaseBuilding   Phase = "Building"
	PhaseMerging    Phase = "Merging"
	PhaseFinalizing Phase = "Finalizing"
	PhaseSucceeded  Phase = "Succeeded"
	PhaseFailed     Phase = "Failed"
)

// Condition types.
const (
	// ConditionReady is True once the index is committed (kstatus).
	ConditionReady = "Ready"
	// ConditionReconciling is True while the build is in progress (kstatus).
	ConditionReconciling = "Reconciling"
	// ConditionStalled is True when the build failed and will not be retried
	// until spec.jobID changes (kstatus).
	ConditionStalled = "Stalled"
	// ConditionStaleMeta is True when recorded task metadata no longer
	// matches the spec or a worker found it stale.
	ConditionStaleMeta = "StaleMeta"
	// ConditionCommitted is True once the commit marker is written.
	ConditionCommitted = "Committed"
	// ConditionSuspended is True while spec.suspend holds the build.
	ConditionSuspended = "Suspended"
)

// TaskSource is the source a task reads, without its credentials (which are
// not task metadata).
type TaskSource struct {
	URI    string       `json:"uri"`
	Format SourceFormat `json:"format,omitempty"`
}

// TaskStatus is the task as it was recorded when it started: its task
// metadata, compared with the spec before anything is resumed.
type TaskStatus struct {
	// key is <namespace>/<name>/<jobID>.
	Key         string      `json:"key"`
	JobID       int64       `json:"jobID"`
	SchemaID    int64       `json:"schemaID"`
	TableID     int64       `json:"tableID"`
	ElementType ElementType `json:"elementType"`
	// +listType=atomic
	ElementIDs []int64 `json:"elementIDs"`
	// source is spec.source without its secretRef.
	Source TaskSource `json:"source"`
	// partitions is spec.partitions.
	Partitions int32 `json:"partitions"`
	// builder is spec.builder as written (absent: the operator's default
	// image).
	// +optional
	Builder *BuilderSpec `json:"builder,omitempty"`
	// startTime is when the task was recorded.
	// +optional
	StartTime *metav1.Time `json:"startTime,omitempty"`
}

// PartitionCounts counts worker partitions by state.
type PartitionCounts struct {
	// total partitions of the task.
	// +optional
	Total int32 `json:"total,omitempty"`
	// succeeded partitions: their staged output is complete.
	// +optional
	Succeeded int32 `json:"succeeded,omitempty"`
	// failed partitions: out of retries.
	// +optional
	Failed int32 `json:"failed,omitempty"`
	// failedIndexes are the failed partitions, in the Job's format
	// ("1,3-5"): the ones to look at (kubectl indexbuild logs NAME --partition N).
	// +kubebuilder:validation:MaxLength=64000
	// +optional
	FailedIndexes string `json:"failedIndexes,omitempty"`
	// active workers running now.
	// +optional
	Active int32 `json:"active,omitempty"`
}

// MergeStatus is where the merge stage stands: its key ranges by state
// while a merge Job runs, or why the task has none.
type MergeStatus struct {
	// ranges is the merge Job's key ranges (its completions).
	// +optional
	Ranges int32 `json:"ranges,omitempty"`
	// succeeded ranges: their merged files are staged.
	// +optional
	Succeeded int32 `json:"succeeded,omitempty"`
	// failed ranges: out of retries.
	// +optional
	Failed int32 `json:"failed,omitempty"`
	// active merge pods running now.
	// +optional
	Active int32 `json:"active,omitempty"`
	// progress is "<succeeded>/<ranges>", for kubectl get.
	// +optional
	Progress string `json:"progress,omitempty"`
	// skipped says why the task has no merge Job (fulltext elements, one
	// partition, or a build small enough for finalize to merge in-process).
	// +optional
	Skipped string `json:"skipped,omitempty"`
}

// CommitStatus summarises the committed index.
type CommitStatus struct {
	// version is the committed version of the output (versions/<jobID>/),
	// the one the output's pointer names once this build succeeded.
	// +optional
	Version string `json:"version,omitempty"`
	// markerURI is the version's commit marker
	// (<output>/versions/<jobID>/metadata.json).
	MarkerURI string `json:"markerURI"`
	// files committed (marker-listed) files.
	Files int32 `json:"files"`
	// bytes in the committed files.
	Bytes int64 `json:"bytes"`
	// rows indexed.
	Rows int64 `json:"rows"`
	// commitTime is when the marker was written.
	// +optional
	CommitTime *metav1.Time `json:"commitTime,omitempty"`
}

// IndexBuildStatus is where the build stands.
type IndexBuildStatus struct {
	// phase: Pending, Building, Merging, Finalizing, Succeeded or Failed.
	// +optional
	Phase Phase `json:"phase,omitempty"`

	// observedGeneration is the spec generation this status describes.
	// +kubebuilder:validation:Minimum=0
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// task is the recorded task.
	// +optional
	Task *TaskStatus `json:"task,omitempty"`

	// partitions counts worker partitions by state.
	// +optional
	Partitions PartitionCounts `json:"partitions,omitempty"`

	// progress is "<succeeded>/<total>" partitions, for kubectl get.
	// +optional
	Progress string `json:"progress,omitempty"`

	// merge is where the merge stage stands (global sort).
	// +optional
	Merge *MergeStatus `json:"merge,omitempty"`

	// commit summarises the committed index once finalize succeeded.
	// +optional
	Commit *CommitStatus `json:"commit,omitempty"`

	// restarts counts the task's stage restarts (spec.failurePolicy).
	// +optional
	Restarts int32 `json:"restarts,omitempty"`

	// lastRestart is the failure behind the latest restart.
	// +optional
	LastRestart *RestartStatus `json:"lastRestart,omitempty"`

	// completionTime is when the task ended, Succeeded or Failed
	// (ttlSecondsAfterFinished counts from it).
	// +optional
	CompletionTime *metav1.Time `json:"completionTime,omitempty"`

	// conditions: Ready, Reconciling, Stalled (kstatus), StaleMeta,
	// Committed, Suspended.
	// +listType=map
	// +listMapKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// IndexBuild runs a distributed index build: one worker per partition, a
// merge by key range (global sort of index elements), then a finalize step that commits the index through a single marker object.
// The name is a label value on the build's Jobs and pods, hence its limit.
// +kubebuilder:object:root=true
// +kubebuilder:validation:XValidation:rule="size(self.metadata.name) <= 63",message="metadata.name must be at most 63 characters: it labels the build's Jobs and pods"
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=ib,categories=all
// +kubebuilder:printcolumn:name="Phase",type=string,JSONPath=`.status.phase`
// +kubebuilder:printcolumn:name="Job",type=integer,JSONPath=`.spec.jobID`
// +kubebuilder:printcolumn:name="Type",type=string,JSONPath=`.spec.elementType`
// +kubebuilder:printcolumn:name="Elements",type=string,JSONPath=`.spec.elementIDs`
// +kubebuilder:printcolumn:name="Partitions",type=string,JSONPath=`.status.progress`
// +kubebuilder:printcolumn:name="Ranges",type=string,JSONPath=`.status.merge.progress`
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type IndexBuild struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec IndexBuildSpec `json:"spec,omitempty"`
	// status defaults to observedGeneration 0 so that kstatus readers (Flux,
	// Argo CD, kubectl wait tooling) see a new IndexBuild as InProgress, not
	// Current, before the operator has written its first status.
	// +kubebuilder:default={observedGeneration: 0}
	Status IndexBuildStatus `json:"status,omitempty"`
}

// IndexBuildList is a list of IndexBuilds.
// +kubebuilder:object:root=true
type IndexBuildList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []IndexBuild `json:"items"`
}

func init() {
	SchemeBuilder.Register(&IndexBuild{}, &IndexBuildList{})
}
