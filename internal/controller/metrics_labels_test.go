package controller

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	batchv1 "k8s.io/api/batch/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	indexbuildv1alpha1 "github.com/indexbuild/indexbuild/api/v1alpha1"
	"github.com/indexbuild/indexbuild/internal/testutil"
)

// TestMetricLabelOptIn: opted-in IndexBuild labels become label_<key> on
// every series, beside the namespace; a build without the label has "".
func TestMetricLabelOptIn(t *testing.T) {
	if got := metricLabelName("app.kubernetes.io/team"); got != "label_app_kubernetes_io_team" {
		t.Fatalf("metricLabelName = %q", got)
	}
	scheme := runtime.NewScheme()
	if err := indexbuildv1alpha1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	m := newBuildMetrics([]string{"team"})
	reg := prometheus.NewRegistry()
	labelled := testutil.MakeIndexBuild("a", "ns-a").Label("team", "search").Obj()
	plain := testutil.MakeIndexBuild("b", "ns-b").Obj()
	if err := m.register(reg, fake.NewClientBuilder().WithScheme(scheme).WithObjects(labelled, plain).Build()); err != nil {
		t.Fatal(err)
	}

	start := metav1.Now()
	for _, ib := range []*indexbuildv1alpha1.IndexBuild{labelled, plain} {
		ib.Status.Task = &indexbuildv1alpha1.TaskStatus{Key: ib.Namespace + "/" + ib.Name + "/1", StartTime: &start}
		running := ib.DeepCopy()
		running.Status.Phase = indexbuildv1alpha1.PhaseBuilding
		build := &batchv1.Job{}
		build.Labels = map[string]string{LabelRole: RoleBuild}
		build.Status.Ready = ptr.To[int32](1)
		jobs := childJobs{current: map[string]*batchv1.Job{RoleBuild: build}}
		m.observeStoredStatus(ib, running, jobs)
		m.observeStoredStatus(running, running, jobs) // the same task's pod again: observed once
		done := running.DeepCopy()
		done.Status.Phase = indexbuildv1alpha1.PhaseFailed
		done.Status.CompletionTime = &metav1.Time{Time: start.Add(90e9)}
		done.Status.Conditions = []metav1.Condition{{Type: indexbuildv1alpha1.ConditionReady, Status: metav1.ConditionFalse, Reason: ReasonInvalidInput}}
		m.observeStoredStatus(running, done, jobs)
	}

	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]map[string]string{} // family/namespace -> labels
	for _, f := range families {
		for _, metric := range f.Metric {
			labels := map[string]string{}
			for _, l := range metric.Label {
				labels[l.GetName()] = l.GetValue()
			}
			if _, ok := labels["label_team"]; !ok {
				t.Errorf("%s %v has no label_team", f.GetName(), labels)
			}
			seen[f.GetName()+"/"+labels["namespace"]] = labels
			if f.GetName() == "indexbuild_first_pod_wait_seconds" && metric.Histogram.GetSampleCount() != 1 {
				t.Errorf("first pod wait observed %d times for %s, want once", metric.Histogram.GetSampleCount(), labels["namespace"])
			}
			if f.GetName() == "indexbuild_build_duration_seconds" && metric.Histogram.GetSampleSum() != 90 {
				t.Errorf("build duration %v, want 90 s", metric.Histogram.GetSampleSum())
			}
		}
	}
	for _, name := range []string{"indexbuild_builds", "indexbuild_build_failures_total", "indexbuild_build_duration_seconds", "indexbuild_first_pod_wait_seconds"} {
		if l := seen[name+"/ns-a"]; l == nil || l["label_team"] != "search" {
			t.Errorf("%s for ns-a: labels %v, want label_team=search", name, l)
		}
		if l := seen[name+"/ns-b"]; l == nil || l["label_team"] != "" {
			t.Errorf("%s for ns-b: labels %v, want label_team empty", name, l)
		}
	}
}
