package kubectlplugin

import (
	"fmt"
	"net/url"
	"sort"
	"strconv"
	"strings"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"

	indexbuildv1alpha1 "github.com/indexbuild/indexbuild/api/v1alpha1"
	"github.com/indexbuild/indexbuild/internal/controller"
	"github.com/indexbuild/indexbuild/internal/output"
)

// LogTarget says which pods `logs` reads.
type LogTarget struct {
	Name  string
	JobID int64
	// Partition selects one build partition, or with Merge one key range
	// (the Job's completion index); nil is every one.
	Partition *int
	// Merge selects the merge pods instead of workers.
	Merge bool
	// Finalize selects the finalize pod instead of workers.
	Finalize bool
}

// role is the child Job role whose pods the target reads.
func (t LogTarget) role() string {
	switch {
	case t.Finalize:
		return controller.RoleFinalize
	case t.Merge:
		return controller.RoleMerge
	}
	return controller.RoleBuild
}

// Selector is the label selector of the target's pods: the IndexBuild's
// name, the jobID and role labels every child Job's pods carry, and for a
// partition the Indexed Job's completion-index label.
func (t LogTarget) Selector() labels.Selector {
	set := labels.Set{
		controller.LabelBuildName: t.Name,
		controller.LabelJobID:     strconv.FormatInt(t.JobID, 10),
		controller.LabelRole:      t.role(),
	}
	if t.Partition != nil && !t.Finalize {
		set[batchv1.JobCompletionIndexAnnotation] = strconv.Itoa(*t.Partition)
	}
	return labels.SelectorFromSet(set)
}

// ChoosePods picks whose logs to show from the target's pods: with
// allAttempts every pod, else the newest pod of each partition (the current
// or last attempt; the finalize pod counts as one partition). Pods come out
// by partition, then oldest first.
func ChoosePods(pods []corev1.Pod, allAttempts bool) []corev1.Pod {
	sorted := append([]corev1.Pod(nil), pods...)
	sort.SliceStable(sorted, func(i, j int) bool {
		pi, pj := podPartition(&sorted[i]), podPartition(&sorted[j])
		if pi != pj {
			return pi < pj
		}
		ti, tj := sorted[i].CreationTimestamp, sorted[j].CreationTimestamp
		if !ti.Equal(&tj) {
			return ti.Before(&tj)
		}
		return sorted[i].Name < sorted[j].Name
	})
	if allAttempts {
		return sorted
	}
	var out []corev1.Pod
	for i := range sorted {
		if len(out) > 0 && podPartition(&out[len(out)-1]) == podPartition(&sorted[i]) {
			out[len(out)-1] = sorted[i]
			continue
		}
		out = append(out, sorted[i])
	}
	return out
}

// podPartition is the pod's completion index, or -1 when it has none (the
// finalize pod).
func podPartition(p *corev1.Pod) int {
	v, ok := p.Labels[batchv1.JobCompletionIndexAnnotation]
	if !ok {
		v, ok = p.Annotations[batchv1.JobCompletionIndexAnnotation]
	}
	if !ok {
		return -1
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return -1
	}
	return n
}

// LogContainer is the container whose logs a pod of the target holds.
func (t LogTarget) LogContainer() string {
	switch t.role() {
	case controller.RoleBuild:
		return "worker"
	default:
		return t.role()
	}
}

// NoPodsMessage explains an empty pod list.
func (t LogTarget) NoPodsMessage(ns string) string {
	what := "worker pods"
	switch {
	case t.Finalize:
		what = "finalize pod"
	case t.Merge && t.Partition != nil:
		what = fmt.Sprintf("merge pod for key range %d", *t.Partition)
	case t.Merge:
		what = "merge pods"
	case t.Partition != nil:
		what = fmt.Sprintf("worker pod for partition %d", *t.Partition)
	}
	return fmt.Sprintf("no %s of IndexBuild %s/%s jobID %d (selector %s): not started yet, or removed with its Job",
		what, ns, t.Name, t.JobID, t.Selector())
}

// IndexRoot is the URI `query` opens: the output root of
// status.commit.markerURI (the marker is versions/<jobID>/metadata.json
// under it; query follows the root's current.json from there, so it reads
// the version published now). When that root is
// spec.output.uri without its query string (endpoint, region, ...), the
// output URI is used as written, so that its storage parameters apply.
func IndexRoot(ib *indexbuildv1alpha1.IndexBuild) (string, error) {
	if ib.Status.Commit == nil || ib.Status.Commit.MarkerURI == "" {
		return "", fmt.Errorf("IndexBuild %s has no committed index yet (phase %s); pass --index URI to query an output directly", ib.Name, phaseOrNone(ib))
	}
	marker := ib.Status.Commit.MarkerURI
	mu, err := url.Parse(marker)
	if err != nil {
		return "", fmt.Errorf("status.commit.markerURI %q: %v", marker, err)
	}
	if !strings.HasSuffix(mu.Path, "/metadata.json") && mu.Path != "metadata.json" {
		return "", fmt.Errorf("status.commit.markerURI %q does not name a metadata.json marker", marker)
	}
	mu.Path = strings.TrimSuffix(strings.TrimSuffix(mu.Path, "metadata.json"), "/")
	if i := strings.LastIndex(mu.Path, "/"+output.VersionsPrefix); i >= 0 {
		if _, rest, ok := output.ParseVersionKey(mu.Path[i+1:] + "/"); ok && rest == "" {
			mu.Path = mu.Path[:i]
		}
	}
	mu.RawPath = ""
	if ou, err := url.Parse(ib.Spec.Output.URI); err == nil && ou.Scheme == mu.Scheme && ou.Host == mu.Host &&
		strings.TrimSuffix(ou.Path, "/") == mu.Path {
		return ib.Spec.Output.URI, nil
	}
	if mu.RawQuery == "" {
		if ou, err := url.Parse(ib.Spec.Output.URI); err == nil && ou.Scheme == mu.Scheme {
			mu.RawQuery = ou.RawQuery
		}
	}
	return mu.String(), nil
}
