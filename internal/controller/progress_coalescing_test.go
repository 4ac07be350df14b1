package controller

import (
	"sync/atomic"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"

	indexbuildv1alpha1 "github.com/indexbuild/indexbuild/api/v1alpha1"
	"github.com/indexbuild/indexbuild/internal/indexset"
	"github.com/indexbuild/indexbuild/internal/testutil"
)

func building(succeeded, active int32, reason string) *indexbuildv1alpha1.IndexBuildStatus {
	ib := &indexbuildv1alpha1.IndexBuild{ObjectMeta: metav1.ObjectMeta{Generation: 1}}
	ib.Status.ObservedGeneration = 1
	w := newPhaseConditions(ib, testNow)
	w.partitions(indexbuildv1alpha1.PartitionCounts{Total: 8, Succeeded: succeeded, Active: active})
	w.inProgress(indexbuildv1alpha1.PhaseBuilding, reason, "some message about progress")
	ib.Status.Conditions[0].Message = "progress message " + string(rune('a'+succeeded+active))
	return &ib.Status
}

func TestProgressOnly(t *testing.T) {
	base := building(1, 4, ReasonBuilding)
	finalizing := building(8, 0, ReasonFinalizing)
	finalizing.Phase = indexbuildv1alpha1.PhaseFinalizing
	newGeneration := building(2, 4, ReasonBuilding)
	newGeneration.ObservedGeneration = 2
	for _, tc := range []struct {
		name  string
		after *indexbuildv1alpha1.IndexBuildStatus
		want  bool
	}{
		{"no change", base.DeepCopy(), false},
		{"one more partition done", building(2, 3, ReasonBuilding), true},
		{"another pod running", building(1, 5, ReasonBuilding), true},
		{"reason changes (pods cannot run, suspended)", building(1, 4, ReasonSuspended), false},
		{"phase changes", finalizing, false},
		{"spec changed", newGeneration, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := progressOnly(base, tc.after); got != tc.want {
				t.Fatalf("progressOnly = %v, want %v", got, tc.want)
			}
		})
	}
}

// The merge Job's counts are progress like the partitions'; its range
// count and a skip are not.
func TestProgressOnlyMerge(t *testing.T) {
	merging := func(m *indexbuildv1alpha1.MergeStatus) *indexbuildv1alpha1.IndexBuildStatus {
		st := building(8, 0, ReasonMerging)
		st.Merge = m
		return st
	}
	base := merging(&indexbuildv1alpha1.MergeStatus{Ranges: 4, Succeeded: 1, Active: 3, Progress: "1/4"})
	for _, tc := range []struct {
		name  string
		after *indexbuildv1alpha1.IndexBuildStatus
		want  bool
	}{
		{"one more range merged", merging(&indexbuildv1alpha1.MergeStatus{Ranges: 4, Succeeded: 2, Active: 2, Progress: "2/4"}), true},
		{"another range count", merging(&indexbuildv1alpha1.MergeStatus{Ranges: 8, Succeeded: 1, Active: 3, Progress: "1/8"}), false},
		{"skipped", merging(&indexbuildv1alpha1.MergeStatus{Skipped: "small"}), false},
		{"gone", merging(nil), false},
	} {
		if got := progressOnly(base, tc.after); got != tc.want {
			t.Errorf("%s: progressOnly = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestProgressCoalescerWait(t *testing.T) {
	key := types.NamespacedName{Namespace: "ns", Name: "b"}
	t0 := time.Unix(1000, 0)
	c := newProgressCoalescer(5 * time.Second)
	before, progress := building(1, 4, ReasonBuilding), building(2, 4, ReasonBuilding)
	phase := building(8, 0, ReasonFinalizing)
	phase.Phase = indexbuildv1alpha1.PhaseFinalizing

	if got := c.wait(key, before, progress, t0); got != 0 {
		t.Fatalf("no write recorded yet: wait %s, want 0", got)
	}
	c.written(key, before, t0)
	if got := c.wait(key, before, progress, t0.Add(2*time.Second)); got != 3*time.Second {
		t.Fatalf("progress 2s after a write: wait %s, want 3s", got)
	}
	if got := c.wait(key, before, phase, t0.Add(2*time.Second)); got != 0 {
		t.Fatalf("phase change: wait %s, want 0", got)
	}
	if got := c.wait(key, before, progress, t0.Add(5*time.Second)); got != 0 {
		t.Fatalf("progress after the interval: wait %s, want 0", got)
	}
	succeeded := building(8, 0, ReasonCommitted)
	succeeded.Phase = indexbuildv1alpha1.PhaseSucceeded
	c.written(key, succeeded, t0.Add(6*time.Second))
	if len(c.lastWrite) != 0 {
		t.Fatalf("a finished build is remembered: %v", c.lastWrite)
	}
	if got := newProgressCoalescer(0).wait(key, before, progress, t0); got != 0 {
		t.Fatalf("interval 0 turns coalescing off: wait %s", got)
	}
}

var _ = Describe("Progress-only status writes", func() {
	It("are written at most once per interval, and trail the Job by at most that", func() {
		n := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "ib-progress-"}}
		Expect(k8sClient.Create(ctx, n)).To(Succeed())
		const partitions = 40
		ib := testutil.MakeIndexBuild("many", n.Name).Partitions(partitions).Obj()
		Expect(k8sClient.Create(ctx, ib)).To(Succeed())
		build := waitForJob(n.Name, "many-1-build")
		Eventually(func(g Gomega) {
			g.Expect(getIndexBuild(g, ib).Status.Phase).To(Equal(indexbuildv1alpha1.PhaseBuilding))
		}, timeout, interval).Should(Succeed())

		// Every stored write of the IndexBuild is one watch event.
		w, err := k8sClient.Watch(ctx, &indexbuildv1alpha1.IndexBuildList{}, client.InNamespace(n.Name))
		Expect(err).NotTo(HaveOccurred())
		defer w.Stop()
		var writes atomic.Int32
		go func() {
			for e := range w.ResultChan() {
				if e.Type == watch.Modified {
					writes.Add(1)
				}
			}
		}()

		// The Job controller reports partitions one by one, one fewer than
		// all: each is a change of progress alone.
		start := time.Now()
		for done := 1; done < partitions; done++ {
			updateJobStatus(build, func(j *batchv1.Job) { testutil.JobRunning(j, partitions-int32(done), indexset.FirstN(done)) })
			time.Sleep(20 * time.Millisecond)
		}
		elapsed := time.Since(start)
		Eventually(func(g Gomega) {
			g.Expect(getIndexBuild(g, ib).Status.Partitions.Succeeded).To(BeEquivalentTo(partitions - 1))
		}, suiteProgressInterval+timeout, interval).Should(Succeed(), "the last progress is written once the interval is up")
		Expect(int(writes.Load())).To(BeNumerically("<=", int(elapsed/suiteProgressInterval)+2),
			"%d progress changes in %s, interval %s: %d writes", partitions-1, elapsed, suiteProgressInterval, writes.Load())

		// The phase change goes out at once, however recent the last write.
		updateJobStatus(build, testutil.JobSucceeded)
		Eventually(func(g Gomega) {
			g.Expect(getIndexBuild(g, ib).Status.Phase).To(Equal(indexbuildv1alpha1.PhaseMerging))
		}, timeout, interval).Should(Succeed())
		Expect(getIndexBuild(Default, ib).Status.Progress).To(Equal("40/40"))
	})
})
