package controller

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
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

	It("holds the Job controller's refused pod creations and no other Events", func() {
		n := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "ib-cache-events-"}}
		Expect(k8sClient.Create(ctx, n)).To(Succeed())
		// The Events name a Job; the cache does not need it to exist.
		job := &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: "refused", Namespace: n.Name, UID: types.UID(n.Name + "-job")}}
		event := func(name, kind, reason string) *corev1.Event {
			return &corev1.Event{
				ObjectMeta:     metav1.ObjectMeta{Name: name, Namespace: n.Name},
				InvolvedObject: corev1.ObjectReference{Kind: kind, APIVersion: "batch/v1", Namespace: n.Name, Name: job.Name, UID: job.UID},
				Reason:         reason, Message: "Error creating: forbidden", Type: corev1.EventTypeWarning,
				Source: corev1.EventSource{Component: "job-controller"}, FirstTimestamp: metav1.Now(), LastTimestamp: metav1.Now(), Count: 1,
			}
		}
		for _, e := range []*corev1.Event{
			event("refused", "Job", failedCreateReason),
			event("created", "Job", "SuccessfulCreate"),
			event("other-kind", "CronJob", failedCreateReason),
		} {
			Expect(k8sClient.Create(ctx, e)).To(Succeed())
		}
		var cached corev1.EventList
		Eventually(func(g Gomega) {
			g.Expect(cachedClient.List(ctx, &cached, client.InNamespace(n.Name), client.MatchingFields{eventObjectUIDKey: string(job.UID)})).To(Succeed())
			g.Expect(cached.Items).To(HaveLen(1))
		}, timeout, interval).Should(Succeed())
		Expect(cached.Items[0].Name).To(Equal("refused"))
		Expect(cached.Items[0].ManagedFields).To(BeEmpty())
		// Nothing else comes later.
		Consistently(func(g Gomega) {
			g.Expect(cachedClient.List(ctx, &cached, client.InNamespace(n.Name))).To(Succeed())
			g.Expect(cached.Items).To(HaveLen(1))
		}, time.Second, interval).Should(Succeed())
	})

	It("holds the operator's pods that did not succeed, trimmed to their names, times and states", func() {
		n := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "ib-cache-pods-"}}
		Expect(k8sClient.Create(ctx, n)).To(Succeed())
		ib := testutil.MakeIndexBuild("pods", n.Name).Obj()
		Expect(k8sClient.Create(ctx, ib)).To(Succeed())
		build := waitForJob(n.Name, "pods-1-build")
		pod := testutil.MakeJobPod(build, "pods-1-build-0-abcde")
		Expect(k8sClient.Create(ctx, pod)).To(Succeed())
		unschedulableSince(time.Now())(pod)
		imagePullBackOff(pod)
		Expect(k8sClient.Status().Update(ctx, pod)).To(Succeed())
		foreign := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "foreign", Namespace: n.Name, Labels: map[string]string{batchv1.JobNameLabel: build.Name}},
			Spec:       *pod.Spec.DeepCopy(),
		}
		Expect(k8sClient.Create(ctx, foreign)).To(Succeed())

		var cached corev1.PodList
		Eventually(func(g Gomega) {
			g.Expect(cachedClient.List(ctx, &cached, client.InNamespace(n.Name), client.MatchingFields{podJobKey: build.Name})).To(Succeed())
			g.Expect(cached.Items).To(HaveLen(1), "only pods with the operator's labels are cached")
			g.Expect(cached.Items[0].Status.ContainerStatuses).To(HaveLen(1))
		}, timeout, interval).Should(Succeed())
		got := cached.Items[0]
		Expect(got.Name).To(Equal(pod.Name))
		Expect(got.Spec.Containers).To(BeEmpty(), "the pod spec is cached")
		Expect(got.ManagedFields).To(BeEmpty())
		Expect(got.Labels).To(HaveKeyWithValue(batchv1.JobNameLabel, build.Name))
		Expect(got.CreationTimestamp).To(Equal(pod.CreationTimestamp))
		Expect(got.Status.ContainerStatuses[0].State.Waiting.Reason).To(Equal("ImagePullBackOff"))
		Expect(got.Status.ContainerStatuses[0].Image).To(Equal("registry.invalid/nope:1"))
		Expect(podCondition(&got, corev1.PodScheduled).Reason).To(Equal(corev1.PodReasonUnschedulable))

		By("a pod that succeeded leaving the cache")
		testutil.PodTerminated(pod, 0, `{"rows":1}`)
		Expect(k8sClient.Status().Update(ctx, pod)).To(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(cachedClient.List(ctx, &cached, client.InNamespace(n.Name), client.MatchingFields{podJobKey: build.Name})).To(Succeed())
			g.Expect(cached.Items).To(BeEmpty())
		}, timeout, interval).Should(Succeed())
	})
})
