package controller

import (
	"errors"
	"strings"
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	indexbuildv1alpha1 "github.com/indexbuild/indexbuild/api/v1alpha1"
	"github.com/indexbuild/indexbuild/internal/testutil"
)

func TestCheckFileStores(t *testing.T) {
	roots := []string{"/var/lib/indexbuild"}
	for _, tc := range []struct {
		name    string
		ib      *indexbuildv1alpha1.IndexBuild
		roots   []string
		wantErr string
	}{
		{name: "object stores need no root", ib: testutil.MakeIndexBuild("a", "ns").Obj()},
		{name: "hostPath under a root", roots: roots, ib: testutil.MakeIndexBuild("a", "ns").
			SourceURI("file:///var/lib/indexbuild/t").OutputURI("file:///var/lib/indexbuild/o").Obj()},
		{name: "output outside the roots", roots: roots, wantErr: "spec.output.uri file:///etc/x",
			ib: testutil.MakeIndexBuild("a", "ns").OutputURI("file:///etc/x").Obj()},
		{name: "climbing out with ..", roots: roots, wantErr: "/etc is outside",
			ib: testutil.MakeIndexBuild("a", "ns").SourceURI("file:///var/lib/indexbuild/../../../etc").Obj()},
		{name: "no roots by default", wantErr: "--file-store-roots=none",
			ib: testutil.MakeIndexBuild("a", "ns").OutputURI("file:///var/lib/indexbuild/o").Obj()},
		{name: "a claim needs no root", ib: testutil.MakeIndexBuild("a", "ns").
			SourceURI("file:///etc").SourceClaim("tables").OutputURI("file:///out").OutputClaim("indexes").Obj()},
		{name: "a host is refused", roots: []string{"/"}, wantErr: "names host",
			ib: testutil.MakeIndexBuild("a", "ns").OutputURI("file://etc/x").OutputClaim("indexes").Obj()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := checkFileStores(tc.ib, tc.roots)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("checkFileStores: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("checkFileStores = %v, want an error containing %q", err, tc.wantErr)
			}
			var refused *fileStoreError
			if !errors.As(err, &refused) {
				t.Errorf("error is not a fileStoreError: %v", err)
			}
		})
	}
}

var _ = Describe("file:// stores outside the allowed roots", func() {
	It("fail the build before any pod exists, naming the manager flag", func() {
		n := newNamespace("ib-roots-")
		ib := testutil.MakeIndexBuild("etc", n.Name).OutputURI("file:///etc/indexbuild-test").Obj()
		Expect(k8sClient.Create(ctx, ib)).To(Succeed())

		Eventually(func(g Gomega) {
			got := getIndexBuild(g, ib)
			g.Expect(got.Status.Phase).To(Equal(indexbuildv1alpha1.PhaseFailed))
			ready := findCondition(got, indexbuildv1alpha1.ConditionReady)
			g.Expect(ready.Reason).To(Equal(ReasonFileStoreNotAllowed))
			g.Expect(got.Status.Progress).To(Equal("0/4"), "the PARTITIONS column of a build that never started")
			g.Expect(ready.Message).To(SatisfyAll(ContainSubstring("spec.output.uri file:///etc/indexbuild-test"), ContainSubstring(FileStoreRootsFlag)))
		}, timeout, interval).Should(Succeed())
		expectEvent(n.Name, "etc", corev1.EventTypeWarning, ReasonFileStoreNotAllowed)
		expectQuiet(ib)
		var jobs batchv1.JobList
		Expect(k8sClient.List(ctx, &jobs, client.InNamespace(n.Name))).To(Succeed())
		Expect(jobs.Items).To(BeEmpty())
	})

	It("get no cleanup pod either when deleted with deletionPolicy Delete", func() {
		n := newNamespace("ib-roots-")
		ib := testutil.MakeIndexBuild("wipe-etc", n.Name).OutputURI("file:///etc/indexbuild-test").
			DeletionPolicy(indexbuildv1alpha1.DeletionPolicyDelete).Obj()
		Expect(k8sClient.Create(ctx, ib)).To(Succeed())
		Eventually(func(g Gomega) {
			got := getIndexBuild(g, ib)
			g.Expect(got.Status.Phase).To(Equal(indexbuildv1alpha1.PhaseFailed))
			g.Expect(got.Finalizers).To(ContainElement(FinalizerOutputCleanup))
		}, timeout, interval).Should(Succeed())

		Expect(k8sClient.Delete(ctx, ib)).To(Succeed())
		Eventually(func(g Gomega) {
			stalled := findCondition(getIndexBuild(g, ib), indexbuildv1alpha1.ConditionStalled)
			g.Expect(stalled.Reason).To(Equal(ReasonOutputCleanupFailed))
			g.Expect(stalled.Message).To(SatisfyAll(ContainSubstring(FileStoreRootsFlag), ContainSubstring("deletionPolicy to Retain")))
		}, timeout, interval).Should(Succeed())
		var jobs batchv1.JobList
		Expect(k8sClient.List(ctx, &jobs, client.InNamespace(n.Name))).To(Succeed())
		Expect(jobs.Items).To(BeEmpty())

		By("letting it go once the policy is Retain")
		patchSpec(ib, func(ib *indexbuildv1alpha1.IndexBuild) {
			ib.Spec.Output.DeletionPolicy = indexbuildv1alpha1.DeletionPolicyRetain
		})
		Eventually(func() bool {
			return apierrors.IsNotFound(k8sClient.Get(ctx, client.ObjectKeyFromObject(ib), &indexbuildv1alpha1.IndexBuild{}))
		}, timeout, interval).Should(BeTrue())
	})
})
