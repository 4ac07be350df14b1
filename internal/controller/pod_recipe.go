package controller

import (
	"maps"
	"slices"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	indexbuildv1alpha1 "github.com/indexbuild/indexbuild/api/v1alpha1"
	"github.com/indexbuild/indexbuild/internal/fileroots"
)

// Container names in worker and finalize pods.
const (
	containerWorker   = "worker"
	containerMerge    = "merge"
	containerFinalize = "finalize"
	containerCleanup  = "cleanup"
)

// Pods run as this user and group when no hostPath store needs root (the
// builder image's default user is root, for hostPath directories the
// kubelet creates root-owned).
const podUser = 65532

// scratchPath is where the scratch emptyDir is mounted; TMPDIR points at it
// so sort spills and element files land there under a read-only root
// filesystem.
const scratchPath = "/tmp"

// podDefaults are the operator's settings every pod recipe uses.
type podDefaults struct {
	// image runs the pods when spec.builder.image names none.
	image string
	// fileStoreRoots are the allowed hostPath roots (--file-store-roots):
	// a hostPath store is mounted through the root that holds it.
	fileStoreRoots []string
}

// podRecipe is the pod template every child Job runs, whatever its role:
// one container with the builder image and the data-plane arguments, store
// credentials as environment, file:// stores mounted where their URIs
// point, a scratch emptyDir, the user's pod settings (spec.pod) and the
// role's resources, locked down to the restricted Pod Security level
// unless a hostPath store needs root. labels are the Job's identity
// labels; they win over the user's pod labels.
func podRecipe(ib *indexbuildv1alpha1.IndexBuild, role, container string, defaults podDefaults, args []string, labels map[string]string) corev1.PodTemplateSpec {
	image := defaults.image
	var command []string
	if ib.Spec.Builder != nil {
		if ib.Spec.Builder.Image != "" {
			image = ib.Spec.Builder.Image
		}
		command = ib.Spec.Builder.Command
	}
	settings := ptr.Deref(ib.Spec.Pod, indexbuildv1alpha1.PodSettings{})
	pod := corev1.PodSpec{
		RestartPolicy: corev1.RestartPolicyNever,
		Containers: []corev1.Container{{
			Name:                     container,
			Image:                    image,
			ImagePullPolicy:          corev1.PullIfNotPresent,
			Command:                  command,
			Args:                     args,
			Resources:                roleResources(ib, role),
			TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError,
			SecurityContext: &corev1.SecurityContext{
				AllowPrivilegeEscalation: ptr.To(false),
				Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
				ReadOnlyRootFilesystem:   ptr.To(true),
			},
		}},
		ServiceAccountName: settings.ServiceAccountName,
		// A build talks to object storage, not to the Kubernetes API: a
		// token is mounted only for a service account the user names (for
		// cloud IAM that exchanges it).
		AutomountServiceAccountToken: ptr.To(settings.ServiceAccountName != ""),
		NodeSelector:                 settings.NodeSelector,
		Tolerations:                  settings.Tolerations,
		Affinity:                     settings.Affinity,
		TopologySpreadConstraints:    settings.TopologySpreadConstraints,
		PriorityClassName:            settings.PriorityClassName,
		ImagePullSecrets:             settings.ImagePullSecrets,
	}
	c := &pod.Containers[0]
	hostPath := false
	if roleReadsSource(role) {
		addSecretEnv(c, ib.Spec.Source.SecretRef)
		hostPath = addFileStoreVolume(&pod, "source", ib.Spec.Source.URI, ib.Spec.Source.PersistentVolumeClaim, defaults.fileStoreRoots, true)
	}
	addSecretEnv(c, ib.Spec.Output.SecretRef)
	addScratch(&pod, settings.ScratchSize)
	c.Env = append(c.Env, settings.Env...)
	c.EnvFrom = append(c.EnvFrom, settings.EnvFrom...)
	addUserVolumes(&pod, settings.Volumes, ib, role)
	if addFileStoreVolume(&pod, "output", ib.Spec.Output.URI, ib.Spec.Output.PersistentVolumeClaim, defaults.fileStoreRoots, false) {
		hostPath = true
	}
	pod.SecurityContext = podSecurityContext(hostPath)

	podLabels := maps.Clone(settings.Labels)
	if podLabels == nil {
		podLabels = map[string]string{}
	}
	maps.Copy(podLabels, labels)
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: podLabels, Annotations: maps.Clone(settings.Annotations)},
		Spec:       pod,
	}
}

// roleReadsSource: every role but the output's cleanup reads the table.
// The cleanup pod mounts and loads only the output store and its Secret,
// so a source already gone cannot keep an output from being deleted.
func roleReadsSource(role string) bool { return role != RoleCleanup }

// roleResources are the container resources of a role: workers have
// their own, merge pods theirs or else the workers', every single-pod role
// (finalize, and any later one) uses spec.finalize's.
func roleResources(ib *indexbuildv1alpha1.IndexBuild, role string) corev1.ResourceRequirements {
	if role == RoleMerge && ib.Spec.Merge != nil && ib.Spec.Merge.Resources != nil {
		return *ib.Spec.Merge.Resources.DeepCopy()
	}
	if role == RoleBuild || role == RoleMerge {
		if ib.Spec.Worker != nil {
			return *ib.Spec.Worker.Resources.DeepCopy()
		}
		return corev1.ResourceRequirements{}
	}
	if ib.Spec.Finalize != nil {
		return *ib.Spec.Finalize.Resources.DeepCopy()
	}
	return corev1.ResourceRequirements{}
}

// roleVolumeMounts are the user's volume mounts of a role: workers have
// their own, every other role (finalize, cleanup, any later one) uses
// spec.finalize's.
func roleVolumeMounts(ib *indexbuildv1alpha1.IndexBuild, role string) []corev1.VolumeMount {
	if role == RoleBuild {
		if ib.Spec.Worker != nil {
			return ib.Spec.Worker.VolumeMounts
		}
		return nil
	}
	if ib.Spec.Finalize != nil {
		return ib.Spec.Finalize.VolumeMounts
	}
	return nil
}

// roleMounts reports whether a role's pods mount the user's volume name.
func roleMounts(ib *indexbuildv1alpha1.IndexBuild, role, name string) bool {
	return slices.ContainsFunc(roleVolumeMounts(ib, role), func(m corev1.VolumeMount) bool { return m.Name == name })
}

// addUserVolumes adds the spec.pod.volumes the role mounts, and its
// mounts. A volume no mount names stays out of the pod: an unmounted
// Secret or claim that does not exist must not keep the pod from starting.
func addUserVolumes(pod *corev1.PodSpec, volumes []indexbuildv1alpha1.PodVolume, ib *indexbuildv1alpha1.IndexBuild, role string) {
	for _, v := range volumes {
		if !roleMounts(ib, role, v.Name) {
			continue
		}
		pod.Volumes = append(pod.Volumes, corev1.Volume{Name: v.Name, VolumeSource: corev1.VolumeSource{
			ConfigMap:             v.ConfigMap.DeepCopy(),
			Secret:                v.Secret.DeepCopy(),
			EmptyDir:              v.EmptyDir.DeepCopy(),
			PersistentVolumeClaim: v.PersistentVolumeClaim.DeepCopy(),
		}})
	}
	c := &pod.Containers[0]
	for _, m := range roleVolumeMounts(ib, role) {
		c.VolumeMounts = append(c.VolumeMounts, *m.DeepCopy())
	}
}

// podSecurityContext is the restricted Pod Security level, except that a
// pod with a hostPath store runs as the image's user (root), which owns
// the directories the kubelet creates; such a pod needs a privileged
// namespace anyway, as no other level admits hostPath volumes.
func podSecurityContext(hostPath bool) *corev1.PodSecurityContext {
	sc := &corev1.PodSecurityContext{SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}}
	if !hostPath {
		sc.RunAsNonRoot = ptr.To(true)
		sc.RunAsUser = ptr.To[int64](podUser)
		sc.RunAsGroup = ptr.To[int64](podUser)
		sc.FSGroup = ptr.To[int64](podUser)
	}
	return sc
}

// addScratch mounts the scratch emptyDir at /tmp. A size limits it and is
// requested as ephemeral storage unless the resources request some already.
func addScratch(pod *corev1.PodSpec, size *resource.Quantity) {
	c := &pod.Containers[0]
	vol := corev1.Volume{Name: "scratch", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}
	if size != nil {
		vol.EmptyDir.SizeLimit = ptr.To(size.DeepCopy())
		if _, ok := c.Resources.Requests[corev1.ResourceEphemeralStorage]; !ok {
			if c.Resources.Requests == nil {
				c.Resources.Requests = corev1.ResourceList{}
			}
			c.Resources.Requests[corev1.ResourceEphemeralStorage] = size.DeepCopy()
		}
	}
	pod.Volumes = append(pod.Volumes, vol)
	c.VolumeMounts = append(c.VolumeMounts, corev1.VolumeMount{Name: "scratch", MountPath: scratchPath})
	c.Env = append(c.Env, corev1.EnvVar{Name: "TMPDIR", Value: scratchPath})
}

func addSecretEnv(c *corev1.Container, ref *indexbuildv1alpha1.SecretReference) {
	if ref == nil {
		return
	}
	c.EnvFrom = append(c.EnvFrom, corev1.EnvFromSource{
		SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: ref.Name}},
	})
}

// addFileStoreVolume mounts a file:// store into the pod at the URI's path:
// the named PersistentVolumeClaim, or else the allowed root that holds the
// path (hostPath) with the path below it as the mount's subPath. The
// kubelet resolves a subPath inside its volume and refuses one that a
// symlink leads out of, so a symlink a pod planted under the root cannot
// hand the next build /etc; a hostPath of the store's own path would
// follow it. checkFileStores allowed the path before any Job was made. It
// reports whether it added a hostPath.
func addFileStoreVolume(pod *corev1.PodSpec, name, uri string, claim *indexbuildv1alpha1.PersistentVolumeClaimReference, roots []string, readOnly bool) bool {
	storePath, ok, err := fileroots.Path(uri)
	if !ok || err != nil {
		// checkFileStores fails such a build before any Job exists.
		return false
	}
	vol := corev1.Volume{Name: name}
	mount := corev1.VolumeMount{Name: name, MountPath: storePath, ReadOnly: readOnly}
	if claim != nil {
		vol.PersistentVolumeClaim = &corev1.PersistentVolumeClaimVolumeSource{ClaimName: claim.ClaimName, ReadOnly: readOnly}
	} else {
		root, sub, err := fileroots.Split(storePath, roots)
		if err != nil {
			return false // checkFileStores fails such a build before any Job exists
		}
		vol.HostPath = &corev1.HostPathVolumeSource{Path: root, Type: ptr.To(corev1.HostPathDirectoryOrCreate)}
		mount.SubPath = sub
	}
	pod.Volumes = append(pod.Volumes, vol)
	pod.Containers[0].VolumeMounts = append(pod.Containers[0].VolumeMounts, mount)
	return claim == nil
}
