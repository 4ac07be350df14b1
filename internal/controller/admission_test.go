package controller

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	kstatus "github.com/fluxcd/cli-utils/pkg/kstatus/status"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/yaml"

	indexbuildv1alpha1 "github.com/indexbuild/indexbuild/api/v1alpha1"
	"github.com/indexbuild/indexbuild/internal/testutil"
)

// Admission is the CRD's own OpenAPI and CEL validation, run by the real
// apiserver: invalid manifests never reach the controller.
var _ = Describe("IndexBuild admission", func() {
	var ns string

	BeforeEach(func() {
		n := newNamespace("ib-admission-")
		ns = n.Name
	})

	files, err := filepath.Glob(filepath.Join("..", "..", "test", "testdata", "invalid", "*.yaml"))
	if err != nil || len(files) < 8 {
		panic("expected at least 8 invalid manifests under test/testdata/invalid")
	}
	for _, file := range files {
		It("rejects "+filepath.Base(file)+" naming the field", func() {
			obj, expect := readManifest(file)
			obj.SetNamespace(ns)
			err := k8sClient.Create(ctx, obj, client.DryRunAll)
			Expect(err).To(HaveOccurred(), "the apiserver accepted %s", file)
			Expect(err.Error()).To(ContainSubstring(expect))
		})
	}

	It("accepts every sample with kubectl apply --dry-run=server", func() {
		kubectl, err := exec.LookPath("kubectl")
		Expect(err).NotTo(HaveOccurred(), "kubectl is needed for this test")
		user, err := testEnv.AddUser(envtest.User{Name: "admin", Groups: []string{"system:masters"}}, cfg)
		Expect(err).NotTo(HaveOccurred())
		kubeconfig, err := user.KubeConfig()
		Expect(err).NotTo(HaveOccurred())
		path := filepath.Join(GinkgoT().TempDir(), "kubeconfig")
		Expect(os.WriteFile(path, kubeconfig, 0o600)).To(Succeed())

		samples, err := filepath.Glob(filepath.Join("..", "..", "config", "samples", "indexbuild_*.yaml"))
		Expect(err).NotTo(HaveOccurred())
		Expect(samples).NotTo(BeEmpty())
		for _, sample := range samples {
			out, err := exec.Command(kubectl, "--kubeconfig", path, "apply", "--dry-run=server", "-n", ns, "-f", sample).CombinedOutput()
			Expect(err).NotTo(HaveOccurred(), "%s: %s", sample, out)
			Expect(string(out)).To(ContainSubstring("(server dry run)"))
		}
	})

	It("shows a new IndexBuild as InProgress to kstatus before the operator wrote status", func() {
		// Dry run: the object as the apiserver stores and serves it, with
		// defaults, and no controller has touched it.
		obj, err := runtime.DefaultUnstructuredConverter.ToUnstructured(testutil.MakeIndexBuild("fresh", ns).Obj())
		Expect(err).NotTo(HaveOccurred())
		u := &unstructured.Unstructured{Object: obj}
		Expect(k8sClient.Create(ctx, u, client.DryRunAll)).To(Succeed())
		Expect(u.Object["status"]).To(HaveKeyWithValue("observedGeneration", BeNumerically("==", 0)))
		res, err := kstatus.Compute(u)
		Expect(err).NotTo(HaveOccurred())
		Expect(res.Status).To(Equal(kstatus.InProgressStatus))
	})

	It("allows every build input but the IDs (claims and Secrets included) to change only together with jobID", func() {
		ib := testutil.MakeIndexBuild("immutable", ns).Suspend(true).SourceSecret("source-creds").Obj()
		Expect(k8sClient.Create(ctx, ib)).To(Succeed())
		claims := testutil.MakeIndexBuild("claims", ns).Suspend(true).SourceURI("file:///data/t").SourceClaim("tables").
			OutputURI("file:///data/i").OutputClaim("indexes").Obj()
		Expect(k8sClient.Create(ctx, claims)).To(Succeed())
		ranged := testutil.MakeIndexBuild("ranged", ns).Suspend(true).MergeRanges(4).Obj()
		Expect(k8sClient.Create(ctx, ranged)).To(Succeed())
		for _, tc := range []struct {
			field string
			edit  func(*indexbuildv1alpha1.IndexBuild)
			on    *indexbuildv1alpha1.IndexBuild
		}{
			// Claims and Secrets are inputs too: a new claim is another
			// volume, a new Secret can point the same URI at another store.
			{"spec.source.secretRef", func(ib *indexbuildv1alpha1.IndexBuild) {
				ib.Spec.Source.SecretRef = &indexbuildv1alpha1.SecretReference{Name: "other-creds"}
			}, ib},
			{"spec.source.secretRef", func(ib *indexbuildv1alpha1.IndexBuild) { ib.Spec.Source.SecretRef = nil }, ib},
			{"spec.output.secretRef", func(ib *indexbuildv1alpha1.IndexBuild) {
				ib.Spec.Output.SecretRef = &indexbuildv1alpha1.SecretReference{Name: "borrowed"}
			}, ib},
			{"spec.source.persistentVolumeClaim", func(ib *indexbuildv1alpha1.IndexBuild) {
				ib.Spec.Source.PersistentVolumeClaim.ClaimName = "tables-v2"
			}, claims},
			{"spec.output.persistentVolumeClaim", func(ib *indexbuildv1alpha1.IndexBuild) {
				ib.Spec.Output.PersistentVolumeClaim.ClaimName = "indexes-v2"
			}, claims},
			{"spec.output.persistentVolumeClaim", func(ib *indexbuildv1alpha1.IndexBuild) {
				ib.Spec.Output.PersistentVolumeClaim = nil
			}, claims},
			{"spec.partitions", func(ib *indexbuildv1alpha1.IndexBuild) { ib.Spec.Partitions = 8 }, ib},
			{"spec.output.uri", func(ib *indexbuildv1alpha1.IndexBuild) { ib.Spec.Output.URI = "s3://elsewhere/idx" }, ib},
			{"spec.source.uri", func(ib *indexbuildv1alpha1.IndexBuild) { ib.Spec.Source.URI = "s3://tables/books-v2" }, ib},
			{"spec.source.format", func(ib *indexbuildv1alpha1.IndexBuild) { ib.Spec.Source.Format = "csv" }, ib},
			{"spec.builder", func(ib *indexbuildv1alpha1.IndexBuild) {
				ib.Spec.Builder = &indexbuildv1alpha1.BuilderSpec{Image: "example.com/builder:2"}
			}, ib},
			// The key ranges are the committed layout: a merge Job, once
			// made, is never made again with others.
			{"spec.merge.ranges", func(ib *indexbuildv1alpha1.IndexBuild) { ib.Spec.Merge.Ranges = ptr.To[int32](8) }, ranged},
			{"spec.merge.ranges", func(ib *indexbuildv1alpha1.IndexBuild) { ib.Spec.Merge = nil }, ranged},
			{"spec.merge.ranges", func(ib *indexbuildv1alpha1.IndexBuild) {
				ib.Spec.Merge = &indexbuildv1alpha1.MergeSpec{Ranges: ptr.To[int32](2)}
			}, ib},
		} {
			// Eventually: the controller's status writes may bump the
			// resourceVersion between Get and Update.
			Eventually(func(g Gomega) {
				got := &indexbuildv1alpha1.IndexBuild{}
				g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(tc.on), got)).To(Succeed())
				tc.edit(got)
				err := k8sClient.Update(ctx, got, client.DryRunAll)
				g.Expect(err).To(HaveOccurred())
				g.Expect(err.Error()).To(ContainSubstring(tc.field + " can only change together with spec.jobID: change spec.jobID to start a new task"))
				got.Spec.JobID++
				g.Expect(k8sClient.Update(ctx, got, client.DryRunAll)).To(Succeed())
			}, timeout, interval).Should(Succeed())
		}

		By("leaving the merge's pod settings free, as the workers'")
		Eventually(func(g Gomega) {
			got := &indexbuildv1alpha1.IndexBuild{}
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(ranged), got)).To(Succeed())
			got.Spec.Merge.Parallelism = ptr.To[int32](2)
			got.Spec.Merge.Resources = &corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1")}}
			g.Expect(k8sClient.Update(ctx, got, client.DryRunAll)).To(Succeed())
		}, timeout, interval).Should(Succeed())
	})
})

var _ = Describe("IndexBuild names", func() {
	It("builds under the longest name admission allows, with Job names and labels in their limits", func() {
		n := newNamespace("ib-names-")
		name := strings.Repeat("n", 63)
		ib := testutil.MakeIndexBuild(name, n.Name).JobID(1234567890123).Obj()
		Expect(k8sClient.Create(ctx, ib)).To(Succeed())
		Eventually(func(g Gomega) {
			var jobs batchv1.JobList
			g.Expect(k8sClient.List(ctx, &jobs, client.InNamespace(n.Name), client.MatchingLabels{LabelBuildName: name})).To(Succeed())
			g.Expect(jobs.Items).To(HaveLen(1))
			g.Expect(len(jobs.Items[0].Name)).To(BeNumerically("<=", maxJobNameLength))
			g.Expect(getIndexBuild(g, ib).Status.Phase).To(Equal(indexbuildv1alpha1.PhaseBuilding))
		}, timeout, interval).Should(Succeed())
	})
})

// readManifest reads a test manifest and the message its first line
// promises ("# expect: ...").
func readManifest(path string) (*unstructured.Unstructured, string) {
	raw, err := os.ReadFile(path)
	Expect(err).NotTo(HaveOccurred())
	first, _, _ := bufio.NewReader(strings.NewReader(string(raw))).ReadLine()
	expect, ok := strings.CutPrefix(string(first), "# expect: ")
	Expect(ok).To(BeTrue(), "%s must start with '# expect: <message>'", path)
	obj := &unstructured.Unstructured{}
	Expect(yaml.Unmarshal(raw, &obj.Object)).To(Succeed())
	return obj, expect
}
