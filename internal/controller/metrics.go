package controller

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	batchv1 "k8s.io/api/batch/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	indexbuildv1alpha1 "github.com/indexbuild/indexbuild/api/v1alpha1"
)

// Metrics served on the manager's metrics endpoint, next to
// controller-runtime's own. Counters move when the status that reports the
// same fact has been stored, so a retried reconcile does not count twice.
var (
	staleMetaFailures = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "indexbuild_stale_metadata_failures_total",
		Help: "Builds failed because their task metadata went stale (spec edits, disagreeing Jobs, workers exiting 3).",
	})
	buildFailures = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "indexbuild_build_failures_total",
		Help: "Builds that ended Failed, by reason.",
	}, []string{"reason"})
	workerFailures = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "indexbuild_worker_failures_total",
		Help: "Failed worker, merge and finalize pods: retryable=true were retried (exit 1, crashes), retryable=false failed the build (exit 3 or 4).",
	}, []string{"role", "retryable"})
	partitionsCompleted = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "indexbuild_partitions_completed_total",
		Help: "Partitions whose worker finished.",
	})
	finalizeDuration = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "indexbuild_finalize_duration_seconds",
		Help:    "Time from the finalize Job's start to its completion.",
		Buckets: prometheus.ExponentialBuckets(1, 2, 12),
	})
	commitBytes = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "indexbuild_commit_bytes_total",
		Help: "Bytes in committed index files.",
	})
	buildsByPhaseDesc = prometheus.NewDesc("indexbuild_builds", "IndexBuilds by phase.", []string{"phase"}, nil)
)

func init() {
	ctrlmetrics.Registry.MustRegister(staleMetaFailures, buildFailures, workerFailures, partitionsCompleted, finalizeDuration, commitBytes)
}

// phaseCollector counts IndexBuilds by phase from the manager's cache at
// scrape time, so the gauge is right after restarts and deletions.
type phaseCollector struct{ reader client.Reader }

func (c phaseCollector) Describe(ch chan<- *prometheus.Desc) { ch <- buildsByPhaseDesc }

func (c phaseCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var list indexbuildv1alpha1.IndexBuildList
	if err := c.reader.List(ctx, &list); err != nil {
		ch <- prometheus.NewInvalidMetric(buildsByPhaseDesc, err)
		return
	}
	counts := map[indexbuildv1alpha1.Phase]int{
		indexbuildv1alpha1.PhasePending: 0, indexbuildv1alpha1.PhaseBuilding: 0, indexbuildv1alpha1.PhaseMerging: 0, indexbuildv1alpha1.PhaseFinalizing: 0,
		indexbuildv1alpha1.PhaseSucceeded: 0, indexbuildv1alpha1.PhaseFailed: 0,
	}
	for _, ib := range list.Items {
		phase := ib.Status.Phase
		if phase == "" {
			phase = indexbuildv1alpha1.PhasePending
		}
		counts[phase]++
	}
	for phase, n := range counts {
		ch <- prometheus.MustNewConstMetric(buildsByPhaseDesc, prometheus.GaugeValue, float64(n), string(phase))
	}
}

// observeStoredStatus updates the counters for what changed between two
// stored statuses of one IndexBuild; jobs are its child Jobs.
func observeStoredStatus(before, after *indexbuildv1alpha1.IndexBuild, jobs childJobs) {
	if before.Status.Task != nil && after.Status.Task != nil && before.Status.Task.Key == after.Status.Task.Key {
		if d := after.Status.Partitions.Succeeded - before.Status.Partitions.Succeeded; d > 0 {
			partitionsCompleted.Add(float64(d))
		}
	}
	if before.Status.Phase == after.Status.Phase {
		return
	}
	// The stages the build left with this change: their Jobs are done with.
	for i := stageIndex(before.Status.Phase); i < len(taskStages) && (i < stageIndex(after.Status.Phase) || isTerminal(after.Status.Phase)); i++ {
		if job := jobs.current[taskStages[i].role]; job != nil {
			observeFinishedJob(job)
		}
	}
	switch after.Status.Phase {
	case indexbuildv1alpha1.PhaseSucceeded:
		finalize := jobs.current[publishingStage.role]
		if finalize != nil && finalize.Status.StartTime != nil && finalize.Status.CompletionTime != nil {
			finalizeDuration.Observe(finalize.Status.CompletionTime.Sub(finalize.Status.StartTime.Time).Seconds())
		}
		if after.Status.Commit != nil {
			commitBytes.Add(float64(after.Status.Commit.Bytes))
		}
	case indexbuildv1alpha1.PhaseFailed:
		reason := findCondition(after, indexbuildv1alpha1.ConditionReady).Reason
		buildFailures.WithLabelValues(reason).Inc()
		if reason == ReasonStaleMeta {
			staleMetaFailures.Inc()
		}
	}
}

// observeFinishedJob counts a finished Job's failed pods: one that failed
// it through the pod failure policy (exit 3 or 4) was not retryable, the
// others were retried.
func observeFinishedJob(job *batchv1.Job) {
	role := job.Labels[LabelRole]
	failed := job.Status.Failed
	if out := classifyJob(job); out.Failed && (out.Reason == ReasonStaleMeta || out.Reason == ReasonInvalidInput) {
		workerFailures.WithLabelValues(role, "false").Inc()
		failed--
	}
	if failed > 0 {
		workerFailures.WithLabelValues(role, "true").Add(float64(failed))
	}
}
