package controller

import (
	"strings"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	indexbuildv1alpha1 "github.com/indexbuild/indexbuild/api/v1alpha1"
	"github.com/indexbuild/indexbuild/internal/testutil"
)

func runningBuildJob(active, ready int32) *batchv1.Job {
	job := newBuildJob(testutil.MakeIndexBuild("b", "ns").Partitions(2).Obj(), podDefaults{image: "img"})
	job.Status.Active, job.Status.Ready = active, ptr.To(ready)
	return job
}

func waitingPod(name string, at time.Time, mutate func(*corev1.Pod)) corev1.Pod {
	pod := corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, CreationTimestamp: metav1.NewTime(at)}}
	pod.Status.Phase = corev1.PodPending
	mutate(&pod)
	return pod
}

func imagePullBackOff(pod *corev1.Pod) {
	pod.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "worker", Image: "registry.invalid/nope:1", State: corev1.ContainerState{
		Waiting: &corev1.ContainerStateWaiting{Reason: "ImagePullBackOff", Message: `Back-off pulling image "registry.invalid/nope:1"`},
	}}}
}

func unschedulableSince(t time.Time) func(*corev1.Pod) {
	return func(pod *corev1.Pod) {
		pod.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse,
			Reason: corev1.PodReasonUnschedulable, Message: "0/1 nodes are available: 1 Insufficient cpu.", LastTransitionTime: metav1.NewTime(t)}}
	}
}

func TestDiagnosePods(t *testing.T) {
	now := time.Now()
	refused := corev1.Event{Reason: failedCreateReason, LastTimestamp: metav1.NewTime(now.Add(-time.Second)),
		Message: `Error creating: pods "b-1-build-0-x" is forbidden: exceeded quota: q, requested: cpu=2, used: cpu=8, limited: cpu=8`}
	for _, tc := range []struct {
		name    string
		pods    []corev1.Pod
		events  []corev1.Event
		reason  string
		message string
	}{
		{name: "nothing wrong", pods: []corev1.Pod{waitingPod("p0", now, func(*corev1.Pod) {})}},
		{name: "refused by the API", events: []corev1.Event{refused}, reason: ReasonPodCreateFailed, message: "Job b-1-build cannot create pods: pods \"b-1-build-0-x\" is forbidden: exceeded quota"},
		{name: "refusal before the last pod was created is over", events: []corev1.Event{refused},
			pods: []corev1.Pod{waitingPod("p0", now, func(*corev1.Pod) {})}},
		{name: "image pull", pods: []corev1.Pod{waitingPod("p0", now, imagePullBackOff), waitingPod("p1", now, imagePullBackOff)},
			reason: ReasonImagePullFailed, message: `pod p0 cannot pull image "registry.invalid/nope:1" (ImagePullBackOff: Back-off pulling image "registry.invalid/nope:1") (and 1 more)`},
		{name: "unschedulable within the grace", pods: []corev1.Pod{waitingPod("p0", now, unschedulableSince(now.Add(-unschedulableGrace/2)))}},
		{name: "unschedulable past the grace", pods: []corev1.Pod{waitingPod("p0", now, unschedulableSince(now.Add(-unschedulableGrace)))},
			reason: ReasonUnschedulable, message: "p0 unschedulable for over 30s: 0/1 nodes are available: 1 Insufficient cpu."},
		{name: "missing secret", pods: []corev1.Pod{waitingPod("p0", now, func(p *corev1.Pod) {
			p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "worker", State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{
				Reason: "CreateContainerConfigError", Message: `secret "creds" not found`}}}}
		})}, reason: ReasonContainerCreateFailed, message: `secret "creds" not found`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := diagnosePods(runningBuildJob(int32(len(tc.pods)), 0), tc.pods, tc.events, now)
			if tc.reason == "" {
				if got != nil {
					t.Fatalf("diagnosePods = %+v, want nothing", got)
				}
				return
			}
			if got == nil || got.Reason != tc.reason || !strings.Contains(got.Message, tc.message) {
				t.Fatalf("diagnosePods = %+v, want %s containing %q", got, tc.reason, tc.message)
			}
		})
	}
}

func TestPodsMovedAt(t *testing.T) {
	t0 := time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)
	at := func(d time.Duration) metav1.Time { return metav1.NewTime(t0.Add(d)) }
	job := runningBuildJob(1, 0)
	job.CreationTimestamp = at(0)
	resumed := runningBuildJob(0, 0)
	resumed.CreationTimestamp, resumed.Status.StartTime = at(0), ptr.To(at(time.Minute))
	for _, tc := range []struct {
		name string
		job  *batchv1.Job
		pods []corev1.Pod
		want time.Duration
	}{
		{"no pods: since the Job was created", job, nil, 0},
		{"no pods: since the Job resumed", resumed, nil, time.Minute},
		{"a pod created", job, []corev1.Pod{waitingPod("p0", t0.Add(3*time.Second), func(*corev1.Pod) {})}, 3 * time.Second},
		{"a pod found unschedulable", job, []corev1.Pod{waitingPod("p0", t0, unschedulableSince(t0.Add(4*time.Second)))}, 4 * time.Second},
		{"a container started", job, []corev1.Pod{waitingPod("p0", t0, func(p *corev1.Pod) {
			p.Status.ContainerStatuses = []corev1.ContainerStatus{{State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: at(5 * time.Second)}}}}
		})}, 5 * time.Second},
		{"a pod failed", job, []corev1.Pod{waitingPod("p0", t0, func(p *corev1.Pod) {
			p.Status.ContainerStatuses = []corev1.ContainerStatus{{State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 1, FinishedAt: at(6 * time.Second)}}}}
		})}, 6 * time.Second},
		{"a pod terminating", job, []corev1.Pod{waitingPod("p0", t0, func(p *corev1.Pod) { p.DeletionTimestamp = ptr.To(at(7 * time.Second)) })}, 7 * time.Second},
		{"the latest of several pods", job, []corev1.Pod{
			waitingPod("p0", t0.Add(2*time.Second), func(*corev1.Pod) {}),
			waitingPod("p1", t0.Add(8*time.Second), func(*corev1.Pod) {}),
		}, 8 * time.Second},
	} {
		if got := podsMovedAt(tc.job, tc.pods); !got.Equal(t0.Add(tc.want)) {
			t.Errorf("%s: podsMovedAt = %s, want t0+%s", tc.name, got, tc.want)
		}
	}
}

func TestWaitingForPods(t *testing.T) {
	suspended := runningBuildJob(0, 0)
	suspended.Spec.Suspend = ptr.To(true)
	done := runningBuildJob(0, 0)
	testutil.JobSucceeded(done)
	lastOne := runningBuildJob(1, 1)
	lastOne.Status.Succeeded = 1
	for name, tc := range map[string]struct {
		job  *batchv1.Job
		want bool
	}{
		"no pods yet":            {runningBuildJob(0, 0), true},
		"pods not ready":         {runningBuildJob(2, 1), true},
		"all running":            {runningBuildJob(2, 2), false},
		"last partition running": {lastOne, false},
		"suspended":              {suspended, false},
		"finished":               {done, false},
	} {
		if got := waitingForPods(tc.job); got != tc.want {
			t.Errorf("%s: waitingForPods = %v, want %v", name, got, tc.want)
		}
	}
}

// The envtest has no Job controller, scheduler or kubelet: the specs write
// what they would (the FailedCreate Event with the API's refusal, pod
// status) and expect the build to say why nothing runs.
var _ = Describe("Why nothing runs", func() {
	var ns string
	BeforeEach(func() { ns = restrictedNamespace("ib-health-") })

	// Pods are looked into once the Job's pod counts stand still for
	// podsStillGrace.
	expectReady := func(ib *indexbuildv1alpha1.IndexBuild, reason string, message ...string) {
		GinkgoHelper()
		expectReadyReason(ib, indexbuildv1alpha1.PhaseBuilding, reason, podsStillGrace+timeout, message...)
	}

	It("quotes the API's refusal of a pod (Pod Security) until pods run", func() {
		ib := testutil.MakeIndexBuild("host", ns).Partitions(2).OutputURI("file://" + testFileStoreRoot + "/host").Obj()
		Expect(k8sClient.Create(ctx, ib)).To(Succeed())
		job := waitForJob(ns, "host-1-build")

		By("the Job controller failing to create a pod, as the apiserver refuses it")
		pod := testutil.MakeJobPod(job, "host-1-build-0-abcde")
		err := k8sClient.Create(ctx, pod)
		Expect(err).To(MatchError(ContainSubstring("violates PodSecurity")))
		Expect(k8sClient.Create(ctx, &corev1.Event{
			ObjectMeta:     metav1.ObjectMeta{GenerateName: job.Name + ".", Namespace: ns},
			InvolvedObject: corev1.ObjectReference{Kind: "Job", APIVersion: "batch/v1", Namespace: ns, Name: job.Name, UID: job.UID},
			Reason:         failedCreateReason, Message: "Error creating: " + err.Error(), Type: corev1.EventTypeWarning,
			Source: corev1.EventSource{Component: "job-controller"}, FirstTimestamp: metav1.Now(), LastTimestamp: metav1.Now(), Count: 1,
		})).To(Succeed())

		expectReady(ib, ReasonPodCreateFailed, "0 of 2 partitions built", "cannot create pods", "violates PodSecurity", "hostPath")
		expectEvent(ns, "host", corev1.EventTypeWarning, ReasonPodCreateFailed)

		By("the pods running once the namespace allows them")
		updateJobStatus(job, func(j *batchv1.Job) {
			testutil.JobRunning(j, 2, "")
			j.Status.Ready = ptr.To[int32](2)
		})
		expectReady(ib, ReasonBuilding)
	})

	It("names the image that cannot be pulled", func() {
		ib := testutil.MakeIndexBuild("pull", ns).Partitions(1).Builder("registry.invalid/nope:1").Obj()
		Expect(k8sClient.Create(ctx, ib)).To(Succeed())
		job := waitForJob(ns, "pull-1-build")
		pod := testutil.MakeJobPod(job, "pull-1-build-0-abcde")
		Expect(k8sClient.Create(ctx, pod)).To(Succeed())
		pod.Status.Phase = corev1.PodPending
		imagePullBackOff(pod)
		Expect(k8sClient.Status().Update(ctx, pod)).To(Succeed())
		updateJobStatus(job, func(j *batchv1.Job) { testutil.JobRunning(j, 1, "") })

		expectReady(ib, ReasonImagePullFailed, `cannot pull image "registry.invalid/nope:1"`, "ImagePullBackOff")
		expectEvent(ns, "pull", corev1.EventTypeWarning, ReasonImagePullFailed)
	})

	It("quotes the scheduler after the grace", func() {
		ib := testutil.MakeIndexBuild("big", ns).Partitions(1).Obj()
		Expect(k8sClient.Create(ctx, ib)).To(Succeed())
		job := waitForJob(ns, "big-1-build")
		pod := testutil.MakeJobPod(job, "big-1-build-0-abcde")
		Expect(k8sClient.Create(ctx, pod)).To(Succeed())
		pod.Status.Phase = corev1.PodPending
		unschedulableSince(time.Now().Add(-time.Minute))(pod)
		Expect(k8sClient.Status().Update(ctx, pod)).To(Succeed())
		updateJobStatus(job, func(j *batchv1.Job) { testutil.JobRunning(j, 1, "") })

		expectReady(ib, ReasonUnschedulable, "big-1-build-0-abcde unschedulable", "Insufficient cpu")
	})
})

func TestPodsMissing(t *testing.T) {
	job := &batchv1.Job{Spec: batchv1.JobSpec{Parallelism: ptr.To[int32](3), Completions: ptr.To[int32](4)}}
	job.Status.Succeeded = 2 // two more to run
	pod := func(phase corev1.PodPhase, deleting bool) corev1.Pod {
		p := corev1.Pod{Status: corev1.PodStatus{Phase: phase}}
		if deleting {
			p.DeletionTimestamp = ptr.To(metav1.Now())
		}
		return p
	}
	for _, tc := range []struct {
		name string
		pods []corev1.Pod
		want bool
	}{
		{"none yet", nil, true},
		{"one of two", []corev1.Pod{pod(corev1.PodPending, false)}, true},
		{"both, pending", []corev1.Pod{pod(corev1.PodPending, false), pod(corev1.PodRunning, false)}, false},
		{"finished and deleted pods do not count", []corev1.Pod{pod(corev1.PodSucceeded, false), pod(corev1.PodFailed, false), pod(corev1.PodRunning, true), pod(corev1.PodRunning, false)}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := podsMissing(job, tc.pods); got != tc.want {
				t.Fatalf("podsMissing = %v, want %v", got, tc.want)
			}
		})
	}
}
