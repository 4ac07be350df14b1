package controller

import (
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/types"
)

func TestPodDiagnosesRationed(t *testing.T) {
	t0 := time.Unix(1000, 0)
	d := newPodDiagnoses()
	trouble := &podTrouble{Reason: ReasonImagePullFailed, Message: "cannot pull"}

	if _, standing := d.reuse("job-a", t0); standing {
		t.Fatal("first look at a Job: want a diagnosis")
	}
	d.record("job-a", trouble, t0)
	if got, standing := d.reuse("job-a", t0.Add(podCheckInterval/2)); !standing || got != trouble {
		t.Fatalf("within podCheckInterval: got %v, %v; want the last diagnosis to stand", got, standing)
	}
	if _, standing := d.reuse("job-a", t0.Add(podCheckInterval)); standing {
		t.Fatal("after podCheckInterval: want a new diagnosis")
	}
	d.forget("job-a")
	if _, standing := d.reuse("job-a", t0.Add(podCheckInterval)); standing {
		t.Fatal("a forgotten Job is diagnosed anew")
	}

	// All Jobs together: the burst, then podDiagnosisRate a second; a Job
	// over the budget keeps its last diagnosis (none yet: nil).
	d = newPodDiagnoses()
	allowed := 0
	for i := range 10 * podDiagnosisBurst {
		if _, standing := d.reuse(types.UID(rune('a'+i%26))+types.UID(rune(i)), t0); !standing {
			allowed++
		}
	}
	if allowed != podDiagnosisBurst {
		t.Fatalf("%d diagnoses at once, want the burst of %d", allowed, podDiagnosisBurst)
	}
	allowed = 0
	for i := range 100 {
		if _, standing := d.reuse(types.UID("later")+types.UID(rune(i)), t0.Add(time.Second)); !standing {
			allowed++
		}
	}
	if allowed != podDiagnosisRate {
		t.Fatalf("%d diagnoses one second later, want %d", allowed, podDiagnosisRate)
	}
	d = newPodDiagnoses()
	allowed = 0
	for range 50 {
		if d.allowEventList(t0) {
			allowed++
		}
	}
	if allowed != eventListBurst {
		t.Fatalf("%d Event lists at once, want the burst of %d", allowed, eventListBurst)
	}
	if !d.allowEventList(t0.Add(time.Second / eventListRate)) {
		t.Fatal("no Event list a while later")
	}
	var none *podDiagnoses
	if !none.allowEventList(t0) {
		t.Fatal("a reconciler without podDiagnoses lists Events")
	}
	if _, standing := none.reuse("x", t0); standing {
		t.Fatal("a reconciler without podDiagnoses always diagnoses")
	}
}
