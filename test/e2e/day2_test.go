//go:build e2e

package e2e

import (
	"strconv"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	ibv1 "github.com/indexbuild/indexbuild/api/v1alpha1"
	"github.com/indexbuild/indexbuild/internal/builder"
	"github.com/indexbuild/indexbuild/internal/controller"
	"github.com/indexbuild/indexbuild/internal/summary"
)

var _ = Describe("Day-2 operations", func() {
	It("restarts a build whose partition ran out of retries under the same jobID, re-running only that partition (maxRestarts: 1)", func(ctx SpecContext) {
		env := newTestEnv(ctx)
		env.genTable("books", 400, 4)
		b := env.twoPartitions("flaky")
		b.Spec.Partitions = 4
		b.Spec.BackoffLimitPerPartition = ptr.To[int32](1) // two attempts per Job
		b.Spec.FailurePolicy = &ibv1.FailurePolicy{MaxRestarts: 1}
		// Partition 2 fails its first two attempts: all those of the first Job.
		b.Spec.Pod = &ibv1.PodSettings{Env: []corev1.EnvVar{{Name: builder.FaultEnv, Value: "2:2"}}}
		Expect(k.Create(ctx, b)).To(Succeed())

		done := env.waitEnded(ctx, b.Name)
		expectSucceeded(done, 400)
		Expect(done.Spec.JobID).To(Equal(int64(1)))
		Expect(done.Status.Restarts).To(Equal(int32(1)), describe(done))
		Expect(done.Status.LastRestart).NotTo(BeNil())
		Expect(done.Status.LastRestart.Reason).To(Equal(controller.ReasonBackoffLimitExceeded))
		Expect(done.Status.LastRestart.Message).To(ContainSubstring(builder.FaultEnv))

		By("the restarted Job built partition 2 alone: the others' workers found them done")
		jobs := env.jobs(ctx, b.Name, controller.RoleBuild)
		Expect(jobs).To(HaveLen(1))
		var built []string
		for _, pod := range env.pods(ctx, b.Name, controller.RoleBuild) {
			if !metav1.IsControlledBy(&pod, &jobs[0]) || pod.Status.Phase != corev1.PodSucceeded {
				continue
			}
			s, err := summary.ParseWorker(pod.Status.ContainerStatuses[0].State.Terminated.Message)
			Expect(err).NotTo(HaveOccurred())
			if !s.AlreadyDone {
				built = append(built, strconv.Itoa(s.Partition))
			}
		}
		Expect(built).To(Equal([]string{"2"}))
		Expect(jobs[0].Status.Succeeded).To(Equal(int32(4)))
	}, SpecTimeout(6*time.Minute))

	It("mounts a CA bundle ConfigMap into the workers and finalize (spec.pod.volumes, volumeMounts)", func(ctx SpecContext) {
		env := newTestEnv(ctx)
		env.genTable("books", 100, 1)
		ca := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "store-ca", Namespace: env.ns}, Data: map[string]string{"ca.crt": "-----BEGIN CERTIFICATE-----\n"}}
		Expect(k.Create(ctx, ca)).To(Succeed())
		b := env.twoPartitions("ca")
		mount := corev1.VolumeMount{Name: "ca", MountPath: "/etc/ssl/store", ReadOnly: true}
		b.Spec.Pod = &ibv1.PodSettings{Volumes: []ibv1.PodVolume{{Name: "ca", ConfigMap: &corev1.ConfigMapVolumeSource{
			LocalObjectReference: corev1.LocalObjectReference{Name: "store-ca"}}}}}
		b.Spec.Worker = &ibv1.WorkerSpec{VolumeMounts: ibv1.VolumeMounts{mount}}
		b.Spec.Finalize = &ibv1.FinalizeSpec{VolumeMounts: ibv1.VolumeMounts{mount}}
		Expect(k.Create(ctx, b)).To(Succeed())
		expectSucceeded(env.waitEnded(ctx, b.Name), 100)
		for _, role := range []string{controller.RoleBuild, controller.RoleFinalize} {
			for _, job := range env.jobs(ctx, b.Name, role) {
				Expect(job.Spec.Template.Spec.Volumes).To(ContainElement(HaveField("Name", "ca")), role)
				Expect(job.Spec.Template.Spec.Containers[0].VolumeMounts).To(ContainElement(mount), role)
			}
		}
	}, SpecTimeout(4*time.Minute))
})
