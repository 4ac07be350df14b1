package kubectlplugin

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	indexbuildv1alpha1 "github.com/indexbuild/indexbuild/api/v1alpha1"
	"github.com/indexbuild/indexbuild/internal/builder"
	"github.com/indexbuild/indexbuild/internal/controller"
	"github.com/indexbuild/indexbuild/internal/query"
	"github.com/indexbuild/indexbuild/internal/querycmd"
	"github.com/indexbuild/indexbuild/internal/units"
	"github.com/indexbuild/indexbuild/internal/verifycmd"
)

func getBuild(ctx context.Context, c *Clients, name string) (*indexbuildv1alpha1.IndexBuild, error) {
	ib := &indexbuildv1alpha1.IndexBuild{}
	if err := c.Client.Get(ctx, types.NamespacedName{Namespace: c.Namespace, Name: name}, ib); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("IndexBuild %s not found in namespace %s", name, c.Namespace)
		}
		return nil, err
	}
	return ib, nil
}

func printStructured(w io.Writer, v any, format string) error {
	switch format {
	case "json":
		b, err := json.MarshalIndent(v, "", "  ")
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(w, "%s\n", b)
		return err
	case "yaml":
		b, err := yaml.Marshal(v)
		if err != nil {
			return err
		}
		_, err = w.Write(b)
		return err
	}
	return fmt.Errorf("unknown output format %q", format)
}

// status NAME [-o text|json|yaml]
func (p *Plugin) status(ctx context.Context, args []string) error {
	fs := newFlagSet("status")
	output := fs.StringP("output", "o", "text", "output: text, json or yaml (json and yaml print a structured summary)")
	name, c, err := p.parse("status", fs, args)
	if err != nil {
		return err
	}
	if *output != "text" && *output != "json" && *output != "yaml" {
		return usageErr("-o must be text, json or yaml")
	}
	ib, err := getBuild(ctx, c, name)
	if err != nil {
		return err
	}
	if *output != "text" {
		return printStructured(p.Out, Summarize(ib), *output)
	}
	var live *LiveRate
	if ib.Status.Phase == indexbuildv1alpha1.PhaseBuilding {
		live = workerRate(ctx, c, ib)
	}
	return WriteStatus(p.Out, ib, p.Now(), live)
}

// maxRatePods bounds the log reads of one status: the rate of the first
// workers stands for the build's when there are more.
const maxRatePods = 64

// workerRate reads the tail of each running worker's log for its latest
// progress line; nil when the pods cannot be listed (status still shows).
func workerRate(ctx context.Context, c *Clients, ib *indexbuildv1alpha1.IndexBuild) *LiveRate {
	target := LogTarget{Name: ib.Name, JobID: ib.Spec.JobID}
	pods, err := c.Clientset.CoreV1().Pods(c.Namespace).List(ctx, metav1.ListOptions{LabelSelector: target.Selector().String()})
	if err != nil {
		return nil
	}
	var tails []string
	for _, pod := range pods.Items {
		if len(tails) == maxRatePods {
			break
		}
		if pod.Status.Phase != corev1.PodRunning {
			continue
		}
		opts := &corev1.PodLogOptions{Container: target.LogContainer(), TailLines: ptr.To[int64](20)}
		b, err := c.Clientset.CoreV1().Pods(c.Namespace).GetLogs(pod.Name, opts).DoRaw(ctx)
		if err == nil {
			tails = append(tails, string(b))
		}
	}
	r := SumProgress(tails)
	return &r
}

// watch NAME [--timeout D] [-o text|json]
func (p *Plugin) watch(ctx context.Context, args []string) error {
	fs := newFlagSet("watch")
	timeout := fs.Duration("timeout", 0, "give up after this long (exit 1); 0 waits for the end of the build")
	output := fs.StringP("output", "o", "text", "output: text (a progress line per change) or json (a status summary per change, one per line)")
	name, c, err := p.parse("watch", fs, args)
	if err != nil {
		return err
	}
	if *output != "text" && *output != "json" {
		return usageErr("-o must be text or json")
	}
	if *timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, *timeout)
		defer cancel()
	}
	r := &redrawer{w: p.Out, inPlace: p.Redraw && *output == "text", json: *output == "json"}
	ib, err := WatchBuild(ctx, c, name, r.show)
	r.finish()
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return fmt.Errorf("timed out after %s waiting for IndexBuild %s to finish", *timeout, name)
		}
		return err
	}
	if ib.Status.Phase == indexbuildv1alpha1.PhaseFailed {
		reason, msg := FailureReason(ib)
		return &ExitError{Code: 1, Err: fmt.Errorf("IndexBuild %s Failed: %s: %s", name, reason, msg)}
	}
	if *output == "text" {
		if cm := ib.Status.Commit; cm != nil {
			fmt.Fprintf(p.Out, "Succeeded: committed %d files, %s, %d rows at %s\n", cm.Files, units.Bytes(cm.Bytes), cm.Rows, cm.MarkerURI)
		} else {
			fmt.Fprintln(p.Out, "Succeeded")
		}
	}
	return nil
}

// redrawer prints watch progress: one line per change, or a line redrawn
// in place on a terminal.
type redrawer struct {
	w       io.Writer
	inPlace bool
	json    bool
	last    string
	drawn   bool
}

func (r *redrawer) show(ib *indexbuildv1alpha1.IndexBuild) {
	if r.json {
		b, _ := json.Marshal(Summarize(ib))
		if string(b) != r.last {
			r.last = string(b)
			fmt.Fprintf(r.w, "%s\n", b)
		}
		return
	}
	line := ProgressLine(ib)
	if line == r.last {
		return
	}
	r.last = line
	if r.inPlace {
		fmt.Fprintf(r.w, "\r\033[K%s", line)
		r.drawn = true
		return
	}
	fmt.Fprintln(r.w, line)
}

func (r *redrawer) finish() {
	if r.drawn {
		fmt.Fprintln(r.w)
	}
}

// WatchBuild calls show with the IndexBuild and after every change until it
// is Terminal, and returns it then. It reads the object, then watches from
// its resourceVersion; when the watch ends (timeout, 410 Gone) it reads
// again and watches anew.
func WatchBuild(ctx context.Context, c *Clients, name string, show func(*indexbuildv1alpha1.IndexBuild)) (*indexbuildv1alpha1.IndexBuild, error) {
	for {
		ib, err := getBuild(ctx, c, name)
		if err != nil {
			return nil, err
		}
		show(ib)
		if Terminal(ib) {
			return ib, nil
		}
		w, err := c.Client.Watch(ctx, &indexbuildv1alpha1.IndexBuildList{}, client.InNamespace(c.Namespace), &client.ListOptions{
			FieldSelector: fields.OneTermEqualSelector("metadata.name", name),
			Raw:           &metav1.ListOptions{ResourceVersion: ib.ResourceVersion},
		})
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return nil, err
		}
		done, err := drain(ctx, w, name, show)
		w.Stop()
		if err != nil || done != nil {
			return done, err
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
	}
}

// drain reads watch events until the build is terminal (returned), it is
// deleted (error), or the watch ends (nil, nil: read again).
func drain(ctx context.Context, w watch.Interface, name string, show func(*indexbuildv1alpha1.IndexBuild)) (*indexbuildv1alpha1.IndexBuild, error) {
	for {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case ev, ok := <-w.ResultChan():
			if !ok {
				return nil, nil
			}
			switch ev.Type {
			case watch.Added, watch.Modified:
				ib, ok := ev.Object.(*indexbuildv1alpha1.IndexBuild)
				if !ok {
					continue
				}
				show(ib)
				if Terminal(ib) {
					return ib, nil
				}
			case watch.Deleted:
				return nil, fmt.Errorf("IndexBuild %s was deleted", name)
			case watch.Error:
				return nil, nil
			}
		}
	}
}

// retry NAME [--failed | --force] [--output URI] [--dry-run] [-o json|yaml]
func (p *Plugin) retry(ctx context.Context, args []string) error {
	fs := newFlagSet("retry")
	failed := fs.Bool("failed", false, "restart, under the same task, a build whose stage ran out of retries: only unfinished partitions run again (raises spec.failurePolicy.maxRestarts by one)")
	force := fs.Bool("force", false, "start a new task even when the build is not Failed")
	newOutput := fs.String("output-uri", "", "also move spec.output.uri (allowed together with a new jobID)")
	dryRun := fs.Bool("dry-run", false, "check with the apiserver (server-side dry run) but change nothing")
	output := fs.StringP("output", "o", "", "print the updated IndexBuild: json or yaml")
	name, c, err := p.parse("retry", fs, args)
	if err != nil {
		return err
	}
	if *output != "" && *output != "json" && *output != "yaml" {
		return usageErr("-o must be json or yaml")
	}
	ib, err := getBuild(ctx, c, name)
	if err != nil {
		return err
	}
	if *failed {
		if *force || *newOutput != "" {
			return usageErr("--failed keeps the task: it takes neither --force nor --output-uri")
		}
		return p.restartFailed(ctx, c, ib, *dryRun)
	}
	d := DecideRetry(ib, *force)
	if d.NeedsNewOutput && *newOutput != "" {
		d.Allowed, d.Refusal = true, ""
	}
	if !d.Allowed {
		return errors.New(d.Refusal)
	}
	oldJobID := ib.Spec.JobID
	hadCommit := ib.Status.Commit
	before := ib.DeepCopy()
	ib.Spec.JobID = d.NewJobID
	if *newOutput != "" {
		ib.Spec.Output.URI = *newOutput
	}
	if err := patchBuild(ctx, c, ib, before, *dryRun); err != nil {
		return err
	}
	// With -o the object goes to stdout and the explanation to stderr.
	w := p.Out
	if *output != "" {
		w = p.Err
	}
	WriteRetryExplanation(w, ib, d, oldJobID, hadCommit, before.Spec.Output.URI, *dryRun)
	if *output != "" {
		ib.SetGroupVersionKind(indexbuildv1alpha1.GroupVersion.WithKind("IndexBuild"))
		return printStructured(p.Out, ib, *output)
	}
	return nil
}

// restartFailed raises spec.failurePolicy.maxRestarts so the operator
// restarts the failed stage under the same task.
func (p *Plugin) restartFailed(ctx context.Context, c *Clients, ib *indexbuildv1alpha1.IndexBuild, dryRun bool) error {
	maxRestarts, refusal := DecideRestart(ib)
	if refusal != "" {
		return errors.New(refusal)
	}
	before := ib.DeepCopy()
	if ib.Spec.FailurePolicy == nil {
		ib.Spec.FailurePolicy = &indexbuildv1alpha1.FailurePolicy{}
	}
	ib.Spec.FailurePolicy.MaxRestarts = maxRestarts
	if err := patchBuild(ctx, c, ib, before, dryRun); err != nil {
		return err
	}
	reason, msg := FailureReason(before)
	verb := "set"
	if dryRun {
		verb = "would set (dry run, nothing changed)"
	}
	fmt.Fprintf(p.Out, "IndexBuild %s/%s failed (jobID %d): %s: %s\n", ib.Namespace, ib.Name, ib.Spec.JobID, reason, msg)
	fmt.Fprintf(p.Out, "Restart: %s spec.failurePolicy.maxRestarts %d -> %d (restarts so far: %d).\n", verb, controller.MaxRestarts(before), maxRestarts, before.Status.Restarts)
	fmt.Fprintf(p.Out, "The operator recreates the failed Job under the same task (jobID %d); finished partitions are not built again.\n", ib.Spec.JobID)
	return nil
}

// patchBuild sends retry's change of ib (from before), refused if the
// IndexBuild changed since it was read.
func patchBuild(ctx context.Context, c *Clients, ib, before *indexbuildv1alpha1.IndexBuild, dryRun bool) error {
	var opts []client.PatchOption
	if dryRun {
		opts = append(opts, client.DryRunAll)
	}
	if err := c.Client.Patch(ctx, ib, client.MergeFromWithOptions(before, client.MergeFromWithOptimisticLock{}), opts...); err != nil {
		if apierrors.IsConflict(err) {
			return fmt.Errorf("IndexBuild %s changed while retrying; run retry again: %w", ib.Name, err)
		}
		return err
	}
	return nil
}

// WriteRetryExplanation says why the build is retried and what happens now.
// ib is the IndexBuild after the change.
func WriteRetryExplanation(w io.Writer, ib *indexbuildv1alpha1.IndexBuild, d RetryDecision, oldJobID int64, oldCommit *indexbuildv1alpha1.CommitStatus, oldOutput string, dryRun bool) {
	if d.Reason != "" {
		fmt.Fprintf(w, "IndexBuild %s/%s failed (jobID %d): %s: %s\n", ib.Namespace, ib.Name, oldJobID, d.Reason, d.Message)
	} else if d.Refusal != "" {
		fmt.Fprintf(w, "Forced: %s\n", d.Refusal)
	}
	verb := "set"
	if dryRun {
		verb = "would set (dry run, nothing changed)"
	}
	fmt.Fprintf(w, "Retry: %s spec.jobID %d -> %d.\n", verb, oldJobID, ib.Spec.JobID)
	fmt.Fprintf(w, "A new task %s/%s/%d starts: the operator deletes the jobID %d Jobs, records the task, and runs every partition (%d) and finalize again.\n",
		ib.Namespace, ib.Name, ib.Spec.JobID, oldJobID, ib.Spec.Partitions)
	switch {
	case ib.Spec.Output.URI != oldOutput:
		fmt.Fprintf(w, "Output moves to %s.\n", ib.Spec.Output.URI)
	case oldCommit != nil:
		fmt.Fprintf(w, "The new task commits its own version under %s/versions/%d/ and publishes it once it succeeds; until then readers keep the committed version (%s).\n",
			strings.TrimSuffix(oldOutput, "/"), ib.Spec.JobID, oldCommit.MarkerURI)
	default:
		fmt.Fprintf(w, "The new task commits its own version under %s/versions/%d/; nothing a failed task staged is reused.\n",
			strings.TrimSuffix(oldOutput, "/"), ib.Spec.JobID)
	}
	if !dryRun {
		fmt.Fprintf(w, "Follow it with: kubectl indexbuild watch %s -n %s\n", ib.Name, ib.Namespace)
	}
}

// logs NAME [--partition N | --merge [--range N] | --finalize] [--job-id N] [--all-attempts] [-f] [--tail N]
func (p *Plugin) logs(ctx context.Context, args []string) error {
	fs := newFlagSet("logs")
	partition := fs.Int("partition", -1, "only this partition's worker (the Job's completion index)")
	merge := fs.Bool("merge", false, "the merge pods (one per key range) instead of the workers")
	keyRange := fs.Int("range", -1, "only this key range's merge pod (implies --merge)")
	finalize := fs.Bool("finalize", false, "the finalize pod instead of the workers")
	jobID := fs.Int64("job-id", 0, "the task's jobID (default: spec.jobID)")
	all := fs.Bool("all-attempts", false, "every pod, also earlier attempts of a partition (default: the newest per partition)")
	follow := fs.BoolP("follow", "f", false, "stream the logs")
	tail := fs.Int64("tail", -1, "lines of recent log to show per pod; -1 is all")
	prefixFlag := fs.Bool("prefix", false, "prefix every line with [pod/NAME] (default: when more than one pod is shown)")
	name, c, err := p.parse("logs", fs, args)
	if err != nil {
		return err
	}
	var chosen []string
	for _, f := range []string{"partition", "merge", "finalize"} {
		if fs.Changed(f) || f == "merge" && fs.Changed("range") {
			chosen = append(chosen, "--"+f)
		}
	}
	if len(chosen) > 1 {
		return usageErr("%s exclude each other", strings.Join(chosen, " and "))
	}
	if fs.Changed("partition") && *partition < 0 {
		return usageErr("--partition must be >= 0")
	}
	if fs.Changed("range") && *keyRange < 0 {
		return usageErr("--range must be >= 0")
	}
	t := LogTarget{Name: name, JobID: *jobID, Merge: *merge || fs.Changed("range"), Finalize: *finalize}
	switch {
	case fs.Changed("partition"):
		t.Partition = partition
	case fs.Changed("range"):
		t.Partition = keyRange
	}
	if t.JobID == 0 {
		ib, err := getBuild(ctx, c, name)
		if err != nil {
			return err
		}
		t.JobID = ib.Spec.JobID
	}
	list, err := c.Clientset.CoreV1().Pods(c.Namespace).List(ctx, metav1.ListOptions{LabelSelector: t.Selector().String()})
	if err != nil {
		return err
	}
	pods := ChoosePods(list.Items, *all)
	if len(pods) == 0 {
		return errors.New(t.NoPodsMessage(c.Namespace))
	}
	opts := &corev1.PodLogOptions{Container: t.LogContainer(), Follow: *follow}
	if *tail >= 0 {
		opts.TailLines = ptr.To(*tail)
	}
	prefix := len(pods) > 1 || *prefixFlag
	out := &lockedWriter{w: p.Out}
	stream := func(pod corev1.Pod) error {
		rc, err := c.Clientset.CoreV1().Pods(c.Namespace).GetLogs(pod.Name, opts).Stream(ctx)
		if err != nil {
			return fmt.Errorf("pod %s: %w", pod.Name, err)
		}
		defer rc.Close()
		sc := bufio.NewScanner(rc)
		sc.Buffer(make([]byte, 64*1024), 1024*1024)
		for sc.Scan() {
			if prefix {
				out.line("[pod/" + pod.Name + "] " + sc.Text())
			} else {
				out.line(sc.Text())
			}
		}
		return sc.Err()
	}
	if !*follow {
		var errs []error
		for _, pod := range pods {
			if err := stream(pod); err != nil {
				errs = append(errs, err)
			}
		}
		return errors.Join(errs...)
	}
	var wg sync.WaitGroup
	errs := make([]error, len(pods))
	for i, pod := range pods {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = stream(pod)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) line(s string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	fmt.Fprintln(l.w, s)
}

// query NAME --element ID (--eq V... | --range LO HI | --match TEXT) [--limit N] [--index URI] [-o text|json]
func (p *Plugin) query(ctx context.Context, args []string) error {
	args, bounds, err := querycmd.CutRange(args)
	if err != nil {
		return &ExitError{Code: 2, Err: err}
	}
	var (
		q      query.Query
		eq     []string
		index  string
		output string
	)
	fs := newFlagSet("query")
	fs.Int64Var(&q.Element, "element", 0, "element ID to query")
	fs.StringArrayVar(&eq, "eq", nil, "value of the next index column (repeat for a composite prefix); empty is NULL")
	fs.Bool("range", false, "`LO HI`: inclusive range on the first column (takes the next two arguments)")
	fs.StringVar(&q.Match, "match", "", "fulltext query: rows with any of these terms, best first")
	fs.IntVar(&q.Limit, "limit", 0, "at most this many match hits; 0 is all")
	fs.StringVar(&index, "index", "", "query this output URI instead of the IndexBuild's committed index")
	fs.StringVarP(&output, "output", "o", "text", "output: text or json")
	name, c, err := p.parse("query", fs, args)
	if err != nil {
		return err
	}
	q.Eq, q.Range = eq, bounds
	if err := querycmd.Validate(q, output); err != nil {
		return &ExitError{Code: 2, Err: err}
	}
	if index, err = committedIndex(ctx, c, name, index); err != nil {
		return err
	}
	qctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	return querycmd.Run(qctx, index, q, output, p.Out, nil)
}

// verify checks the IndexBuild's published index like `indexbuild verify`,
// from this machine: the files its marker lists, and with --source every
// element against the task's pinned input. It reads the whole table and
// every element file: see docs/table-format.md for the cost.
func (p *Plugin) verify(ctx context.Context, args []string) error {
	var (
		o      verifycmd.Options
		source string
		index  string
	)
	fs := newFlagSet("verify")
	fs.StringVar(&source, "source", "", "also check every element holds exactly one entry per row of the task's pinned input, read from the URI the task recorded, or from `URI` (--source=URI)")
	fs.Lookup("source").NoOptDefVal = taskSource
	fs.IntVar(&o.Sample, "sample", builder.DefaultSampleTarget, "with --source: about how many keys per element to compare by name")
	fs.StringVar(&o.TmpDir, "tmp-dir", "", "local directory for element files while --source reads them")
	fs.StringVar(&index, "index", "", "verify this output URI instead of the IndexBuild's committed index")
	name, c, err := p.parse("verify", fs, args)
	if err != nil {
		return err
	}
	if o.Sample < 1 {
		return usageErr("--sample must be at least 1, got %d", o.Sample)
	}
	o.Source = fs.Changed("source")
	if source != taskSource {
		o.SourceURI = source
	}
	if index, err = committedIndex(ctx, c, name, index); err != nil {
		return err
	}
	return verifycmd.Run(ctx, index, o, p.Out)
}

// committedIndex is index when given (--index), else the output root of the
// IndexBuild's committed index.
func committedIndex(ctx context.Context, c *Clients, name, index string) (string, error) {
	if index != "" {
		return index, nil
	}
	ib, err := getBuild(ctx, c, name)
	if err != nil {
		return "", err
	}
	return IndexRoot(ib)
}

// taskSource is --source given without a URI: the task's own source.
const taskSource = "(the task's source)"
