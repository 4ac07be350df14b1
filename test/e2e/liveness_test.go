//go:build e2e

package e2e

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	ibv1 "github.com/indexbuild/indexbuild/api/v1alpha1"
	"github.com/indexbuild/indexbuild/internal/controller"
)

// Every state a build can wait in says why in kubectl get ib, and every
// wait ends (regressions: each of these waited forever without a word).
var _ = Describe("Nothing waits unseen", func() {
	It("shows a build Job the API refuses (worker requests above limits) in kubectl get ib within 30 s, and ends it", func(ctx SpecContext) {
		env := newTestEnv(ctx)
		env.genTable("books", 100, 1)
		b := env.twoPartitions("greedy")
		b.Spec.Worker = &ibv1.WorkerSpec{Resources: corev1.ResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("2Gi")},
			Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("1Gi")},
		}}
		Expect(k.Create(ctx, b)).To(Succeed())
		start := time.Now()
		Eventually(func(g Gomega) {
			out, err := kubectl(ctx, "", "-n", env.ns, "get", "ib", b.Name)
			g.Expect(err).NotTo(HaveOccurred(), out)
			g.Expect(out).To(SatisfyAll(ContainSubstring("Failed"), ContainSubstring(controller.ReasonJobInvalid)))
		}).WithContext(ctx).WithTimeout(30 * time.Second).WithPolling(time.Second).Should(Succeed())
		GinkgoWriter.Printf("%s shown after %s\n", controller.ReasonJobInvalid, time.Since(start).Round(time.Second))
		msg := condition(env.get(ctx, b.Name), ibv1.ConditionReady).Message
		Expect(msg).To(SatisfyAll(ContainSubstring("must be less than or equal to memory limit"), ContainSubstring("spec.worker.resources")))
	}, SpecTimeout(2*time.Minute))

	It("builds an IndexBuild whose name has a dot (books.v2)", func(ctx SpecContext) {
		env := newTestEnv(ctx)
		env.genTable("books", 100, 1)
		Expect(k.Create(ctx, env.twoPartitions("books.v2"))).To(Succeed())
		expectSucceeded(env.waitEnded(ctx, "books.v2"), 100)
	}, SpecTimeout(4*time.Minute))

	It("lets kubectl delete ns end within 2 minutes with a deletionPolicy Delete build running in it", func(ctx SpecContext) {
		env := newTestEnv(ctx)
		env.genTable("books", 100, 1)
		b := env.twoPartitions("doomed")
		b.Spec.Output.DeletionPolicy = ibv1.DeletionPolicyDelete
		Expect(k.Create(ctx, b)).To(Succeed())
		Eventually(func() []corev1.Pod {
			return env.pods(ctx, b.Name, controller.RoleBuild)
		}).WithContext(ctx).WithTimeout(time.Minute).ShouldNot(BeEmpty())

		env.deleteNamespace(ctx)
	}, SpecTimeout(4*time.Minute))
})
