// Command manager runs the IndexBuild operator.
package main

import (
	"crypto/tls"
	"flag"
	"os"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	indexbuildv1alpha1 "github.com/indexbuild/indexbuild/api/v1alpha1"
	"github.com/indexbuild/indexbuild/internal/controller"
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
		concurrency          int
		apiQPS               float64
		apiBurst             int
		progressInterval     time.Duration
	)
	flag.StringVar(&metricsAddr, "metrics-bind-address", ":8080", "address the metrics endpoint binds to; \"0\" disables it")
	flag.StringVar(&probeAddr, "health-probe-bind-address", ":8081", "address the health probes bind to")
	flag.BoolVar(&enableLeaderElection, "leader-elect", false, "elect a leader, so only one manager reconciles at a time")
	flag.BoolVar(&secureMetrics, "metrics-secure", false, "serve metrics over HTTPS")
	flag.StringVar(&builderImage, "builder-image", envOr("INDEXBUILD_BUILDER_IMAGE", "indexbuild:dev"), "default worker and finalize image (spec.builder.image overrides it)")
	flag.StringVar(&watchNamespace, "watch-namespace", os.Getenv("WATCH_NAMESPACE"), "namespace to watch; empty watches all")
	flag.IntVar(&concurrency, "max-concurrent-reconciles", 10, "IndexBuilds reconciled at once")
	flag.Float64Var(&apiQPS, "kube-api-qps", 100, "queries per second to the API server, sustained")
	flag.IntVar(&apiBurst, "kube-api-burst", 200, "queries to the API server in a burst above --kube-api-qps")
	flag.DurationVar(&progressInterval, "status-progress-interval", controller.DefaultProgressInterval,
		"least time between two status writes of a build whose progress alone changed (phase changes are written at once); 0 writes every change")
	opts := zap.Options{Development: false}
	opts.BindFlags(flag.CommandLine)
	flag.Parse()
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&opts)))

	cacheOpts := cache.Options{ByObject: controller.CacheByObject()}
	if watchNamespace != "" {
		cacheOpts.DefaultNamespaces = map[string]cache.Config{watchNamespace: {}}
	}
	restCfg := ctrl.GetConfigOrDie()
	restCfg.QPS, restCfg.Burst = float32(apiQPS), apiBurst
	mgr, err := ctrl.NewManager(restCfg, ctrl.Options{
		Scheme: scheme,
		Metrics: metricsserver.Options{
			BindAddress:   metricsAddr,
			SecureServing: secureMetrics,
			// HTTP/2 stays off: it is open to the rapid-reset attacks.
			TLSOpts: []func(*tls.Config){func(c *tls.Config) { c.NextProtos = []string{"http/1.1"} }},
		},
		HealthProbeBindAddress: probeAddr,
		LeaderElection:         enableLeaderElection,
		LeaderElectionID:       "indexbuild-operator.indexbuild.dev",
		Cache:                  cacheOpts,
	})
	if err != nil {
		setupLog.Error(err, "unable to create manager")
		os.Exit(1)
	}
	if err := (&controller.IndexBuildReconciler{
		Client:       mgr.GetClient(),
		APIReader:    mgr.GetAPIReader(),
		Scheme:       mgr.GetScheme(),
		Recorder:     mgr.GetEventRecorder("indexbuild-controller"),
		BuilderImage: builderImage,

		MaxConcurrentReconciles: concurrency,
		ProgressInterval:        progressInterval,
	}).SetupWithManager(mgr); err != nil {
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
	setupLog.Info("starting manager", "builderImage", builderImage, "watchNamespace", watchNamespace,
		"maxConcurrentReconciles", concurrency, "kubeAPIQPS", apiQPS, "kubeAPIBurst", apiBurst, "statusProgressInterval", progressInterval)
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
