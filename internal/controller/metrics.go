package controller

import (
	"context"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	batchv1 "k8s.io/api/batch/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	indexbuildv1alpha1 "github.com/indexbuild/indexbuild/api/v1alpha1"
)

// buildMetrics are the metrics served on the manager's metrics endpoint,
// next to controller-runtime's own. Every series carries the IndexBuild's
// namespace and the IndexBuild labels the admin opted in to
// (--metrics-indexbuild-labels, as label_<key>), so alerts can route per
// team. Counters move when the status that reports the same fact has been
// stored, so a retried reconcile does not count twice.
type buildMetrics struct {
	// labelKeys are the opted-in IndexBuild label keys; the series' label
	// names are "namespace" then labelNames.
	labelKeys  []string
	labelNames []string

	staleMetaFailures   *prometheus.CounterVec
	buildFailures       *prometheus.CounterVec
	workerFailures      *prometheus.CounterVec
	partitionsCompleted *prometheus.CounterVec
	finalizeDuration    *prometheus.HistogramVec
	buildDuration       *prometheus.HistogramVec
	firstPodWait        *prometheus.HistogramVec
	commitBytes         *prometheus.CounterVec
	buildsByPhase       *prometheus.Desc

	// ran holds the tasks whose first pod was seen running (firstPodWait
	// is observed once per task); a task leaves it when it ends.
	ran sync.Map
}

// durationBuckets span a second to about a day.
var durationBuckets = prometheus.ExponentialBuckets(1, 2, 17)

func newBuildMetrics(labelKeys []string) *buildMetrics {
	m := &buildMetrics{labelKeys: labelKeys}
	for _, k := range labelKeys {
		m.labelNames = append(m.labelNames, metricLabelName(k))
	}
	labels := func(more ...string) []string {
		return append(append([]string{"namespace"}, m.labelNames...), more...)
	}
	m.staleMetaFailures = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "indexbuild_stale_metadata_failures_total",
		Help: "Builds failed because their task metadata went stale (spec edits, disagreeing Jobs, workers exiting 3).",
	}, labels())
	m.buildFailures = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "indexbuild_build_failures_total",
		Help: "Builds that ended Failed, by reason.",
	}, labels("reason"))
	m.workerFailures = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "indexbuild_worker_failures_total",
		Help: "Failed worker, merge and finalize pods: retryable=true were retried (exit 1, crashes), retryable=false failed the build (exit 3 or 4).",
	}, labels("role", "retryable"))
	m.partitionsCompleted = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "indexbuild_partitions_completed_total",
		Help: "Partitions whose worker finished.",
	}, labels())
	m.finalizeDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "indexbuild_finalize_duration_seconds",
		Help:    "Time from the finalize Job's start to its completion.",
		Buckets: prometheus.ExponentialBuckets(1, 2, 12),
	}, labels())
	m.buildDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "indexbuild_build_duration_seconds",
		Help:    "Time from a task's start to its end, by result (succeeded, failed).",
		Buckets: durationBuckets,
	}, labels("result"))
	m.firstPodWait = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "indexbuild_first_pod_wait_seconds",
		Help:    "Time from a task's start to its first worker pod running: queued in Kueue, suspended, unschedulable, pulling images.",
		Buckets: durationBuckets,
	}, labels())
	m.commitBytes = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "indexbuild_commit_bytes_total",
		Help: "Bytes in committed index files.",
	}, labels())
	m.buildsByPhase = prometheus.NewDesc("indexbuild_builds", "IndexBuilds by phase.", labels("phase"), nil)
	return m
}

var invalidMetricLabelChars = regexp.MustCompile(`[^a-zA-Z0-9_]`)

// metricLabelName is the label an IndexBuild label key becomes, as
// kube-state-metrics names them: app.kubernetes.io/team is
// label_app_kubernetes_io_team.
func metricLabelName(key string) string {
	return "label_" + invalidMetricLabelChars.ReplaceAllString(key, "_")
}

// register adds the metrics to reg; the phase gauge counts IndexBuilds
// from reader at scrape time, so it is right after restarts and deletions.
func (m *buildMetrics) register(reg prometheus.Registerer, reader client.Reader) error {
	for _, c := range []prometheus.Collector{m.staleMetaFailures, m.buildFailures, m.workerFailures, m.partitionsCompleted,
		m.finalizeDuration, m.buildDuration, m.firstPodWait, m.commitBytes, phaseCollector{m, reader}} {
		if err := reg.Register(c); err != nil {
			return err
		}
	}
	return nil
}

// labelValues are the namespace and opted-in label values of ib's series,
// then more.
func (m *buildMetrics) labelValues(ib *indexbuildv1alpha1.IndexBuild, more ...string) []string {
	v := make([]string, 0, 1+len(m.labelKeys)+len(more))
	v = append(v, ib.Namespace)
	for _, k := range m.labelKeys {
		v = append(v, ib.Labels[k])
	}
	return append(v, more...)
}

// phaseCollector is the indexbuild_builds gauge.
type phaseCollector struct {
	m      *buildMetrics
	reader client.Reader
}

func (c phaseCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.m.buildsByPhase }

func (c phaseCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var list indexbuildv1alpha1.IndexBuildList
	if err := c.reader.List(ctx, &list); err != nil {
		ch <- prometheus.NewInvalidMetric(c.m.buildsByPhase, err)
		return
	}
	counts := map[string]struct {
		values []string
		n      int
	}{}
	for i := range list.Items {
		ib := &list.Items[i]
		phase := ib.Status.Phase
		if phase == "" {
			phase = indexbuildv1alpha1.PhasePending
		}
		values := c.m.labelValues(ib, string(phase))
		key := seriesKey(values)
		e := counts[key]
		e.values, e.n = values, e.n+1
		counts[key] = e
	}
	for _, e := range counts {
		ch <- prometheus.MustNewConstMetric(c.m.buildsByPhase, prometheus.GaugeValue, float64(e.n), e.values...)
	}
}

func seriesKey(values []string) string { return strings.Join(values, "\x00") }

// observeStoredStatus updates the metrics for what changed between two
// stored statuses of one IndexBuild; jobs are its child Jobs.
func (m *buildMetrics) observeStoredStatus(before, after *indexbuildv1alpha1.IndexBuild, jobs childJobs) {
	if before.Status.Task != nil && after.Status.Task != nil && before.Status.Task.Key == after.Status.Task.Key {
		if d := after.Status.Partitions.Succeeded - before.Status.Partitions.Succeeded; d > 0 {
			m.partitionsCompleted.WithLabelValues(m.labelValues(after)...).Add(float64(d))
		}
	}
	m.observeFirstPod(after, jobs.current[taskStages[0].role])
	if before.Status.Phase == after.Status.Phase {
		return
	}
	// The stages the build left with this change: their Jobs are done with.
	for i := stageIndex(before.Status.Phase); i < len(taskStages) && (i < stageIndex(after.Status.Phase) || isTerminal(after.Status.Phase)); i++ {
		if job := jobs.current[taskStages[i].role]; job != nil {
			m.observeFinishedJob(after, job)
		}
	}
	if isTerminal(after.Status.Phase) {
		m.observeEnd(after)
	}
	switch after.Status.Phase {
	case indexbuildv1alpha1.PhaseSucceeded:
		finalize := jobs.current[publishingStage.role]
		if finalize != nil && finalize.Status.StartTime != nil && finalize.Status.CompletionTime != nil {
			m.finalizeDuration.WithLabelValues(m.labelValues(after)...).Observe(finalize.Status.CompletionTime.Sub(finalize.Status.StartTime.Time).Seconds())
		}
		if after.Status.Commit != nil {
			m.commitBytes.WithLabelValues(m.labelValues(after)...).Add(float64(after.Status.Commit.Bytes))
		}
	case indexbuildv1alpha1.PhaseFailed:
		reason := findCondition(after, indexbuildv1alpha1.ConditionReady).Reason
		m.buildFailures.WithLabelValues(m.labelValues(after, reason)...).Inc()
		if reason == ReasonStaleMeta {
			m.staleMetaFailures.WithLabelValues(m.labelValues(after)...).Inc()
		}
	}
}

// observeFirstPod observes, once per task, the wait from the task's start
// until a pod of its first stage ran (was ready, or finished).
func (m *buildMetrics) observeFirstPod(ib *indexbuildv1alpha1.IndexBuild, job *batchv1.Job) {
	task := ib.Status.Task
	if task == nil || task.StartTime == nil || job == nil || isTerminal(ib.Status.Phase) {
		return
	}
	if ptr.Deref(job.Status.Ready, 0)+job.Status.Succeeded+job.Status.Failed == 0 {
		return
	}
	if _, seen := m.ran.LoadOrStore(task.Key, struct{}{}); seen {
		return
	}
	m.firstPodWait.WithLabelValues(m.labelValues(ib)...).Observe(time.Since(task.StartTime.Time).Seconds())
}

// observeEnd observes the duration of a task that ended.
func (m *buildMetrics) observeEnd(ib *indexbuildv1alpha1.IndexBuild) {
	task := ib.Status.Task
	if task == nil {
		return
	}
	m.ran.Delete(task.Key)
	if task.StartTime == nil || ib.Status.CompletionTime == nil {
		return
	}
	result := "failed"
	if ib.Status.Phase == indexbuildv1alpha1.PhaseSucceeded {
		result = "succeeded"
	}
	m.buildDuration.WithLabelValues(m.labelValues(ib, result)...).Observe(ib.Status.CompletionTime.Sub(task.StartTime.Time).Seconds())
}

// forget drops what the metrics hold of a deleted IndexBuild's task.
func (m *buildMetrics) forget(ib *indexbuildv1alpha1.IndexBuild) {
	if ib.Status.Task != nil {
		m.ran.Delete(ib.Status.Task.Key)
	}
}

// observeFinishedJob counts a finished Job's failed pods: one that failed
// it through the pod failure policy (exit 3 or 4) was not retryable, the
// others were retried.
func (m *buildMetrics) observeFinishedJob(ib *indexbuildv1alpha1.IndexBuild, job *batchv1.Job) {
	role := job.Labels[LabelRole]
	failed := job.Status.Failed
	if out := classifyJob(job); out.Failed && (out.Reason == ReasonStaleMeta || out.Reason == ReasonInvalidInput) {
		m.workerFailures.WithLabelValues(m.labelValues(ib, role, "false")...).Inc()
		failed--
	}
	if failed > 0 {
		m.workerFailures.WithLabelValues(m.labelValues(ib, role, "true")...).Add(float64(failed))
	}
}
