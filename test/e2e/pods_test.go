//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	ibv1 "github.com/indexbuild/indexbuild/api/v1alpha1"
	"github.com/indexbuild/indexbuild/internal/controller"
)

// volumeRoot holds the hostPath directories behind the specs' PersistentVolumes.
const volumeRoot = "/var/lib/indexbuild/volumes"

// kubectl runs kubectl against the local cluster and returns its combined output.
func kubectl(ctx context.Context, stdin string, args ...string) (string, error) {
	all := append([]string{"--kubeconfig", filepath.Join(repoRoot, ".dev", "cluster", "kubeconfig")}, args...)
	cmd := exec.CommandContext(ctx, "kubectl", all...)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// restrictedNamespace is a namespace that enforces the restricted Pod
// Security level.
func restrictedNamespace(ctx context.Context, env *testEnv) {
	ns := &corev1.Namespace{}
	Expect(k.Get(ctx, client.ObjectKey{Name: env.ns}, ns)).To(Succeed())
	ns.Labels["pod-security.kubernetes.io/enforce"] = "restricted"
	Expect(k.Update(ctx, ns)).To(Succeed())
}

// expectReasonShown waits up to 60 s for kubectl get ib to show reason for
// the named build, and logs how long it took.
func (e *testEnv) expectReasonShown(ctx context.Context, name, reason string) {
	GinkgoHelper()
	By("kubectl get ib shows " + reason + " within 60 s")
	start := time.Now()
	Eventually(func(g Gomega) {
		out, err := kubectl(ctx, "", "-n", e.ns, "get", "ib", name)
		g.Expect(err).NotTo(HaveOccurred(), out)
		g.Expect(out).To(ContainSubstring(reason))
	}).WithContext(ctx).WithTimeout(60 * time.Second).WithPolling(time.Second).Should(Succeed())
	GinkgoWriter.Printf("%s shown after %s\n", reason, time.Since(start).Round(time.Second))
}

// claimDir is the node directory behind claim name of namespace ns: the
// root of the claim's hostPath volume, mounted at the store URI's path.
func claimDir(ns, name string) string { return filepath.Join(volumeRoot, ns+"-"+name) }

// claim makes a hostPath PersistentVolume on the node (StorageClass
// indexbuild-hostpath of hack/dev-cluster.sh), owned by the pods' user, and
// a claim bound to it; it returns the volume's node directory.
func claim(ctx context.Context, env *testEnv, name string) string {
	dir := claimDir(env.ns, name)
	Expect(os.MkdirAll(dir, 0o755)).To(Succeed())
	Expect(os.Chown(dir, 65532, 65532)).To(Succeed())
	pv := &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: env.ns + "-" + name},
		Spec: corev1.PersistentVolumeSpec{
			StorageClassName:              "indexbuild-hostpath",
			Capacity:                      corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")},
			AccessModes:                   []corev1.PersistentVolumeAccessMode{corev1.ReadWriteMany},
			PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimRetain,
			PersistentVolumeSource:        corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: dir}},
			ClaimRef:                      &corev1.ObjectReference{Namespace: env.ns, Name: name},
		},
	}
	Expect(k.Create(ctx, pv)).To(Succeed())
	DeferCleanup(func(ctx SpecContext) {
		Expect(client.IgnoreNotFound(k.Delete(ctx, pv))).To(Succeed())
		Expect(os.RemoveAll(dir)).To(Succeed())
	})
	pvc := &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: env.ns},
		Spec: corev1.PersistentVolumeClaimSpec{
			StorageClassName: ptr.To("indexbuild-hostpath"),
			AccessModes:      []corev1.PersistentVolumeAccessMode{corev1.ReadWriteMany},
			VolumeName:       pv.Name,
			Resources:        corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}},
		},
	}
	Expect(k.Create(ctx, pvc)).To(Succeed())
	return dir
}

func (e *testEnv) get(ctx context.Context, name string) *ibv1.IndexBuild {
	b := &ibv1.IndexBuild{}
	Expect(k.Get(ctx, client.ObjectKey{Namespace: e.ns, Name: name}, b)).To(Succeed())
	return b
}

// twoPartitions is an index build of element 1 of the spec's books table
// into out, in two partitions, on the node's store (hostPath).
func (e *testEnv) twoPartitions(name string) *ibv1.IndexBuild {
	return &ibv1.IndexBuild{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: e.ns},
		Spec: ibv1.IndexBuildSpec{
			JobID: 1, SchemaID: schemaID, TableID: tableID, ElementType: "index", ElementIDs: []int64{1}, Partitions: 2,
			Source: ibv1.SourceSpec{URI: e.uri("books"), Format: "jsonl"},
			Output: ibv1.OutputSpec{URI: e.uri("out")},
		},
	}
}

var _ = Describe("Pods that real clusters accept", func() {
	It("builds on a claim-backed file:// store in a namespace that enforces restricted Pod Security", func(ctx SpecContext) {
		env := newTestEnv(ctx)
		restrictedNamespace(ctx, env)
		tables := claim(ctx, env, "tables")
		indexes := claim(ctx, env, "indexes")
		const rows = 2000
		runIB("gen-table", "--rows", fmt.Sprint(rows), "--files", "2", "--out", "file://"+tables)

		b := &ibv1.IndexBuild{
			ObjectMeta: metav1.ObjectMeta{Name: "restricted", Namespace: env.ns},
			Spec: ibv1.IndexBuildSpec{
				JobID: 1, SchemaID: schemaID, TableID: tableID, ElementType: "index", ElementIDs: []int64{1, 2}, Partitions: 2,
				// Each claim's root is mounted at its URI's path.
				Source: ibv1.SourceSpec{URI: "file:///stores/tables/books", Format: "jsonl",
					PersistentVolumeClaim: &ibv1.PersistentVolumeClaimReference{ClaimName: "tables"}},
				Output: ibv1.OutputSpec{URI: "file:///stores/indexes/books",
					PersistentVolumeClaim: &ibv1.PersistentVolumeClaimReference{ClaimName: "indexes"}},
				Pod: &ibv1.PodSettings{ScratchSize: ptr.To(resource.MustParse("256Mi"))},
			},
		}
		Expect(k.Create(ctx, b)).To(Succeed())
		got := env.waitEnded(ctx, b.Name)
		expectSucceeded(got, rows)
		Expect(filepath.Join(indexes, "versions", "1", "metadata.json")).To(BeAnExistingFile())
		for _, p := range env.pods(ctx, b.Name, controller.RoleBuild) {
			Expect(ptr.Deref(p.Spec.SecurityContext.RunAsNonRoot, false)).To(BeTrue())
			Expect(ptr.Deref(p.Spec.AutomountServiceAccountToken, true)).To(BeFalse())
		}
	}, SpecTimeout(6*time.Minute))

	It("shows the API's refusal of the pods in kubectl get ib (the Job controller's FailedCreate Events)", func(ctx SpecContext) {
		env := newTestEnv(ctx)
		env.genTable("books", 100, 1)
		restrictedNamespace(ctx, env)
		// The node's file:// store is a hostPath, which restricted Pod
		// Security refuses.
		b := env.twoPartitions("refused")
		Expect(k.Create(ctx, b)).To(Succeed())
		env.expectReasonShown(ctx, b.Name, controller.ReasonPodCreateFailed)
		got := env.get(ctx, b.Name)
		Expect(got.Status.Phase).To(Equal(ibv1.PhaseBuilding), describe(got))
		Expect(condition(got, ibv1.ConditionReady).Message).To(And(ContainSubstring("violates PodSecurity"), ContainSubstring("hostPath")))
	}, SpecTimeout(3*time.Minute))

	It("shows an image that cannot be pulled in kubectl get ib, then ends DeadlineExceeded", func(ctx SpecContext) {
		env := newTestEnv(ctx)
		env.genTable("books", 100, 1)
		b := env.twoPartitions("nopull")
		b.Spec.Builder = &ibv1.BuilderSpec{Image: "registry.invalid/indexbuild/nope:1"}
		b.Spec.ActiveDeadlineSeconds = ptr.To[int64](90)
		Expect(k.Create(ctx, b)).To(Succeed())
		env.expectReasonShown(ctx, b.Name, controller.ReasonImagePullFailed)
		ready := condition(env.get(ctx, b.Name), ibv1.ConditionReady)
		Expect(ready.Message).To(ContainSubstring("registry.invalid/indexbuild/nope:1"))

		By("the deadline ends the build")
		got := env.waitEnded(ctx, b.Name)
		Expect(got.Status.Phase).To(Equal(ibv1.PhaseFailed), describe(got))
		Expect(condition(got, ibv1.ConditionReady).Reason).To(Equal(controller.ReasonDeadlineExceeded))
		Eventually(func() []corev1.Pod {
			return env.pods(ctx, b.Name, controller.RoleBuild)
		}).WithContext(ctx).WithTimeout(time.Minute).Should(BeEmpty())
	}, SpecTimeout(5*time.Minute))

	It("does not let a namespace edit user write outside the allowed roots", func(ctx SpecContext) {
		env := newTestEnv(ctx)
		Expect(k.Create(ctx, &rbacv1.RoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: "alice-edit", Namespace: env.ns},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "edit"},
			Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: "User", Name: "alice"}},
		})).To(Succeed())
		target := "/etc/indexbuild-e2e-" + env.ns
		DeferCleanup(func() { _ = os.RemoveAll(target) })
		for name, uri := range map[string]string{
			"etc":   "file://" + target,
			"climb": "file:///var/lib/indexbuild/../../.." + target,
		} {
			manifest := fmt.Sprintf(`apiVersion: indexbuild.dev/v1alpha1
kind: IndexBuild
metadata: {name: %s}
spec:
  jobID: 1
  schemaID: 1
  tableID: 100
  elementType: index
  elementIDs: [1]
  source: {uri: "%s"}
  output: {uri: "%s"}
`, name, env.uri("books"), uri)
			out, err := kubectl(ctx, manifest, "--as=alice", "-n", env.ns, "apply", "-f", "-")
			Expect(err).NotTo(HaveOccurred(), out)
			got := env.waitEnded(ctx, name)
			Expect(got.Status.Phase).To(Equal(ibv1.PhaseFailed), describe(got))
			ready := condition(got, ibv1.ConditionReady)
			Expect(ready.Reason).To(Equal(controller.ReasonFileStoreNotAllowed))
			Expect(ready.Message).To(ContainSubstring(controller.FileStoreRootsFlag))
			Expect(env.jobs(ctx, name, controller.RoleBuild)).To(BeEmpty())
		}
		Consistently(func() bool {
			_, err := os.Stat(target)
			return os.IsNotExist(err)
		}).WithContext(ctx).WithTimeout(5*time.Second).Should(BeTrue(), "%s appeared on the node", target)
	}, SpecTimeout(3*time.Minute))

	It("gives workers the requests, limits, node selector and service account asked for", func(ctx SpecContext) {
		env := newTestEnv(ctx)
		env.genTable("books", 500, 1)
		Expect(k.Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "indexer", Namespace: env.ns}})).To(Succeed())
		var nodes corev1.NodeList
		Expect(k.List(ctx, &nodes)).To(Succeed())
		Expect(nodes.Items).NotTo(BeEmpty())
		hostname := nodes.Items[0].Labels[corev1.LabelHostname]
		resources := corev1.ResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("50m"), corev1.ResourceMemory: resource.MustParse("64Mi")},
			Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1"), corev1.ResourceMemory: resource.MustParse("512Mi")},
		}
		b := env.twoPartitions("settings")
		b.Spec.Pod = &ibv1.PodSettings{
			ServiceAccountName: "indexer",
			NodeSelector:       map[string]string{corev1.LabelHostname: hostname},
			Labels:             map[string]string{"team": "search"},
		}
		b.Spec.Worker = &ibv1.WorkerSpec{Resources: resources}
		b.Spec.TTLSecondsAfterFinished = ptr.To[int32](3600)
		Expect(k.Create(ctx, b)).To(Succeed())
		got := env.waitEnded(ctx, b.Name)
		Expect(got.Status.Phase).To(Equal(ibv1.PhaseSucceeded), describe(got))
		pods := env.pods(ctx, b.Name, controller.RoleBuild)
		Expect(pods).NotTo(BeEmpty())
		for _, p := range pods {
			Expect(p.Spec.ServiceAccountName).To(Equal("indexer"))
			Expect(p.Spec.NodeSelector).To(HaveKeyWithValue(corev1.LabelHostname, hostname))
			Expect(p.Spec.NodeName).To(Equal(nodes.Items[0].Name))
			Expect(p.Labels).To(HaveKeyWithValue("team", "search"))
			c := p.Spec.Containers[0]
			Expect(c.Resources.Requests.Cpu().String()).To(Equal("50m"))
			Expect(c.Resources.Requests.Memory().String()).To(Equal("64Mi"))
			Expect(c.Resources.Limits.Cpu().String()).To(Equal("1"))
			Expect(c.Resources.Limits.Memory().String()).To(Equal("512Mi"))
		}
	}, SpecTimeout(5*time.Minute))
})
