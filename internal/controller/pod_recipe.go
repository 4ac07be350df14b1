package controller

import (
	"net/url"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"

	indexbuildv1alpha1 "github.com/indexbuild/indexbuild/api/v1alpha1"
)

// Container names in worker and finalize pods.
const (
	containerWorker   = "worker"
	containerFinalize = "finalize"
	containerCleanup  = "cleanup"
)

// podRecipe is the pod every child Job runs: one container with the builder
// image and the data-plane arguments, store credentials as environment and
// file:// stores mounted where their URIs point.
func podRecipe(ib *indexbuildv1alpha1.IndexBuild, container, image string, args []string) corev1.PodSpec {
	var command []string
	if ib.Spec.Builder != nil {
		if ib.Spec.Builder.Image != "" {
			image = ib.Spec.Builder.Image
		}
		command = ib.Spec.Builder.Command
	}
	pod := corev1.PodSpec{
		RestartPolicy: corev1.RestartPolicyNever,
		Containers: []corev1.Container{{
			Name:                     container,
			Image:                    image,
			ImagePullPolicy:          corev1.PullIfNotPresent,
			Command:                  command,
			Args:                     args,
			TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError,
		}},
	}
	addSecretEnv(&pod.Containers[0], ib.Spec.Source.SecretRef)
	addSecretEnv(&pod.Containers[0], ib.Spec.Output.SecretRef)
	addFileStoreVolume(&pod, "source", ib.Spec.Source.URI, true)
	addFileStoreVolume(&pod, "output", ib.Spec.Output.URI, false)
	return pod
}

func addSecretEnv(c *corev1.Container, ref *indexbuildv1alpha1.SecretReference) {
	if ref == nil {
		return
	}
	c.EnvFrom = append(c.EnvFrom, corev1.EnvFromSource{
		SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: ref.Name}},
	})
}

// addFileStoreVolume mounts a file:// store into the pod at the same path
// from the node (hostPath): on a single-node cluster, or with the path on
// shared storage on every node, workers and finalize then see one store.
func addFileStoreVolume(pod *corev1.PodSpec, name, uri string, readOnly bool) {
	u, err := url.Parse(uri)
	if err != nil || u.Scheme != "file" || u.Path == "" {
		return
	}
	pod.Volumes = append(pod.Volumes, corev1.Volume{
		Name: name,
		VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{
			Path: u.Path,
			Type: ptr.To(corev1.HostPathDirectoryOrCreate),
		}},
	})
	pod.Containers[0].VolumeMounts = append(pod.Containers[0].VolumeMounts, corev1.VolumeMount{
		Name: name, MountPath: u.Path, ReadOnly: readOnly,
	})
}
