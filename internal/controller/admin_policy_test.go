package controller

import (
	"slices"
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	indexbuildv1alpha1 "github.com/indexbuild/indexbuild/api/v1alpha1"
	"github.com/indexbuild/indexbuild/internal/testutil"
)

func TestMatchesAny(t *testing.T) {
	patterns := []string{"registry.example.com/indexbuild/*", "docker.io/library/busybox:1.37"}
	for _, tc := range []struct {
		value    string
		patterns []string
		want     bool
	}{
		{"registry.example.com/indexbuild/worker:v2", patterns, true},
		{"registry.example.com/indexbuild-evil/worker:v2", patterns, false},
		{"docker.io/library/busybox:1.37", patterns, true},
		{"docker.io/library/busybox:latest", patterns, false},
		{"anything/at:all", []string{AllowAny}, true},
		{"anything", nil, false},
	} {
		if got := matchesAny(tc.value, tc.patterns); got != tc.want {
			t.Errorf("matchesAny(%q, %q) = %v, want %v", tc.value, tc.patterns, got, tc.want)
		}
	}
}

// Every choice that reaches a role's pods is judged, and only those.
func TestPolicyChoices(t *testing.T) {
	ib := testutil.MakeIndexBuild("b", "ns").Builder("example.com/b:1", "/bin/sh", "-c").
		SourceSecret("src").OutputSecret("out").Pod(indexbuildv1alpha1.PodSettings{
		ServiceAccountName: "indexer",
		Env: []corev1.EnvVar{{Name: "PLAIN", Value: "x"}, {Name: "TOKEN", ValueFrom: &corev1.EnvVarSource{
			SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "tok"}, Key: "t"},
		}}},
	}).Obj()
	fields := func(role string) []string {
		var got []string
		for _, c := range policyChoices(ib, role) {
			got = append(got, c.field+"="+c.value)
		}
		return got
	}
	// A Secret volume is judged for the roles that mount it.
	mounted := userVolumesBuild("v", "ns")
	for role, want := range map[string]bool{RoleBuild: false, RoleFinalize: true, RoleCleanup: true} {
		var got bool
		for _, c := range policyChoices(mounted, role) {
			got = got || c.field == "spec.pod.volumes[1].secret.secretName" && c.value == "signing-keys"
		}
		if got != want {
			t.Errorf("%s: the Secret volume judged %v, want %v", role, got, want)
		}
	}
	all := []string{"spec.builder.image=example.com/b:1", "spec.builder.command=/bin/sh -c", "spec.pod.serviceAccountName=indexer",
		"spec.source.secretRef.name=src", "spec.output.secretRef.name=out", "spec.pod.env[1].valueFrom.secretKeyRef.name=tok"}
	for _, role := range []string{RoleBuild, RoleFinalize} {
		if got := fields(role); !slices.Equal(got, all) {
			t.Errorf("%s: choices %q, want %q", role, got, all)
		}
	}
	if got := fields(RoleCleanup); slices.Contains(got, "spec.source.secretRef.name=src") || len(got) != len(all)-1 {
		t.Errorf("cleanup: choices %q, want all but the source's Secret", got)
	}
	if got := policyChoices(testutil.MakeIndexBuild("plain", "ns").Obj(), RoleBuild); len(got) != 0 {
		t.Errorf("a build that chooses nothing is judged on %+v", got)
	}
}

// The suite's manager runs with suitePolicy. A refused build ends Failed
// with PolicyDenied naming the field, its value and the rule (the manager
// flag), and no Job, hence no pod, exists.
var _ = Describe("Admin policy", func() {
	var ns string
	BeforeEach(func() { ns = newNamespace("ib-policy-").Name })

	expectDenied := func(ib *indexbuildv1alpha1.IndexBuild, words ...string) {
		GinkgoHelper()
		expectReadyReason(ib, indexbuildv1alpha1.PhaseFailed, ReasonPolicyDenied, timeout, words...)
		expectEvent(ns, ib.Name, corev1.EventTypeWarning, ReasonPolicyDenied)
		var jobs batchv1.JobList
		Expect(k8sClient.List(ctx, &jobs, client.InNamespace(ns))).To(Succeed())
		Expect(jobs.Items).To(BeEmpty())
	}

	It("refuses a builder image outside --allowed-builder-images", func() {
		ib := testutil.MakeIndexBuild("image", ns).Builder("evil.example.org/miner:1").Obj()
		Expect(k8sClient.Create(ctx, ib)).To(Succeed())
		expectDenied(ib, `spec.builder.image "evil.example.org/miner:1"`, AllowedBuilderImagesFlag+"=example.com/*,registry.invalid/*")
	})

	It("refuses builder.command without --allow-builder-command", func() {
		ib := testutil.MakeIndexBuild("command", ns).Builder("example.com/builder:1", "/bin/sh", "-c", "cat /var/run/secrets/*").Obj()
		Expect(k8sClient.Create(ctx, ib)).To(Succeed())
		expectDenied(ib, "spec.builder.command", AllowBuilderCommandFlag)
	})

	It("refuses a service account outside --allowed-service-accounts", func() {
		ib := testutil.MakeIndexBuild("account", ns).Pod(indexbuildv1alpha1.PodSettings{ServiceAccountName: "deployer"}).Obj()
		Expect(k8sClient.Create(ctx, ib)).To(Succeed())
		expectDenied(ib, `spec.pod.serviceAccountName "deployer"`, AllowedServiceAccountsFlag+"=indexer")
	})

	It("refuses a Secret that has not opted in, by secretRef or by an env secretKeyRef", func() {
		Expect(k8sClient.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "admin-creds", Namespace: ns}})).To(Succeed())
		byRef := testutil.MakeIndexBuild("by-ref", ns).OutputSecret("admin-creds").Obj()
		Expect(k8sClient.Create(ctx, byRef)).To(Succeed())
		expectDenied(byRef, `spec.output.secretRef.name "admin-creds"`, testSecretLabel+"=true", SecretOptInLabelFlag)

		byEnv := testutil.MakeIndexBuild("by-env", ns).Pod(indexbuildv1alpha1.PodSettings{Env: []corev1.EnvVar{{Name: "T", ValueFrom: &corev1.EnvVarSource{
			SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "admin-creds"}, Key: "token"},
		}}}}).Obj()
		Expect(k8sClient.Create(ctx, byEnv)).To(Succeed())
		expectDenied(byEnv, `spec.pod.env[0].valueFrom.secretKeyRef.name "admin-creds"`)

		byEnvFrom := testutil.MakeIndexBuild("by-env-from", ns).Pod(indexbuildv1alpha1.PodSettings{EnvFrom: []corev1.EnvFromSource{
			{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "admin-creds"}}},
		}}).Obj()
		Expect(k8sClient.Create(ctx, byEnvFrom)).To(Succeed())
		expectDenied(byEnvFrom, `spec.pod.envFrom[0].secretRef.name "admin-creds"`)

		byVolume := testutil.MakeIndexBuild("by-volume", ns).Pod(indexbuildv1alpha1.PodSettings{Volumes: []indexbuildv1alpha1.PodVolume{
			{Name: "k", Secret: &corev1.SecretVolumeSource{SecretName: "admin-creds"}},
		}}).WorkerVolumeMounts(corev1.VolumeMount{Name: "k", MountPath: "/k"}).Obj()
		Expect(k8sClient.Create(ctx, byVolume)).To(Succeed())
		expectDenied(byVolume, `spec.pod.volumes[0].secret.secretName "admin-creds"`)
	})

	It("builds with what the policy allows: an allowed image and account, an opted-in Secret", func() {
		optedInSecret(ns, "store-creds")
		ib := testutil.MakeIndexBuild("allowed", ns).Builder("example.com/builder:1").SourceSecret("store-creds").OutputSecret("store-creds").
			Pod(indexbuildv1alpha1.PodSettings{ServiceAccountName: "indexer"}).Obj()
		Expect(k8sClient.Create(ctx, ib)).To(Succeed())
		job := waitForJob(ns, "allowed-1-build")
		pod := job.Spec.Template.Spec
		Expect(pod.ServiceAccountName).To(Equal("indexer"))
		Expect(pod.Containers[0].Image).To(Equal("example.com/builder:1"))
	})

	It("waits for a Secret that does not exist yet, and builds once it exists and opted in", func() {
		ib := testutil.MakeIndexBuild("early", ns).OutputSecret("later-creds").Obj()
		Expect(k8sClient.Create(ctx, ib)).To(Succeed())
		expectReadyReason(ib, indexbuildv1alpha1.PhasePending, ReasonSecretNotFound, timeout, `spec.output.secretRef.name names Secret "later-creds"`)
		optedInSecret(ns, "later-creds")
		waitForJob(ns, "early-1-build")
	})

	It("lets a Delete build go with a Warning Event when the policy refuses its cleanup pod", func() {
		Expect(k8sClient.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "plain", Namespace: ns}})).To(Succeed())
		ib := testutil.MakeIndexBuild("gone", ns).DeletionPolicy(indexbuildv1alpha1.DeletionPolicyDelete).OutputSecret("plain").Obj()
		Expect(k8sClient.Create(ctx, ib)).To(Succeed())
		expectDenied(ib, "spec.output.secretRef.name")
		Eventually(func(g Gomega) {
			g.Expect(getIndexBuild(g, ib).Finalizers).To(ContainElement(FinalizerOutputCleanup))
		}, timeout, interval).Should(Succeed())
		Expect(k8sClient.Delete(ctx, ib)).To(Succeed())
		Eventually(func() bool {
			return apierrors.IsNotFound(k8sClient.Get(ctx, client.ObjectKeyFromObject(ib), &indexbuildv1alpha1.IndexBuild{}))
		}, timeout, interval).Should(BeTrue())
		expectEvent(ns, "gone", corev1.EventTypeWarning, ReasonOutputCleanupFailed)
		var jobs batchv1.JobList
		Expect(k8sClient.List(ctx, &jobs, client.InNamespace(ns))).To(Succeed())
		Expect(jobs.Items).To(BeEmpty())
	})
})
