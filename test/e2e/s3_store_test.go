//go:build e2e

package e2e

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"os/exec"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	ibv1 "github.com/indexbuild/indexbuild/api/v1alpha1"
	"github.com/indexbuild/indexbuild/internal/controller"
	"github.com/indexbuild/indexbuild/internal/storage"
	"github.com/indexbuild/indexbuild/internal/storage/storagetest"
)

// An S3-compatible store the pods reach over the network, as a cluster
// reaches MinIO or AWS: versitygw listening on the node's address on the
// pods' bridge, path-style, its endpoint in the URIs' query, credentials
// only in the Secret that spec.source.secretRef and spec.output.secretRef
// name (the operator passes it to the pods with envFrom).
var _ = Describe("IndexBuild on an S3-compatible store reached from the pods", func() {
	It("builds, rebuilds and deletes an index there with the Secret's credentials, which show in no status, Event, Job or operator log", func(ctx SpecContext) {
		env := newTestEnv(ctx)
		since := metav1.Now()
		access, secret := "e2e-"+randomHex(6), randomHex(20)
		out := storagetest.StartS3On(GinkgoTB(), nodeIP(ctx), access, secret)
		table := strings.Replace(out, "s3://test/out?", "s3://test/books?", 1)
		Expect(out).To(ContainSubstring("use_path_style=true"))
		runIB("gen-table", "--rows", "1000", "--files", "2", "--out", table)

		Expect(k.Create(ctx, &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: "s3-credentials", Namespace: env.ns},
			StringData: map[string]string{"AWS_ACCESS_KEY_ID": access, "AWS_SECRET_ACCESS_KEY": secret, "AWS_REGION": "us-east-1"},
		})).To(Succeed())
		b := env.create(ctx, buildSpec{name: "on-s3", elementType: "index", elementIDs: []int64{1}, partitions: 2,
			sourceURI: table, outputURI: out, secretRef: "s3-credentials", deletionPolicy: ibv1.DeletionPolicyDelete})
		b = env.waitEnded(ctx, "on-s3")
		expectSucceeded(b, 1000)
		runIB("verify", "--output="+out)
		years := readBooksFrom(table)
		Expect(query(out, 1, "--range", "2000", "2002")).To(Equal(handles(years, yearIn(2000, 2002))))

		By("bumping jobID: a rebuild in place, published as version 2")
		env.bumpJobID(ctx, "on-s3", func(b *ibv1.IndexBuild) { b.Spec.ElementIDs = []int64{1, 3} })
		b = env.waitEnded(ctx, "on-s3")
		expectSucceeded(b, 1000)
		Expect(b.Status.Commit.Version).To(Equal("versions/2/"))
		runIB("verify", "--output="+out)
		Expect(query(out, 1, "--range", "2000", "2002")).To(Equal(handles(years, yearIn(2000, 2002))))

		bucket, err := storage.Open(ctx, out)
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(bucket.Close)
		Expect(bucket.Write(ctx, "README.txt", strings.NewReader("not the operator's\n"))).To(Succeed())

		By("looking for the Secret's values in what the operator wrote so far")
		expectNotLeaked(ctx, env, since, nil, access, secret)

		By("deleting the IndexBuild: deletionPolicy Delete removes the output through a cleanup Job with the same Secret")
		Expect(k.Delete(ctx, b)).To(Succeed())
		var cleanupJobs []batchv1.Job
		Eventually(func() bool {
			var jobs batchv1.JobList
			if k.List(ctx, &jobs, client.InNamespace(env.ns)) == nil {
				cleanupJobs = append(cleanupJobs, jobs.Items...)
			}
			return apierrors.IsNotFound(k.Get(ctx, client.ObjectKeyFromObject(b), &ibv1.IndexBuild{}))
		}).WithContext(ctx).WithTimeout(3 * time.Minute).WithPolling(250 * time.Millisecond).Should(BeTrue())
		Expect(cleanupJobs).To(ContainElement(HaveField("ObjectMeta.Labels", HaveKeyWithValue(controller.LabelRole, controller.RoleCleanup))),
			"the cleanup Job was never seen")
		left, err := bucket.List(ctx, "")
		Expect(err).NotTo(HaveOccurred())
		Expect(left).To(HaveLen(1), "versions, pointer and owner record are gone; a stranger's object stays")
		Expect(left[0].Key).To(Equal("README.txt"))

		By("looking for the Secret's values in what the operator wrote, the cleanup Jobs included")
		expectNotLeaked(ctx, env, since, cleanupJobs, access, secret)
	}, SpecTimeout(10*time.Minute))
})

// expectNotLeaked fails if any value appears in the namespace's
// IndexBuilds (status included), Events or Jobs (and seen, Jobs seen
// earlier), or in the operator's log since the spec began.
func expectNotLeaked(ctx context.Context, env *testEnv, since metav1.Time, seen []batchv1.Job, values ...string) {
	var builds ibv1.IndexBuildList
	Expect(k.List(ctx, &builds, client.InNamespace(env.ns))).To(Succeed())
	var events corev1.EventList
	Expect(k.List(ctx, &events, client.InNamespace(env.ns))).To(Succeed())
	Expect(events.Items).NotTo(BeEmpty(), "the operator recorded no Event at all")
	var jobs batchv1.JobList
	Expect(k.List(ctx, &jobs, client.InNamespace(env.ns))).To(Succeed())
	jobs.Items = append(jobs.Items, seen...)
	Expect(jobs.Items).NotTo(BeEmpty(), "no Job to look into")
	pod := managerPod(ctx)
	logs, err := exec.CommandContext(ctx, "kubectl", "--kubeconfig", kubeconfig(), "logs", "-n", pod.Namespace, pod.Name,
		"--since-time", since.UTC().Format(time.RFC3339)).Output()
	Expect(err).NotTo(HaveOccurred())
	Expect(string(logs)).To(ContainSubstring(env.ns), "the operator logged nothing about the spec's namespace")
	for what, obj := range map[string]any{"IndexBuilds": builds, "Events": events, "Jobs": jobs} {
		data, err := json.Marshal(obj)
		Expect(err).NotTo(HaveOccurred())
		for _, v := range values {
			Expect(string(data)).NotTo(ContainSubstring(v), "a Secret value in %s", what)
		}
	}
	for _, v := range values {
		Expect(string(logs)).NotTo(ContainSubstring(v), "a Secret value in the operator's log")
	}
}

// nodeIP is the node's internal address: on the local cluster the
// bridge's own address, which pods reach.
func nodeIP(ctx context.Context) string {
	var nodes corev1.NodeList
	Expect(k.List(ctx, &nodes)).To(Succeed())
	Expect(nodes.Items).NotTo(BeEmpty())
	for _, a := range nodes.Items[0].Status.Addresses {
		if a.Type == corev1.NodeInternalIP {
			return a.Address
		}
	}
	Fail("the node has no InternalIP")
	return ""
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
