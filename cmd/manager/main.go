// Command manager runs the IndexBuild operator.
package main

import (
	"crypto/tls"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/apimachinery/pkg/util/validation"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/controller-runtime/pkg/metrics/filters"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	indexbuildv1alpha1 "github.com/indexbuild/indexbuild/api/v1alpha1"
	"github.com/indexbuild/indexbuild/internal/controller"
	"github.com/indexbuild/indexbuild/internal/fileroots"
)

var (
	scheme   = runtime.NewScheme()
	setupLog = ctrl.Log.WithName("setup")
)

func init() {
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	utilruntime.Must(indexbuildv1alpha1.AddToScheme(scheme))
}

func main() {
	var (
		metricsAddr          string
		probeAddr            string
		enableLeaderElection bool
		secureMetrics        bool
		builderImage         string
		watchNamespace       string
		fileStoreRoots       string
		concurrency          int
		apiQPS               float64
		apiBurst             int
		progressInterval     time.Duration
		builderImages        string
		builderCommand       bool
		serviceAccounts      string
		secretOptInLabel     string
		metricLabels         string
	)
	flag.StringVar(&metricsAddr, "metrics-bind-address", ":8443", "address the metrics endpoint binds to (:8080 for plain HTTP with --metrics-secure=false); \"0\" disables it")
	flag.StringVar(&probeAddr, "health-probe-bind-address", ":8081", "address the health probes bind to")
	flag.BoolVar(&enableLeaderElection, "leader-elect", false, "elect a leader, so only one manager reconciles at a time")
	flag.BoolVar(&secureMetrics, "metrics-secure", true, "serve metrics over HTTPS, only to clients the API server authenticates and authorizes (get on /metrics)")
	flag.StringVar(&builderImage, "builder-image", envOr("INDEXBUILD_BUILDER_IMAGE", "indexbuild:dev"), "default worker and finalize image (spec.builder.image overrides it)")
	flag.StringVar(&watchNamespace, "watch-namespace", os.Getenv("WATCH_NAMESPACE"), "namespace to watch; empty watches all")
	flag.StringVar(&fileStoreRoots, strings.TrimPrefix(controller.FileStoreRootsFlag, "--"), os.Getenv("INDEXBUILD_FILE_STORE_ROOTS"),
		"comma-separated node paths under which file:// stores may be hostPath volumes; empty allows none (stores on a persistentVolumeClaim are always allowed)")
	// The admin policy: what the author of an IndexBuild may choose for its
	// pods. The defaults are safe on a shared cluster; the local cluster
	// (hack/dev-cluster.sh) allows everything, as before the policy.
	flag.StringVar(&builderImages, strings.TrimPrefix(controller.AllowedBuilderImagesFlag, "--"), os.Getenv("INDEXBUILD_ALLOWED_BUILDER_IMAGES"),
		"comma-separated images spec.builder.image may name: an image as written, or a prefix ending in * (registry.example.com/indexbuild/*); * allows any; empty allows only --builder-image")
	flag.BoolVar(&builderCommand, strings.TrimPrefix(controller.AllowBuilderCommandFlag, "--"), os.Getenv("INDEXBUILD_ALLOW_BUILDER_COMMAND") == "true",
		"let spec.builder.command replace the builder image's entrypoint")
	flag.StringVar(&serviceAccounts, strings.TrimPrefix(controller.AllowedServiceAccountsFlag, "--"), os.Getenv("INDEXBUILD_ALLOWED_SERVICE_ACCOUNTS"),
		"comma-separated service accounts spec.pod.serviceAccountName may name (in the IndexBuild's namespace); * allows any; empty allows none (pods run as the namespace's default account, without a token)")
	flag.StringVar(&secretOptInLabel, strings.TrimPrefix(controller.SecretOptInLabelFlag, "--"), lookupEnvOr("INDEXBUILD_SECRET_OPT_IN_LABEL", controller.DefaultSecretOptInLabel),
		"a Secret is usable by a build (secretRef, spec.pod.env secretKeyRef) only with this label set to \"true\"; empty makes every Secret of the namespace usable")
	flag.IntVar(&concurrency, "max-concurrent-reconciles", 10, "IndexBuilds reconciled at once")
	flag.StringVar(&metricLabels, "metrics-indexbuild-labels", os.Getenv("INDEXBUILD_METRICS_INDEXBUILD_LABELS"),
		"comma-separated IndexBuild label keys every metric series carries (as label_<key>) besides the namespace, e.g. team")
	flag.Float64Var(&apiQPS, "kube-api-qps", 100, "queries per second to the API server, sustained")
	flag.IntVar(&apiBurst, "kube-api-burst", 200, "queries to the API server in a burst above --kube-api-qps")
	flag.DurationVar(&progressInterval, "status-progress-interval", controller.DefaultProgressInterval,
		"least time between two status writes of a build whose progress alone changed (phase changes are written at once); 0 writes every change")
	opts := zap.Options{Development: false}
	opts.BindFlags(flag.CommandLine)
	flag.Parse()
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&opts)))
	roots, err := fileroots.Parse(fileStoreRoots)
	if err != nil {
		setupLog.Error(err, "invalid "+controller.FileStoreRootsFlag)
		os.Exit(1)
	}
	for _, k := range splitList(metricLabels) {
		if errs := validation.IsQualifiedName(k); len(errs) > 0 {
			setupLog.Error(fmt.Errorf("%q: %s", k, strings.Join(errs, "; ")), "invalid --metrics-indexbuild-labels: not a label key")
			os.Exit(1)
		}
	}

	cacheOpts := cache.Options{ByObject: controller.CacheByObject()}
	if watchNamespace != "" {
		cacheOpts.DefaultNamespaces = map[string]cache.Config{watchNamespace: {}}
	}
	metricsOpts := metricsserver.Options{
		BindAddress:   metricsAddr,
		SecureServing: secureMetrics,
		// HTTP/2 stays off: it is open to the rapid-reset attacks.
		TLSOpts: []func(*tls.Config){func(c *tls.Config) { c.NextProtos = []string{"http/1.1"} }},
	}
	if secureMetrics {
		// As the kubebuilder v4 scaffold: a client's token is checked with a
		// TokenReview and its "get /metrics" with a SubjectAccessReview.
		metricsOpts.FilterProvider = filters.WithAuthenticationAndAuthorization
	}
	restCfg := ctrl.GetConfigOrDie()
	restCfg.QPS, restCfg.Burst = float32(apiQPS), apiBurst
	mgr, err := ctrl.NewManager(restCfg, ctrl.Options{
		Scheme:                 scheme,
		Metrics:                metricsOpts,
		HealthProbeBindAddress: probeAddr,
		LeaderElection:         enableLeaderElection,
		LeaderElectionID:       "indexbuild-operator.indexbuild.dev",
		// The process exits as soon as the manager stops, so the lease can
		// be handed over at once: a rolling upgrade's new pod need not wait
		// for it to expire.
		LeaderElectionReleaseOnCancel: true,
		Cache:                         cacheOpts,
	})
	if err != nil {
		setupLog.Error(err, "unable to create manager")
		os.Exit(1)
	}
	reconciler := controller.NewIndexBuildReconciler(mgr, controller.Options{
		BuilderImage:   builderImage,
		FileStoreRoots: roots,
		Policy: controller.AdminPolicy{
			BuilderImages:    splitList(builderImages),
			BuilderCommand:   builderCommand,
			ServiceAccounts:  splitList(serviceAccounts),
			SecretOptInLabel: secretOptInLabel,
		},
		MaxConcurrentReconciles: concurrency,
		ProgressInterval:        progressInterval,
		MetricLabelKeys:         splitList(metricLabels),
	})
	if err := reconciler.SetupWithManager(mgr); err != nil {
		setupLog.Error(err, "unable to create controller", "controller", "IndexBuild")
		os.Exit(1)
	}
	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		setupLog.Error(err, "unable to set up health check")
		os.Exit(1)
	}
	if err := mgr.AddReadyzCheck("readyz", healthz.Ping); err != nil {
		setupLog.Error(err, "unable to set up ready check")
		os.Exit(1)
	}
	setupLog.Info("starting manager", "builderImage", builderImage, "watchNamespace", watchNamespace, "fileStoreRoots", roots,
		"allowedBuilderImages", builderImages, "allowBuilderCommand", builderCommand, "allowedServiceAccounts", serviceAccounts,
		"secretOptInLabel", secretOptInLabel, "maxConcurrentReconciles", concurrency, "kubeAPIQPS", apiQPS, "kubeAPIBurst", apiBurst, "statusProgressInterval", progressInterval)
	if err := mgr.Start(ctrl.SetupSignalHandler()); err != nil {
		setupLog.Error(err, "problem running manager")
		os.Exit(1)
	}
}

func envOr(key, fallback string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return fallback
}

// lookupEnvOr is envOr where a variable set to "" counts: it chooses "".
func lookupEnvOr(key, fallback string) string {
	if v, ok := os.LookupEnv(key); ok {
		return v
	}
	return fallback
}

// splitList splits a comma-separated flag value, dropping empty entries.
func splitList(list string) []string {
	var out []string
	for _, v := range strings.Split(list, ",") {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}
