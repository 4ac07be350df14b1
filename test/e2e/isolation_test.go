//go:build e2e

package e2e

import (
	"os"
	"path/filepath"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	ibv1 "github.com/indexbuild/indexbuild/api/v1alpha1"
	"github.com/indexbuild/indexbuild/internal/controller"
)

// A pod of a build on a hostPath store runs as root and can plant symlinks
// under the allowed root. The operator mounts the root itself and reaches
// the store through subPath, which the kubelet resolves inside the root:
// a symlink cannot hand a later build a node path outside it.
var _ = Describe("hostPath stores and symlinks", func() {
	It("writes nothing outside the root through a symlink to /", func(ctx SpecContext) {
		env := newTestEnv(ctx)
		env.genTable("books", 100, 1)
		// What a build's pod could have done: ln -s / <root>/.../esc.
		Expect(os.Symlink("/", env.path("esc"))).To(Succeed())
		outside := filepath.Join("/var/tmp", "indexbuild-escape-"+env.ns)
		DeferCleanup(func() { _ = os.RemoveAll(outside) })
		// Cleaned, the URI is under the root: only the node's symlink
		// leads out of it.
		b := env.create(ctx, buildSpec{name: "escape", table: "books", elementType: "index", elementIDs: []int64{1}, partitions: 1,
			outputURI: "file://" + env.path("esc") + outside})

		By("the kubelet refuses the subPath that leads out: the pod never starts")
		env.expectReasonShown(ctx, b.Name, controller.ReasonContainerCreateFailed)
		got := env.get(ctx, b.Name)
		Expect(got.Status.Phase).To(Equal(ibv1.PhaseBuilding), describe(got))
		Expect(condition(got, ibv1.ConditionReady).Message).To(ContainSubstring("subPath"), describe(got))
		Consistently(func() error {
			_, err := os.Lstat(outside)
			return err
		}).WithContext(ctx).WithTimeout(10*time.Second).WithPolling(time.Second).Should(MatchError(os.ErrNotExist),
			"the node path %s outside the root was created", outside)
	}, SpecTimeout(3*time.Minute))

	It("reaches a sibling store through a symlink only as that store's owner allows: OutputInUse, nothing written", func(ctx SpecContext) {
		env := newTestEnv(ctx)
		env.genTable("books", 100, 1)
		env.create(ctx, buildSpec{name: "victim", table: "books", output: "victim", elementType: "index", elementIDs: []int64{1}, partitions: 1})
		expectSucceeded(env.waitEnded(ctx, "victim"), 100)
		before := treeDigest(env.path("victim"))

		// Inside the root, a symlink to a sibling store is no escape (the
		// URI of the store itself is allowed too); ownership guards it.
		Expect(os.Symlink(env.path("victim"), env.path("link"))).To(Succeed())
		env.create(ctx, buildSpec{name: "intruder", table: "books", elementType: "index", elementIDs: []int64{1}, partitions: 1,
			outputURI: env.uri("link")})
		got := env.waitEnded(ctx, "intruder")
		Expect(got.Status.Phase).To(Equal(ibv1.PhaseFailed), describe(got))
		Expect(condition(got, ibv1.ConditionStalled).Reason).To(Equal(controller.ReasonOutputInUse), describe(got))
		Expect(treeDigest(env.path("victim"))).To(Equal(before), "the build behind the symlink wrote into the sibling store")
	}, SpecTimeout(5*time.Minute))
})
