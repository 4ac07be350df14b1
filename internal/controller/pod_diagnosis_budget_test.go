package controller

import (
	"fmt"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	"k8s.io/apimachinery/pkg/types"
)

// waitingJobAt is a build Job of 2 partitions with active and ready pods.
func waitingJobAt(uid types.UID, active, ready int32) *batchv1.Job {
	job := runningBuildJob(active, ready)
	job.UID = uid
	return job
}

func TestPodDiagnosesWaitForPodsToStandStill(t *testing.T) {
	t0 := time.Unix(1000, 0)
	d := newPodDiagnoses()
	trouble := &podTrouble{Reason: ReasonImagePullFailed, Message: "cannot pull"}
	job := waitingJobAt("job-a", 0, 0)

	if _, due := d.observe(job, t0); due {
		t.Fatal("a Job just seen waiting: want no diagnosis before podStallGrace")
	}
	if got := d.nextLook(job, t0); got != podStallGrace {
		t.Fatalf("nextLook = %s, want podStallGrace %s", got, podStallGrace)
	}
	// Pods on their way: the counts move, the grace starts again.
	moving := waitingJobAt("job-a", 1, 0)
	if _, due := d.observe(moving, t0.Add(podStallGrace-time.Second)); due {
		t.Fatal("counts moved: want no diagnosis")
	}
	if _, due := d.observe(moving, t0.Add(podStallGrace)); due {
		t.Fatal("counts moved a second ago: want no diagnosis")
	}
	if got := d.nextLook(moving, t0.Add(podStallGrace)); got != time.Second*9 {
		t.Fatalf("nextLook = %s, want the rest of the grace, 9s", got)
	}
	stalled := t0.Add(2*podStallGrace - time.Second)
	if _, due := d.observe(moving, stalled); !due {
		t.Fatal("counts still for podStallGrace: want a diagnosis")
	}
	d.record("job-a", trouble, stalled)
	if got, due := d.observe(moving, stalled.Add(podCheckInterval/2)); due || got != trouble {
		t.Fatalf("within podCheckInterval: got %v, due %v; want the last diagnosis to stand", got, due)
	}
	if got := d.nextLook(moving, stalled.Add(podCheckInterval/2)); got != podCheckInterval/2 {
		t.Fatalf("nextLook = %s, want the rest of podCheckInterval", got)
	}
	if _, due := d.observe(moving, stalled.Add(podCheckInterval)); !due {
		t.Fatal("after podCheckInterval: want a new diagnosis")
	}
	// A pod that starts drops the finding: the build reads Building again.
	if got, due := d.observe(waitingJobAt("job-a", 1, 1), stalled.Add(podCheckInterval+time.Second)); due || got != nil {
		t.Fatalf("counts moved after a diagnosis: got %v, due %v; want no finding and no diagnosis", got, due)
	}
	d.forget("job-a")
	if got := d.nextLook(moving, stalled); got != podStallGrace {
		t.Fatalf("a forgotten Job: nextLook = %s, want podStallGrace", got)
	}
}

func TestPodDiagnosesRationed(t *testing.T) {
	t0 := time.Unix(1000, 0)
	stalled := t0.Add(podStallGrace)
	d := newPodDiagnoses()
	jobs := make([]*batchv1.Job, 10*podDiagnosisBurst)
	for i := range jobs {
		jobs[i] = waitingJobAt(types.UID(fmt.Sprint("job-", i)), 0, 0)
		d.observe(jobs[i], t0)
	}
	// All Jobs together: the burst, then podDiagnosisRate a second; a Job
	// over the budget keeps its last diagnosis (none yet: nil) and is
	// looked at again after podCheckInterval.
	allowed := 0
	for _, job := range jobs {
		if _, due := d.observe(job, stalled); due {
			allowed++
		}
	}
	if allowed != podDiagnosisBurst {
		t.Fatalf("%d diagnoses at once, want the burst of %d", allowed, podDiagnosisBurst)
	}
	if got := d.nextLook(jobs[len(jobs)-1], stalled); got != podCheckInterval {
		t.Fatalf("nextLook of a Job held back by the budget = %s, want podCheckInterval", got)
	}
	allowed = 0
	for _, job := range jobs {
		if _, due := d.observe(job, stalled.Add(time.Second)); due {
			allowed++
		}
	}
	if allowed != podDiagnosisRate {
		t.Fatalf("%d diagnoses one second later, want %d", allowed, podDiagnosisRate)
	}

	var none *podDiagnoses
	if _, due := none.observe(jobs[0], t0); !due {
		t.Fatal("a reconciler without podDiagnoses always diagnoses")
	}
}
