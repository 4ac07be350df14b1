package kubectlplugin

import (
	"bytes"
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	indexbuildv1alpha1 "github.com/indexbuild/indexbuild/api/v1alpha1"
	"github.com/indexbuild/indexbuild/internal/output"
	"github.com/indexbuild/indexbuild/internal/testutil"
)

func TestBar(t *testing.T) {
	for _, tc := range []struct {
		done, total int32
		width       int
		want        string
	}{
		{0, 4, 8, "[--------] 0/4"},
		{1, 4, 8, "[##------] 1/4"},
		{3, 5, 14, "[########------] 3/5"},
		{5, 5, 10, "[##########] 5/5"},
		{1, 3, 10, "[###-------] 1/3"}, // rounds down: never full before done
		{2, 3, 10, "[######----] 2/3"},
		{7, 5, 5, "[#####] 7/5"}, // more than total: full, count as reported
		{0, 0, 4, "[----] 0/?"},
		{-1, 4, 4, "[----] 0/4"}, // negative counts as 0
		{1, 10000, 20, "[--------------------] 1/10000"},
		{2, 2, 0, "[#] 2/2"}, // width < 1 is 1
	} {
		if got := Bar(tc.done, tc.total, tc.width); got != tc.want {
			t.Errorf("Bar(%d, %d, %d) = %q, want %q", tc.done, tc.total, tc.width, got, tc.want)
		}
	}
}

func cond(typ string, status metav1.ConditionStatus, reason, msg string) metav1.Condition {
	return metav1.Condition{Type: typ, Status: status, Reason: reason, Message: msg}
}

func TestConditionTable(t *testing.T) {
	for _, tc := range []struct {
		name  string
		conds []metav1.Condition
		want  string
	}{
		{"none", nil, "  (none yet: the operator has not written a status)\n"},
		{
			"kstatus first, rest by type, messages on one line",
			[]metav1.Condition{
				cond("StaleMeta", "True", "StaleMeta", "elementIDs: recorded [1]\n  current [2]"),
				cond("Zeta", "False", "Other", ""),
				cond("Stalled", "True", "StaleMeta", "task changed"),
				cond("Ready", "False", "StaleMeta", "task changed"),
			},
			"  TYPE       STATUS  REASON     MESSAGE\n" +
				"  Ready      False   StaleMeta  task changed\n" +
				"  Stalled    True    StaleMeta  task changed\n" +
				"  StaleMeta  True    StaleMeta  elementIDs: recorded [1] current [2]\n" +
				"  Zeta       False   Other      \n",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b bytes.Buffer
			if err := ConditionTable(&b, tc.conds); err != nil {
				t.Fatal(err)
			}
			if b.String() != tc.want {
				t.Errorf("got\n%s\nwant\n%s", b.String(), tc.want)
			}
		})
	}
}

func failed(ib *indexbuildv1alpha1.IndexBuild, reason, msg string) *indexbuildv1alpha1.IndexBuild {
	ib.Status.Phase = indexbuildv1alpha1.PhaseFailed
	ib.Status.Conditions = []metav1.Condition{
		cond("Ready", "False", reason, msg),
		cond("Stalled", "True", reason, msg),
	}
	return ib
}

func superseded(published, this int64) string {
	return (&output.SupersededError{URI: "file:///out", Published: published, ThisJob: this}).Error()
}

func TestDecideRetry(t *testing.T) {
	base := func() *indexbuildv1alpha1.IndexBuild {
		ib := testutil.MakeIndexBuild("b", "ns").JobID(7).Obj()
		ib.Generation, ib.Status.ObservedGeneration = 3, 3
		return ib
	}
	withTask := func(ib *indexbuildv1alpha1.IndexBuild, jobID int64) *indexbuildv1alpha1.IndexBuild {
		ib.Status.Task = &indexbuildv1alpha1.TaskStatus{JobID: jobID}
		return ib
	}
	phase := func(ib *indexbuildv1alpha1.IndexBuild, p indexbuildv1alpha1.Phase) *indexbuildv1alpha1.IndexBuild {
		ib.Status.Phase = p
		return ib
	}
	unobserved := func(ib *indexbuildv1alpha1.IndexBuild) *indexbuildv1alpha1.IndexBuild {
		ib.Generation = 4
		return ib
	}
	for _, tc := range []struct {
		name       string
		ib         *indexbuildv1alpha1.IndexBuild
		force      bool
		allowed    bool
		newJobID   int64
		reason     string
		refusalHas string
		noRefusal  bool
	}{
		{"failed", failed(base(), "StaleMeta", "elementIDs changed"), false, true, 8, "StaleMeta", "", true},
		{"failed, task jobID higher than spec", withTask(failed(base(), "BackoffLimitExceeded", "partition 2"), 9), false, true, 10, "BackoffLimitExceeded", "", true},
		{"failed, task jobID lower", withTask(failed(base(), "InvalidInput", "x"), 3), false, true, 8, "InvalidInput", "", true},
		{"building refused", phase(base(), "Building"), false, false, 8, "", "is Building, not Failed", false},
		{"building forced", phase(base(), "Building"), true, true, 8, "", "is Building, not Failed", false},
		{"succeeded refused", phase(base(), "Succeeded"), false, false, 8, "", "is Succeeded", false},
		{"no status refused", base(), false, false, 8, "", "is not started", false},
		{"failed but spec not observed", unobserved(failed(base(), "StaleMeta", "m")), false, false, 8, "StaleMeta", "has not observed the latest spec", false},
		{"failed, not observed, forced", unobserved(failed(base(), "StaleMeta", "m")), true, true, 8, "StaleMeta", "has not observed", false},
		{"superseded: above the published job", failed(base(), "StaleMeta", "partition 0: "+superseded(12, 7)), false, true, 13, "StaleMeta", "", true},
		{"superseded by an older job: above its own", failed(base(), "StaleMeta", superseded(5, 7)), false, true, 8, "StaleMeta", "", true},
		{"output in use refused: the same output fails the same way", failed(base(), "OutputInUse", "belongs to IndexBuild a/b"), false, false, 8, "OutputInUse", "--output-uri", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := DecideRetry(tc.ib, tc.force)
			if d.Allowed != tc.allowed || d.NewJobID != tc.newJobID || d.Reason != tc.reason {
				t.Errorf("got %+v, want allowed %v newJobID %d reason %q", d, tc.allowed, tc.newJobID, tc.reason)
			}
			if tc.noRefusal && d.Refusal != "" {
				t.Errorf("refusal %q, want none", d.Refusal)
			}
			if !strings.Contains(d.Refusal, tc.refusalHas) {
				t.Errorf("refusal %q does not contain %q", d.Refusal, tc.refusalHas)
			}
		})
	}
}

func TestFailureReasonFallsBackToReady(t *testing.T) {
	ib := testutil.MakeIndexBuild("b", "ns").Obj()
	ib.Status.Phase = indexbuildv1alpha1.PhaseFailed
	ib.Status.Conditions = []metav1.Condition{cond("Ready", "False", "DeadlineExceeded", "too slow")}
	if r, m := FailureReason(ib); r != "DeadlineExceeded" || m != "too slow" {
		t.Errorf("got %q %q", r, m)
	}
	ib.Status.Phase = indexbuildv1alpha1.PhaseBuilding
	ib.Status.Conditions = []metav1.Condition{cond("Ready", "False", "Building", "")}
	if r, _ := FailureReason(ib); r != "" {
		t.Errorf("a running build has no failure reason, got %q", r)
	}
}

func TestRowsRate(t *testing.T) {
	t0 := metav1.NewTime(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	t10 := metav1.NewTime(t0.Add(10 * time.Second))
	for _, tc := range []struct {
		name string
		st   indexbuildv1alpha1.IndexBuildStatus
		ok   bool
		rate float64
	}{
		{"committed", indexbuildv1alpha1.IndexBuildStatus{Task: &indexbuildv1alpha1.TaskStatus{StartTime: &t0}, Commit: &indexbuildv1alpha1.CommitStatus{Rows: 1000, CommitTime: &t10}}, true, 100},
		{"no commit", indexbuildv1alpha1.IndexBuildStatus{Task: &indexbuildv1alpha1.TaskStatus{StartTime: &t0}}, false, 0},
		{"no commit time", indexbuildv1alpha1.IndexBuildStatus{Task: &indexbuildv1alpha1.TaskStatus{StartTime: &t0}, Commit: &indexbuildv1alpha1.CommitStatus{Rows: 1}}, false, 0},
		{"no task", indexbuildv1alpha1.IndexBuildStatus{Commit: &indexbuildv1alpha1.CommitStatus{Rows: 1, CommitTime: &t10}}, false, 0},
		{"commit before start", indexbuildv1alpha1.IndexBuildStatus{Task: &indexbuildv1alpha1.TaskStatus{StartTime: &t10}, Commit: &indexbuildv1alpha1.CommitStatus{Rows: 1, CommitTime: &t0}}, false, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, ok := RowsRate(tc.st)
			if ok != tc.ok || r.RowsPerSecond != tc.rate {
				t.Errorf("got %+v %v, want %v %v", r, ok, tc.rate, tc.ok)
			}
		})
	}
}

func TestProgressLineAndTerminal(t *testing.T) {
	ib := testutil.MakeIndexBuild("b", "ns").Partitions(4).Obj()
	ib.Generation = 1
	if got := ProgressLine(ib); got != "Pending    [--------------------] 0/4  active 0  failed 0" {
		t.Errorf("no status: %q", got)
	}
	if Terminal(ib) {
		t.Error("no status is not terminal")
	}
	ib.Status.ObservedGeneration = 1
	ib.Status.Phase = indexbuildv1alpha1.PhaseBuilding
	ib.Status.Partitions = indexbuildv1alpha1.PartitionCounts{Total: 4, Succeeded: 2, Active: 2}
	if got := ProgressLine(ib); got != "Building   [##########----------] 2/4  active 2  failed 0" {
		t.Errorf("building: %q", got)
	}
	ib.Status.Phase = indexbuildv1alpha1.PhaseMerging
	ib.Status.Partitions = indexbuildv1alpha1.PartitionCounts{Total: 4, Succeeded: 4}
	ib.Status.Merge = &indexbuildv1alpha1.MergeStatus{Ranges: 8, Succeeded: 3, Active: 2, Progress: "3/8"}
	if got := ProgressLine(ib); got != "Merging    [#######-------------] 3/8  active 2  failed 0" {
		t.Errorf("merging: %q", got)
	}
	failed(ib, "BackoffLimitExceeded", "partition 3")
	if got := ProgressLine(ib); !strings.HasSuffix(got, "BackoffLimitExceeded") {
		t.Errorf("failed: %q", got)
	}
	if !Terminal(ib) {
		t.Error("Failed, observed: terminal")
	}
	ib.Generation = 2
	if Terminal(ib) {
		t.Error("Failed for an older generation is not terminal")
	}
}

func TestWriteStatus(t *testing.T) {
	start := metav1.NewTime(time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC))
	commit := metav1.NewTime(start.Add(4 * time.Second))
	ib := testutil.MakeIndexBuild("books", "default").JobID(2).ElementIDs(1, 2).Partitions(4).Obj()
	ib.Generation, ib.Status.ObservedGeneration = 1, 1
	ib.Status.Phase = indexbuildv1alpha1.PhaseSucceeded
	ib.Status.Task = &indexbuildv1alpha1.TaskStatus{JobID: 2, StartTime: &start}
	ib.Status.Partitions = indexbuildv1alpha1.PartitionCounts{Total: 4, Succeeded: 4}
	ib.Status.Commit = &indexbuildv1alpha1.CommitStatus{MarkerURI: "s3://indexes/books/metadata.json", Files: 8, Bytes: 52311, Rows: 1000, CommitTime: &commit}
	ib.Status.Conditions = []metav1.Condition{cond("Ready", "True", "Committed", "committed 8 files")}
	var b bytes.Buffer
	if err := WriteStatus(&b, ib, start.Add(time.Hour), nil); err != nil {
		t.Fatal(err)
	}
	want := `IndexBuild:  default/books
Phase:       Succeeded
Task:        jobID 2, index elements [1,2], table 100, schema 1
Started:     2026-11-21T10:00:00Z
Partitions:  [####################] 4/4  (active 0, failed 0)
Rate:        250 rows/s (1000 rows in 4s, task start to commit)
Commit:      8 files, 51.1 KiB, 1000 rows
  marker:    s3://indexes/books/metadata.json
  committed: 2026-11-21T10:00:04Z
Conditions:
  TYPE   STATUS  REASON     MESSAGE
  Ready  True    Committed  committed 8 files
`
	if b.String() != want {
		t.Errorf("got\n%s\nwant\n%s", b.String(), want)
	}
}

func TestWriteStatusMerge(t *testing.T) {
	for name, tc := range map[string]struct {
		merge *indexbuildv1alpha1.MergeStatus
		want  string
	}{
		"not reached yet": {nil, ""},
		"merge Job":       {&indexbuildv1alpha1.MergeStatus{Ranges: 8, Succeeded: 3, Active: 2, Failed: 1}, "Key ranges:  [#######-------------] 3/8  merged (active 2, failed 1)\n"},
		"no merge Job":    {&indexbuildv1alpha1.MergeStatus{Skipped: "fulltext elements keep their per-partition files"}, "Key ranges:  no merge Job: fulltext elements keep their per-partition files\n"},
	} {
		ib := testutil.MakeIndexBuild("books", "default").Partitions(4).Obj()
		ib.Status.Phase = indexbuildv1alpha1.PhaseMerging
		ib.Status.Merge = tc.merge
		var b bytes.Buffer
		if err := WriteStatus(&b, ib, time.Now(), nil); err != nil {
			t.Fatal(err)
		}
		got := b.String()
		if tc.want == "" && strings.Contains(got, "Key ranges:") || !strings.Contains(got, tc.want) {
			t.Errorf("%s: got\n%s\nwant a line %q", name, got, tc.want)
		}
		if s := Summarize(ib); s.Merge != tc.merge {
			t.Errorf("%s: summary merge %+v", name, s.Merge)
		}
	}
}

func TestWriteStatusWhileBuilding(t *testing.T) {
	start := metav1.NewTime(time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC))
	ib := testutil.MakeIndexBuild("books", "default").Partitions(8).Obj()
	ib.Generation, ib.Status.ObservedGeneration = 1, 1
	ib.Status.Phase = indexbuildv1alpha1.PhaseBuilding
	ib.Status.Task = &indexbuildv1alpha1.TaskStatus{JobID: 1, StartTime: &start}
	ib.Status.Partitions = indexbuildv1alpha1.PartitionCounts{Total: 8, Succeeded: 3, Active: 2, Failed: 2, FailedIndexes: "4,6"}
	live := SumProgress([]string{
		"opened\npartition 0/8: 1000 rows, 500 rows/s, 10.0% of share read\npartition 0/8: 3000 rows, 750 rows/s, 30.0% of share read\n",
		"partition 1/8: 2000 rows, 1250 rows/s, 20.0% of share read",
		"no progress yet",
	})
	if live.Workers != 2 || live.Rows != 5000 || live.RowsPerSecond != 2000 {
		t.Fatalf("SumProgress = %+v: the latest line of each worker that reported", live)
	}
	var b bytes.Buffer
	if err := WriteStatus(&b, ib, start.Add(time.Minute), &live); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"Partitions:  [#######-------------] 3/8  (active 2, failed 2: 4,6)\n",
		"Rate now:    2000 rows/s over 2 running workers (5000 rows read so far)\n",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("status lacks %q:\n%s", want, b.String())
		}
	}
}

func TestLogSelector(t *testing.T) {
	two := 2
	for _, tc := range []struct {
		name string
		t    LogTarget
		want string
	}{
		{"all workers", LogTarget{Name: "books", JobID: 3}, "indexbuild.dev/job-id=3,indexbuild.dev/name=books,indexbuild.dev/role=build"},
		{"one partition", LogTarget{Name: "books", JobID: 3, Partition: &two}, "batch.kubernetes.io/job-completion-index=2,indexbuild.dev/job-id=3,indexbuild.dev/name=books,indexbuild.dev/role=build"},
		{"finalize", LogTarget{Name: "books", JobID: 3, Finalize: true}, "indexbuild.dev/job-id=3,indexbuild.dev/name=books,indexbuild.dev/role=finalize"},
		{"merge", LogTarget{Name: "books", JobID: 3, Merge: true}, "indexbuild.dev/job-id=3,indexbuild.dev/name=books,indexbuild.dev/role=merge"},
		{"one key range", LogTarget{Name: "books", JobID: 3, Merge: true, Partition: &two}, "batch.kubernetes.io/job-completion-index=2,indexbuild.dev/job-id=3,indexbuild.dev/name=books,indexbuild.dev/role=merge"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.t.Selector().String(); got != tc.want {
				t.Errorf("got %s, want %s", got, tc.want)
			}
		})
	}
	if (LogTarget{Finalize: true}).LogContainer() != "finalize" || (LogTarget{}).LogContainer() != "worker" || (LogTarget{Merge: true}).LogContainer() != "merge" {
		t.Error("containers: finalize pods run finalize, merge pods merge, workers worker")
	}
}

func pod(name string, index string, created int) corev1.Pod {
	p := corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, CreationTimestamp: metav1.NewTime(time.Unix(int64(created), 0))}}
	if index != "" {
		p.Labels = map[string]string{batchv1.JobCompletionIndexAnnotation: index}
	}
	return p
}

func names(pods []corev1.Pod) string {
	var s []string
	for _, p := range pods {
		s = append(s, p.Name)
	}
	return strings.Join(s, " ")
}

func TestChoosePods(t *testing.T) {
	pods := []corev1.Pod{
		pod("p1-retry", "1", 30),
		pod("p0", "0", 10),
		pod("p10", "10", 5),
		pod("p1-first", "1", 20),
		pod("p2", "2", 15),
	}
	if got := names(ChoosePods(pods, false)); got != "p0 p1-retry p2 p10" {
		t.Errorf("newest per partition, by partition: %s", got)
	}
	if got := names(ChoosePods(pods, true)); got != "p0 p1-first p1-retry p2 p10" {
		t.Errorf("all attempts: %s", got)
	}
	fin := []corev1.Pod{pod("fin-b", "", 20), pod("fin-a", "", 10)}
	if got := names(ChoosePods(fin, false)); got != "fin-b" {
		t.Errorf("finalize: newest attempt, got %s", got)
	}
	annotated := pod("anno", "", 1)
	annotated.Annotations = map[string]string{batchv1.JobCompletionIndexAnnotation: "3"}
	if got := names(ChoosePods([]corev1.Pod{annotated, pod("p0", "0", 2)}, false)); got != "p0 anno" {
		t.Errorf("index from the annotation too: %s", got)
	}
	if got := ChoosePods(nil, false); len(got) != 0 {
		t.Errorf("no pods: %v", got)
	}
}

func TestIndexRoot(t *testing.T) {
	mk := func(output, marker string) *indexbuildv1alpha1.IndexBuild {
		ib := testutil.MakeIndexBuild("b", "ns").OutputURI(output).Obj()
		if marker != "" {
			ib.Status.Commit = &indexbuildv1alpha1.CommitStatus{MarkerURI: marker}
		}
		return ib
	}
	for _, tc := range []struct {
		name, output, marker, want, errHas string
	}{
		{"file", "file:///data/idx", "file:///data/idx/metadata.json", "file:///data/idx", ""},
		{"version marker: the output root", "file:///data/idx", "file:///data/idx/versions/7/metadata.json", "file:///data/idx", ""},
		{"s3 version marker", "s3://bkt/p?region=x", "s3://bkt/p/versions/12/metadata.json", "s3://bkt/p?region=x", ""},
		{"not a version directory", "file:///data/idx", "file:///data/idx/versions/x7/metadata.json", "file:///data/idx/versions/x7", ""},
		{"trailing slash", "file:///data/idx/", "file:///data/idx/metadata.json", "file:///data/idx/", ""},
		{"s3 keeps the output's parameters", "s3://bkt/p?region=x&endpoint=http://h:9000", "s3://bkt/p/metadata.json", "s3://bkt/p?region=x&endpoint=http://h:9000", ""},
		{"marker elsewhere: marker root with the output's parameters", "s3://bkt/new?region=x", "s3://bkt/old/metadata.json", "s3://bkt/old?region=x", ""},
		{"marker with its own query", "s3://bkt/new?region=x", "s3://bkt/old/metadata.json?region=y", "s3://bkt/old?region=y", ""},
		{"not committed", "file:///data/idx", "", "", "no committed index yet"},
		{"not a marker", "file:///data/idx", "file:///data/idx/other.json", "", "does not name a metadata.json"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := IndexRoot(mk(tc.output, tc.marker))
			if tc.errHas != "" {
				if err == nil || !strings.Contains(err.Error(), tc.errHas) {
					t.Fatalf("err %v, want %q", err, tc.errHas)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Errorf("got %q %v, want %q", got, err, tc.want)
			}
		})
	}
}

func TestSplitCommand(t *testing.T) {
	for _, tc := range []struct {
		args []string
		cmd  string
		rest string
	}{
		{[]string{"status", "b"}, "status", "b"},
		{[]string{"-n", "ns", "status", "b"}, "status", "-n ns b"},
		{[]string{"--kubeconfig", "/k", "--context=c", "watch", "b", "--timeout", "1m"}, "watch", "--kubeconfig /k --context=c b --timeout 1m"},
		{[]string{"-o", "json", "status", "b"}, "status", "-o json b"},
		{[]string{"--help"}, "--help", ""},
		{nil, "", ""},
	} {
		cmd, rest := splitCommand(tc.args)
		if cmd != tc.cmd || strings.Join(rest, " ") != tc.rest {
			t.Errorf("splitCommand(%q) = %q %q, want %q %q", tc.args, cmd, rest, tc.cmd, tc.rest)
		}
	}
}

func TestRedrawer(t *testing.T) {
	ib := testutil.MakeIndexBuild("b", "ns").Partitions(2).Obj()
	ib.Status.Phase = indexbuildv1alpha1.PhaseBuilding
	var b bytes.Buffer
	r := &redrawer{w: &b, inPlace: true}
	r.show(ib)
	r.show(ib) // unchanged: not drawn again
	ib.Status.Partitions.Succeeded = 1
	r.show(ib)
	r.finish()
	want := "\r\033[KBuilding   [--------------------] 0/2  active 0  failed 0" +
		"\r\033[KBuilding   [##########----------] 1/2  active 0  failed 0\n"
	if b.String() != want {
		t.Errorf("in place: %q, want %q", b.String(), want)
	}
	b.Reset()
	r = &redrawer{w: &b}
	r.show(ib)
	r.show(ib)
	r.finish()
	if b.String() != "Building   [##########----------] 1/2  active 0  failed 0\n" {
		t.Errorf("lines: %q", b.String())
	}
}

func TestDecideRestart(t *testing.T) {
	base := func() *indexbuildv1alpha1.IndexBuild {
		ib := testutil.MakeIndexBuild("b", "ns").JobID(7).Obj()
		ib.Generation, ib.Status.ObservedGeneration = 3, 3
		ib.Status.Restarts = 1
		return ib
	}
	for _, tc := range []struct {
		name       string
		ib         *indexbuildv1alpha1.IndexBuild
		want       int32
		refusalHas string
	}{
		{"out of retries: one restart more", failed(base(), "BackoffLimitExceeded", "partition 2"), 2, ""},
		{"stale: a new task is needed", failed(base(), "StaleMeta", "m"), 0, "retry b` starts a new task"},
		{"bad input", failed(base(), "InvalidInput", "m"), 0, "only a stage that ran out of retries"},
		{"still building", base(), 0, "not Failed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, refusal := DecideRestart(tc.ib)
			if got != tc.want || !strings.Contains(refusal, tc.refusalHas) || (tc.refusalHas == "") != (refusal == "") {
				t.Errorf("DecideRestart = %d, %q; want %d, refusal containing %q", got, refusal, tc.want, tc.refusalHas)
			}
		})
	}
}
