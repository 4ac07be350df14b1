package controller

import (
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	indexbuildv1alpha1 "github.com/indexbuild/indexbuild/api/v1alpha1"
	"github.com/indexbuild/indexbuild/internal/testutil"
)

var _ = Describe("The manager's cache", func() {
	It("keeps only what the controller reads of IndexBuilds and Jobs", func() {
		n := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "ib-cache-trim-"}}
		Expect(k8sClient.Create(ctx, n)).To(Succeed())
		ib := testutil.MakeIndexBuild("trimmed", n.Name).Obj()
		ib.Annotations = map[string]string{lastAppliedAnnotation: `{"kind":"IndexBuild"}`, "team": "search"}
		Expect(k8sClient.Create(ctx, ib)).To(Succeed())
		build := waitForJob(n.Name, "trimmed-1-build")

		// The API server has all of it.
		Expect(build.ManagedFields).NotTo(BeEmpty())
		Expect(build.Spec.Template.Spec.Containers).NotTo(BeEmpty())

		cachedJob := &batchv1.Job{}
		Eventually(func() error { return cachedClient.Get(ctx, client.ObjectKeyFromObject(build), cachedJob) }, timeout, interval).Should(Succeed())
		Expect(cachedJob.ManagedFields).To(BeEmpty())
		Expect(cachedJob.Spec.Template.Spec.Containers).To(BeEmpty(), "the pod template is cached")
		Expect(cachedJob.Spec.PodFailurePolicy).To(BeNil())
		// What the controller reads stays.
		Expect(cachedJob.Annotations).To(HaveKey(AnnotationTaskMeta))
		Expect(cachedJob.Labels).To(HaveKeyWithValue(LabelRole, RoleBuild))
		Expect(cachedJob.OwnerReferences).To(HaveLen(1))
		Expect(cachedJob.Spec.Completions).NotTo(BeNil())
		Expect(cachedJob.Spec.Suspend).NotTo(BeNil())

		cachedIB := &indexbuildv1alpha1.IndexBuild{}
		Expect(cachedClient.Get(ctx, client.ObjectKeyFromObject(ib), cachedIB)).To(Succeed())
		Expect(cachedIB.ManagedFields).To(BeEmpty())
		Expect(cachedIB.Annotations).NotTo(HaveKey(lastAppliedAnnotation))
		Expect(cachedIB.Annotations).To(HaveKeyWithValue("team", "search"))
		Expect(cachedIB.Spec.ElementIDs).To(Equal(ib.Spec.ElementIDs))

		// The build goes on from the trimmed copies: suspend is patched,
		// not the whole cached Job written back.
		patchSpec(ib, func(ib *indexbuildv1alpha1.IndexBuild) { ib.Spec.Suspend = true })
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(build), build)).To(Succeed())
			g.Expect(*build.Spec.Suspend).To(BeTrue())
		}, timeout, interval).Should(Succeed())
		Expect(build.Spec.Template.Spec.Containers).NotTo(BeEmpty())
	})
})
