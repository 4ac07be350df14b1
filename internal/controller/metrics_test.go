package controller

import (
	"fmt"
	"net/http"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	batchv1 "k8s.io/api/batch/v1"

	indexbuildv1alpha1 "github.com/indexbuild/indexbuild/api/v1alpha1"
	"github.com/indexbuild/indexbuild/internal/summary"
	"github.com/indexbuild/indexbuild/internal/testutil"
)

// scrapedMetrics is one scrape of the manager's /metrics endpoint.
type scrapedMetrics map[string]*dto.MetricFamily

func scrapeMetrics() scrapedMetrics {
	resp, err := http.Get("http://" + metricsAddr + "/metrics")
	Expect(err).NotTo(HaveOccurred())
	defer resp.Body.Close()
	Expect(resp.StatusCode).To(Equal(http.StatusOK))
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	Expect(err).NotTo(HaveOccurred())
	return families
}

// value sums the samples of name whose labels include all of labels; a
// histogram counts its observations.
func (m scrapedMetrics) value(name string, labels ...string) float64 {
	family, ok := m[name]
	if !ok {
		return 0
	}
	var sum float64
	for _, metric := range family.Metric {
		have := map[string]string{}
		for _, l := range metric.Label {
			have[l.GetName()] = l.GetValue()
		}
		match := true
		for i := 0; i+1 < len(labels); i += 2 {
			if have[labels[i]] != labels[i+1] {
				match = false
			}
		}
		if !match {
			continue
		}
		switch {
		case metric.Counter != nil:
			sum += metric.Counter.GetValue()
		case metric.Gauge != nil:
			sum += metric.Gauge.GetValue()
		case metric.Histogram != nil:
			sum += float64(metric.Histogram.GetSampleCount())
		}
	}
	return sum
}

var _ = Describe("IndexBuild metrics", func() {
	It("counts phases, partitions, commits and failures on the metrics endpoint", func() {
		n := newNamespace("ib-metrics-")
		ns := n.Name
		before := scrapeMetrics()

		By("a build that retried one worker and committed 1234 bytes")
		ok := testutil.MakeIndexBuild("counted", ns).Partitions(2).Obj()
		Expect(k8sClient.Create(ctx, ok)).To(Succeed())
		build := waitForJob(ns, "counted-1-build")
		updateJobStatus(build, func(j *batchv1.Job) {
			j.Status.Failed = 1
			testutil.JobSucceeded(j)
		})
		updateJobStatus(waitForJob(ns, "counted-1-merge"), testutil.JobSucceeded)
		finalize := waitForJob(ns, "counted-1-finalize")
		terminatedPod(finalize, "counted-1-finalize-x", 0, mustJSON(summary.Commit{MarkerURI: "s3://i/metadata.json", Files: 2, Bytes: 1234, Rows: 9}))
		updateJobStatus(finalize, testutil.JobSucceeded)

		By("a build whose elementIDs changed mid-build")
		stale := testutil.MakeIndexBuild("counted-stale", ns).Obj()
		Expect(k8sClient.Create(ctx, stale)).To(Succeed())
		waitForJob(ns, "counted-stale-1-build")
		patchSpec(stale, func(ib *indexbuildv1alpha1.IndexBuild) { ib.Spec.ElementIDs = []int64{2} })

		By("a build whose worker found bad data")
		bad := testutil.MakeIndexBuild("counted-bad", ns).Obj()
		Expect(k8sClient.Create(ctx, bad)).To(Succeed())
		updateJobStatus(waitForJob(ns, "counted-bad-1-build"), func(j *batchv1.Job) {
			testutil.JobFailedByPodFailurePolicy(j, "p", containerWorker, 4, 1)
		})

		for _, ib := range []*indexbuildv1alpha1.IndexBuild{ok, stale, bad} {
			Eventually(func(g Gomega) {
				g.Expect(isTerminal(getIndexBuild(g, ib).Status.Phase)).To(BeTrue())
			}, timeout, interval).Should(Succeed())
		}
		Eventually(func(g Gomega) {
			after := scrapeMetrics()
			delta := func(name string, labels ...string) float64 {
				return after.value(name, labels...) - before.value(name, labels...)
			}
			g.Expect(after.value("indexbuild_builds", "phase", "Succeeded")).To(BeNumerically(">=", 1))
			g.Expect(after.value("indexbuild_builds", "phase", "Failed")).To(BeNumerically(">=", 2))
			g.Expect(delta("indexbuild_partitions_completed_total")).To(BeNumerically(">=", 2))
			g.Expect(delta("indexbuild_commit_bytes_total")).To(Equal(1234.0))
			g.Expect(delta("indexbuild_finalize_duration_seconds")).To(Equal(1.0))
			g.Expect(delta("indexbuild_stale_metadata_failures_total")).To(Equal(1.0))
			g.Expect(delta("indexbuild_build_failures_total", "reason", "StaleMeta")).To(Equal(1.0))
			g.Expect(delta("indexbuild_build_failures_total", "reason", "InvalidInput")).To(Equal(1.0))
			g.Expect(delta("indexbuild_worker_failures_total", "role", RoleBuild, "retryable", "true")).To(Equal(1.0))
			g.Expect(delta("indexbuild_worker_failures_total", "role", RoleBuild, "retryable", "false")).To(Equal(1.0))
			By("every series names the namespace")
			g.Expect(after.value("indexbuild_builds", "namespace", ns, "phase", "Failed")).To(Equal(2.0))
			g.Expect(after.value("indexbuild_builds", "namespace", ns, "phase", "Succeeded")).To(Equal(1.0))
			g.Expect(after.value("indexbuild_build_failures_total", "namespace", ns)).To(Equal(2.0))
			g.Expect(after.value("indexbuild_commit_bytes_total", "namespace", ns)).To(Equal(1234.0))
			g.Expect(after.value("indexbuild_build_duration_seconds", "namespace", ns, "result", "succeeded")).To(Equal(1.0))
			g.Expect(after.value("indexbuild_build_duration_seconds", "namespace", ns, "result", "failed")).To(Equal(2.0))
			// Only "counted" had a pod run before it ended.
			g.Expect(after.value("indexbuild_first_pod_wait_seconds", "namespace", ns)).To(Equal(1.0))
		}, timeout, interval).Should(Succeed(), fmt.Sprintf("metrics at http://%s/metrics", metricsAddr))
	})
})
