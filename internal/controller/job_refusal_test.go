package controller

import (
	"slices"
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	indexbuildv1alpha1 "github.com/indexbuild/indexbuild/api/v1alpha1"
	"github.com/indexbuild/indexbuild/internal/testutil"
)

func TestSpecFieldsOf(t *testing.T) {
	for _, tc := range []struct {
		role, field, detail string
		want                []string
	}{
		{RoleBuild, "spec.template.spec.containers[0].resources.requests", "must be less than or equal to cpu limit of 1", []string{"spec.worker.resources"}},
		{RoleFinalize, "spec.template.spec.containers[0].resources.requests", "", []string{"spec.finalize.resources"}},
		{RoleBuild, "spec.template.spec.containers[0].resources.requests", "must be less than or equal to ephemeral-storage limit of 1Gi", []string{"spec.worker.resources", "spec.pod.scratchSize"}},
		{RoleBuild, "spec.template.metadata.labels", "", []string{"spec.pod.labels"}},
		{RoleBuild, "spec.template.spec.nodeSelector", "", []string{"spec.pod.nodeSelector"}},
		{RoleBuild, "spec.template.spec.containers[0].envFrom[0].secretRef.name", "", []string{"spec.source.secretRef, spec.output.secretRef"}},
		{RoleBuild, "spec.template.spec.containers[0].env[3].name", "", []string{"spec.pod.env"}},
		{RoleBuild, "spec.template.spec.containers[0].volumeMounts[2].mountPath", "must be unique", []string{"spec.source.uri, spec.output.uri (file:// stores are mounted at their paths, beside the scratch volume at /tmp)"}},
		{RoleBuild, "spec.template.spec.somethingNew", "", nil},
	} {
		if got := specFieldsOf(tc.role, tc.field, tc.detail); !slices.Equal(got, tc.want) {
			t.Errorf("specFieldsOf(%s, %s) = %q, want %q", tc.role, tc.field, got, tc.want)
		}
	}
}

// The API's refusals of a child Job: an invalid one ends the build quoting
// the API and naming the spec field; one that can heal is shown and
// retried (regression: both left the build Pending forever, without a
// word).
var _ = Describe("Child Jobs the API refuses", func() {
	var ns string

	BeforeEach(func() {
		ns = newNamespace("ib-refused-").Name
	})

	requestsAboveLimits := corev1.ResourceRequirements{
		Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2")},
		Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1")},
	}

	expectFailedInvalid := func(ib *indexbuildv1alpha1.IndexBuild, job, field string) {
		expectReadyReason(ib, indexbuildv1alpha1.PhaseFailed, ReasonJobInvalid, timeout, "Job "+job, "must be less than or equal to cpu limit", field)
		expectEvent(ns, ib.Name, corev1.EventTypeWarning, ReasonJobInvalid)
		expectQuiet(ib)
	}

	It("ends the build JobInvalid when the build Job is invalid (worker requests above limits)", func() {
		ib := testutil.MakeIndexBuild("greedy", ns).WorkerResources(requestsAboveLimits).Obj()
		Expect(k8sClient.Create(ctx, ib)).To(Succeed())
		expectFailedInvalid(ib, "greedy-1-build", "spec.worker.resources")
	})

	It("ends the build JobInvalid when the finalize Job is invalid, after every partition built", func() {
		ib := testutil.MakeIndexBuild("late", ns).Partitions(1).FinalizeResources(requestsAboveLimits).Obj()
		Expect(k8sClient.Create(ctx, ib)).To(Succeed())
		updateJobStatus(waitForJob(ns, "late-1-build"), testutil.JobSucceeded)
		expectFailedInvalid(ib, "late-1-finalize", "spec.finalize.resources")
	})

	It("shows a quota's refusal while it lasts, and builds once the quota allows", func() {
		quota := &corev1.ResourceQuota{
			ObjectMeta: metav1.ObjectMeta{Name: "no-jobs", Namespace: ns},
			Spec:       corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{"count/jobs.batch": resource.MustParse("0")}},
		}
		Expect(k8sClient.Create(ctx, quota)).To(Succeed())
		// envtest runs no quota controller: write the status it would.
		quota.Status = corev1.ResourceQuotaStatus{Hard: quota.Spec.Hard, Used: corev1.ResourceList{"count/jobs.batch": resource.MustParse("0")}}
		Expect(k8sClient.Status().Update(ctx, quota)).To(Succeed())
		ib := testutil.MakeIndexBuild("capped", ns).Obj()
		Expect(k8sClient.Create(ctx, ib)).To(Succeed())
		expectReadyReason(ib, indexbuildv1alpha1.PhasePending, ReasonJobRefused, timeout, "capped-1-build", "exceeded quota")
		expectEvent(ns, "capped", corev1.EventTypeWarning, ReasonJobRefused)

		Expect(k8sClient.Delete(ctx, quota)).To(Succeed())
		waitForJob(ns, "capped-1-build")
		Eventually(func(g Gomega) {
			g.Expect(findCondition(getIndexBuild(g, ib), indexbuildv1alpha1.ConditionReady).Reason).To(Equal(ReasonBuilding))
		}, timeout, interval).Should(Succeed())
		Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: "capped-1-build"}, &batchv1.Job{})).To(Succeed())
	})

	It("shows an admission policy's refusal (as a webhook's) and builds once it is lifted", func() {
		policy := &admissionregistrationv1.ValidatingAdmissionPolicy{
			ObjectMeta: metav1.ObjectMeta{Name: ns + "-frozen"},
			Spec: admissionregistrationv1.ValidatingAdmissionPolicySpec{
				MatchConstraints: &admissionregistrationv1.MatchResources{ResourceRules: []admissionregistrationv1.NamedRuleWithOperations{{
					RuleWithOperations: admissionregistrationv1.RuleWithOperations{
						Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create},
						Rule:       admissionregistrationv1.Rule{APIGroups: []string{"batch"}, APIVersions: []string{"v1"}, Resources: []string{"jobs"}},
					},
				}}},
				Validations: []admissionregistrationv1.Validation{{
					Expression: "false", Message: "Jobs are frozen during the migration", Reason: ptr.To(metav1.StatusReasonForbidden),
				}},
			},
		}
		Expect(k8sClient.Create(ctx, policy)).To(Succeed())
		DeferCleanup(func() { Expect(client.IgnoreNotFound(k8sClient.Delete(ctx, policy))).To(Succeed()) })
		binding := &admissionregistrationv1.ValidatingAdmissionPolicyBinding{
			ObjectMeta: metav1.ObjectMeta{Name: ns + "-frozen"},
			Spec: admissionregistrationv1.ValidatingAdmissionPolicyBindingSpec{
				PolicyName:        policy.Name,
				ValidationActions: []admissionregistrationv1.ValidationAction{admissionregistrationv1.Deny},
				MatchResources: &admissionregistrationv1.MatchResources{NamespaceSelector: &metav1.LabelSelector{
					MatchLabels: map[string]string{corev1.LabelMetadataName: ns},
				}},
			},
		}
		Expect(k8sClient.Create(ctx, binding)).To(Succeed())
		DeferCleanup(func() { Expect(client.IgnoreNotFound(k8sClient.Delete(ctx, binding))).To(Succeed()) })
		By("waiting until the API server enforces the policy")
		Eventually(func() bool {
			probe := &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: "probe", Namespace: ns}, Spec: newBuildJob(testutil.MakeIndexBuild("probe", ns).Obj(), podDefaults{image: "busybox"}).Spec}
			return apierrors.IsForbidden(k8sClient.Create(ctx, probe, client.DryRunAll))
		}, timeout, interval).Should(BeTrue())

		ib := testutil.MakeIndexBuild("frozen", ns).Obj()
		Expect(k8sClient.Create(ctx, ib)).To(Succeed())
		Eventually(func(g Gomega) {
			ready := findCondition(getIndexBuild(g, ib), indexbuildv1alpha1.ConditionReady)
			g.Expect(ready.Reason).To(Equal(ReasonJobRefused))
			g.Expect(ready.Message).To(ContainSubstring("Jobs are frozen during the migration"))
		}, timeout, interval).Should(Succeed())

		Expect(k8sClient.Delete(ctx, binding)).To(Succeed())
		waitForJob(ns, "frozen-1-build")
	})
})
