//go:build e2e

package e2e

import (
	"bytes"
	"cmp"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/indexbuild/indexbuild/internal/commit"
	"github.com/indexbuild/indexbuild/internal/controller"
	"github.com/indexbuild/indexbuild/internal/staging"
)

// Global sort (issue 18): an `index` task of more than one partition is
// merged by key range after its build, so a unique index is unique across
// the table and the committed files of an element hold disjoint key ranges.
var _ = Describe("IndexBuild global sort", func() {
	It("fails a unique index with a duplicate key in two partitions with InvalidInput naming the key and both rows, publishing nothing", func(ctx SpecContext) {
		env := newTestEnv(ctx)
		const rows = 2000
		env.genTable("books", rows, 2)
		By("the last row of the second file takes the isbn of row 3, in the first file")
		dup, last := isbn(3), rows-1
		file := env.path("books/part-00001.jsonl")
		data, err := os.ReadFile(file)
		Expect(err).NotTo(HaveOccurred())
		lines := strings.SplitAfter(string(data), "\n")
		at := len(lines) - 2 // the last line; the split leaves "" after the final newline
		Expect(lines[at]).To(ContainSubstring(fmt.Sprintf(`"id":%d,`, last)))
		Expect(lines[at]).To(ContainSubstring(strconv.Quote(isbn(last))))
		lines[at] = strings.Replace(lines[at], strconv.Quote(isbn(last)), strconv.Quote(dup), 1)
		Expect(os.WriteFile(file, []byte(strings.Join(lines, "")), 0o644)).To(Succeed())

		env.create(ctx, buildSpec{name: "dup", table: "books", output: "out",
			elementType: "index", elementIDs: []int64{4}, partitions: 2})
		b := env.waitEnded(ctx, "dup")
		stalled := expectStalled(b, "InvalidInput")
		Expect(stalled.Message).To(SatisfyAll(ContainSubstring("idx_isbn"), ContainSubstring(dup),
			ContainSubstring(strconv.Quote("3")), ContainSubstring(strconv.Quote(strconv.Itoa(last)))), describe(b))
		env.expectNothingPublished("out", 1)
	}, SpecTimeout(5*time.Minute))

	It("commits a 16-partition build as 4 key ranges per element (spec.merge.ranges 4), disjoint and ordered, answering queries as a 1-partition build", func(ctx SpecContext) {
		env := newTestEnv(ctx)
		const rows = 20000
		env.genTable("books", rows, 4)
		elements := []int64{1, 2, 3, 4}
		env.create(ctx, buildSpec{name: "ranged", table: "books", output: "ranged",
			elementType: "index", elementIDs: elements, partitions: 16, parallelism: 4, mergeRanges: 4})
		env.create(ctx, buildSpec{name: "single", table: "books", output: "single",
			elementType: "index", elementIDs: elements, partitions: 1})
		for _, name := range []string{"ranged", "single"} {
			b := env.waitEnded(ctx, name)
			expectSucceeded(b, rows)
			runIB("verify", "--output="+b.Spec.Output.URI)
		}

		By("one merge Job, one pod per key range")
		jobs := env.jobs(ctx, "ranged", controller.RoleMerge)
		Expect(jobs).To(HaveLen(1))
		Expect(jobs[0].Spec.Completions).To(HaveValue(BeEquivalentTo(4)))
		Expect(env.jobs(ctx, "single", controller.RoleMerge)).To(BeEmpty(), "one partition: no merge")

		By("the marker lists, per element, files whose key ranges are disjoint and ordered")
		data, err := os.ReadFile(env.path("ranged/versions/1/metadata.json"))
		Expect(err).NotTo(HaveOccurred())
		m, err := commit.DecodeMarker(data)
		Expect(err).NotTo(HaveOccurred())
		Expect(m.Problems()).To(BeEmpty())
		Expect(m.Partitions).To(Equal(4), "every range holds entries of the unique element")
		for _, e := range elements {
			files := committedFiles(m, e)
			if e == 4 {
				Expect(files).To(HaveLen(4), "element 4 (unique isbn): a file per range")
			}
			Expect(len(files)).To(BeNumerically(">", 1), "element %d", e)
			Expect(len(files)).To(BeNumerically("<=", 4), "element %d", e)
			for i, f := range files {
				Expect(f.KeyRange).NotTo(BeNil(), "%s has no key range", f.Path)
				Expect(bytes.Compare(f.KeyRange.First, f.KeyRange.Last)).To(BeNumerically("<=", 0), f.Path)
				if i > 0 {
					Expect(bytes.Compare(files[i-1].KeyRange.Last, f.KeyRange.First)).To(Equal(-1),
						"%s ends at or after %s starts", files[i-1].Path, f.Path)
				}
			}
		}

		By("point and range queries on every element answer exactly as the 1-partition build's")
		books := readBooks(env.path("books"))
		for _, q := range []struct {
			element int64
			args    []string
		}{
			{1, []string{"--eq", "1999"}},
			{1, []string{"--range", "1990", "2005"}},
			{1, []string{"--range", "-2000", "1910"}},
			{2, []string{"--eq", "Jane Austen"}},
			{2, []string{"--range", "Gabriel", "Leo"}},
			{3, []string{"--eq", ""}},
			{3, []string{"--range", "-5", "20.5"}},
			{4, []string{"--eq", isbn(0)}},
			{4, []string{"--eq", isbn(rows / 2)}},
			{4, []string{"--eq", isbn(rows - 1)}},
			{4, []string{"--eq", isbn(rows)}},
			{4, []string{"--range", isbn(4990), isbn(5010)}},
		} {
			got := queryOutput(env.uri("ranged"), q.element, q.args...)
			Expect(got).To(Equal(queryOutput(env.uri("single"), q.element, q.args...)), "element %d %v", q.element, q.args)
			switch {
			case q.element == 4 && q.args[0] == "--eq" && q.args[1] == isbn(rows):
				Expect(got).To(BeEmpty(), "no row has isbn %s", isbn(rows))
			case q.element == 4 && q.args[0] == "--eq":
				Expect(strings.Fields(got)).To(HaveLen(1), "element 4 %v: one row", q.args)
			default:
				Expect(got).NotTo(BeEmpty(), "element %d %v", q.element, q.args)
			}
		}
		Expect(query(env.uri("ranged"), 1, "--range", "1990", "2005")).To(Equal(handles(books, yearIn(1990, 2005))))
	}, SpecTimeout(8*time.Minute))
})

// isbn is the isbn of row i of a generated table (gen-table seed 1).
func isbn(i int) string { return fmt.Sprintf("978-1-%010d", i) }

// committedFiles are the marker's files of one element in committed order
// (part_<n>_<element>, n ascending; the marker sorts paths as strings).
func committedFiles(m commit.Marker, element int64) []staging.File {
	var files []staging.File
	for _, f := range m.Files {
		if f.Element == element {
			files = append(files, f)
		}
	}
	n := func(f staging.File) int {
		var n int
		var e int64
		_, err := fmt.Sscanf(f.Path, "part_%d_%d.", &n, &e)
		Expect(err).NotTo(HaveOccurred(), "committed file %q", f.Path)
		return n
	}
	slices.SortFunc(files, func(a, b staging.File) int { return cmp.Compare(n(a), n(b)) })
	return files
}

// queryOutput is `indexbuild query`'s whole answer, in its order.
func queryOutput(index string, element int64, args ...string) string {
	return runIB(append([]string{"query", "--index=" + index, "--element=" + strconv.FormatInt(element, 10)}, args...)...)
}
