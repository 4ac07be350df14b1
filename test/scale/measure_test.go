package main

import (
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestCountAudit(t *testing.T) {
	log := strings.Join([]string{
		// Counted once, at ResponseComplete.
		`{"stage":"ResponseComplete","verb":"get","user":{"username":"indexbuild-operator"},"objectRef":{"resource":"indexbuilds"},"responseStatus":{"code":200}}`,
		`{"stage":"ResponseComplete","verb":"patch","user":{"username":"indexbuild-operator"},"objectRef":{"resource":"indexbuilds","subresource":"status"},"responseStatus":{"code":200}}`,
		`{"stage":"ResponseComplete","verb":"patch","user":{"username":"indexbuild-operator"},"objectRef":{"resource":"indexbuilds","subresource":"status"},"responseStatus":{"code":409}}`,
		`{"stage":"ResponseComplete","verb":"create","user":{"username":"indexbuild-operator"},"objectRef":{"resource":"jobs"},"responseStatus":{"code":201}}`,
		// A watch counts when it starts, not again when it ends.
		`{"stage":"ResponseStarted","verb":"watch","user":{"username":"indexbuild-operator"},"objectRef":{"resource":"jobs"},"responseStatus":{"code":200}}`,
		`{"stage":"ResponseComplete","verb":"watch","user":{"username":"indexbuild-operator"},"objectRef":{"resource":"jobs"},"responseStatus":{"code":200}}`,
		// Someone else's request.
		`{"stage":"ResponseComplete","verb":"create","user":{"username":"admin"},"objectRef":{"resource":"jobs"},"responseStatus":{"code":201}}`,
		// Non-resource request (discovery).
		`{"stage":"ResponseComplete","verb":"get","user":{"username":"indexbuild-operator"},"responseStatus":{"code":200}}`,
	}, "\n")
	got, err := countAudit(strings.NewReader(log), operatorUser)
	if err != nil {
		t.Fatal(err)
	}
	want := apiCounts{ByVerb: map[string]int{"get": 2, "patch": 2, "create": 1, "watch": 1}, Writes: 3, StatusWrites: 2, Conflicts: 1}
	if got.Writes != want.Writes || got.StatusWrites != want.StatusWrites || got.Conflicts != want.Conflicts || len(got.ByVerb) != len(want.ByVerb) {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	for v, n := range want.ByVerb {
		if got.ByVerb[v] != n {
			t.Errorf("%s: got %d, want %d", v, got.ByVerb[v], n)
		}
	}
}

func TestParseStatCPU(t *testing.T) {
	// Fields 14 and 15 (utime, stime) are 250 and 50 ticks; the command
	// name holds a space and a parenthesis.
	stat := "1234 (my (mgr) x) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 12 0 100 0 0"
	got, err := parseStatCPU(stat)
	if err != nil {
		t.Fatal(err)
	}
	if got != 3.0 {
		t.Fatalf("got %v, want 3.0", got)
	}
	if _, err := parseStatCPU("garbage"); err == nil {
		t.Fatal("no error for a malformed stat")
	}
}

func TestLagTracker(t *testing.T) {
	t0 := time.Unix(1000, 0)
	l := newLagTracker()
	l.jobProgress("a", 1, t0)
	l.jobProgress("a", 1, t0.Add(time.Second)) // the same count again: first time stands
	l.jobProgress("a", 3, t0.Add(2*time.Second))
	l.statusProgress("a", 1, t0.Add(500*time.Millisecond)) // 1 shown after 0.5s
	l.statusProgress("a", 3, t0.Add(5*time.Second))        // 3 shown after 3s
	l.jobProgress("a", 3, t0.Add(6*time.Second))           // already shown: no lag
	l.statusProgress("b", 2, t0)                           // nothing pending
	if got := l.quantile(1); got != 3*time.Second {
		t.Errorf("max lag %s, want 3s", got)
	}
	if got := l.quantile(0); got != 500*time.Millisecond {
		t.Errorf("min lag %s, want 0.5s", got)
	}
	if len(l.lags) != 2 {
		t.Errorf("%d lags recorded, want 2", len(l.lags))
	}
}

func TestParseSizes(t *testing.T) {
	got, err := parseSizes("100x8, 1000x64")
	if err != nil || len(got) != 2 || got[0] != (size{100, 8}) || got[1] != (size{1000, 64}) {
		t.Fatalf("got %v, %v", got, err)
	}
	for _, bad := range []string{"100", "x8", "0x8", "10x", "axb"} {
		if _, err := parseSizes(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

func TestFloorJobDropsOwnerAndSelector(t *testing.T) {
	job := batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{
			Name: "b0001-1-build", Namespace: "elsewhere", UID: "u", ResourceVersion: "7",
			Labels:          map[string]string{"indexbuild.dev/name": "b0001"},
			OwnerReferences: []metav1.OwnerReference{{Name: "b0001"}},
		},
		Spec: batchv1.JobSpec{
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{batchv1.ControllerUidLabel: "u"}},
		},
		Status: batchv1.JobStatus{Succeeded: 3},
	}
	job.Spec.Template.Labels = map[string]string{batchv1.ControllerUidLabel: "u", batchv1.JobNameLabel: "b0001-1-build", "controller-uid": "u", "job-name": "x", "indexbuild.dev/name": "b0001"}
	got := floorJob(job)
	if got.Namespace != benchNamespace || got.UID != "" || got.ResourceVersion != "" || len(got.OwnerReferences) != 0 ||
		got.Spec.Selector != nil || got.Status.Succeeded != 0 {
		t.Fatalf("floor Job keeps what the API server sets: %+v", got)
	}
	if len(got.Spec.Template.Labels) != 1 || got.Spec.Template.Labels["indexbuild.dev/name"] != "b0001" {
		t.Fatalf("template labels %v, want only the operator's", got.Spec.Template.Labels)
	}
}

func TestParseHostCPU(t *testing.T) {
	stat := "cpu  100 5 50 800 20 3 2 0 7 0\ncpu0 50 2 25 400 10 1 1 0 0 0\nintr 12345\n"
	busy, all, err := parseHostCPU(stat)
	if err != nil {
		t.Fatal(err)
	}
	// user nice system idle iowait irq softirq steal guest guest_nice
	if busy != 100+5+50+3+2 || all != 980 {
		t.Fatalf("busy %d, all %d; want 160, 980", busy, all)
	}
	if _, _, err := parseHostCPU("intr 1\n"); err == nil {
		t.Fatal("no cpu line: want an error")
	}
}
