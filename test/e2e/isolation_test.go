//go:build e2e

package e2e

import (
	"context"
	"os"
	"path/filepath"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

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

		// The pods that never started end Failed with the Job controller's
		// tracking finalizer, which it never takes off in a namespace being
		// deleted (pods go first there); the operator deletes their Job so
		// that it does.
		By("kubectl delete ns mid-build")
		env.deleteNamespace(ctx)
	}, SpecTimeout(4*time.Minute))

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

// The local cluster's operator allows every image, command, service account
// and Secret (hack/dev-cluster.sh). These specs give it the defaults of a
// real cluster for their run and act as a user who holds only the
// IndexBuild editor role in the namespace.
var _ = Describe("admin policy for an IndexBuild editor", Ordered, Serial, func() {
	BeforeAll(func(ctx SpecContext) {
		setManagerEnv(ctx, "INDEXBUILD_ALLOWED_BUILDER_IMAGES=", "INDEXBUILD_ALLOW_BUILDER_COMMAND=false",
			"INDEXBUILD_ALLOWED_SERVICE_ACCOUNTS=indexer", "INDEXBUILD_SECRET_OPT_IN_LABEL="+controller.DefaultSecretOptInLabel)
		DeferCleanup(func(ctx SpecContext) {
			setManagerEnv(ctx, "INDEXBUILD_ALLOWED_BUILDER_IMAGES=*", "INDEXBUILD_ALLOW_BUILDER_COMMAND=true",
				"INDEXBUILD_ALLOWED_SERVICE_ACCOUNTS=*", "INDEXBUILD_SECRET_OPT_IN_LABEL=")
		}, NodeTimeout(4*time.Minute))
	}, NodeTimeout(4*time.Minute))

	It("refuses a disallowed image, service account and a Secret that has not opted in: Failed, PolicyDenied, no pod", func(ctx SpecContext) {
		env := newTestEnv(ctx)
		env.genTable("books", 100, 1)
		editor := editorClient(ctx, env)
		By("the editor cannot read the namespace's Secrets itself")
		Expect(k.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "admin-creds", Namespace: env.ns},
			StringData: map[string]string{"AWS_SECRET_ACCESS_KEY": "not for editors"}})).To(Succeed())
		Expect(apierrors.IsForbidden(editor.Get(ctx, client.ObjectKey{Namespace: env.ns, Name: "admin-creds"}, &corev1.Secret{}))).To(BeTrue())

		for _, tc := range []struct {
			name, field string
			edit        func(*ibv1.IndexBuild)
		}{
			{"image", "spec.builder.image", func(b *ibv1.IndexBuild) { b.Spec.Builder = &ibv1.BuilderSpec{Image: "docker.io/library/busybox:1.37"} }},
			{"account", "spec.pod.serviceAccountName", func(b *ibv1.IndexBuild) { b.Spec.Pod = &ibv1.PodSettings{ServiceAccountName: "default"} }},
			{"secret", "spec.output.secretRef.name", func(b *ibv1.IndexBuild) { b.Spec.Output.SecretRef = &ibv1.SecretReference{Name: "admin-creds"} }},
		} {
			By("an IndexBuild that chooses a disallowed " + tc.name)
			b := env.twoPartitions(tc.name)
			tc.edit(b)
			Expect(editor.Create(ctx, b)).To(Succeed())
			got := env.waitEnded(ctx, tc.name)
			Expect(got.Status.Phase).To(Equal(ibv1.PhaseFailed), describe(got))
			ready := condition(got, ibv1.ConditionReady)
			Expect(ready.Reason).To(Equal(controller.ReasonPolicyDenied), describe(got))
			Expect(ready.Message).To(ContainSubstring(tc.field), describe(got))
			Expect(env.pods(ctx, tc.name, controller.RoleBuild)).To(BeEmpty())
			Expect(env.jobs(ctx, tc.name, controller.RoleBuild)).To(BeEmpty())
		}
	}, SpecTimeout(5*time.Minute))
})

// setManagerEnv sets the operator's environment and waits for it to roll out.
func setManagerEnv(ctx context.Context, vars ...string) {
	GinkgoHelper()
	args := append([]string{"-n", "indexbuild-system", "set", "env", "deployment/indexbuild-controller-manager"}, vars...)
	out, err := kubectl(ctx, "", args...)
	Expect(err).NotTo(HaveOccurred(), out)
	out, err = kubectl(ctx, "", "-n", "indexbuild-system", "rollout", "status", "deployment/indexbuild-controller-manager", "--timeout=180s")
	Expect(err).NotTo(HaveOccurred(), out)
}

// editorClient acts as a user who holds only the chart's IndexBuild editor
// role (make deploy: indexbuild-indexbuild-editor-role) in env's namespace.
func editorClient(ctx context.Context, env *testEnv) client.Client {
	GinkgoHelper()
	const user = "e2e-indexbuild-editor"
	Expect(k.Create(ctx, &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "indexbuild-editor", Namespace: env.ns},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "indexbuild-indexbuild-editor-role"},
		Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: user}},
	})).To(Succeed())
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig())
	Expect(err).NotTo(HaveOccurred())
	cfg.Impersonate = rest.ImpersonationConfig{UserName: user}
	c, err := client.New(cfg, client.Options{Scheme: k.Scheme()})
	Expect(err).NotTo(HaveOccurred())
	return c
}
