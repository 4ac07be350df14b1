// Package kubectlplugin is `kubectl indexbuild`: status, watch, logs, retry
// and query for IndexBuilds, with kubectl's kubeconfig flags. The pure
// parts (progress bar, condition table, retry decision, pod choice, index
// root) are in format.go and pods.go; the commands here talk to the
// apiserver through a controller-runtime client (and client-go for logs).
package kubectlplugin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	indexbuildv1alpha1 "github.com/indexbuild/indexbuild/api/v1alpha1"
)

// KubeFlags are the standard kubectl connection flags.
type KubeFlags struct {
	Kubeconfig string
	Context    string
	Cluster    string
	User       string
	Namespace  string
}

func (k *KubeFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&k.Kubeconfig, "kubeconfig", "", "path to the kubeconfig file (default: $KUBECONFIG or ~/.kube/config)")
	fs.StringVar(&k.Context, "context", "", "the kubeconfig context to use")
	fs.StringVar(&k.Cluster, "cluster", "", "the kubeconfig cluster to use")
	fs.StringVar(&k.User, "user", "", "the kubeconfig user to use")
	fs.StringVarP(&k.Namespace, "namespace", "n", "", "the namespace of the IndexBuild (default: the context's namespace)")
}

// Clients are what the commands talk to.
type Clients struct {
	Client    client.WithWatch
	Clientset kubernetes.Interface
	Namespace string
}

// Scheme knows IndexBuilds and the built-in kinds.
func Scheme() *runtime.Scheme {
	s := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(s); err != nil {
		panic(err)
	}
	if err := indexbuildv1alpha1.AddToScheme(s); err != nil {
		panic(err)
	}
	return s
}

// ClientsFor makes Clients from a rest config.
func ClientsFor(cfg *rest.Config, namespace string) (*Clients, error) {
	c, err := client.NewWithWatch(cfg, client.Options{Scheme: Scheme()})
	if err != nil {
		return nil, err
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	return &Clients{Client: c, Clientset: cs, Namespace: namespace}, nil
}

// Connect loads the kubeconfig the way kubectl does (--kubeconfig,
// $KUBECONFIG, ~/.kube/config; --context, --cluster, --user) and picks the
// namespace: -n, else the context's, else "default".
func Connect(k KubeFlags) (*Clients, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = k.Kubeconfig
	overrides := &clientcmd.ConfigOverrides{CurrentContext: k.Context}
	overrides.Context.Cluster = k.Cluster
	overrides.Context.AuthInfo = k.User
	overrides.Context.Namespace = k.Namespace
	cc := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, overrides)
	ns, _, err := cc.Namespace()
	if err != nil {
		return nil, err
	}
	cfg, err := cc.ClientConfig()
	if err != nil {
		return nil, err
	}
	cfg.UserAgent = "kubectl-indexbuild"
	return ClientsFor(cfg, ns)
}

// Plugin runs the commands.
type Plugin struct {
	Out, Err io.Writer
	// Connect makes the clients from the connection flags (Connect by
	// default; tests point it at envtest).
	Connect func(KubeFlags) (*Clients, error)
	// Now is the clock for elapsed times (time.Now by default).
	Now func() time.Time
	// Redraw makes watch redraw one line in place (a terminal) instead of
	// printing a line per change.
	Redraw bool
}

// ExitError carries a process exit code.
type ExitError struct {
	Code int
	Err  error
}

func (e *ExitError) Error() string { return e.Err.Error() }
func (e *ExitError) Unwrap() error { return e.Err }

func usageErr(format string, args ...any) error {
	return &ExitError{Code: 2, Err: fmt.Errorf(format, args...)}
}

type command struct {
	summary string
	usage   string
	run     func(p *Plugin, ctx context.Context, args []string) error
}

var commands = map[string]command{
	"status": {"phase, conditions, partition progress, rate and commit of an IndexBuild", "status NAME [-o text|json|yaml]", (*Plugin).status},
	"watch":  {"live progress until the build ends; exit 0 on Succeeded, 1 on Failed", "watch NAME [--timeout DURATION] [-o text|json]", (*Plugin).watch},
	"logs":   {"logs of the build's worker pods, one partition's, the merge pods, one key range's, or finalize's", "logs NAME [--partition N | --merge [--range N] | --finalize] [--job-id N] [--all-attempts] [-f] [--tail N] [--prefix]", (*Plugin).logs},
	"retry":  {"start a new task (bump spec.jobID) after a terminal failure", "retry NAME [--force] [--output-uri URI] [--dry-run] [-o json|yaml]", (*Plugin).retry},
	"query":  {"query the committed index (same flags as `indexbuild query`)", "query NAME --element ID (--eq V... | --range LO HI | --match TEXT) [--limit N] [--index URI] [-o text|json]", (*Plugin).query},
	"verify": {"check the committed index's files, and with --source every element against the task's input (like `indexbuild verify`)", "verify NAME [--source[=URI]] [--sample N] [--tmp-dir DIR] [--index URI]", (*Plugin).verify},
}

// valueFlags are connection and output flags that take a separate value;
// the subcommand is the first argument that is neither a flag nor one of
// their values, so `kubectl indexbuild -n ns status NAME` works.
var valueFlags = map[string]bool{"-n": true, "--namespace": true, "--kubeconfig": true, "--context": true, "--cluster": true, "--user": true, "-o": true, "--output": true}

// Run runs one command line (without the program name) and returns the
// process exit code: 0, 1 for failures (including a watched build that
// Failed), 2 for usage errors.
func (p *Plugin) Run(ctx context.Context, args []string) int {
	if p.Connect == nil {
		p.Connect = Connect
	}
	if p.Now == nil {
		p.Now = time.Now
	}
	name, rest := splitCommand(args)
	if name == "" || name == "help" || name == "-h" || name == "--help" {
		p.usage()
		if name == "" {
			return 2
		}
		return 0
	}
	cmd, ok := commands[name]
	if !ok {
		fmt.Fprintf(p.Err, "kubectl indexbuild: unknown command %q\n", name)
		p.usage()
		return 2
	}
	err := cmd.run(p, ctx, rest)
	if err == nil {
		return 0
	}
	if errors.Is(err, pflag.ErrHelp) {
		return 0
	}
	fmt.Fprintf(p.Err, "kubectl indexbuild %s: %v\n", name, err)
	var ee *ExitError
	if errors.As(err, &ee) {
		if ee.Code == 2 {
			fmt.Fprintf(p.Err, "usage: kubectl indexbuild %s\n", cmd.usage)
		}
		return ee.Code
	}
	return 1
}

func splitCommand(args []string) (string, []string) {
	for i := 0; i < len(args); i++ {
		a := args[i]
		if valueFlags[a] {
			i++
			continue
		}
		if strings.HasPrefix(a, "-") && a != "-h" && a != "--help" {
			continue
		}
		return a, append(append([]string{}, args[:i]...), args[i+1:]...)
	}
	return "", args
}

func (p *Plugin) usage() {
	fmt.Fprintln(p.Err, "usage: kubectl indexbuild <command> NAME [flags]")
	fmt.Fprintln(p.Err, "\ncommands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(p.Err, "  %-7s %s\n", n, commands[n].summary)
	}
	fmt.Fprintln(p.Err, "\nconnection flags (every command): --kubeconfig, --context, --cluster, --user, -n/--namespace")
}

// parse parses a command's flags plus the connection flags and returns the
// IndexBuild name and the connected clients.
func (p *Plugin) parse(name string, fs *pflag.FlagSet, args []string) (string, *Clients, error) {
	var k KubeFlags
	k.register(fs)
	fs.SetOutput(p.Err)
	fs.SetInterspersed(true)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return "", nil, err
		}
		return "", nil, usageErr("%v", err)
	}
	if fs.NArg() != 1 {
		return "", nil, usageErr("need exactly one IndexBuild NAME, got %q", fs.Args())
	}
	c, err := p.Connect(k)
	if err != nil {
		return "", nil, err
	}
	return fs.Arg(0), c, nil
}

func newFlagSet(name string) *pflag.FlagSet {
	fs := pflag.NewFlagSet(name, pflag.ContinueOnError)
	fs.SortFlags = false
	return fs
}

// IsTerminal reports whether f is a character device (a terminal).
func IsTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
