package kubectlplugin

import (
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	indexbuildv1alpha1 "github.com/indexbuild/indexbuild/api/v1alpha1"
	"github.com/indexbuild/indexbuild/internal/controller"
	"github.com/indexbuild/indexbuild/internal/output"
	"github.com/indexbuild/indexbuild/internal/retry"
	"github.com/indexbuild/indexbuild/internal/summary"
	"github.com/indexbuild/indexbuild/internal/units"
)

// barWidth is the number of cells in a progress bar.
const barWidth = 20

// Bar renders done of total as "[#####---------------] 1/4". A total of 0
// (not known yet) renders an empty bar with "0/?".
func Bar(done, total int32, width int) string {
	if width < 1 {
		width = 1
	}
	if total <= 0 {
		return "[" + strings.Repeat("-", width) + "] " + fmt.Sprintf("%d/?", done)
	}
	if done < 0 {
		done = 0
	}
	shown := done
	if shown > total {
		shown = total
	}
	filled := int(int64(shown) * int64(width) / int64(total))
	return "[" + strings.Repeat("#", filled) + strings.Repeat("-", width-filled) + "] " + fmt.Sprintf("%d/%d", done, total)
}

// Rate is an overall indexing rate: rows committed over the time from the
// task's start to its commit.
type Rate struct {
	Rows          int64   `json:"rows"`
	Seconds       float64 `json:"seconds"`
	RowsPerSecond float64 `json:"rowsPerSecond"`
}

// RowsRate derives the overall rate from status.commit.rows,
// status.task.startTime and status.commit.commitTime; ok is false when any
// of them is missing or the interval is not positive.
func RowsRate(st indexbuildv1alpha1.IndexBuildStatus) (Rate, bool) {
	if st.Commit == nil || st.Commit.CommitTime == nil || st.Task == nil || st.Task.StartTime == nil {
		return Rate{}, false
	}
	d := st.Commit.CommitTime.Sub(st.Task.StartTime.Time).Seconds()
	if d <= 0 {
		return Rate{}, false
	}
	return Rate{Rows: st.Commit.Rows, Seconds: d, RowsPerSecond: float64(st.Commit.Rows) / d}, true
}

// conditionOrder puts the kstatus conditions first, the rest by type.
var conditionOrder = map[string]int{
	indexbuildv1alpha1.ConditionReady:       0,
	indexbuildv1alpha1.ConditionReconciling: 1,
	indexbuildv1alpha1.ConditionStalled:     2,
	indexbuildv1alpha1.ConditionStaleMeta:   3,
	indexbuildv1alpha1.ConditionCommitted:   4,
	indexbuildv1alpha1.ConditionSuspended:   5,
}

func sortedConditions(conds []metav1.Condition) []metav1.Condition {
	out := append([]metav1.Condition(nil), conds...)
	sort.SliceStable(out, func(i, j int) bool {
		oi, iok := conditionOrder[out[i].Type]
		oj, jok := conditionOrder[out[j].Type]
		switch {
		case iok && jok:
			return oi < oj
		case iok != jok:
			return iok
		default:
			return out[i].Type < out[j].Type
		}
	})
	return out
}

// ConditionTable writes conditions as an aligned TYPE STATUS REASON MESSAGE
// table (Ready, Reconciling, Stalled first). Messages keep their text; line
// breaks become spaces so that every condition stays on one line.
func ConditionTable(w io.Writer, conds []metav1.Condition) error {
	if len(conds) == 0 {
		_, err := fmt.Fprintln(w, "  (none yet: the operator has not written a status)")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  TYPE\tSTATUS\tREASON\tMESSAGE")
	for _, c := range sortedConditions(conds) {
		msg := strings.Join(strings.Fields(c.Message), " ")
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", c.Type, c.Status, c.Reason, msg)
	}
	return tw.Flush()
}

// RetryDecision says whether `retry` may bump spec.jobID and to what.
type RetryDecision struct {
	// Allowed is true when the build may be retried.
	Allowed bool
	// NewJobID is max(spec.jobID, status.task.jobID) + 1.
	NewJobID int64
	// Reason and Message are the failure's (from the Stalled or Ready
	// condition), or why retry refuses.
	Reason, Message string
	// Refusal explains a refusal; empty when Allowed.
	Refusal string
	// NeedsNewOutput: the output belongs to another IndexBuild, so a new
	// task helps only on another output (--output-uri allows the retry).
	NeedsNewOutput bool
}

// DecideRetry decides a retry: a Failed build whose status describes the
// current spec is retried; anything else only with force.
func DecideRetry(ib *indexbuildv1alpha1.IndexBuild, force bool) RetryDecision {
	d := RetryDecision{NewJobID: ib.Spec.JobID + 1}
	if ib.Status.Task != nil && ib.Status.Task.JobID >= ib.Spec.JobID {
		d.NewJobID = ib.Status.Task.JobID + 1
	}
	d.Reason, d.Message = FailureReason(ib)
	// A task superseded by a newer published one needs a jobID above that
	// one, not just above its own.
	if published, ok := output.PublishedJobIn(d.Message); ok && published >= d.NewJobID {
		d.NewJobID = published + 1
	}
	switch {
	case ib.Status.Phase != indexbuildv1alpha1.PhaseFailed:
		d.Refusal = fmt.Sprintf("IndexBuild %s is %s, not Failed: retry restarts only failed builds (--force starts a new task anyway)", ib.Name, phaseOrNone(ib))
	case ib.Status.ObservedGeneration != ib.Generation:
		d.Refusal = fmt.Sprintf("IndexBuild %s: the operator has not observed the latest spec yet (generation %d, observed %d); wait, or use --force",
			ib.Name, ib.Generation, ib.Status.ObservedGeneration)
	case d.Reason == retry.ReasonOutputInUse:
		d.NeedsNewOutput = true
		d.Refusal = fmt.Sprintf("IndexBuild %s: its output %s belongs to another IndexBuild, so a new task there fails the same way; retry with --output-uri URI to build elsewhere",
			ib.Name, ib.Spec.Output.URI)
	}
	d.Allowed = d.Refusal == "" || force
	return d
}

// DecideRestart decides `retry --failed`: a build that ended Failed because
// a stage ran out of retries restarts under the same task when
// spec.failurePolicy.maxRestarts is raised to one more than status.restarts.
// The refusal says why not, empty when allowed.
func DecideRestart(ib *indexbuildv1alpha1.IndexBuild) (maxRestarts int32, refusal string) {
	reason, _ := FailureReason(ib)
	switch {
	case ib.Status.Phase != indexbuildv1alpha1.PhaseFailed:
		return 0, fmt.Sprintf("IndexBuild %s is %s, not Failed: --failed restarts only a failed build", ib.Name, phaseOrNone(ib))
	case ib.Status.ObservedGeneration != ib.Generation:
		return 0, fmt.Sprintf("IndexBuild %s: the operator has not observed the latest spec yet (generation %d, observed %d); wait",
			ib.Name, ib.Generation, ib.Status.ObservedGeneration)
	case !controller.RestartableReason(reason):
		return 0, fmt.Sprintf("IndexBuild %s failed with %s, which the same task would fail with again: --failed restarts only a stage that ran out of retries (BackoffLimitExceeded); `kubectl indexbuild retry %s` starts a new task",
			ib.Name, reason, ib.Name)
	}
	return ib.Status.Restarts + 1, ""
}

func phaseOrNone(ib *indexbuildv1alpha1.IndexBuild) string {
	if ib.Status.Phase == "" {
		return "not started"
	}
	return string(ib.Status.Phase)
}

// FailureReason returns the reason and message of a failed build: the
// Stalled condition's, else Ready's when it is False.
func FailureReason(ib *indexbuildv1alpha1.IndexBuild) (string, string) {
	if c := apimeta.FindStatusCondition(ib.Status.Conditions, indexbuildv1alpha1.ConditionStalled); c != nil && c.Status == metav1.ConditionTrue {
		return c.Reason, c.Message
	}
	if ib.Status.Phase == indexbuildv1alpha1.PhaseFailed {
		if c := apimeta.FindStatusCondition(ib.Status.Conditions, indexbuildv1alpha1.ConditionReady); c != nil {
			return c.Reason, c.Message
		}
	}
	return "", ""
}

// Terminal reports whether the build has ended for its current spec:
// Succeeded or Failed, with the status describing the current generation.
func Terminal(ib *indexbuildv1alpha1.IndexBuild) bool {
	if ib.Status.ObservedGeneration != ib.Generation {
		return false
	}
	return ib.Status.Phase == indexbuildv1alpha1.PhaseSucceeded || ib.Status.Phase == indexbuildv1alpha1.PhaseFailed
}

// ProgressLine is the one-line progress that watch redraws:
// "Building  [##########----------] 2/4  active 2  failed 0", with the key
// ranges in place of the partitions while the merge Job runs.
func ProgressLine(ib *indexbuildv1alpha1.IndexBuild) string {
	st := ib.Status
	phase := string(st.Phase)
	if phase == "" {
		phase = "Pending"
	}
	total := st.Partitions.Total
	if total == 0 {
		total = ib.Spec.Partitions
	}
	done, active, failed := st.Partitions.Succeeded, st.Partitions.Active, st.Partitions.Failed
	if m := st.Merge; st.Phase == indexbuildv1alpha1.PhaseMerging && m != nil && m.Ranges > 0 {
		done, total, active, failed = m.Succeeded, m.Ranges, m.Active, m.Failed
	}
	line := fmt.Sprintf("%-10s %s  active %d  failed %d", phase, Bar(done, total, barWidth), active, failed)
	if st.Phase == indexbuildv1alpha1.PhaseFailed {
		if reason, _ := FailureReason(ib); reason != "" {
			line += "  " + reason
		}
	}
	if r, ok := RowsRate(st); ok {
		line += fmt.Sprintf("  %s rows/s", formatRate(r.RowsPerSecond))
	}
	return line
}

func formatRate(r float64) string {
	if r >= 100 {
		return fmt.Sprintf("%.0f", r)
	}
	return fmt.Sprintf("%.1f", r)
}

// Summary is the structured form of `status` (-o json|yaml).
type Summary struct {
	Name               string                             `json:"name"`
	Namespace          string                             `json:"namespace"`
	Phase              indexbuildv1alpha1.Phase           `json:"phase"`
	JobID              int64                              `json:"jobID"`
	Generation         int64                              `json:"generation"`
	ObservedGeneration int64                              `json:"observedGeneration"`
	Task               *indexbuildv1alpha1.TaskStatus     `json:"task,omitempty"`
	Partitions         indexbuildv1alpha1.PartitionCounts `json:"partitions"`
	Progress           string                             `json:"progress"`
	Merge              *indexbuildv1alpha1.MergeStatus    `json:"merge,omitempty"`
	Rate               *Rate                              `json:"rate,omitempty"`
	Commit             *indexbuildv1alpha1.CommitStatus   `json:"commit,omitempty"`
	Conditions         []metav1.Condition                 `json:"conditions"`
	FailureReason      string                             `json:"failureReason,omitempty"`
	FailureMessage     string                             `json:"failureMessage,omitempty"`
	Output             indexbuildv1alpha1.OutputSpec      `json:"output"`
	ElementType        indexbuildv1alpha1.ElementType     `json:"elementType"`
	ElementIDs         []int64                            `json:"elementIDs"`
}

// Summarize builds the structured status of ib.
func Summarize(ib *indexbuildv1alpha1.IndexBuild) Summary {
	st := ib.Status
	total := st.Partitions.Total
	if total == 0 {
		total = ib.Spec.Partitions
	}
	s := Summary{
		Name: ib.Name, Namespace: ib.Namespace, Phase: st.Phase, JobID: ib.Spec.JobID,
		Generation: ib.Generation, ObservedGeneration: st.ObservedGeneration,
		Task: st.Task, Partitions: st.Partitions, Progress: fmt.Sprintf("%d/%d", st.Partitions.Succeeded, total),
		Merge: st.Merge, Commit: st.Commit, Conditions: sortedConditions(st.Conditions),
		Output: ib.Spec.Output, ElementType: ib.Spec.ElementType, ElementIDs: ib.Spec.ElementIDs,
	}
	if s.Conditions == nil {
		s.Conditions = []metav1.Condition{}
	}
	if r, ok := RowsRate(st); ok {
		s.Rate = &r
	}
	s.FailureReason, s.FailureMessage = FailureReason(ib)
	return s
}

// LiveRate is the build's rate now, from the latest progress line of each
// running worker.
type LiveRate struct {
	Workers       int // running workers that reported progress
	Rows          int64
	RowsPerSecond float64
}

// SumProgress adds up the latest progress line in each worker's log tail.
func SumProgress(tails []string) LiveRate {
	var r LiveRate
	for _, tail := range tails {
		lines := strings.Split(strings.TrimRight(tail, "\n"), "\n")
		for i := len(lines) - 1; i >= 0; i-- {
			if p, ok := summary.ParseProgress(lines[i]); ok {
				r.Workers++
				r.Rows += p.Rows
				r.RowsPerSecond += p.RowsPerSecond
				break
			}
		}
	}
	return r
}

// WriteStatus writes the human-readable status of ib; now is used for the
// elapsed time of a running task, live (nil: not known) for its rate now.
func WriteStatus(w io.Writer, ib *indexbuildv1alpha1.IndexBuild, now time.Time, live *LiveRate) error {
	st := ib.Status
	phase := string(st.Phase)
	if phase == "" {
		phase = "(none yet)"
	}
	fmt.Fprintf(w, "IndexBuild:  %s/%s\n", ib.Namespace, ib.Name)
	fmt.Fprintf(w, "Phase:       %s\n", phase)
	if st.ObservedGeneration != ib.Generation {
		fmt.Fprintf(w, "             (status is for generation %d; the spec is at %d, not observed yet)\n", st.ObservedGeneration, ib.Generation)
	}
	fmt.Fprintf(w, "Task:        jobID %d, %s elements %s, table %d, schema %d\n",
		ib.Spec.JobID, ib.Spec.ElementType, formatIDs(ib.Spec.ElementIDs), ib.Spec.TableID, ib.Spec.SchemaID)
	if st.Task != nil && st.Task.StartTime != nil {
		started := st.Task.StartTime.UTC().Format(time.RFC3339)
		if st.Commit == nil && st.Phase != indexbuildv1alpha1.PhaseFailed {
			fmt.Fprintf(w, "Started:     %s (%s ago)\n", started, now.Sub(st.Task.StartTime.Time).Round(time.Second))
		} else {
			fmt.Fprintf(w, "Started:     %s\n", started)
		}
	}
	total := st.Partitions.Total
	if total == 0 {
		total = ib.Spec.Partitions
	}
	failed := strconv.Itoa(int(st.Partitions.Failed))
	if st.Partitions.FailedIndexes != "" {
		failed += ": " + st.Partitions.FailedIndexes
	}
	fmt.Fprintf(w, "Partitions:  %s  (active %d, failed %s)\n", Bar(st.Partitions.Succeeded, total, barWidth), st.Partitions.Active, failed)
	writeMerge(w, st.Merge)
	if live != nil && live.Workers > 0 {
		fmt.Fprintf(w, "Rate now:    %s rows/s over %d running workers (%d rows read so far)\n", formatRate(live.RowsPerSecond), live.Workers, live.Rows)
	}
	if r, ok := RowsRate(st); ok {
		fmt.Fprintf(w, "Rate:        %s rows/s (%d rows in %s, task start to commit)\n", formatRate(r.RowsPerSecond), r.Rows, time.Duration(r.Seconds*float64(time.Second)).Round(time.Millisecond))
	}
	if c := st.Commit; c != nil {
		fmt.Fprintf(w, "Commit:      %d files, %s, %d rows\n", c.Files, units.Bytes(c.Bytes), c.Rows)
		if c.Version != "" {
			fmt.Fprintf(w, "  version:   %s\n", c.Version)
		}
		fmt.Fprintf(w, "  marker:    %s\n", c.MarkerURI)
		if c.CommitTime != nil {
			fmt.Fprintf(w, "  committed: %s\n", c.CommitTime.UTC().Format(time.RFC3339))
		}
	} else {
		fmt.Fprintf(w, "Commit:      none (output %s)\n", ib.Spec.Output.URI)
	}
	if st.Phase == indexbuildv1alpha1.PhaseFailed {
		if reason, msg := FailureReason(ib); reason != "" {
			fmt.Fprintf(w, "Failure:     %s: %s\n", reason, msg)
			fmt.Fprintf(w, "             `kubectl indexbuild retry %s` starts a new task (jobID %d)\n", ib.Name, DecideRetry(ib, true).NewJobID)
		}
	}
	fmt.Fprintln(w, "Conditions:")
	return ConditionTable(w, st.Conditions)
}

// writeMerge writes the merge stage's line once the task reached it: its
// key ranges, or why it has no merge Job.
func writeMerge(w io.Writer, m *indexbuildv1alpha1.MergeStatus) {
	switch {
	case m == nil:
	case m.Ranges > 0:
		fmt.Fprintf(w, "Key ranges:  %s  merged (active %d, failed %d)\n", Bar(m.Succeeded, m.Ranges, barWidth), m.Active, m.Failed)
	default:
		fmt.Fprintf(w, "Key ranges:  no merge Job: %s\n", m.Skipped)
	}
}

func formatIDs(ids []int64) string {
	s := make([]string, len(ids))
	for i, id := range ids {
		s[i] = fmt.Sprint(id)
	}
	return "[" + strings.Join(s, ",") + "]"
}
