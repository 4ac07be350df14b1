//go:build e2e

package e2e

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"gocloud.dev/blob"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/indexbuild/indexbuild/internal/storage"
	"github.com/indexbuild/indexbuild/internal/storage/storagetest"
)

// Flux's kinds, as unstructured objects: the project does not depend on
// Flux's API modules.
var (
	kustomizationGVK    = schema.GroupVersionKind{Group: "kustomize.toolkit.fluxcd.io", Version: "v1", Kind: "Kustomization"}
	externalArtifactGVK = schema.GroupVersionKind{Group: "source.toolkit.fluxcd.io", Version: "v1", Kind: "ExternalArtifact"}
)

// kustomizeController is Flux's kustomize-controller (hack/build-flux.sh)
// running on the node as a process with the cluster's admin kubeconfig, the
// way the tests themselves reach the cluster.
type kustomizeController struct {
	log string
}

// startKustomizeController installs the CRDs of the Kustomization and of the
// source kinds the controller watches, and starts it; it stops when the
// calling container ends.
func startKustomizeController(ctx context.Context) *kustomizeController {
	out, err := exec.CommandContext(ctx, filepath.Join(repoRoot, "hack", "build-flux.sh")).Output()
	Expect(err).NotTo(HaveOccurred(), "hack/build-flux.sh")
	dir := strings.TrimSpace(string(out))
	run(2*time.Minute, "kubectl", "--kubeconfig", kubeconfig(), "apply", "--server-side", "-f", filepath.Join(dir, "crds"))
	run(2*time.Minute, "kubectl", "--kubeconfig", kubeconfig(), "wait", "--for=condition=Established", "--timeout=90s", "-f", filepath.Join(dir, "crds"))

	logDir := filepath.Join(repoRoot, ".dev", "flux")
	Expect(os.MkdirAll(logDir, 0o755)).To(Succeed())
	kc := &kustomizeController{log: filepath.Join(logDir, "kustomize-controller.log")}
	logFile, err := os.Create(kc.log)
	Expect(err).NotTo(HaveOccurred())
	cmd := exec.Command(filepath.Join(dir, "kustomize-controller"),
		"--feature-gates=ExternalArtifact=true",
		// Nothing listens: two controllers on the node must not fight over ports.
		"--metrics-addr=0", "--health-addr=0",
		"--watch-all-namespaces=true")
	cmd.Env = append(os.Environ(), "KUBECONFIG="+kubeconfig(), "RUNTIME_NAMESPACE=flux-system")
	cmd.Stdout, cmd.Stderr = logFile, logFile
	Expect(cmd.Start()).To(Succeed())
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	GinkgoWriter.Printf("kustomize-controller %s running, log %s\n", dir, kc.log)
	DeferCleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
		_ = logFile.Close()
	})
	return kc
}

// applyReport is the change set the controller logged for one
// reconcile of a Kustomization: object ("Kind/namespace/name") to action
// ("created", "configured", "unchanged", ...).
type applyReport map[string]string

// appliedSince returns the change sets the controller logged for the
// Kustomization ns/name after byte offset of its log.
func (kc *kustomizeController) appliedSince(offset int64, ns, name string) []applyReport {
	data, err := os.ReadFile(kc.log)
	Expect(err).NotTo(HaveOccurred())
	var reports []applyReport
	sc := bufio.NewScanner(bytes.NewReader(data[offset:]))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var line struct {
			Msg           string      `json:"msg"`
			Output        applyReport `json:"output"`
			Kustomization struct {
				Name, Namespace string
			} `json:"Kustomization"`
		}
		if json.Unmarshal(sc.Bytes(), &line) != nil {
			continue
		}
		if line.Msg == "server-side apply completed" && line.Kustomization.Name == name && line.Kustomization.Namespace == ns {
			reports = append(reports, line.Output)
		}
	}
	return reports
}

// logSize is the current length of the controller's log.
func (kc *kustomizeController) logSize() int64 {
	fi, err := os.Stat(kc.log)
	Expect(err).NotTo(HaveOccurred())
	return fi.Size()
}

// manifestSource is a GitOps source without a git server: each "commit" is a
// tarball of manifests uploaded to an S3-compatible store (versitygw on
// loopback), published through an ExternalArtifact whose status names the
// tarball's URL, revision and digest — what a source-controller or any
// other artifact generator writes. kustomize-controller fetches the URL (a
// presigned GET, so the bucket stays private) and checks the digest.
type manifestSource struct {
	bucket    storage.Bucket
	key       client.ObjectKey
	revisions int
}

func newManifestSource(ctx context.Context, ns, name string) *manifestSource {
	uri := storagetest.StartS3(GinkgoTB())
	b, err := storage.Open(ctx, strings.Replace(uri, "s3://test/out?", "s3://test/artifacts?", 1))
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(b.Close)
	src := &manifestSource{bucket: b, key: client.ObjectKey{Namespace: ns, Name: name}}
	ea := &unstructured.Unstructured{}
	ea.SetGroupVersionKind(externalArtifactGVK)
	ea.SetNamespace(ns)
	ea.SetName(name)
	Expect(k.Create(ctx, ea)).To(Succeed())
	return src
}

// push uploads files as the next revision and points the ExternalArtifact at
// it; it returns the revision, as Flux reports it in lastAppliedRevision.
func (s *manifestSource) push(ctx context.Context, files map[string]string) string {
	tgz := tarball(files)
	sum := sha256.Sum256(tgz)
	digest := hex.EncodeToString(sum[:])
	s.revisions++
	revision := fmt.Sprintf("rev%d@sha256:%s", s.revisions, digest)
	key := digest + ".tar.gz"
	Expect(s.bucket.Write(ctx, key, bytes.NewReader(tgz))).To(Succeed())
	gb, ok := storage.Blob(s.bucket)
	Expect(ok).To(BeTrue())
	url, err := gb.SignedURL(ctx, key, &blob.SignedURLOptions{Expiry: time.Hour})
	Expect(err).NotTo(HaveOccurred())

	Eventually(func() error {
		ea := &unstructured.Unstructured{}
		ea.SetGroupVersionKind(externalArtifactGVK)
		if err := k.Get(ctx, s.key, ea); err != nil {
			return err
		}
		now := metav1.Now().UTC().Format(time.RFC3339)
		ea.Object["status"] = map[string]any{
			"artifact": map[string]any{
				"path": key, "url": url, "revision": revision, "digest": "sha256:" + digest,
				"size": int64(len(tgz)), "lastUpdateTime": now,
			},
			"conditions": []any{map[string]any{
				"type": "Ready", "status": "True", "reason": "Succeeded", "lastTransitionTime": now,
				"message": "stored artifact for revision " + revision, "observedGeneration": ea.GetGeneration(),
			}},
			"observedGeneration": ea.GetGeneration(),
		}
		return k.Status().Update(ctx, ea)
	}).WithContext(ctx).WithTimeout(30 * time.Second).Should(Succeed())
	return revision
}

// tarball packs files (name → content) as a gzipped tar, in name order.
func tarball(files map[string]string) []byte {
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		Expect(tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(files[name])), Typeflag: tar.TypeReg})).To(Succeed())
		_, err := tw.Write([]byte(files[name]))
		Expect(err).NotTo(HaveOccurred())
	}
	Expect(tw.Close()).To(Succeed())
	Expect(gz.Close()).To(Succeed())
	return buf.Bytes()
}

// kustomization reads a Kustomization; nil when it does not exist.
func kustomization(ctx context.Context, key client.ObjectKey) *unstructured.Unstructured {
	ks := &unstructured.Unstructured{}
	ks.SetGroupVersionKind(kustomizationGVK)
	if err := k.Get(ctx, key, ks); err != nil {
		Expect(apierrors.IsNotFound(err)).To(BeTrue(), "get Kustomization %s: %v", key, err)
		return nil
	}
	return ks
}

// kustomizationReady is the Kustomization's Ready condition (nil if it has
// none yet) and the revision it last applied.
func kustomizationReady(ks *unstructured.Unstructured) (*metav1.Condition, string) {
	raw, _, _ := unstructured.NestedSlice(ks.Object, "status", "conditions")
	var conds []metav1.Condition
	data, err := json.Marshal(raw)
	Expect(err).NotTo(HaveOccurred())
	Expect(json.Unmarshal(data, &conds)).To(Succeed())
	applied, _, _ := unstructured.NestedString(ks.Object, "status", "lastAppliedRevision")
	return meta.FindStatusCondition(conds, "Ready"), applied
}
