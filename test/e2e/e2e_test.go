//go:build e2e

package e2e

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	ibv1 "github.com/indexbuild/indexbuild/api/v1alpha1"
	"github.com/indexbuild/indexbuild/internal/controller"
)

// bigRows makes a table whose partitions take a second or more to build,
// long enough to catch a worker's process and hold it.
const bigRows = 100000

var _ = Describe("IndexBuild on a real cluster", func() {
	It("builds index and fulltext elements in 4 partitions, commits them and answers queries", func(ctx SpecContext) {
		env := newTestEnv(ctx)
		const rows = 20000
		env.genTable("books", rows, 4)
		env.create(ctx, buildSpec{name: "books-index", table: "books", output: "books-index",
			elementType: "index", elementIDs: []int64{1, 2, 3, 4}, partitions: 4, parallelism: 2})
		env.create(ctx, buildSpec{name: "books-ft", table: "books", output: "books-ft",
			elementType: "fulltext", elementIDs: []int64{5, 6}, partitions: 4})

		By("kubectl indexbuild watch follows books-index to Succeeded with a progress bar")
		out, err := kubectlIndexbuild(ctx, "-n", env.ns, "watch", "books-index", "--timeout", "5m")
		Expect(err).NotTo(HaveOccurred(), out)
		Expect(out).To(SatisfyAll(ContainSubstring("Succeeded"), ContainSubstring("[####################] 4/4")))
		for _, name := range []string{"books-index", "books-ft"} {
			By("kubectl wait --for=condition=Ready indexbuild/" + name)
			run(6*time.Minute, "kubectl", "--kubeconfig", filepath.Join(repoRoot, ".dev", "cluster", "kubeconfig"),
				"-n", env.ns, "wait", "--for=condition=Ready", "indexbuild/"+name, "--timeout=5m")
			b := env.waitEnded(ctx, name)
			expectSucceeded(b, rows)
			By("indexbuild verify " + name)
			runIB("verify", "--output="+b.Spec.Output.URI)
			Expect(env.jobs(ctx, name, controller.RoleFinalize)).To(HaveLen(1))
		}

		By("kubectl indexbuild logs shows one partition's worker log")
		out, err = kubectlIndexbuild(ctx, "-n", env.ns, "logs", "books-index", "--partition", "1")
		Expect(err).NotTo(HaveOccurred(), out)
		Expect(out).To(SatisfyAll(ContainSubstring("partition 1/4"), Not(ContainSubstring("partition 2/4"))))

		books := readBooks(env.path("books"))
		By("a range query on idx_year answers the rows with those years")
		want := handles(books, func(b book) bool { return b.Year != nil && *b.Year >= 1990 && *b.Year <= 1995 })
		Expect(want).NotTo(BeEmpty())
		Expect(query(env.uri("books-index"), 1, "--range", "1990", "1995")).To(Equal(want))
		By("a match query on ft_description answers the rows whose description has the term")
		want = handles(books, func(b book) bool {
			return slices.Contains(strings.Fields(strings.ToLower(b.Description)), "harbor")
		})
		Expect(want).NotTo(BeEmpty())
		Expect(query(env.uri("books-ft"), 5, "--match", "harbor")).To(Equal(want))
	}, SpecTimeout(6*time.Minute))

	It("fails a build whose elementIDs change while workers run with StaleMeta, stops it and commits nothing", func(ctx SpecContext) {
		env := newTestEnv(ctx)
		env.genTable("books", bigRows, 4)
		b := env.create(ctx, buildSpec{name: "stale", table: "books", output: "out",
			elementType: "fulltext", elementIDs: []int64{5, 6}, partitions: 4, parallelism: 1})

		By("holding the first worker mid-partition")
		resume := freeze(waitProcess(ctx, "build", b.Spec.Output.URI))
		patch := client.MergeFrom(b.DeepCopy())
		b.Spec.ElementIDs = []int64{5}
		Expect(k.Patch(ctx, b, patch)).To(Succeed())

		b = env.waitEnded(ctx, "stale")
		Expect(b.Status.Phase).To(Equal(ibv1.PhaseFailed), describe(b))
		stale := condition(b, ibv1.ConditionStaleMeta)
		Expect(stale).NotTo(BeNil(), describe(b))
		Expect(stale.Status).To(BeEquivalentTo("True"))
		Expect(stale.Message).To(ContainSubstring("elementIDs"))
		Expect(meta.IsStatusConditionTrue(b.Status.Conditions, ibv1.ConditionStalled)).To(BeTrue(), describe(b))

		By("the workers stop")
		resume() // the worker then sees the SIGTERM its pod's deletion sent
		Eventually(func(g Gomega) {
			for _, p := range env.pods(ctx, "stale", controller.RoleBuild) {
				g.Expect(p.Status.Phase).To(BeElementOf(corev1.PodSucceeded, corev1.PodFailed), "pod %s", p.Name)
			}
			_, running := dataPlaneProcess("build", b.Spec.Output.URI)
			g.Expect(running).To(BeFalse())
		}).WithContext(ctx).WithTimeout(time.Minute).WithPolling(time.Second).Should(Succeed())

		By("no new pods for 30 s, and nothing committed")
		seen := map[types.UID]bool{}
		for _, p := range env.pods(ctx, "stale", controller.RoleBuild) {
			seen[p.UID] = true
		}
		Consistently(func(g Gomega) {
			for _, role := range []string{controller.RoleBuild, controller.RoleFinalize} {
				for _, p := range env.pods(ctx, "stale", role) {
					g.Expect(seen).To(HaveKey(p.UID), "new %s pod %s", role, p.Name)
				}
			}
			g.Expect(env.jobs(ctx, "stale", controller.RoleFinalize)).To(BeEmpty())
		}).WithContext(ctx).WithTimeout(30 * time.Second).WithPolling(time.Second).Should(Succeed())
		env.expectNothingPublished("out", 1)
	}, SpecTimeout(5*time.Minute))

	It("fails at once with StaleMeta when an element is missing from the table's catalog", func(ctx SpecContext) {
		env := newTestEnv(ctx)
		env.genTable("books", 1000, 1)
		env.create(ctx, buildSpec{name: "missing", table: "books", output: "out", jobID: 4242,
			elementType: "index", elementIDs: []int64{1, 99}, partitions: 2, parallelism: 1})

		b := env.waitEnded(ctx, "missing")
		Expect(b.Status.Phase).To(Equal(ibv1.PhaseFailed), describe(b))
		stale := condition(b, ibv1.ConditionStaleMeta)
		Expect(stale).NotTo(BeNil(), describe(b))
		Expect(stale.Status).To(BeEquivalentTo("True"))
		Expect(stale.Message).To(ContainSubstring("element 99 not found in table 100 (job 4242)"))

		By("the pod failure policy failed the Job on the first pod: no retries")
		pods := env.pods(ctx, "missing", controller.RoleBuild)
		Expect(pods).To(HaveLen(1))
		Expect(pods[0].Status.ContainerStatuses).To(HaveLen(1))
		Expect(pods[0].Status.ContainerStatuses[0].State.Terminated).NotTo(BeNil())
		Expect(pods[0].Status.ContainerStatuses[0].State.Terminated.ExitCode).To(BeEquivalentTo(3))
		env.expectNothingPublished("out", 4242)
	}, SpecTimeout(4*time.Minute))

	It("retries a worker whose pod is deleted mid-partition and still succeeds", func(ctx SpecContext) {
		env := newTestEnv(ctx)
		env.genTable("books", bigRows, 4)
		b := env.create(ctx, buildSpec{name: "worker-lost", table: "books", output: "out",
			elementType: "fulltext", elementIDs: []int64{5}, partitions: 2, parallelism: 1})

		By("holding the first worker mid-partition and deleting its pod")
		freeze(waitProcess(ctx, "build", b.Spec.Output.URI))
		pods := env.pods(ctx, "worker-lost", controller.RoleBuild)
		Expect(pods).To(HaveLen(1))
		Expect(k.Delete(ctx, &pods[0], client.GracePeriodSeconds(1))).To(Succeed())

		b = env.waitEnded(ctx, "worker-lost")
		expectSucceeded(b, bigRows)
		runIB("verify", "--output="+b.Spec.Output.URI)
		jobs := env.jobs(ctx, "worker-lost", controller.RoleBuild)
		Expect(jobs).To(HaveLen(1))
		Expect(jobs[0].Status.Failed).To(BeNumerically(">=", 1), "the deleted pod counts as a failed attempt")
		Expect(jobs[0].Status.Succeeded).To(BeEquivalentTo(2))
	}, SpecTimeout(5*time.Minute))

	It("commits on finalize's retry after finalize is killed between copying files and writing the marker", func(ctx SpecContext) {
		env := newTestEnv(ctx)
		env.genTable("books", bigRows, 4)
		b := env.create(ctx, buildSpec{name: "finalize-lost", table: "books", output: "out",
			elementType: "fulltext", elementIDs: []int64{5, 6}, partitions: 8, finalizeBackoff: 3})

		By("stepping finalize until it has copied a file, then killing it")
		pid := waitProcess(ctx, "finalize", b.Spec.Output.URI)
		freeze(pid)
		final := func() []string {
			files, err := filepath.Glob(env.path("out/versions/1/part_*"))
			Expect(err).NotTo(HaveOccurred())
			return files
		}
		for len(final()) == 0 {
			// Let it run a millisecond at a time, so it is caught with
			// some files copied and the marker not yet written.
			Expect(syscall.Kill(pid, syscall.SIGCONT)).To(Succeed())
			time.Sleep(time.Millisecond)
			Expect(syscall.Kill(pid, syscall.SIGSTOP)).To(Succeed())
		}
		Expect(env.path("out/versions/1/metadata.json")).NotTo(BeAnExistingFile(), "finalize was not caught before the marker")
		Expect(len(final())).To(BeNumerically("<", 16), "finalize was not caught before the last copy")
		Expect(syscall.Kill(pid, syscall.SIGKILL)).To(Succeed())

		b = env.waitEnded(ctx, "finalize-lost")
		expectSucceeded(b, bigRows)
		runIB("verify", "--output="+b.Spec.Output.URI)
		jobs := env.jobs(ctx, "finalize-lost", controller.RoleFinalize)
		Expect(jobs).To(HaveLen(1))
		Expect(jobs[0].Status.Failed).To(BeEquivalentTo(1), "the killed finalize counts as one failed attempt")
	}, SpecTimeout(5*time.Minute))

	It("resumes a build after the operator pod is deleted, without running a partition twice", func(ctx SpecContext) {
		env := newTestEnv(ctx)
		env.genTable("books", bigRows, 4)
		b := env.create(ctx, buildSpec{name: "operator-lost", table: "books", output: "out",
			elementType: "index", elementIDs: []int64{1, 2}, partitions: 4, parallelism: 1})

		By("waiting for a partition to finish, then holding the next worker")
		Eventually(func(g Gomega) {
			g.Expect(k.Get(ctx, client.ObjectKeyFromObject(b), b)).To(Succeed())
			g.Expect(b.Status.Partitions.Succeeded).To(BeNumerically(">=", 1))
		}).WithContext(ctx).WithTimeout(3 * time.Minute).Should(Succeed())
		resume := freeze(waitProcess(ctx, "build", b.Spec.Output.URI))
		Expect(b.Status.Phase).To(Equal(ibv1.PhaseBuilding), describe(b))
		jobs := env.jobs(ctx, "operator-lost", controller.RoleBuild)
		Expect(jobs).To(HaveLen(1))
		buildJob := jobs[0].UID

		By("deleting the operator pod and waiting for its replacement")
		old := managerPod(ctx)
		Expect(k.Delete(ctx, &old)).To(Succeed())
		Eventually(func(g Gomega) {
			var list corev1.PodList
			g.Expect(k.List(ctx, &list, client.InNamespace("indexbuild-system"),
				client.MatchingLabels{"app.kubernetes.io/component": "manager"})).To(Succeed())
			ready := false
			for _, p := range list.Items {
				if p.UID != old.UID && p.DeletionTimestamp == nil {
					for _, c := range p.Status.Conditions {
						ready = ready || (c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue)
					}
				}
			}
			g.Expect(ready).To(BeTrue())
		}).WithContext(ctx).WithTimeout(2 * time.Minute).WithPolling(time.Second).Should(Succeed())
		resume()

		b = env.waitEnded(ctx, "operator-lost")
		expectSucceeded(b, bigRows)
		runIB("verify", "--output="+b.Spec.Output.URI)
		By("the same build Job ran every partition exactly once")
		jobs = env.jobs(ctx, "operator-lost", controller.RoleBuild)
		Expect(jobs).To(HaveLen(1))
		Expect(jobs[0].UID).To(Equal(buildJob))
		Expect(jobs[0].Status.Succeeded).To(BeEquivalentTo(4))
		Expect(jobs[0].Status.Failed).To(BeZero())
		succeeded := 0
		for _, p := range env.pods(ctx, "operator-lost", controller.RoleBuild) {
			if p.Status.Phase == corev1.PodSucceeded {
				succeeded++
			}
		}
		Expect(succeeded).To(Equal(4))
	}, SpecTimeout(6*time.Minute))

	It("fails a build over a bad data file with InvalidInput naming file and line, leaving a committed index alone", func(ctx SpecContext) {
		env := newTestEnv(ctx)
		env.genTable("good", 2000, 2)
		env.create(ctx, buildSpec{name: "good", table: "good", output: "good-index",
			elementType: "index", elementIDs: []int64{1}, partitions: 2})
		expectSucceeded(env.waitEnded(ctx, "good"), 2000)
		before := treeDigest(env.path("good-index"))

		By("a table whose second file has a broken line 7")
		env.genTable("bad", 2000, 2)
		file := env.path("bad/part-00001.jsonl")
		data, err := os.ReadFile(file)
		Expect(err).NotTo(HaveOccurred())
		lines := strings.SplitAfter(string(data), "\n")
		lines[6] = "{\"id\": 7, \"year\": \n"
		Expect(os.WriteFile(file, []byte(strings.Join(lines, "")), 0o644)).To(Succeed())
		env.create(ctx, buildSpec{name: "bad", table: "bad", output: "bad-index",
			elementType: "index", elementIDs: []int64{1}, partitions: 2})

		b := env.waitEnded(ctx, "bad")
		Expect(expectStalled(b, "InvalidInput").Message).To(ContainSubstring("part-00001.jsonl line 7"))
		env.expectNothingPublished("bad-index", 1)

		By("the earlier committed index is untouched")
		Expect(treeDigest(env.path("good-index"))).To(Equal(before))
		runIB("verify", "--output="+env.uri("good-index"))
	}, SpecTimeout(5*time.Minute))
})
