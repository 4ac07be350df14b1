//go:build e2e

package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/yaml"

	ibv1 "github.com/indexbuild/indexbuild/api/v1alpha1"
	"github.com/indexbuild/indexbuild/internal/controller"
)

// GitOps for real: Flux's kustomize-controller applies the sample IndexBuild
// from a source it watches, waits for its health (kstatus), and prunes it,
// while the specs "push commits" to that source. The README's GitOps
// section walks through the same steps.
var _ = Describe("Flux drives an IndexBuild", Ordered, func() {
	const (
		buildName = "books-index" // the sample's name
		ksName    = "indexes"
		rows      = 20000
	)
	var (
		kc     *kustomizeController
		env    *testEnv
		source *manifestSource
		ksKey  client.ObjectKey
		ibKey  client.ObjectKey
	)

	// manifests is one commit of the source: the sample IndexBuild with its
	// store URIs in the spec's directory (when withBuild) and a ConfigMap
	// that stays, so the source never becomes empty.
	manifests := func(jobID int64, elementIDs []int64, withBuild bool) map[string]string {
		files := map[string]string{"notes.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: index-notes}\ndata: {owner: search-team}\n"}
		if withBuild {
			files["books-index.yaml"] = sampleIndexBuild(jobID, elementIDs, env.uri("books"), env.uri("books-index"))
		}
		return files
	}

	BeforeAll(func(ctx SpecContext) {
		// Started first, so it is stopped last: the namespace's deletion
		// needs it to finalize the Kustomization.
		kc = startKustomizeController(ctx)
		env = newTestEnv(ctx)
		env.genTable("books", rows, 4)
		source = newManifestSource(ctx, env.ns, "indexes-source")
		ksKey = client.ObjectKey{Namespace: env.ns, Name: ksName}
		ibKey = client.ObjectKey{Namespace: env.ns, Name: buildName}
	}, NodeTimeout(15*time.Minute))

	It("applies the sample IndexBuild and turns Ready only after the build has Succeeded", func(ctx SpecContext) {
		revision := source.push(ctx, manifests(1, []int64{1, 2}, true))
		ks := &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": kustomizationGVK.GroupVersion().String(), "kind": kustomizationGVK.Kind,
			"metadata": map[string]any{"name": ksName, "namespace": env.ns},
			"spec": map[string]any{
				"interval": "10m", "retryInterval": "20s", "timeout": "5m",
				"sourceRef": map[string]any{"kind": externalArtifactGVK.Kind, "name": "indexes-source"},
				"path":      "./", "prune": true, "wait": true, "targetNamespace": env.ns,
			},
		}}
		Expect(k.Create(ctx, ks)).To(Succeed())

		// Each sample reads the Kustomization first, then the IndexBuild: a
		// Ready Kustomization followed by a build not yet Succeeded would
		// prove Flux called it healthy too early (the phase of one task
		// only moves forward).
		type sample struct {
			ksReady bool
			phase   ibv1.Phase // "" until the IndexBuild exists
		}
		var samples []sample
		var b *ibv1.IndexBuild
		Eventually(func(g Gomega) {
			ready, applied := kustomizationReady(kustomization(ctx, ksKey))
			s := sample{ksReady: ready != nil && ready.Status == metav1.ConditionTrue && applied == revision}
			b = &ibv1.IndexBuild{}
			if err := k.Get(ctx, ibKey, b); err == nil {
				s.phase = b.Status.Phase
			} else {
				g.Expect(apierrors.IsNotFound(err)).To(BeTrue(), "%v", err)
			}
			samples = append(samples, s)
			g.Expect(s.ksReady).To(BeTrue(), "Kustomization not Ready yet: %+v", ready)
		}).WithContext(ctx).WithTimeout(5 * time.Minute).WithPolling(200 * time.Millisecond).Should(Succeed())

		for _, s := range samples {
			Expect(!s.ksReady || s.phase == ibv1.PhaseSucceeded).To(BeTrue(), "Kustomization Ready while the build was %q", s.phase)
		}
		Expect(slices.ContainsFunc(samples, func(s sample) bool {
			return !s.ksReady && s.phase != "" && s.phase != ibv1.PhaseSucceeded
		})).To(BeTrue(), "never saw Flux waiting on a running build: %v", samples)
		expectSucceeded(b, rows)
		ksReady, _ := kustomizationReady(kustomization(ctx, ksKey))
		Expect(ksReady.LastTransitionTime.Before(&condition(b, ibv1.ConditionReady).LastTransitionTime)).To(BeFalse(),
			"Kustomization Ready at %s, before the IndexBuild at %s", ksReady.LastTransitionTime, condition(b, ibv1.ConditionReady).LastTransitionTime)
		Expect(b.Labels).To(HaveKeyWithValue("kustomize.toolkit.fluxcd.io/name", ksName), "applied by Flux")
	}, SpecTimeout(6*time.Minute))

	It("finds no drift: Flux's server-side dry-run of the same revision leaves the IndexBuild unchanged", func(ctx SpecContext) {
		before := &ibv1.IndexBuild{}
		Expect(k.Get(ctx, ibKey, before)).To(Succeed())
		Expect(controllerutil.ContainsFinalizer(before, controller.FinalizerOutputCleanup)).To(BeTrue(),
			"deletionPolicy Delete: the operator's finalizer is on the object Flux compares")
		offset := kc.logSize()

		By("asking Flux to reconcile the same revision again")
		token := time.Now().UTC().Format(time.RFC3339Nano)
		ks := kustomization(ctx, ksKey)
		patch := client.MergeFrom(ks.DeepCopy())
		annotations := ks.GetAnnotations()
		if annotations == nil {
			annotations = map[string]string{}
		}
		annotations["reconcile.fluxcd.io/requestedAt"] = token
		ks.SetAnnotations(annotations)
		Expect(k.Patch(ctx, ks, patch)).To(Succeed())
		Eventually(func(g Gomega) {
			ks := kustomization(ctx, ksKey)
			handled, _, _ := unstructured.NestedString(ks.Object, "status", "lastHandledReconcileAt")
			g.Expect(handled).To(Equal(token))
			ready, _ := kustomizationReady(ks)
			g.Expect(ready).NotTo(BeNil())
			g.Expect(ready.Status).To(Equal(metav1.ConditionTrue))
		}).WithContext(ctx).WithTimeout(2 * time.Minute).WithPolling(time.Second).Should(Succeed())

		reports := kc.appliedSince(offset, env.ns, ksName)
		Expect(reports).NotTo(BeEmpty(), "no server-side apply logged in %s", kc.log)
		object := fmt.Sprintf("IndexBuild/%s/%s", env.ns, buildName)
		Expect(reports[len(reports)-1]).To(HaveKeyWithValue(object, "unchanged"))
		after := &ibv1.IndexBuild{}
		Expect(k.Get(ctx, ibKey, after)).To(Succeed())
		Expect(after.Generation).To(Equal(before.Generation))
	}, SpecTimeout(3*time.Minute))

	It("fails fast on an elementIDs edit under the same jobID: StaleMeta, the Kustomization not Ready, no new worker pod", func(ctx SpecContext) {
		workersBefore := podNames(env.pods(ctx, buildName, controller.RoleBuild))
		Expect(workersBefore).NotTo(BeEmpty())
		revision := source.push(ctx, manifests(1, []int64{1, 2, 3}, true))
		pushed := time.Now()

		var ready *metav1.Condition
		Eventually(func(g Gomega) {
			ks := kustomization(ctx, ksKey)
			var attempted string
			ready, _ = kustomizationReady(ks)
			attempted, _, _ = unstructured.NestedString(ks.Object, "status", "lastAttemptedRevision")
			g.Expect(attempted).To(Equal(revision))
			g.Expect(ready).NotTo(BeNil())
			g.Expect(ready.Status).To(Equal(metav1.ConditionFalse))
		}).WithContext(ctx).WithTimeout(2 * time.Minute).WithPolling(200 * time.Millisecond).Should(Succeed())
		latency := time.Since(pushed)
		AddReportEntry("Kustomization not Ready after the stale push", latency.Round(100*time.Millisecond).String())
		GinkgoWriter.Printf("Kustomization turned not Ready %s after the push (its timeout is 5m)\n", latency)

		By("Flux stopped waiting because the build failed, not because its timeout ran out")
		Expect(ready.Reason).To(Equal("HealthCheckFailed"))
		Expect(ready.Message).To(SatisfyAll(
			ContainSubstring("failed early due to stalled resources"),
			ContainSubstring(fmt.Sprintf("IndexBuild/%s/%s status: 'Failed'", env.ns, buildName))))
		b := &ibv1.IndexBuild{}
		Expect(k.Get(ctx, ibKey, b)).To(Succeed())
		Expect(b.Status.Phase).To(Equal(ibv1.PhaseFailed), describe(b))
		Expect(condition(b, ibv1.ConditionStaleMeta).Status).To(Equal(metav1.ConditionTrue), describe(b))
		Expect(condition(b, ibv1.ConditionStalled).Reason).To(Equal("StaleMeta"), describe(b))
		Expect(condition(b, ibv1.ConditionStalled).Message).To(ContainSubstring("elementIDs"))
		Consistently(func(g Gomega) {
			g.Expect(podNames(env.pods(ctx, buildName, controller.RoleBuild))).To(ConsistOf(workersBefore), "a worker pod started for the stale spec")
			g.Expect(k.Get(ctx, ibKey, b)).To(Succeed())
			g.Expect(b.Status.Phase).To(Equal(ibv1.PhaseFailed), "the stale build is retried")
		}).WithContext(ctx).WithTimeout(10 * time.Second).WithPolling(time.Second).Should(Succeed())
	}, SpecTimeout(3*time.Minute))

	It("rebuilds on the same output after a jobID bump and turns Ready again", func(ctx SpecContext) {
		revision := source.push(ctx, manifests(2, []int64{1, 2, 3}, true))
		Eventually(func(g Gomega) {
			ready, applied := kustomizationReady(kustomization(ctx, ksKey))
			g.Expect(applied).To(Equal(revision))
			g.Expect(ready).NotTo(BeNil())
			g.Expect(ready.Status).To(Equal(metav1.ConditionTrue))
		}).WithContext(ctx).WithTimeout(5 * time.Minute).WithPolling(time.Second).Should(Succeed())
		b := &ibv1.IndexBuild{}
		Expect(k.Get(ctx, ibKey, b)).To(Succeed())
		expectSucceeded(b, rows)
		Expect(b.Spec.Output.URI).To(Equal(env.uri("books-index")))
		Expect(b.Status.Commit.Version).To(Equal("versions/2/"))
		runIB("verify", "--output="+b.Spec.Output.URI)
	}, SpecTimeout(6*time.Minute))

	It("prunes: removing the manifest from the source deletes the IndexBuild, its Jobs and (deletionPolicy Delete) its output", func(ctx SpecContext) {
		revision := source.push(ctx, manifests(2, nil, false))
		Eventually(func(g Gomega) {
			g.Expect(apierrors.IsNotFound(k.Get(ctx, ibKey, &ibv1.IndexBuild{}))).To(BeTrue(), "IndexBuild still there")
			for _, role := range []string{controller.RoleBuild, controller.RoleFinalize, controller.RoleCleanup} {
				g.Expect(env.jobs(ctx, buildName, role)).To(BeEmpty(), "%s Jobs still there", role)
			}
			_, applied := kustomizationReady(kustomization(ctx, ksKey))
			g.Expect(applied).To(Equal(revision))
		}).WithContext(ctx).WithTimeout(4 * time.Minute).WithPolling(time.Second).Should(Succeed())
		_, err := os.Stat(filepath.Join(env.path("books-index"), "versions"))
		Expect(os.IsNotExist(err)).To(BeTrue(), "the output's versions are still there: %v", err)
	}, SpecTimeout(5*time.Minute))
})

// sampleIndexBuild is config/samples/indexbuild_v1alpha1_index.yaml as a
// user would commit it: with this spec's store URIs, task and deletion
// policy, and no namespace (the Kustomization's targetNamespace sets it).
func sampleIndexBuild(jobID int64, elementIDs []int64, sourceURI, outputURI string) string {
	raw, err := os.ReadFile(filepath.Join(repoRoot, "config", "samples", "indexbuild_v1alpha1_index.yaml"))
	Expect(err).NotTo(HaveOccurred())
	var obj map[string]any
	Expect(yaml.Unmarshal(raw, &obj)).To(Succeed())
	spec := obj["spec"].(map[string]any)
	spec["jobID"] = jobID
	spec["elementIDs"] = elementIDs
	spec["source"].(map[string]any)["uri"] = sourceURI
	spec["output"].(map[string]any)["uri"] = outputURI
	spec["output"].(map[string]any)["deletionPolicy"] = string(ibv1.DeletionPolicyDelete)
	out, err := yaml.Marshal(obj)
	Expect(err).NotTo(HaveOccurred())
	return string(out)
}
