//go:build e2e

// Package e2e runs the operator for real: on the local single-node cluster
// (hack/dev-cluster.sh: upstream control plane, Job controller and kubelet,
// containerd), with the operator deployed in-cluster by `make deploy` and
// workers and finalize as real pods on a file:// store on the node. The
// tests run on the node itself, so they can write tables into the store,
// read what the pods wrote, and signal worker processes to freeze or kill
// them at a chosen moment.
//
// Run with `make test-e2e`. The suite starts the cluster (building what is
// missing) and tears it down afterwards; E2E_KEEP_CLUSTER=1 leaves it up for
// debugging (KUBECONFIG=.dev/cluster/kubeconfig).
package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	indexbuildv1alpha1 "github.com/indexbuild/indexbuild/api/v1alpha1"
)

var (
	repoRoot string
	// k talks to the local cluster as its admin.
	k client.Client
	// ib is the data-plane binary the image was built from; the tests use
	// it to make tables and to verify and query committed indexes.
	ib string
)

func TestE2E(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "IndexBuild e2e")
}

var _ = BeforeSuite(func() {
	_, file, _, _ := runtime.Caller(0)
	repoRoot = filepath.Join(filepath.Dir(file), "..", "..")
	ib = filepath.Join(repoRoot, "bin", "linux", "indexbuild")

	By("building the kubectl plugin into bin/ (kubectl finds kubectl-indexbuild on PATH)")
	run(10*time.Minute, "go", "build", "-C", repoRoot, "-o", filepath.Join("bin", "kubectl-indexbuild"), "./cmd/kubectl-indexbuild")

	By("starting the local cluster and deploying the operator (hack/dev-cluster.sh deploy)")
	run(30*time.Minute, filepath.Join(repoRoot, "hack", "dev-cluster.sh"), "deploy")

	cfg, err := clientcmd.BuildConfigFromFlags("", filepath.Join(repoRoot, ".dev", "cluster", "kubeconfig"))
	Expect(err).NotTo(HaveOccurred())
	scheme := k8sruntime.NewScheme()
	Expect(clientgoscheme.AddToScheme(scheme)).To(Succeed())
	Expect(indexbuildv1alpha1.AddToScheme(scheme)).To(Succeed())
	k, err = client.New(cfg, client.Options{Scheme: scheme})
	Expect(err).NotTo(HaveOccurred())
	Expect(os.MkdirAll(storeRoot, 0o755)).To(Succeed())
})

var _ = AfterSuite(func() {
	if os.Getenv("E2E_KEEP_CLUSTER") != "" {
		GinkgoWriter.Printf("E2E_KEEP_CLUSTER is set: the cluster stays up (KUBECONFIG=%s)\n",
			filepath.Join(repoRoot, ".dev", "cluster", "kubeconfig"))
		return
	}
	By("tearing the cluster down")
	run(2*time.Minute, filepath.Join(repoRoot, "hack", "dev-cluster.sh"), "down")
})

// run runs a command to completion, its output going to the test log, and
// fails the spec when it fails.
func run(timeout time.Duration, name string, args ...string) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stdout, cmd.Stderr = GinkgoWriter, GinkgoWriter
	ExpectWithOffset(1, cmd.Run()).To(Succeed(), "%s %v", name, args)
}

// kubectlIndexbuild runs `kubectl indexbuild ARGS` against the local cluster,
// the way a user runs the plugin, and returns its combined output and error.
func kubectlIndexbuild(ctx context.Context, args ...string) (string, error) {
	all := append([]string{"indexbuild", "--kubeconfig=" + filepath.Join(repoRoot, ".dev", "cluster", "kubeconfig")}, args...)
	cmd := exec.CommandContext(ctx, "kubectl", all...)
	cmd.Env = append(os.Environ(), "PATH="+filepath.Join(repoRoot, "bin")+string(os.PathListSeparator)+os.Getenv("PATH"))
	out, err := cmd.CombinedOutput()
	return string(out), err
}
