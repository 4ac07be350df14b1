//go:build e2e

package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	ibv1 "github.com/indexbuild/indexbuild/api/v1alpha1"
)

// The task lifecycle on one output URI, as a user lives it: retry after a
// failure, rebuild after a success, a second IndexBuild pointed at the same
// place, an edit that would mix two inputs, a forced replace, a deletion.
var _ = Describe("IndexBuild task lifecycle on one output", func() {
	It("retries after InvalidInput and rebuilds after success on the same output, publishing each version and retiring old ones", func(ctx SpecContext) {
		env := newTestEnv(ctx)
		env.genTable("books", 2000, 2)
		good, err := os.ReadFile(env.path("books/part-00001.jsonl"))
		Expect(err).NotTo(HaveOccurred())
		breakLine(env.path("books/part-00001.jsonl"), 7)
		b := env.create(ctx, buildSpec{name: "lifecycle", table: "books", output: "out",
			elementType: "index", elementIDs: []int64{1}, partitions: 2, keepVersions: 1})
		b = env.waitEnded(ctx, "lifecycle")
		Expect(condition(b, ibv1.ConditionStalled).Reason).To(Equal("InvalidInput"), describe(b))

		By("fixing the data and bumping jobID, as the troubleshooting table says")
		Expect(os.WriteFile(env.path("books/part-00001.jsonl"), good, 0o644)).To(Succeed())
		env.bumpJobID(ctx, "lifecycle", nil)
		b = env.waitEnded(ctx, "lifecycle")
		expectSucceeded(b, 2000)
		Expect(b.Status.Commit.Version).To(Equal("versions/2/"))
		runIB("verify", "--output="+b.Spec.Output.URI)
		years := readBooks(env.path("books"))
		Expect(query(b.Spec.Output.URI, 1, "--range", "2000", "2002")).To(Equal(handles(years, yearIn(2000, 2002))))

		By("bumping jobID again with another element set: a rebuild in place")
		env.bumpJobID(ctx, "lifecycle", func(b *ibv1.IndexBuild) { b.Spec.ElementIDs = []int64{1, 3} })
		b = env.waitEnded(ctx, "lifecycle")
		expectSucceeded(b, 2000)
		Expect(b.Status.Commit.Version).To(Equal("versions/3/"))
		Expect(query(b.Spec.Output.URI, 3, "--range", "-10", "10.5")).To(Equal(handles(years, func(b book) bool {
			return b.Price != nil && *b.Price >= -10 && *b.Price <= 10.5
		})), "element 3 (idx_price) answers from the new version")
		Expect(query(b.Spec.Output.URI, 1, "--range", "2000", "2002")).To(Equal(handles(years, yearIn(2000, 2002))))

		By("keepVersions 1: only the published version is left, the failed task's staging is gone too")
		Expect(dirNames(env.path("out/versions"))).To(Equal([]string{"3"}))
	}, SpecTimeout(8*time.Minute))

	It("fails a second IndexBuild pointed at an owned output with OutputInUse, writing nothing", func(ctx SpecContext) {
		env := newTestEnv(ctx)
		env.genTable("books", 500, 1)
		env.create(ctx, buildSpec{name: "shared", table: "books", output: "out", elementType: "index", elementIDs: []int64{1}, partitions: 1})
		expectSucceeded(env.waitEnded(ctx, "shared"), 500)
		before := treeDigest(env.path("out"))

		other := newTestEnv(ctx)
		b := other.create(ctx, buildSpec{name: "shared", table: "books", output: "out", elementType: "index", elementIDs: []int64{1}, partitions: 1,
			sourceURI: env.uri("books"), outputURI: env.uri("out")})
		b = other.waitEnded(ctx, "shared")
		Expect(b.Status.Phase).To(Equal(ibv1.PhaseFailed), describe(b))
		stalled := condition(b, ibv1.ConditionStalled)
		Expect(stalled.Reason).To(Equal("OutputInUse"), describe(b))
		Expect(stalled.Message).To(ContainSubstring(env.ns + "/shared"))
		Expect(treeDigest(env.path("out"))).To(Equal(before), "the second IndexBuild wrote into the owned output")
	}, SpecTimeout(5*time.Minute))

	It("refuses a source.uri edit under the same jobID at admission, naming the field", func(ctx SpecContext) {
		env := newTestEnv(ctx)
		env.genTable("books", 500, 1)
		env.genTable("books-v2", 500, 1)
		b := env.create(ctx, buildSpec{name: "pinned", table: "books", output: "out", elementType: "index", elementIDs: []int64{1}, partitions: 1, suspend: true})
		// Eventually: the operator's status writes may bump the
		// resourceVersion between Get and Update.
		Eventually(func(g Gomega) {
			g.Expect(k.Get(ctx, client.ObjectKeyFromObject(b), b)).To(Succeed())
			b.Spec.Source.URI = env.uri("books-v2")
			err := k.Update(ctx, b)
			g.Expect(err).To(HaveOccurred())
			g.Expect(err.Error()).To(ContainSubstring("spec.source.uri can only change together with spec.jobID: change spec.jobID to start a new task"))
		}).WithContext(ctx).WithTimeout(30 * time.Second).Should(Succeed())
	}, SpecTimeout(2*time.Minute))

	It("converges on the new object's build after kubectl replace --force", func(ctx SpecContext) {
		env := newTestEnv(ctx)
		env.genTable("books", 2000, 2)
		b := env.create(ctx, buildSpec{name: "replaced", table: "books", output: "out", elementType: "index", elementIDs: []int64{1}, partitions: 2})
		Eventually(func() []string { return podNames(env.pods(ctx, "replaced", "build")) }).WithContext(ctx).
			WithTimeout(2 * time.Minute).ShouldNot(BeEmpty())
		manifest := filepath.Join(GinkgoT().TempDir(), "ib.yaml")
		out, err := exec.CommandContext(ctx, "kubectl", "--kubeconfig", kubeconfig(), "get", "ib", "replaced", "-n", env.ns, "-o", "yaml").Output()
		Expect(err).NotTo(HaveOccurred())
		Expect(os.WriteFile(manifest, out, 0o644)).To(Succeed())
		replace := exec.CommandContext(ctx, "kubectl", "--kubeconfig", kubeconfig(), "replace", "--force", "-f", manifest)
		msg, err := replace.CombinedOutput()
		Expect(err).NotTo(HaveOccurred(), string(msg))
		b = env.waitEnded(ctx, "replaced")
		expectSucceeded(b, 2000)
		Expect(condition(b, ibv1.ConditionStalled).Reason).NotTo(Equal("JobConflict"))
	}, SpecTimeout(5*time.Minute))

	It("deletes every version of the output with deletionPolicy Delete, and only its own files", func(ctx SpecContext) {
		env := newTestEnv(ctx)
		env.genTable("books", 500, 1)
		b := env.create(ctx, buildSpec{name: "ephemeral", table: "books", output: "out", elementType: "index", elementIDs: []int64{1}, partitions: 1,
			deletionPolicy: ibv1.DeletionPolicyDelete})
		expectSucceeded(env.waitEnded(ctx, "ephemeral"), 500)
		Expect(os.WriteFile(env.path("out/README.txt"), []byte("not the operator's\n"), 0o644)).To(Succeed())
		Expect(k.Delete(ctx, b)).To(Succeed())
		Eventually(func() bool {
			return apierrors.IsNotFound(k.Get(ctx, client.ObjectKeyFromObject(b), &ibv1.IndexBuild{}))
		}).WithContext(ctx).WithTimeout(3 * time.Minute).WithPolling(time.Second).Should(BeTrue())
		Expect(dirNames(env.path("out"))).To(Equal([]string{"README.txt"}), "versions, pointer and owner record are gone; a stranger's file stays")
	}, SpecTimeout(5*time.Minute))
})

// breakLine replaces line n (1-based) of a jsonl file with a broken record.
func breakLine(file string, n int) {
	data, err := os.ReadFile(file)
	Expect(err).NotTo(HaveOccurred())
	lines := strings.SplitAfter(string(data), "\n")
	lines[n-1] = "{\"id\": 7, \"year\": \n"
	Expect(os.WriteFile(file, []byte(strings.Join(lines, "")), 0o644)).To(Succeed())
}

// yearIn selects books published from..to, as a range query on idx_year does.
func yearIn(from, to int64) func(book) bool {
	return func(b book) bool { return b.Year != nil && *b.Year >= from && *b.Year <= to }
}

// dirNames lists the names in a directory, sorted.
func dirNames(dir string) []string {
	entries, err := os.ReadDir(dir)
	Expect(err).NotTo(HaveOccurred())
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}
