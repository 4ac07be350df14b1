//go:build e2e

package e2e

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	ibv1 "github.com/indexbuild/indexbuild/api/v1alpha1"
	"github.com/indexbuild/indexbuild/internal/commit"
	"github.com/indexbuild/indexbuild/internal/controller"
	"github.com/indexbuild/indexbuild/internal/output"
	"github.com/indexbuild/indexbuild/internal/storage"
)

// storeRoot is where the specs keep their tables and indexes: a path on the
// node, mounted into the pods at the same path (file:// URIs are hostPath).
const storeRoot = "/var/lib/indexbuild/e2e"

// Table IDs of the generated tables (indexbuild gen-table's defaults).
const (
	schemaID = 1
	tableID  = 100
)

// testEnv is one spec's namespace and its directory in the store; both are
// removed when the spec ends.
type testEnv struct {
	ns  string
	dir string
}

func newTestEnv(ctx context.Context) *testEnv {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "e2e-"}}
	Expect(k.Create(ctx, ns)).To(Succeed())
	env := &testEnv{ns: ns.Name, dir: filepath.Join(storeRoot, ns.Name)}
	Expect(os.MkdirAll(env.dir, 0o755)).To(Succeed())
	DeferCleanup(func(ctx SpecContext) {
		// The namespace takes its IndexBuilds with it, and they their Jobs
		// and pods; wait for that, so no pod still writes to the directory.
		Expect(client.IgnoreNotFound(k.Delete(ctx, ns))).To(Succeed())
		Eventually(func() bool {
			return apierrors.IsNotFound(k.Get(ctx, client.ObjectKeyFromObject(ns), &corev1.Namespace{}))
		}).WithContext(ctx).WithTimeout(3 * time.Minute).WithPolling(time.Second).Should(BeTrue())
		Expect(os.RemoveAll(env.dir)).To(Succeed())
	}, NodeTimeout(4*time.Minute))
	return env
}

// deleteNamespace runs kubectl delete ns on the spec's namespace, as a user
// would mid-build, and expects it gone within two minutes.
func (e *testEnv) deleteNamespace(ctx context.Context) {
	GinkgoHelper()
	out, err := kubectl(ctx, "", "delete", "ns", e.ns, "--wait=false")
	Expect(err).NotTo(HaveOccurred(), out)
	start := time.Now()
	Eventually(func() bool {
		return apierrors.IsNotFound(k.Get(ctx, client.ObjectKey{Name: e.ns}, &corev1.Namespace{}))
	}).WithContext(ctx).WithTimeout(2*time.Minute).WithPolling(time.Second).Should(BeTrue(), "namespace %s still there", e.ns)
	GinkgoWriter.Printf("namespace gone after %s\n", time.Since(start).Round(time.Second))
}

// uri is the file:// URI of a path in the spec's directory.
func (e *testEnv) uri(name string) string { return "file://" + filepath.Join(e.dir, name) }

// path is the node path of a path in the spec's directory.
func (e *testEnv) path(name string) string { return filepath.Join(e.dir, name) }

// genTable writes a deterministic books table (indexbuild gen-table).
func (e *testEnv) genTable(name string, rows, files int) {
	runIB("gen-table", "--rows", strconv.Itoa(rows), "--files", strconv.Itoa(files), "--out", e.uri(name))
}

// buildSpec is what differs between the specs' IndexBuilds.
type buildSpec struct {
	name, table, output string
	jobID               int64
	elementType         ibv1.ElementType
	elementIDs          []int64
	partitions          int32
	parallelism         int32
	finalizeBackoff     int32
	keepVersions        int32
	deletionPolicy      ibv1.DeletionPolicy
	suspend             bool
	// secretRef names the Secret with the credentials of source and output.
	secretRef string
	// sourceURI and outputURI, when set, replace the URIs of table and
	// output in the spec's own directory (e.g. another spec's output).
	sourceURI, outputURI string
	// mergeRanges, when set, is spec.merge.ranges: the global sort's key
	// ranges (merge pods) of an index build of several partitions.
	mergeRanges int32
}

func (e *testEnv) create(ctx context.Context, s buildSpec) *ibv1.IndexBuild {
	if s.jobID == 0 {
		s.jobID = 1
	}
	b := &ibv1.IndexBuild{
		ObjectMeta: metav1.ObjectMeta{Name: s.name, Namespace: e.ns},
		Spec: ibv1.IndexBuildSpec{
			JobID:       s.jobID,
			SchemaID:    schemaID,
			TableID:     tableID,
			ElementType: s.elementType,
			ElementIDs:  s.elementIDs,
			Source:      ibv1.SourceSpec{URI: cmp.Or(s.sourceURI, e.uri(s.table)), Format: "jsonl"},
			Output: ibv1.OutputSpec{URI: cmp.Or(s.outputURI, e.uri(s.output)),
				KeepVersions: s.keepVersions, DeletionPolicy: s.deletionPolicy},
			Partitions: s.partitions,
			Suspend:    s.suspend,
		},
	}
	if s.parallelism > 0 {
		b.Spec.Parallelism = ptr.To(s.parallelism)
	}
	if s.secretRef != "" {
		b.Spec.Source.SecretRef = &ibv1.SecretReference{Name: s.secretRef}
		b.Spec.Output.SecretRef = &ibv1.SecretReference{Name: s.secretRef}
	}
	if s.finalizeBackoff > 0 {
		b.Spec.FinalizeBackoffLimit = ptr.To(s.finalizeBackoff)
	}
	if s.mergeRanges > 0 {
		createWithMergeRanges(ctx, b, s.mergeRanges)
		return b
	}
	Expect(k.Create(ctx, b)).To(Succeed())
	return b
}

// createWithMergeRanges creates b with spec.merge.ranges set, as the
// manifest a user applies spells it, and reads b back as created.
func createWithMergeRanges(ctx context.Context, b *ibv1.IndexBuild, ranges int32) {
	obj, err := runtime.DefaultUnstructuredConverter.ToUnstructured(b)
	Expect(err).NotTo(HaveOccurred())
	u := &unstructured.Unstructured{Object: obj}
	u.SetGroupVersionKind(ibv1.GroupVersion.WithKind("IndexBuild"))
	Expect(unstructured.SetNestedField(u.Object, int64(ranges), "spec", "merge", "ranges")).To(Succeed())
	// Strict: a cluster whose CRD has no spec.merge refuses the field
	// instead of pruning it.
	Expect(k.Create(ctx, u, client.FieldValidation("Strict"))).To(Succeed())
	Expect(k.Get(ctx, client.ObjectKeyFromObject(b), b)).To(Succeed())
}

// bumpJobID starts a new task of the build, as `kubectl indexbuild retry`
// or a GitOps commit does: spec.jobID + 1, with edit's changes.
func (e *testEnv) bumpJobID(ctx context.Context, name string, edit func(*ibv1.IndexBuild)) {
	Eventually(func() error {
		b := &ibv1.IndexBuild{}
		if err := k.Get(ctx, client.ObjectKey{Namespace: e.ns, Name: name}, b); err != nil {
			return err
		}
		b.Spec.JobID++
		if edit != nil {
			edit(b)
		}
		return k.Update(ctx, b)
	}).WithContext(ctx).WithTimeout(30 * time.Second).Should(Succeed())
	// The status describes the new generation before waitEnded may trust it.
	Eventually(func(g Gomega) {
		b := &ibv1.IndexBuild{}
		g.Expect(k.Get(ctx, client.ObjectKey{Namespace: e.ns, Name: name}, b)).To(Succeed())
		g.Expect(b.Status.ObservedGeneration).To(Equal(b.Generation))
		g.Expect(b.Status.Task.JobID).To(Equal(b.Spec.JobID))
	}).WithContext(ctx).WithTimeout(30 * time.Second).Should(Succeed())
}

// kubeconfig is the local cluster's admin kubeconfig, for kubectl.
func kubeconfig() string { return filepath.Join(repoRoot, ".dev", "cluster", "kubeconfig") }

func podNames(pods []corev1.Pod) []string {
	names := make([]string, len(pods))
	for i, p := range pods {
		names[i] = p.Name
	}
	return names
}

// waitEnded waits for the build to end (Succeeded or Failed) and returns it.
func (e *testEnv) waitEnded(ctx context.Context, name string) *ibv1.IndexBuild {
	b := &ibv1.IndexBuild{}
	Eventually(func(g Gomega) {
		g.Expect(k.Get(ctx, client.ObjectKey{Namespace: e.ns, Name: name}, b)).To(Succeed())
		g.Expect(b.Status.Phase).To(BeElementOf(ibv1.PhaseSucceeded, ibv1.PhaseFailed))
	}).WithContext(ctx).WithTimeout(5*time.Minute).WithPolling(time.Second).Should(Succeed(),
		"IndexBuild %s/%s did not end", e.ns, name)
	return b
}

// describe renders a build's status for failure messages.
func describe(b *ibv1.IndexBuild) string {
	out, _ := json.MarshalIndent(b.Status, "", "  ")
	return string(out)
}

func condition(b *ibv1.IndexBuild, t string) *metav1.Condition {
	return meta.FindStatusCondition(b.Status.Conditions, t)
}

// expectSucceeded checks a finished build's status and commit summary.
func expectSucceeded(b *ibv1.IndexBuild, rows int64) {
	ExpectWithOffset(1, b.Status.Phase).To(Equal(ibv1.PhaseSucceeded), describe(b))
	c := b.Status.Commit
	ExpectWithOffset(1, c).NotTo(BeNil(), describe(b))
	ExpectWithOffset(1, c.MarkerURI).To(Equal(storage.ObjectURI(b.Spec.Output.URI, fmt.Sprintf("versions/%d/metadata.json", b.Spec.JobID))))
	ExpectWithOffset(1, c.Rows).To(Equal(rows))
	ExpectWithOffset(1, c.Files).To(BeEquivalentTo(committedFileCount(b)), describe(b))
	ExpectWithOffset(1, c.Bytes).To(BeNumerically(">", 0))
	ExpectWithOffset(1, c.CommitTime).NotTo(BeNil())
	ExpectWithOffset(1, meta.IsStatusConditionTrue(b.Status.Conditions, ibv1.ConditionCommitted)).To(BeTrue(), describe(b))
	ExpectWithOffset(1, meta.IsStatusConditionTrue(b.Status.Conditions, ibv1.ConditionReady)).To(BeTrue(), describe(b))
}

// expectStalled checks that a finished build failed for reason and
// returns its Stalled condition.
func expectStalled(b *ibv1.IndexBuild, reason string) *metav1.Condition {
	ExpectWithOffset(1, b.Status.Phase).To(Equal(ibv1.PhaseFailed), describe(b))
	stalled := condition(b, ibv1.ConditionStalled)
	ExpectWithOffset(1, stalled).NotTo(BeNil(), describe(b))
	ExpectWithOffset(1, stalled.Reason).To(Equal(reason), describe(b))
	return stalled
}

// expectNothingPublished checks that task jobID committed nothing at the
// output in the spec's directory and that nothing is published there.
func (e *testEnv) expectNothingPublished(output string, jobID int64) {
	ExpectWithOffset(1, e.path(fmt.Sprintf("%s/versions/%d/metadata.json", output, jobID))).NotTo(BeAnExistingFile())
	ExpectWithOffset(1, e.path(output+"/current.json")).NotTo(BeAnExistingFile(), "nothing was published")
}

// committedFileCount is how many files a succeeded build commits: one per
// partition and element, except for the global sort of an index build of
// several partitions, which commits one per key range holding entries and
// element, as many as its marker lists.
func committedFileCount(b *ibv1.IndexBuild) int {
	if b.Spec.ElementType != ibv1.ElementTypeIndex || b.Spec.Partitions <= 1 {
		return int(b.Spec.Partitions) * len(b.Spec.ElementIDs)
	}
	ctx := context.Background()
	uri := b.Spec.Output.URI
	if c := b.Spec.Output.PersistentVolumeClaim; c != nil {
		uri = "file://" + claimDir(b.Namespace, c.ClaimName) // the store as the node sees it
	}
	root, err := storage.Open(ctx, uri)
	ExpectWithOffset(2, err).NotTo(HaveOccurred())
	defer root.Close()
	m, err := commit.ReadMarker(ctx, output.Version(root, b.Spec.JobID))
	ExpectWithOffset(2, err).NotTo(HaveOccurred())
	ExpectWithOffset(2, m.Problems()).To(BeEmpty())
	for _, f := range m.Files {
		ExpectWithOffset(2, f.KeyRange).NotTo(BeNil(), "global sort: committed file %s has no key range", f.Path)
	}
	return len(m.Files)
}

func (e *testEnv) pods(ctx context.Context, name, role string) []corev1.Pod {
	var list corev1.PodList
	Expect(k.List(ctx, &list, client.InNamespace(e.ns),
		client.MatchingLabels{controller.LabelBuildName: name, controller.LabelRole: role})).To(Succeed())
	return list.Items
}

func (e *testEnv) jobs(ctx context.Context, name, role string) []batchv1.Job {
	var list batchv1.JobList
	Expect(k.List(ctx, &list, client.InNamespace(e.ns),
		client.MatchingLabels{controller.LabelBuildName: name, controller.LabelRole: role})).To(Succeed())
	return list.Items
}

// runIB runs the data-plane binary on the node and returns its standard output.
func runIB(args ...string) string {
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(ib, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	ExpectWithOffset(1, cmd.Run()).To(Succeed(), "indexbuild %v: %s", args, stderr.String())
	return stdout.String()
}

// query returns the row handles `indexbuild query` answers, as a sorted set.
func query(index string, element int64, args ...string) []string {
	out := runIB(append([]string{"query", "--index=" + index, "--element=" + strconv.FormatInt(element, 10)}, args...)...)
	var handles []string
	for line := range strings.Lines(out) {
		if f := strings.Fields(line); len(f) > 0 {
			handles = append(handles, f[0])
		}
	}
	slices.Sort(handles)
	return handles
}

// book is the part of a generated row the specs check query answers with.
type book struct {
	ID          int64    `json:"id"`
	Year        *int64   `json:"year"`
	Price       *float64 `json:"price"`
	Description string   `json:"description"`
}

// readBooks reads every row of a generated jsonl table in a node directory.
func readBooks(dir string) []book { return readBooksFrom("file://" + dir) }

// readBooksFrom reads every row of a generated jsonl table at a store URI.
func readBooksFrom(uri string) []book {
	ctx := context.Background()
	b, err := storage.Open(ctx, uri)
	Expect(err).NotTo(HaveOccurred())
	defer b.Close()
	list, err := b.List(ctx, "")
	Expect(err).NotTo(HaveOccurred())
	var books []book
	for _, a := range list {
		if !strings.HasSuffix(a.Key, ".jsonl") {
			continue
		}
		data, err := storage.ReadAll(ctx, b, a.Key)
		Expect(err).NotTo(HaveOccurred())
		sc := bufio.NewScanner(bytes.NewReader(data))
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			var b book
			Expect(json.Unmarshal(sc.Bytes(), &b)).To(Succeed())
			books = append(books, b)
		}
		Expect(sc.Err()).NotTo(HaveOccurred())
	}
	Expect(books).NotTo(BeEmpty())
	return books
}

// handles returns the sorted IDs of the books keep selects, as query prints them.
func handles(books []book, keep func(book) bool) []string {
	var out []string
	for _, b := range books {
		if keep(b) {
			out = append(out, strconv.FormatInt(b.ID, 10))
		}
	}
	slices.Sort(out)
	return out
}

// treeDigest maps every file under dir to its SHA-256: a snapshot to check
// that a committed index was not touched.
func treeDigest(dir string) map[string]string {
	sums := map[string]string{}
	Expect(filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(data)
		sums[strings.TrimPrefix(p, dir)] = hex.EncodeToString(sum[:])
		return nil
	})).To(Succeed())
	return sums
}

// dataPlaneProcess finds, among the node's processes, the data-plane
// process running subcommand (build or finalize) for the given output URI,
// and returns its PID on the node. The specs signal it to hold a worker or
// finalize at a chosen point (SIGSTOP), or to kill it the way a crash
// would (SIGKILL): no test hook in the product is needed for that.
func dataPlaneProcess(subcommand, outputURI string) (int, bool) {
	entries, err := os.ReadDir("/proc")
	Expect(err).NotTo(HaveOccurred())
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		raw, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue // gone meanwhile
		}
		args := strings.Split(strings.TrimRight(string(raw), "\x00"), "\x00")
		if len(args) > 1 && filepath.Base(args[0]) == "indexbuild" && args[1] == subcommand &&
			slices.Contains(args, "--output="+outputURI) {
			return pid, true
		}
	}
	return 0, false
}

// waitProcess waits for a data-plane process (see dataPlaneProcess).
func waitProcess(ctx context.Context, subcommand, outputURI string) int {
	var pid int
	Eventually(func() bool {
		var ok bool
		pid, ok = dataPlaneProcess(subcommand, outputURI)
		return ok
	}).WithContext(ctx).WithTimeout(3*time.Minute).WithPolling(5*time.Millisecond).Should(BeTrue(),
		"no %s process for %s", subcommand, outputURI)
	return pid
}

// freeze stops a process until the returned function (or the spec's
// cleanup) resumes it.
func freeze(pid int) (resume func()) {
	Expect(syscall.Kill(pid, syscall.SIGSTOP)).To(Succeed())
	resume = func() { _ = syscall.Kill(pid, syscall.SIGCONT) }
	DeferCleanup(resume)
	return resume
}

// managerPod returns the running operator pod.
func managerPod(ctx context.Context) corev1.Pod {
	var list corev1.PodList
	Expect(k.List(ctx, &list, client.InNamespace("indexbuild-system"),
		client.MatchingLabels{"app.kubernetes.io/component": "manager"})).To(Succeed())
	for _, p := range list.Items {
		if p.DeletionTimestamp == nil && p.Status.Phase == corev1.PodRunning {
			return p
		}
	}
	Fail(fmt.Sprintf("no running manager pod among %d", len(list.Items)))
	return corev1.Pod{}
}
