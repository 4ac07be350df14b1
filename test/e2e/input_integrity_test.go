//go:build e2e

package e2e

import (
	"fmt"
	"os"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"sigs.k8s.io/controller-runtime/pkg/client"

	ibv1 "github.com/indexbuild/indexbuild/api/v1alpha1"
	"github.com/indexbuild/indexbuild/internal/controller"
)

// The committed index is exactly the table the task started from: the
// table changing under a running task, and bad rows, as a user meets them.
var _ = Describe("IndexBuild input integrity", func() {
	It("indexes exactly the snapshot when a file is added after the first partition finished", func(ctx SpecContext) {
		env := newTestEnv(ctx)
		env.genTable("books", bigRows, 2)
		b := env.create(ctx, buildSpec{name: "added", table: "books", output: "out",
			elementType: "index", elementIDs: []int64{1, 2}, partitions: 2, parallelism: 1})
		Eventually(func(g Gomega) {
			g.Expect(k.Get(ctx, client.ObjectKeyFromObject(b), b)).To(Succeed())
			g.Expect(b.Status.Partitions.Succeeded).To(BeNumerically(">=", 1))
		}).WithContext(ctx).WithTimeout(3 * time.Minute).WithPolling(50 * time.Millisecond).Should(Succeed())

		By("adding a data file with 1,000 other rows once the first partition finished")
		data, err := os.ReadFile(env.path("books/part-00000.jsonl"))
		Expect(err).NotTo(HaveOccurred())
		lines := strings.SplitAfter(string(data), "\n")[:1000]
		for i := range lines {
			lines[i] = strings.Replace(lines[i], `{"id":`, `{"id":99999`, 1) // ids nobody else has
		}
		replaceFile(env.path("books/part-00002.jsonl"), []byte(strings.Join(lines, "")))

		b = env.waitEnded(ctx, "added")
		expectSucceeded(b, bigRows)
		By("verify --source: one entry per row of the pinned input, and the added file is not part of it")
		out := runIB("verify", "--output="+b.Spec.Output.URI, "--source")
		Expect(out).To(ContainSubstring(fmt.Sprintf("2 files, %d rows", bigRows)))
	}, SpecTimeout(8*time.Minute))

	It("fails with StaleMeta naming a data file that changed after the task pinned its input", func(ctx SpecContext) {
		env := newTestEnv(ctx)
		env.genTable("books", bigRows, 1) // both partitions read the one file
		env.create(ctx, buildSpec{name: "changed", table: "books", output: "out",
			elementType: "index", elementIDs: []int64{1, 2}, partitions: 2, parallelism: 1})

		By("appending a row to the file as soon as the first worker pinned the input")
		Eventually(func() string { return env.path("out/versions/1/staging/_source.json") }).WithContext(ctx).
			WithTimeout(3 * time.Minute).WithPolling(5 * time.Millisecond).Should(BeAnExistingFile())
		file := env.path("books/part-00000.jsonl")
		data, err := os.ReadFile(file)
		Expect(err).NotTo(HaveOccurred())
		extra := strings.Replace(strings.SplitAfter(string(data), "\n")[0], `{"id":`, `{"id":99999`, 1)
		replaceFile(file, append(data, extra...))

		b := env.waitEnded(ctx, "changed")
		Expect(b.Status.Phase).To(Equal(ibv1.PhaseFailed), describe(b))
		stale := condition(b, ibv1.ConditionStaleMeta)
		Expect(stale).NotTo(BeNil(), describe(b))
		Expect(stale.Message).To(ContainSubstring(fmt.Sprintf("part-00000.jsonl: size %d at task start, %d now", len(data), len(data)+len(extra))))
		Expect(env.path("out/current.json")).NotTo(BeAnExistingFile(), "nothing was published")
	}, SpecTimeout(8*time.Minute))

	It("fails every kind of bad input with InvalidInput in one attempt, naming file and line; leftovers of other tools are not read", func(ctx SpecContext) {
		env := newTestEnv(ctx)
		env.genTable("books", 500, 1)
		good, err := os.ReadFile(env.path("books/part-00000.jsonl"))
		Expect(err).NotTo(HaveOccurred())
		lines := strings.SplitAfter(string(good), "\n")
		tests := []struct {
			name string
			edit func([]string) []string // of the file's lines
			want string
		}{
			{"dup-pk", func(l []string) []string { return append(l[:11:11], append([]string{l[4]}, l[11:]...)...) },
				`duplicate primary key "4": the rows at part-00000.jsonl line 5 and part-00000.jsonl line 12`},
			{"dup-key", func(l []string) []string {
				l[9] = strings.Replace(l[9], `"year":`, `"year":1999,"year":`, 1)
				return l
			}, `part-00000.jsonl line 10 column "year": key "year" appears twice in the object`},
			{"bad-utf8", func(l []string) []string {
				l[2] = strings.Replace(l[2], `"author":"`, "\"author\":\"\xff", 1)
				return l
			}, `part-00000.jsonl line 3 column "author": invalid UTF-8`},
		}
		for _, tt := range tests {
			By("bad input: " + tt.name)
			Expect(os.WriteFile(env.path("books/part-00000.jsonl"), []byte(strings.Join(tt.edit(append([]string(nil), lines...)), "")), 0o644)).To(Succeed())
			env.create(ctx, buildSpec{name: tt.name, table: "books", output: tt.name, elementType: "index", elementIDs: []int64{1, 2}, partitions: 1})
			b := env.waitEnded(ctx, tt.name)
			Expect(b.Status.Phase).To(Equal(ibv1.PhaseFailed), describe(b))
			stalled := condition(b, ibv1.ConditionStalled)
			Expect(stalled.Reason).To(Equal("InvalidInput"), describe(b))
			Expect(stalled.Message).To(ContainSubstring(tt.want))
			pods := env.pods(ctx, tt.name, controller.RoleBuild)
			Expect(pods).To(HaveLen(1), "one attempt: the pod failure policy failed the Job at once")
			Expect(pods[0].Status.ContainerStatuses[0].State.Terminated.ExitCode).To(BeEquivalentTo(4))
		}

		By("a failed Spark job's _temporary/ and .spark-staging/ copies of the data are not data")
		Expect(os.WriteFile(env.path("books/part-00000.jsonl"), good, 0o644)).To(Succeed())
		for _, dir := range []string{"books/_temporary/0", "books/.spark-staging"} {
			Expect(os.MkdirAll(env.path(dir), 0o755)).To(Succeed())
			Expect(os.WriteFile(env.path(dir+"/part-00000.jsonl"), good, 0o644)).To(Succeed())
		}
		env.create(ctx, buildSpec{name: "leftovers", table: "books", output: "leftovers", elementType: "index", elementIDs: []int64{1}, partitions: 2})
		expectSucceeded(env.waitEnded(ctx, "leftovers"), 500)
	}, SpecTimeout(8*time.Minute))
})

// replaceFile writes data to a temporary file next to name and renames it
// over name, the way most tools replace a file: a reader sees the old or
// the new one, never a half-written one.
func replaceFile(name string, data []byte) {
	tmp := name + ".tmp-e2e"
	Expect(os.WriteFile(tmp, data, 0o644)).To(Succeed())
	Expect(os.Rename(tmp, name)).To(Succeed())
}
