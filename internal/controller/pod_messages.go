package controller

import (
	"context"
	"sort"
	"strings"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	indexbuildv1alpha1 "github.com/indexbuild/indexbuild/api/v1alpha1"
	"github.com/indexbuild/indexbuild/internal/commit"
	"github.com/indexbuild/indexbuild/internal/output"
	"github.com/indexbuild/indexbuild/internal/storage"
	"github.com/indexbuild/indexbuild/internal/summary"
)

// anyFailure asks terminationMessages for pods that ended with any exit
// code but 0.
const anyFailure int32 = -1

// terminationMessages returns the termination messages of a Job's pods
// whose container ended with exitCode (or anyFailure), newest first. They are read from the
// API, once at the end of a Job: the cache holds no pods that succeeded
// (finalize's commit summary is in one), and may not have the last state of
// a pod whose Job has just ended.
func (r *IndexBuildReconciler) terminationMessages(ctx context.Context, job *batchv1.Job, exitCode int32, podName string) ([]string, error) {
	var pods corev1.PodList
	if err := r.apiReader.List(ctx, &pods, client.InNamespace(job.Namespace), client.MatchingLabels{batchv1.JobNameLabel: job.Name}); err != nil {
		return nil, err
	}
	type message struct {
		text     string
		finished time.Time
	}
	var found []message
	for i := range pods.Items {
		pod := &pods.Items[i]
		if podName != "" && pod.Name != podName {
			continue
		}
		for _, cs := range pod.Status.ContainerStatuses {
			t := cs.State.Terminated
			if t != nil && (t.ExitCode == exitCode || exitCode == anyFailure && t.ExitCode != 0) && strings.TrimSpace(t.Message) != "" {
				found = append(found, message{strings.TrimSpace(t.Message), t.FinishedAt.Time})
			}
		}
	}
	sort.SliceStable(found, func(i, j int) bool { return found[i].finished.After(found[j].finished) })
	msgs := make([]string, len(found))
	for i, m := range found {
		msgs[i] = m.text
	}
	return msgs, nil
}

// commitFromFinalize reads the commit summary the finalize pod left in its
// termination message. Without one (pods already garbage-collected) the
// marker's location is still known.
func (r *IndexBuildReconciler) commitFromFinalize(ctx context.Context, ib *indexbuildv1alpha1.IndexBuild, job *batchv1.Job) indexbuildv1alpha1.CommitStatus {
	version := output.VersionPrefix(ib.Spec.JobID)
	commit := indexbuildv1alpha1.CommitStatus{Version: version, MarkerURI: storage.ObjectURI(ib.Spec.Output.URI, version+commit.MarkerKey)}
	msgs, err := r.terminationMessages(ctx, job, 0, "")
	if err != nil {
		return commit
	}
	for _, msg := range msgs {
		c, err := summary.ParseCommit(msg)
		if err != nil {
			continue
		}
		if c.MarkerURI != "" {
			commit.MarkerURI = c.MarkerURI
		}
		if c.Version != "" {
			commit.Version = c.Version
		}
		commit.Files = int32(c.Files)
		commit.Bytes = c.Bytes
		commit.Rows = c.Rows
		if !c.CommittedAt.IsZero() {
			commit.CommitTime = &metav1.Time{Time: c.CommittedAt}
		}
		break
	}
	return commit
}

// workerError is the error a failed pod reported: the error field of its
// JSON summary, or the message as it is (the tail of its log, with
// FallbackToLogsOnError).
func (r *IndexBuildReconciler) workerError(ctx context.Context, job *batchv1.Job, out jobOutcome, exitCode int32) string {
	msgs, err := r.terminationMessages(ctx, job, exitCode, out.FailedPod)
	if err != nil || len(msgs) == 0 {
		return ""
	}
	if s, err := summary.ParseWorker(msgs[0]); err == nil && s.Error != "" {
		return s.Error
	}
	return msgs[0]
}
