package kubectlplugin

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/yaml"

	indexbuildv1alpha1 "github.com/indexbuild/indexbuild/api/v1alpha1"
	"github.com/indexbuild/indexbuild/internal/builder"
	"github.com/indexbuild/indexbuild/internal/commit"
	"github.com/indexbuild/indexbuild/internal/output"
	"github.com/indexbuild/indexbuild/internal/query"
	"github.com/indexbuild/indexbuild/internal/querycmd"
	"github.com/indexbuild/indexbuild/internal/storage"
	"github.com/indexbuild/indexbuild/internal/taskmeta"
	"github.com/indexbuild/indexbuild/internal/testutil"
)

// The command tests run the plugin against a real kube-apiserver and etcd
// with the CRD from config/crd/bases (envtest; `make test` sets
// KUBEBUILDER_ASSETS). No operator runs: the tests write the status the
// operator would.

var (
	testEnv *envtest.Environment
	cfg     *rest.Config
	k8s     client.Client
	nsSeq   atomic.Int32
)

func TestMain(m *testing.M) {
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		if os.Getenv("CI") == "true" {
			fmt.Fprintln(os.Stderr, "KUBEBUILDER_ASSETS is not set: run `make test`, or `make envtest` and point it at bin/k8s/<version>")
			os.Exit(1)
		}
		// Unit tests only; the command tests skip (see envClients).
		os.Exit(m.Run())
	}
	testEnv = &envtest.Environment{
		CRDDirectoryPaths:     []string{filepath.Join("..", "..", "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
	}
	var err error
	if cfg, err = testEnv.Start(); err != nil {
		fmt.Fprintln(os.Stderr, "envtest:", err)
		os.Exit(1)
	}
	if k8s, err = client.New(cfg, client.Options{Scheme: Scheme()}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		_ = testEnv.Stop()
		os.Exit(1)
	}
	code := m.Run()
	if err := testEnv.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, "stopping envtest:", err)
	}
	os.Exit(code)
}

// newNamespace creates a namespace for one test.
func newNamespace(t *testing.T) string {
	t.Helper()
	if testEnv == nil {
		t.Skip("KUBEBUILDER_ASSETS is not set: command tests need envtest (make test)")
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("plugin-%d", nsSeq.Add(1))}}
	if err := k8s.Create(context.Background(), ns); err != nil {
		t.Fatal(err)
	}
	return ns.Name
}

// run runs one plugin command line against envtest, connecting the way
// Connect would, with the namespace from -n.
func run(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	return runCtx(t, context.Background(), args...)
}

func runCtx(t *testing.T, ctx context.Context, args ...string) (int, string, string) {
	t.Helper()
	out, errb := &syncWriter{w: &bytes.Buffer{}}, &syncWriter{w: &bytes.Buffer{}}
	code := runTo(ctx, out, errb, args...)
	return code, out.String(), errb.String()
}

func runTo(ctx context.Context, out, errb *syncWriter, args ...string) int {
	p := &Plugin{Out: out, Err: errb, Connect: func(k KubeFlags) (*Clients, error) {
		ns := k.Namespace
		if ns == "" {
			ns = "default"
		}
		return ClientsFor(cfg, ns)
	}}
	return p.Run(ctx, args)
}

type syncWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (s *syncWriter) Write(b []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(b)
}

func (s *syncWriter) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.String()
}

func createBuild(t *testing.T, ib *indexbuildv1alpha1.IndexBuild) *indexbuildv1alpha1.IndexBuild {
	t.Helper()
	if err := k8s.Create(context.Background(), ib); err != nil {
		t.Fatal(err)
	}
	return ib
}

// setStatus writes the status the operator would, for the current
// generation.
func setStatus(t *testing.T, ib *indexbuildv1alpha1.IndexBuild, mutate func(*indexbuildv1alpha1.IndexBuildStatus)) {
	t.Helper()
	cur := &indexbuildv1alpha1.IndexBuild{}
	if err := k8s.Get(context.Background(), client.ObjectKeyFromObject(ib), cur); err != nil {
		t.Fatal(err)
	}
	mutate(&cur.Status)
	cur.Status.ObservedGeneration = cur.Generation
	for i := range cur.Status.Conditions {
		cur.Status.Conditions[i].ObservedGeneration = cur.Generation
		if cur.Status.Conditions[i].LastTransitionTime.IsZero() {
			cur.Status.Conditions[i].LastTransitionTime = metav1.Now()
		}
	}
	if err := k8s.Status().Update(context.Background(), cur); err != nil {
		t.Fatal(err)
	}
}

func building(succeeded, active int32) func(*indexbuildv1alpha1.IndexBuildStatus) {
	return func(st *indexbuildv1alpha1.IndexBuildStatus) {
		st.Phase = indexbuildv1alpha1.PhaseBuilding
		st.Partitions = indexbuildv1alpha1.PartitionCounts{Total: 4, Succeeded: succeeded, Active: active}
		st.Progress = fmt.Sprintf("%d/4", succeeded)
		st.Conditions = []metav1.Condition{
			cond("Ready", "False", "Building", "building"),
			cond("Reconciling", "True", "Building", "building"),
		}
	}
}

func failedStatus(reason, msg string) func(*indexbuildv1alpha1.IndexBuildStatus) {
	return func(st *indexbuildv1alpha1.IndexBuildStatus) {
		st.Phase = indexbuildv1alpha1.PhaseFailed
		st.Partitions = indexbuildv1alpha1.PartitionCounts{Total: 4, Succeeded: 1, Failed: 1}
		st.Conditions = []metav1.Condition{
			cond("Ready", "False", reason, msg),
			cond("Stalled", "True", reason, msg),
		}
	}
}

func succeededStatus(marker string) func(*indexbuildv1alpha1.IndexBuildStatus) {
	return func(st *indexbuildv1alpha1.IndexBuildStatus) {
		start := metav1.NewTime(time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC))
		commit := metav1.NewTime(start.Add(8 * time.Second))
		st.Phase = indexbuildv1alpha1.PhaseSucceeded
		st.Task = &indexbuildv1alpha1.TaskStatus{Key: "k", JobID: 1, SchemaID: 1, TableID: 100, ElementType: "index", ElementIDs: []int64{1}, StartTime: &start}
		st.Partitions = indexbuildv1alpha1.PartitionCounts{Total: 4, Succeeded: 4}
		st.Progress = "4/4"
		st.Commit = &indexbuildv1alpha1.CommitStatus{MarkerURI: marker, Files: 4, Bytes: 4096, Rows: 300, CommitTime: &commit}
		st.Conditions = []metav1.Condition{
			cond("Ready", "True", "Committed", "committed 4 files, 300 rows at "+marker),
			cond("Reconciling", "False", "Committed", "done"),
			cond("Committed", "True", "Committed", "marker written"),
		}
	}
}

func TestStatusCommand(t *testing.T) {
	ns := newNamespace(t)
	ib := createBuild(t, testutil.MakeIndexBuild("books", ns).Partitions(4).Obj())

	// Before the operator wrote anything.
	code, out, errOut := run(t, "status", "books", "-n", ns)
	if code != 0 || !strings.Contains(out, "Phase:       (none yet)") || !strings.Contains(out, "[--------------------] 0/4") ||
		!strings.Contains(out, "not observed yet") || !strings.Contains(out, "(none yet: the operator") {
		t.Fatalf("fresh build: %d\n%s\n%s", code, out, errOut)
	}

	setStatus(t, ib, succeededStatus("s3://indexes/books/metadata.json"))
	code, out, errOut = run(t, "-n", ns, "status", "books")
	if code != 0 {
		t.Fatalf("status: %d %s", code, errOut)
	}
	for _, want := range []string{
		"IndexBuild:  " + ns + "/books\n",
		"Phase:       Succeeded\n",
		"Partitions:  [####################] 4/4  (active 0, failed 0)\n",
		"Rate:        37.5 rows/s (300 rows in 8s, task start to commit)\n",
		"Commit:      4 files, 4.0 KiB, 300 rows\n",
		"  marker:    s3://indexes/books/metadata.json\n",
		"  Ready        True    Committed  committed 4 files, 300 rows at s3://indexes/books/metadata.json\n",
		"  Reconciling  False   Committed  done\n",
		"  Committed    True    Committed  marker written\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("status output lacks %q:\n%s", want, out)
		}
	}

	code, out, errOut = run(t, "status", "books", "-n", ns, "-o", "json")
	var s Summary
	if code != 0 || json.Unmarshal([]byte(out), &s) != nil {
		t.Fatalf("-o json: %d %s %s", code, out, errOut)
	}
	if s.Phase != "Succeeded" || s.Partitions.Succeeded != 4 || s.Rate == nil || s.Rate.RowsPerSecond != 37.5 ||
		s.Commit == nil || s.Commit.Rows != 300 || len(s.Conditions) != 3 || s.Conditions[0].Type != "Ready" {
		t.Errorf("-o json summary: %+v", s)
	}
	code, out, _ = run(t, "status", "books", "-n", ns, "-o", "yaml")
	var y Summary
	if code != 0 || yaml.Unmarshal([]byte(out), &y) != nil || y.Progress != "4/4" || y.Commit.MarkerURI != "s3://indexes/books/metadata.json" {
		t.Errorf("-o yaml: %d %+v\n%s", code, y, out)
	}

	// Failure: the reason and message, and what retry would do.
	setStatus(t, ib, failedStatus("StaleMeta", "elementIDs: recorded [1], current [2] (task "+ns+"/books/1, jobID 1)"))
	_, out, _ = run(t, "status", "books", "-n", ns)
	if !strings.Contains(out, "Failure:     StaleMeta: elementIDs: recorded [1], current [2]") || !strings.Contains(out, "starts a new task (jobID 2)") {
		t.Errorf("failed status:\n%s", out)
	}

	if code, _, errOut = run(t, "status", "nope", "-n", ns); code != 1 || !strings.Contains(errOut, "IndexBuild nope not found in namespace "+ns) {
		t.Errorf("missing build: %d %q", code, errOut)
	}
	if code, _, errOut = run(t, "status", "-n", ns); code != 2 || !strings.Contains(errOut, "usage: kubectl indexbuild status NAME") {
		t.Errorf("no name: %d %q", code, errOut)
	}
	if code, _, _ = run(t, "status", "books", "-n", ns, "-o", "wide"); code != 2 {
		t.Errorf("-o wide: %d", code)
	}
}

func getIB(t *testing.T, ns, name string) *indexbuildv1alpha1.IndexBuild {
	t.Helper()
	ib := &indexbuildv1alpha1.IndexBuild{}
	if err := k8s.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: name}, ib); err != nil {
		t.Fatal(err)
	}
	return ib
}

func TestRetryCommand(t *testing.T) {
	ns := newNamespace(t)
	ib := createBuild(t, testutil.MakeIndexBuild("books", ns).JobID(7).Obj())

	// Not failed (no status at all, then Building): refused, nothing changes.
	code, out, errOut := run(t, "retry", "books", "-n", ns)
	if code != 1 || !strings.Contains(errOut, "is not started, not Failed") || getIB(t, ns, "books").Spec.JobID != 7 {
		t.Fatalf("retry without status: %d %q %q", code, out, errOut)
	}
	setStatus(t, ib, building(1, 3))
	code, _, errOut = run(t, "retry", "books", "-n", ns)
	if code != 1 || !strings.Contains(errOut, "is Building, not Failed") || !strings.Contains(errOut, "--force") || getIB(t, ns, "books").Spec.JobID != 7 {
		t.Fatalf("retry while building: %d %q", code, errOut)
	}

	// Failed: jobID bumped, the reason and message explained.
	setStatus(t, ib, failedStatus("BackoffLimitExceeded", "partition 2 failed 4 times: connection reset"))
	code, out, errOut = run(t, "retry", "books", "-n", ns, "--dry-run")
	if code != 0 || !strings.Contains(out, "would set (dry run") || getIB(t, ns, "books").Spec.JobID != 7 {
		t.Fatalf("dry run: %d %q %q", code, out, errOut)
	}
	code, out, errOut = run(t, "retry", "books", "-n", ns)
	if code != 0 {
		t.Fatalf("retry: %d %q", code, errOut)
	}
	for _, want := range []string{
		"IndexBuild " + ns + "/books failed (jobID 7): BackoffLimitExceeded: partition 2 failed 4 times: connection reset\n",
		"Retry: set spec.jobID 7 -> 8.\n",
		"A new task " + ns + "/books/8 starts",
		"kubectl indexbuild watch books -n " + ns,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("retry output lacks %q:\n%s", want, out)
		}
	}
	after := getIB(t, ns, "books")
	if after.Spec.JobID != 8 || after.Generation != 2 {
		t.Fatalf("after retry: jobID %d generation %d", after.Spec.JobID, after.Generation)
	}

	// The status still says Failed, but for the old generation: a second
	// retry before the operator saw the first is refused.
	code, _, errOut = run(t, "retry", "books", "-n", ns)
	if code != 1 || !strings.Contains(errOut, "has not observed the latest spec") || getIB(t, ns, "books").Spec.JobID != 8 {
		t.Fatalf("second retry: %d %q", code, errOut)
	}

	// Forced on a running build; the status's task jobID counts; -o yaml
	// prints the object, the explanation goes to stderr; --output-uri moves
	// the output along.
	setStatus(t, ib, func(st *indexbuildv1alpha1.IndexBuildStatus) {
		building(0, 4)(st)
		st.Task = &indexbuildv1alpha1.TaskStatus{Key: "k", JobID: 11, SchemaID: 1, TableID: 100, ElementType: "index", ElementIDs: []int64{1}}
	})
	code, out, errOut = run(t, "retry", "books", "-n", ns, "--force", "-o", "yaml", "--output-uri", "s3://indexes/books-v2")
	if code != 0 {
		t.Fatalf("forced retry: %d %q", code, errOut)
	}
	var obj indexbuildv1alpha1.IndexBuild
	if err := yaml.Unmarshal([]byte(out), &obj); err != nil || obj.Spec.JobID != 12 || obj.Kind != "IndexBuild" {
		t.Errorf("-o yaml object: %v %+v\n%s", err, obj.Spec, out)
	}
	if !strings.Contains(errOut, "Forced: IndexBuild books is Building") || !strings.Contains(errOut, "Output moves to s3://indexes/books-v2") {
		t.Errorf("forced explanation: %q", errOut)
	}
	if got := getIB(t, ns, "books"); got.Spec.JobID != 12 || got.Spec.Output.URI != "s3://indexes/books-v2" {
		t.Errorf("after forced retry: %+v", got.Spec)
	}

	// A failed build on an output that holds a committed version: the new
	// task commits beside it, on the same output, and readers keep the old
	// version until the new one is published.
	setStatus(t, ib, func(st *indexbuildv1alpha1.IndexBuildStatus) {
		succeededStatus("s3://indexes/books-v2/versions/12/metadata.json")(st)
		failedStatus("StaleMeta", "tableID changed")(st)
	})
	code, out, _ = run(t, "retry", "books", "-n", ns)
	if code != 0 || !strings.Contains(out, "commits its own version under s3://indexes/books-v2/versions/13/") ||
		!strings.Contains(out, "readers keep the committed version (s3://indexes/books-v2/versions/12/metadata.json)") {
		t.Errorf("retry over a commit: %d\n%s", code, out)
	}
	if got := getIB(t, ns, "books"); got.Spec.JobID != 13 || got.Spec.Output.URI != "s3://indexes/books-v2" {
		t.Errorf("retry over a commit moved the output or missed the jobID: %+v", got.Spec)
	}

	// OutputInUse: the same output would fail the same way; only a retry
	// that moves the output goes ahead.
	setStatus(t, ib, failedStatus("OutputInUse", "output s3://indexes/books-v2 belongs to IndexBuild team-b/books"))
	code, _, errOut = run(t, "retry", "books", "-n", ns)
	if code == 0 || !strings.Contains(errOut, "--output-uri") {
		t.Errorf("retry on an output in use: %d %q", code, errOut)
	}
	if got := getIB(t, ns, "books"); got.Spec.JobID != 13 {
		t.Errorf("a refused retry changed jobID: %+v", got.Spec)
	}
	code, out, errOut = run(t, "retry", "books", "-n", ns, "--output-uri", "s3://indexes/books-mine")
	if code != 0 || !strings.Contains(out, "Output moves to s3://indexes/books-mine") {
		t.Errorf("retry elsewhere after OutputInUse: %d %q %q", code, out, errOut)
	}
}

// watchAsync runs watch in the background and returns its result channel
// once it has printed its first line (it has read the object and is about
// to watch).
func watchAsync(t *testing.T, args ...string) chan [3]any {
	t.Helper()
	done := make(chan [3]any, 1)
	out, errb := &syncWriter{w: &bytes.Buffer{}}, &syncWriter{w: &bytes.Buffer{}}
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		code := runTo(ctx, out, errb, args...)
		done <- [3]any{code, out.String(), errb.String()}
	}()
	deadline := time.Now().Add(30 * time.Second)
	for out.String() == "" && errb.String() == "" {
		if time.Now().After(deadline) {
			t.Fatal("watch printed nothing")
		}
		time.Sleep(20 * time.Millisecond)
	}
	return done
}

func TestWatchEndsOnSucceeded(t *testing.T) {
	ns := newNamespace(t)
	ib := createBuild(t, testutil.MakeIndexBuild("books", ns).Partitions(4).Obj())
	setStatus(t, ib, building(0, 4))
	done := watchAsync(t, "watch", "books", "-n", ns)
	setStatus(t, ib, building(2, 2))
	setStatus(t, ib, building(3, 1))
	setStatus(t, ib, succeededStatus("file:///idx/books/metadata.json"))
	var res [3]any
	select {
	case res = <-done:
	case <-time.After(70 * time.Second):
		t.Fatal("watch did not end on Succeeded")
	}
	code, out, errOut := res[0].(int), res[1].(string), res[2].(string)
	if code != 0 {
		t.Fatalf("watch: exit %d\n%s\n%s", code, out, errOut)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if lines[0] != "Building   [--------------------] 0/4  active 4  failed 0" ||
		!strings.Contains(out, "Building   [##########----------] 2/4  active 2  failed 0\n") ||
		!strings.HasPrefix(lines[len(lines)-2], "Succeeded  [####################] 4/4  active 0  failed 0  37.5 rows/s") ||
		lines[len(lines)-1] != "Succeeded: committed 4 files, 4.0 KiB, 300 rows at file:///idx/books/metadata.json" {
		t.Errorf("watch output:\n%s", out)
	}

	// Already done: watch returns at once.
	code, out, _ = run(t, "watch", "books", "-n", ns, "-o", "json")
	var s Summary
	if code != 0 || json.Unmarshal([]byte(strings.TrimSpace(out)), &s) != nil || s.Phase != "Succeeded" {
		t.Errorf("watch of a finished build: %d %q", code, out)
	}
}

func TestWatchEndsOnFailed(t *testing.T) {
	ns := newNamespace(t)
	ib := createBuild(t, testutil.MakeIndexBuild("books", ns).Partitions(4).Obj())
	done := watchAsync(t, "watch", "books", "-n", ns)
	setStatus(t, ib, building(1, 3))
	setStatus(t, ib, failedStatus("InvalidInput", "part-00001.jsonl:17:3: bad value for year"))
	var res [3]any
	select {
	case res = <-done:
	case <-time.After(70 * time.Second):
		t.Fatal("watch did not end on Failed")
	}
	code, out, errOut := res[0].(int), res[1].(string), res[2].(string)
	if code != 1 || !strings.Contains(errOut, "IndexBuild books Failed: InvalidInput: part-00001.jsonl:17:3: bad value for year") {
		t.Fatalf("watch: exit %d\n%s\n%s", code, out, errOut)
	}
	if !strings.HasPrefix(out, "Pending    [--------------------] 0/4") || !strings.Contains(out, "Failed     [#####---------------] 1/4  active 0  failed 1  InvalidInput\n") {
		t.Errorf("watch output:\n%s", out)
	}

	// A Failed status for an older generation (just retried) does not end
	// the watch; the timeout does.
	cur := getIB(t, ns, "books")
	cur.Spec.JobID = 2
	if err := k8s.Update(context.Background(), cur); err != nil {
		t.Fatal(err)
	}
	code, _, errOut = run(t, "watch", "books", "-n", ns, "--timeout", "1s")
	if code != 1 || !strings.Contains(errOut, "timed out after 1s") {
		t.Errorf("watch after retry: %d %q", code, errOut)
	}
}

func TestWatchDeleted(t *testing.T) {
	ns := newNamespace(t)
	ib := createBuild(t, testutil.MakeIndexBuild("books", ns).Obj())
	done := watchAsync(t, "watch", "books", "-n", ns)
	if err := k8s.Delete(context.Background(), ib); err != nil {
		t.Fatal(err)
	}
	res := <-done
	if res[0].(int) != 1 || !strings.Contains(res[2].(string), "IndexBuild books was deleted") {
		t.Errorf("deleted: %v", res)
	}
}

// TestKubeconfigFlags connects through a kubeconfig file and context, the
// way kubectl passes them, with the namespace from the context or -n.
func TestKubeconfigFlags(t *testing.T) {
	ns := newNamespace(t)
	ib := createBuild(t, testutil.MakeIndexBuild("books", ns).Obj())
	setStatus(t, ib, building(2, 2))
	user, err := testEnv.AddUser(envtest.User{Name: "plugin-user", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	kc, err := user.KubeConfig()
	if err != nil {
		t.Fatal(err)
	}
	// A second context, "other", defaults to the test namespace.
	var conf map[string]any
	if err := yaml.Unmarshal(kc, &conf); err != nil {
		t.Fatal(err)
	}
	ctxs := conf["contexts"].([]any)
	first := ctxs[0].(map[string]any)
	other := map[string]any{"name": "other", "context": map[string]any{
		"cluster": first["context"].(map[string]any)["cluster"], "user": first["context"].(map[string]any)["user"], "namespace": ns,
	}}
	conf["contexts"] = append(ctxs, other)
	kc, _ = yaml.Marshal(conf)
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(path, kc, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"status", "books", "--kubeconfig", path, "-n", ns},
		{"status", "books", "--kubeconfig=" + path, "--context", "other"},
		{"--kubeconfig", path, "--namespace", ns, "status", "books"},
	} {
		var out, errb bytes.Buffer
		p := &Plugin{Out: &out, Err: &errb}
		if code := p.Run(context.Background(), args); code != 0 || !strings.Contains(out.String(), "[##########----------] 2/4") {
			t.Errorf("%q: %d\n%s\n%s", args, code, out.String(), errb.String())
		}
	}
	var out, errb bytes.Buffer
	p := &Plugin{Out: &out, Err: &errb}
	if code := p.Run(context.Background(), []string{"status", "books", "--kubeconfig", path, "--context", "missing"}); code != 1 || !strings.Contains(errb.String(), "missing") {
		t.Errorf("unknown context: %d %q", code, errb.String())
	}
}

// buildSampleIndex builds and commits index elements 1 and 4 of the shipped
// sample table into a file:// output in two partitions, in process, the way
// the worker and finalize pods do.
func buildSampleIndex(t *testing.T) string {
	t.Helper()
	ctx := context.Background()
	src, err := filepath.Abs(filepath.Join("..", "..", "hack", "sample-data", "books"))
	if err != nil {
		t.Fatal(err)
	}
	outURI := "file://" + filepath.Join(t.TempDir(), "out")
	meta := taskmeta.Meta{JobID: 1, SchemaID: 1, TableID: 100, ElementType: "index", ElementIDs: []int64{1, 4}}
	source, err := storage.Open(ctx, "file://"+src)
	if err != nil {
		t.Fatal(err)
	}
	defer source.Close()
	out, err := storage.Open(ctx, outURI)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	for p := range 2 {
		if _, err := builder.Build(ctx, builder.Config{Meta: meta, Partition: p, Partitions: 2, Source: source, Output: output.Version(out, meta.JobID), TmpDir: t.TempDir()}); err != nil {
			t.Fatalf("partition %d: %v", p, err)
		}
	}
	if _, err := commit.Finalize(ctx, out, commit.Options{Task: meta, Partitions: 2}); err != nil {
		t.Fatal(err)
	}
	return outURI
}

func TestQueryCommand(t *testing.T) {
	ns := newNamespace(t)
	outURI := buildSampleIndex(t)
	ib := createBuild(t, testutil.MakeIndexBuild("books", ns).OutputURI(outURI).ElementIDs(1, 4).Obj())

	// Not committed yet.
	code, _, errOut := run(t, "query", "books", "-n", ns, "--element", "4", "--eq", "978-1-0000000001")
	if code != 1 || !strings.Contains(errOut, "has no committed index yet (phase not started)") {
		t.Fatalf("uncommitted: %d %q", code, errOut)
	}
	// --index queries an output directly.
	code, direct, errOut := run(t, "query", "books", "-n", ns, "--index", outURI, "--element", "4", "--eq", "978-1-0000000001")
	if code != 0 || strings.TrimSpace(direct) == "" {
		t.Fatalf("--index: %d %q %q", code, direct, errOut)
	}

	setStatus(t, ib, succeededStatus(outURI+"/metadata.json"))
	for _, tc := range []struct {
		args []string
		q    query.Query
		out  string
	}{
		{[]string{"--element", "4", "--eq", "978-1-0000000001"}, query.Query{Element: 4, Eq: []string{"978-1-0000000001"}}, "text"},
		{[]string{"--element=1", "--range", "-5", "2012", "-o", "json"}, query.Query{Element: 1, Range: &[2]string{"-5", "2012"}}, "json"},
	} {
		code, got, errOut := run(t, append([]string{"query", "books", "-n", ns}, tc.args...)...)
		var want bytes.Buffer
		if err := querycmd.Run(context.Background(), outURI, tc.q, tc.out, &want, nil); err != nil {
			t.Fatal(err)
		}
		if code != 0 || got != want.String() || strings.TrimSpace(got) == "" || (tc.out == "json" && !strings.Contains(got, `"hits":[{"handle":`)) {
			t.Errorf("query %q: %d\n%s\nwant\n%s\n%s", tc.args, code, got, want.String(), errOut)
		}
	}

	// The query flags are checked as `indexbuild query` checks them.
	for _, args := range [][]string{
		{"--element", "4"},
		{"--element", "4", "--eq", "x", "--match", "y"},
		{"--eq", "x"},
		{"--element", "4", "--eq", "x", "-o", "yaml"},
		{"--element", "4", "--range", "1"},
	} {
		if code, _, errOut := run(t, append([]string{"query", "books", "-n", ns}, args...)...); code != 2 {
			t.Errorf("query %q: exit %d, want 2 (%s)", args, code, errOut)
		}
	}
	if code, _, errOut := run(t, "query", "books", "-n", ns, "--element", "9", "--eq", "x"); code != 1 || !strings.Contains(errOut, "element 9 is not in this index") {
		t.Errorf("unknown element: %d %q", code, errOut)
	}
}

func TestVerifyCommand(t *testing.T) {
	ns := newNamespace(t)
	outURI := buildSampleIndex(t)
	ib := createBuild(t, testutil.MakeIndexBuild("books", ns).OutputURI(outURI).ElementIDs(1, 4).Obj())
	setStatus(t, ib, succeededStatus(outURI+"/versions/1/metadata.json"))
	src, err := filepath.Abs(filepath.Join("..", "..", "hack", "sample-data", "books"))
	if err != nil {
		t.Fatal(err)
	}
	code, out, errOut := run(t, "verify", "books", "-n", ns)
	if code != 0 || !strings.Contains(out, "ok: versions/1/: 4 files") || strings.Contains(out, "ok: source") {
		t.Fatalf("verify: %d %q %q", code, out, errOut)
	}
	code, out, errOut = run(t, "verify", "books", "-n", ns, "--source=file://"+src, "--tmp-dir", t.TempDir())
	if code != 0 || !strings.Contains(out, "ok: source file://"+src+": 2 files, 300 rows; element 1: 300 entries") {
		t.Fatalf("verify --source=URI: %d %q %q", code, out, errOut)
	}
	// buildSampleIndex's task recorded no source URI.
	code, _, errOut = run(t, "verify", "books", "-n", ns, "--source")
	if code != 1 || !strings.Contains(errOut, "the task recorded no source URI") {
		t.Fatalf("verify --source: %d %q", code, errOut)
	}
	if code, _, _ := run(t, "verify", "books", "-n", ns, "--sample=0"); code != 2 {
		t.Fatalf("--sample=0: exit %d, want 2", code)
	}
}
