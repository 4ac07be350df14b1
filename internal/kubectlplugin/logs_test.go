package kubectlplugin

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	ctrlfake "sigs.k8s.io/controller-runtime/pkg/client/fake"

	indexbuildv1alpha1 "github.com/indexbuild/indexbuild/api/v1alpha1"
	"github.com/indexbuild/indexbuild/internal/controller"
	"github.com/indexbuild/indexbuild/internal/testutil"
)

// Logs need a kubelet, which envtest does not have: these tests check
// which pods `logs` selects and how it prints them against client-go's fake
// clientset (its log requests do not carry the pod name, so the fake log
// shows the options asked for and --prefix names the pod).
// Streaming from real pods is left to the e2e tests on a cluster.

func childPod(name, build, jobID, role, index string, created int) *corev1.Pod {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{
		Name: name, Namespace: "ns",
		CreationTimestamp: metav1.NewTime(time.Unix(int64(created), 0)),
		Labels: map[string]string{
			controller.LabelBuildName: build, controller.LabelJobID: jobID, controller.LabelRole: role,
		},
	}}
	if index != "" {
		p.Labels[batchv1.JobCompletionIndexAnnotation] = index
	}
	return p
}

func runLogs(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	cs := fake.NewClientset(
		childPod("books-3-build-0-a", "books", "3", "build", "0", 1),
		childPod("books-3-build-1-a", "books", "3", "build", "1", 1),
		childPod("books-3-build-1-b", "books", "3", "build", "1", 5), // retry of partition 1
		childPod("books-3-merge-0-a", "books", "3", "merge", "0", 7),
		childPod("books-3-merge-1-a", "books", "3", "merge", "1", 7),
		childPod("books-3-finalize-x", "books", "3", "finalize", "", 9),
		childPod("books-2-build-0-a", "books", "2", "build", "0", 0), // an older task
		childPod("other-3-build-0-a", "other", "3", "build", "0", 1), // another build
	)
	cs.PrependReactor("get", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
		ga, ok := a.(k8stesting.GenericAction)
		if !ok || a.GetSubresource() != "log" {
			return false, nil, nil
		}
		opts := ga.GetValue().(*corev1.PodLogOptions)
		tail := "all"
		if opts.TailLines != nil {
			tail = fmt.Sprint(*opts.TailLines)
		}
		return true, &runtime.Unknown{Raw: []byte(fmt.Sprintf("started\ncontainer=%s follow=%v tail=%s\n", opts.Container, opts.Follow, tail))}, nil
	})
	var out, errb bytes.Buffer
	p := &Plugin{Out: &out, Err: &errb, Connect: func(KubeFlags) (*Clients, error) {
		return &Clients{Clientset: cs, Namespace: "ns"}, nil
	}}
	code := p.Run(context.Background(), args)
	return code, out.String(), errb.String()
}

func TestLogsCommand(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		code int
		out  string
		err  string
	}{
		{
			"every partition, newest attempt, prefixed",
			[]string{"logs", "books", "--job-id", "3"}, 0,
			"[pod/books-3-build-0-a] started\n[pod/books-3-build-0-a] container=worker follow=false tail=all\n" +
				"[pod/books-3-build-1-b] started\n[pod/books-3-build-1-b] container=worker follow=false tail=all\n", "",
		},
		{
			"one partition: no prefix",
			[]string{"logs", "books", "--job-id=3", "--partition", "1", "--tail", "20"}, 0,
			"started\ncontainer=worker follow=false tail=20\n", "",
		},
		{
			"one partition, --prefix names the pod",
			[]string{"logs", "books", "--job-id=3", "--partition", "1", "--prefix"}, 0,
			"[pod/books-3-build-1-b] started\n[pod/books-3-build-1-b] container=worker follow=false tail=all\n", "",
		},
		{
			"one partition, every attempt",
			[]string{"logs", "books", "--job-id=3", "--partition=1", "--all-attempts"}, 0,
			"[pod/books-3-build-1-a] started\n[pod/books-3-build-1-a] container=worker follow=false tail=all\n" +
				"[pod/books-3-build-1-b] started\n[pod/books-3-build-1-b] container=worker follow=false tail=all\n", "",
		},
		{
			"finalize, followed",
			[]string{"logs", "books", "--job-id=3", "--finalize", "-f", "--prefix"}, 0,
			"[pod/books-3-finalize-x] started\n[pod/books-3-finalize-x] container=finalize follow=true tail=all\n", "",
		},
		{
			"older task",
			[]string{"logs", "-n", "ns", "books", "--job-id=2", "--prefix"}, 0,
			"[pod/books-2-build-0-a] started\n[pod/books-2-build-0-a] container=worker follow=false tail=all\n", "",
		},
		{
			"no such partition",
			[]string{"logs", "books", "--job-id=3", "--partition=7"}, 1, "",
			"no worker pod for partition 7 of IndexBuild ns/books jobID 3 (selector batch.kubernetes.io/job-completion-index=7,indexbuild.dev/job-id=3,indexbuild.dev/name=books,indexbuild.dev/role=build)",
		},
		{
			"merge pods, one per key range",
			[]string{"logs", "books", "--job-id=3", "--merge"}, 0,
			"[pod/books-3-merge-0-a] started\n[pod/books-3-merge-0-a] container=merge follow=false tail=all\n" +
				"[pod/books-3-merge-1-a] started\n[pod/books-3-merge-1-a] container=merge follow=false tail=all\n", "",
		},
		{
			"one key range",
			[]string{"logs", "books", "--job-id=3", "--range=1", "--prefix"}, 0,
			"[pod/books-3-merge-1-a] started\n[pod/books-3-merge-1-a] container=merge follow=false tail=all\n", "",
		},
		{
			"no such key range",
			[]string{"logs", "books", "--job-id=3", "--merge", "--range=5"}, 1, "",
			"no merge pod for key range 5 of IndexBuild ns/books jobID 3",
		},
		{"partition and finalize", []string{"logs", "books", "--job-id=3", "--partition=1", "--finalize"}, 2, "", "exclude each other"},
		{"partition and range", []string{"logs", "books", "--job-id=3", "--partition=1", "--range=1"}, 2, "", "--partition and --merge exclude each other"},
		{"merge and finalize", []string{"logs", "books", "--job-id=3", "--merge", "--finalize"}, 2, "", "--merge and --finalize exclude each other"},
		{"negative range", []string{"logs", "books", "--job-id=3", "--range=-2"}, 2, "", "--range must be >= 0"},
		{"negative partition", []string{"logs", "books", "--job-id=3", "--partition=-1"}, 2, "", "--partition must be >= 0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := runLogs(t, tc.args...)
			if code != tc.code || out != tc.out || !strings.Contains(errOut, tc.err) {
				t.Errorf("exit %d (want %d)\nstdout:\n%s\nwant:\n%s\nstderr: %s (want %q)", code, tc.code, out, tc.out, errOut, tc.err)
			}
		})
	}
}

// TestLogsUsesSpecJobID reads spec.jobID from the apiserver (envtest) when
// --job-id is not given, so that the current task's pods are chosen.
func TestLogsUsesSpecJobID(t *testing.T) {
	ns := newNamespace(t)
	createBuild(t, testutil.MakeIndexBuild("books", ns).JobID(3).Obj())
	cs := fake.NewClientset(
		childPod("books-2-build-0-a", "books", "2", "build", "0", 1),
		childPod("books-3-build-0-a", "books", "3", "build", "0", 2),
	)
	var out, errb bytes.Buffer
	envClients, err := ClientsFor(cfg, ns)
	if err != nil {
		t.Fatal(err)
	}
	// The fake pods live in namespace "ns"; look there for them.
	p := &Plugin{Out: &out, Err: &errb, Connect: func(KubeFlags) (*Clients, error) {
		return &Clients{Client: envClients.Client, Clientset: cs, Namespace: ns}, nil
	}}
	if code := p.Run(context.Background(), []string{"logs", "books", "-n", ns, "--prefix"}); code != 1 || !strings.Contains(errb.String(), "jobID 3") {
		t.Errorf("pods in another namespace are not the build's: %d %q %q", code, out.String(), errb.String())
	}
	for _, pod := range []*corev1.Pod{childPod("books-2-build-0-a", "books", "2", "build", "0", 1), childPod("books-3-build-0-a", "books", "3", "build", "0", 2)} {
		pod.Namespace = ns
		if err := cs.Tracker().Add(pod); err != nil {
			t.Fatal(err)
		}
	}
	out.Reset()
	errb.Reset()
	if code := p.Run(context.Background(), []string{"logs", "books", "-n", ns, "--prefix"}); code != 0 || out.String() != "[pod/books-3-build-0-a] fake logs\n" {
		t.Errorf("spec.jobID 3: %d %q %q", code, out.String(), errb.String())
	}
	if code := p.Run(context.Background(), []string{"logs", "nope", "-n", ns}); code != 1 || !strings.Contains(errb.String(), "IndexBuild nope not found") {
		t.Errorf("missing build: %d %q", code, errb.String())
	}
}

// TestStatusShowsTheLiveRate: status of a running build sums the latest
// progress line of each running worker's log (not of pending or finished
// pods).
func TestStatusShowsTheLiveRate(t *testing.T) {
	ib := testutil.MakeIndexBuild("books", "ns").JobID(3).Partitions(4).Obj()
	ib.Status.Phase = "Building"
	running := func(p *corev1.Pod) *corev1.Pod { p.Status.Phase = corev1.PodRunning; return p }
	cs := fake.NewClientset(
		running(childPod("books-3-build-0-a", "books", "3", "build", "0", 1)),
		running(childPod("books-3-build-1-a", "books", "3", "build", "1", 1)),
		childPod("books-3-build-2-a", "books", "3", "build", "2", 1), // pending
	)
	cs.PrependReactor("get", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
		if a.GetSubresource() != "log" {
			return false, nil, nil
		}
		return true, &runtime.Unknown{Raw: []byte("partition 0/4: 900 rows, 100 rows/s, 5.0% of share read\npartition 0/4: 3000 rows, 750 rows/s, 20.0% of share read\n")}, nil
	})
	var out, errb bytes.Buffer
	p := &Plugin{Out: &out, Err: &errb, Connect: func(KubeFlags) (*Clients, error) {
		return &Clients{Client: ctrlfake.NewClientBuilder().WithScheme(Scheme()).WithObjects(ib).Build(), Clientset: cs, Namespace: "ns"}, nil
	}}
	if code := p.Run(context.Background(), []string{"status", "books"}); code != 0 {
		t.Fatalf("status exited %d: %s", code, errb.String())
	}
	if want := "Rate now:    1500 rows/s over 2 running workers (6000 rows read so far)"; !strings.Contains(out.String(), want) {
		t.Errorf("status lacks %q:\n%s", want, out.String())
	}
}

// TestRetryFailedRaisesMaxRestarts: retry --failed keeps the jobID and asks
// the operator for one restart more.
func TestRetryFailedRaisesMaxRestarts(t *testing.T) {
	ib := testutil.MakeIndexBuild("books", "ns").JobID(3).Obj()
	ib.Status.Phase = "Failed"
	ib.Status.Restarts = 0
	ib.Status.Conditions = []metav1.Condition{{Type: "Ready", Status: "False", Reason: "BackoffLimitExceeded", Message: "partition 2 out of retries"}}
	cl := ctrlfake.NewClientBuilder().WithScheme(Scheme()).WithObjects(ib).Build()
	var out, errb bytes.Buffer
	p := &Plugin{Out: &out, Err: &errb, Connect: func(KubeFlags) (*Clients, error) {
		return &Clients{Client: cl, Namespace: "ns"}, nil
	}}
	if code := p.Run(context.Background(), []string{"retry", "books", "--failed"}); code != 0 {
		t.Fatalf("retry --failed exited %d: %s", code, errb.String())
	}
	got := &indexbuildv1alpha1.IndexBuild{}
	if err := cl.Get(context.Background(), types.NamespacedName{Namespace: "ns", Name: "books"}, got); err != nil {
		t.Fatal(err)
	}
	if got.Spec.JobID != 3 || got.Spec.FailurePolicy == nil || got.Spec.FailurePolicy.MaxRestarts != 1 {
		t.Errorf("spec after retry --failed: jobID %d, failurePolicy %+v", got.Spec.JobID, got.Spec.FailurePolicy)
	}
	if !strings.Contains(out.String(), "maxRestarts 0 -> 1") {
		t.Errorf("output:\n%s", out.String())
	}
	if code := p.Run(context.Background(), []string{"retry", "books", "--failed", "--force"}); code != 2 {
		t.Errorf("--failed --force exited %d, want 2 (usage)", code)
	}
}
