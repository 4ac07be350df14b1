// Package charts tests the Helm chart in charts/indexbuild against the
// kustomize deployment in config/default, so the two cannot drift apart.
//
// The tests run the helm CLI (hack/build-helm.sh builds it into bin/; set
// INDEXBUILD_HELM to use another one) and `kubectl kustomize`. Without helm
// the tests are skipped, or fail when CI=true.
package charts

import (
	"bytes"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"sort"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/util/diff"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
)

const (
	// HelmEnv names the helm binary; without it the tests use the newest
	// bin/helm-v* in the repository root.
	HelmEnv = "INDEXBUILD_HELM"

	chartDir = "indexbuild"
	// The release name and namespace that reproduce config/default's
	// namePrefix (indexbuild-) and namespace (indexbuild-system).
	release   = "indexbuild"
	namespace = "indexbuild-system"
	// config/default's placeholder image, which `make deploy IMG=...`
	// replaces, and the chart's default image (repository indexbuild, tag
	// appVersion dev) which is also the Makefile's default IMG.
	kustomizeImage = "controller:latest"
	chartImage     = "indexbuild:dev"
)

// Labels that differ by tool and carry no behaviour: kustomize's
// managed-by/part-of and Helm's usual release labels. Compared objects drop
// them from metadata.labels; every other label (the aggregate-to-* labels,
// app.kubernetes.io/component) must match, as must selectors and pod labels.
var toolLabels = []string{
	"app.kubernetes.io/managed-by",
	"app.kubernetes.io/part-of",
	"app.kubernetes.io/instance",
	"app.kubernetes.io/version",
	"app.kubernetes.io/name",
	"helm.sh/chart",
}

func repoRoot(t testing.TB) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("cannot find the test's source file")
	}
	return filepath.Dir(filepath.Dir(file))
}

func helmBinary(t testing.TB) string {
	t.Helper()
	bin := os.Getenv(HelmEnv)
	if bin == "" {
		matches, _ := filepath.Glob(filepath.Join(repoRoot(t), "bin", "helm-v*"))
		sort.Strings(matches)
		if len(matches) > 0 {
			bin = matches[len(matches)-1]
		}
	}
	if bin != "" && !filepath.IsAbs(bin) {
		// Relative to the repository root, not to this package's directory.
		bin = filepath.Join(repoRoot(t), bin)
	}
	if _, err := os.Stat(bin); bin == "" || err != nil {
		msg := fmt.Sprintf("no helm binary (set %s or run make helm)", HelmEnv)
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return bin
}

func run(t testing.TB, name string, args ...string) []byte {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = repoRoot(t)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\n%s%s", name, strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return stdout.Bytes()
}

// readInputs reads every file helm and kubectl will read. The go test cache
// only notices changes to files the test process itself opens, not those its
// subprocesses open; without this a changed template or kustomization could
// be answered with a stale cached PASS.
func readInputs(t testing.TB) {
	t.Helper()
	for _, dir := range []string{"charts/" + chartDir, "config"} {
		err := filepath.WalkDir(filepath.Join(repoRoot(t), dir), func(path string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			_, err = os.ReadFile(path)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}

type object = map[string]any

// decode splits a multi-document YAML stream into objects, skipping empty
// documents.
func decode(t testing.TB, data []byte) []object {
	t.Helper()
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	var objs []object
	for {
		var o object
		if err := dec.Decode(&o); err == io.EOF {
			return objs
		} else if err != nil {
			t.Fatalf("decode: %v", err)
		}
		if len(o) > 0 {
			objs = append(objs, o)
		}
	}
}

func get(o object, path ...string) any {
	var cur any = o
	for _, p := range path {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = m[p]
	}
	return cur
}

func str(o object, path ...string) string {
	s, _ := get(o, path...).(string)
	return s
}

func key(o object) string {
	return fmt.Sprintf("%s %s/%s", str(o, "kind"), str(o, "metadata", "namespace"), str(o, "metadata", "name"))
}

func byKey(t testing.TB, objs []object) map[string]object {
	t.Helper()
	m := map[string]object{}
	for _, o := range objs {
		k := key(o)
		if _, dup := m[k]; dup {
			t.Fatalf("two objects %s", k)
		}
		m[k] = o
	}
	return m
}

// toolAnnotations carry no behaviour of the object: Helm's keep policy on
// the CRD (TestChartCRDsAreGenerated checks it).
var toolAnnotations = []string{"helm.sh/resource-policy"}

// normalize drops the tool labels and annotations from metadata (and a map
// that ends up empty).
func normalize(o object) object {
	md, _ := o["metadata"].(map[string]any)
	if annotations, ok := md["annotations"].(map[string]any); ok {
		for _, a := range toolAnnotations {
			delete(annotations, a)
		}
		if len(annotations) == 0 {
			delete(md, "annotations")
		}
	}
	if labels, ok := md["labels"].(map[string]any); ok {
		for _, l := range toolLabels {
			delete(labels, l)
		}
		if len(labels) == 0 {
			delete(md, "labels")
		}
	}
	return o
}

func kustomizeDefault(t testing.TB) []object {
	t.Helper()
	if _, err := exec.LookPath("kubectl"); err != nil {
		t.Fatal("kubectl is needed to render config/default (kubectl kustomize)")
	}
	out := run(t, "kubectl", "kustomize", "config/default")
	// What `make deploy IMG=indexbuild:dev` does.
	out = bytes.ReplaceAll(out, []byte(kustomizeImage), []byte(chartImage))
	return decode(t, out)
}

func helmTemplate(t testing.TB, helm, releaseName string, extra ...string) []object {
	t.Helper()
	readInputs(t)
	args := append([]string{"template", releaseName, filepath.Join("charts", chartDir),
		"--namespace", namespace, "--include-crds"}, extra...)
	return decode(t, run(t, helm, args...))
}

// TestChartMatchesConfigDefault renders the chart with its default values and
// compares it object by object with `kubectl kustomize config/default`: the
// same kinds, names and namespaces, and the same content apart from tool
// labels. The one intended difference: config/default creates its Namespace,
// the chart is installed into one (helm install --create-namespace).
func TestChartMatchesConfigDefault(t *testing.T) {
	helm := helmBinary(t)
	readInputs(t)
	want := byKey(t, kustomizeDefault(t))
	got := byKey(t, helmTemplate(t, helm, release))

	nsKey := "Namespace /" + namespace
	if _, ok := want[nsKey]; !ok {
		t.Fatalf("config/default has no %s: the test's assumptions are out of date", nsKey)
	}
	delete(want, nsKey)

	var wantKeys, gotKeys []string
	for k := range want {
		wantKeys = append(wantKeys, k)
	}
	for k := range got {
		gotKeys = append(gotKeys, k)
	}
	sort.Strings(wantKeys)
	sort.Strings(gotKeys)
	if !slices.Equal(wantKeys, gotKeys) {
		t.Fatalf("objects differ\nconfig/default: %s\nchart:          %s",
			strings.Join(wantKeys, ", "), strings.Join(gotKeys, ", "))
	}
	for _, k := range wantKeys {
		w, g := normalize(want[k]), normalize(got[k])
		if !reflect.DeepEqual(w, g) {
			t.Errorf("%s differs between config/default (-) and the chart (+):\n%s", k, diff.Diff(w, g))
		}
	}
}

// TestChartRulesMatchGeneratedRole compares the chart's manager ClusterRole
// rules with config/rbac/role.yaml, which controller-gen generates from the
// +kubebuilder:rbac markers.
func TestChartRulesMatchGeneratedRole(t *testing.T) {
	helm := helmBinary(t)
	data, err := os.ReadFile(filepath.Join(repoRoot(t), "config", "rbac", "role.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	roles := decode(t, data)
	if len(roles) != 1 || str(roles[0], "kind") != "ClusterRole" {
		t.Fatalf("config/rbac/role.yaml: want one ClusterRole, got %d objects", len(roles))
	}
	want := roles[0]["rules"]
	if want == nil {
		t.Fatal("config/rbac/role.yaml has no rules")
	}
	for _, name := range []string{release, "ops"} {
		objs := byKey(t, helmTemplate(t, helm, name))
		roleName := "indexbuild-manager-role"
		if name != release {
			roleName = name + "-indexbuild-manager-role"
		}
		role, ok := objs["ClusterRole /"+roleName]
		if !ok {
			t.Fatalf("release %s: no ClusterRole %s", name, roleName)
		}
		if got := role["rules"]; !reflect.DeepEqual(want, got) {
			t.Errorf("release %s: manager rules differ from config/rbac/role.yaml (-) in the chart (+):\n%s", name, diff.Diff(want, got))
		}
	}
}

// TestChartCRDsAreGenerated checks that charts/indexbuild/files/crds holds
// exactly the files of config/crd/bases, byte for byte (make manifests
// copies them), and that helm renders them as templates (so helm upgrade
// upgrades them) kept on uninstall, unless crds.install is false.
func TestChartCRDsAreGenerated(t *testing.T) {
	root := repoRoot(t)
	names := func(dir string) []string {
		entries, err := os.ReadDir(filepath.Join(root, dir))
		if err != nil {
			t.Fatal(err)
		}
		var n []string
		for _, e := range entries {
			n = append(n, e.Name())
		}
		return n
	}
	bases, chart := names("config/crd/bases"), names("charts/indexbuild/files/crds")
	if !slices.Equal(bases, chart) {
		t.Fatalf("charts/indexbuild/files/crds has %v, config/crd/bases has %v: run make manifests", chart, bases)
	}
	for _, n := range bases {
		want, err := os.ReadFile(filepath.Join(root, "config/crd/bases", n))
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(filepath.Join(root, "charts/indexbuild/files/crds", n))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(want, got) {
			t.Errorf("charts/indexbuild/files/crds/%s differs from config/crd/bases/%s: run make manifests", n, n)
		}
	}

	helm := helmBinary(t)
	objs := byKey(t, helmTemplate(t, helm, release))
	crd, ok := objs["CustomResourceDefinition /indexbuilds.indexbuild.dev"]
	if !ok {
		t.Fatal("helm template renders no indexbuilds.indexbuild.dev CRD")
	}
	if get(crd, "metadata", "annotations", "helm.sh/resource-policy") != "keep" {
		t.Errorf("the CRD is not kept on helm uninstall: annotations %v", get(crd, "metadata", "annotations"))
	}
	for k := range byKey(t, helmTemplate(t, helm, release, "--set", "crds.install=false")) {
		if strings.HasPrefix(k, "CustomResourceDefinition ") {
			t.Errorf("crds.install=false renders %s", k)
		}
	}
}

func TestHelmLint(t *testing.T) {
	helm := helmBinary(t)
	readInputs(t)
	out := run(t, helm, "lint", "--strict", filepath.Join("charts", chartDir))
	t.Logf("%s", out)
	out = run(t, helm, "lint", "--strict", filepath.Join("charts", chartDir),
		"--set", "watchNamespace=team-a", "--set", "leaderElection.enabled=false")
	t.Logf("%s", out)
}

func manager(t testing.TB, objs map[string]object, key string) (deploy object, container map[string]any) {
	t.Helper()
	deploy, ok := objs[key]
	if !ok {
		t.Fatalf("no %s", key)
	}
	containers, _ := get(deploy, "spec", "template", "spec", "containers").([]any)
	if len(containers) != 1 {
		t.Fatalf("%s: want one container, got %d", key, len(containers))
	}
	return deploy, containers[0].(map[string]any)
}

func stringList(v any) []string {
	l, _ := v.([]any)
	var s []string
	for _, x := range l {
		s = append(s, fmt.Sprint(x))
	}
	return s
}

func envValue(c map[string]any, name string) (string, bool) {
	env, _ := c["env"].([]any)
	for _, e := range env {
		m := e.(map[string]any)
		if m["name"] == name {
			v, _ := m["value"].(string)
			return v, true
		}
	}
	return "", false
}

// TestChartValues renders non-default values and checks that each reaches
// the manager as documented in docs/helm.md.
func TestChartValues(t *testing.T) {
	helm := helmBinary(t)

	t.Run("defaults", func(t *testing.T) {
		objs := byKey(t, helmTemplate(t, helm, release))
		_, c := manager(t, objs, "Deployment indexbuild-system/indexbuild-controller-manager")
		args := stringList(c["args"])
		if !slices.Contains(args, "--leader-elect") {
			t.Errorf("args %v: want --leader-elect", args)
		}
		for _, a := range args {
			if strings.HasPrefix(a, "--watch-namespace") {
				t.Errorf("args %v: want no --watch-namespace by default (all namespaces)", args)
			}
		}
		if v, _ := envValue(c, "INDEXBUILD_BUILDER_IMAGE"); v != chartImage {
			t.Errorf("INDEXBUILD_BUILDER_IMAGE = %q, want the manager image %q", v, chartImage)
		}
	})

	t.Run("serviceMonitor", func(t *testing.T) {
		if _, ok := byKey(t, helmTemplate(t, helm, release))["ServiceMonitor indexbuild-system/indexbuild-controller-manager-metrics-monitor"]; ok {
			t.Error("a ServiceMonitor rendered by default; it needs the Prometheus Operator's CRDs, so it is opt-in")
		}
		for _, secure := range []string{"true", "false"} {
			objs := byKey(t, helmTemplate(t, helm, release, "--set", "metrics.serviceMonitor.enabled=true", "--set", "metrics.secure="+secure,
				"--set", "metrics.serviceMonitor.labels.release=prom", "--set", "metrics.serviceMonitor.interval=30s"))
			sm, ok := objs["ServiceMonitor indexbuild-system/indexbuild-controller-manager-metrics-monitor"]
			if !ok {
				t.Fatalf("metrics.secure=%s: no ServiceMonitor among %v", secure, slices.Sorted(maps.Keys(objs)))
			}
			svc := objs["Service indexbuild-system/indexbuild-controller-manager-metrics-service"]
			ports, _ := get(svc, "spec", "ports").([]any)
			endpoints, _ := get(sm, "spec", "endpoints").([]any)
			if len(ports) != 1 || len(endpoints) != 1 {
				t.Fatalf("metrics.secure=%s: service ports %v, endpoints %v", secure, ports, endpoints)
			}
			ep := endpoints[0].(map[string]any)
			if ep["port"] != ports[0].(map[string]any)["name"] || ep["interval"] != "30s" || (secure == "true") != (ep["scheme"] == "https") {
				t.Errorf("metrics.secure=%s: endpoint %v does not scrape the Service's port %v", secure, ep, ports[0])
			}
			match, _ := get(sm, "spec", "selector", "matchLabels").(map[string]any)
			svcLabels, _ := get(svc, "metadata", "labels").(map[string]any)
			if len(match) == 0 || get(sm, "metadata", "labels", "release") != "prom" {
				t.Errorf("metrics.secure=%s: ServiceMonitor %v", secure, sm)
			}
			for k, v := range match {
				if svcLabels[k] != v {
					t.Errorf("metrics.secure=%s: ServiceMonitor selects %s=%v, the metrics Service has labels %v", secure, k, v, svcLabels)
				}
			}
		}
	})

	t.Run("custom", func(t *testing.T) {
		objs := byKey(t, helmTemplate(t, helm, "ops",
			"--set", "image.repository=example.com/indexbuild",
			"--set", "image.tag=v1.2.3",
			"--set", "builderImage=example.com/builder:v9",
			"--set", "watchNamespace=team-a",
			"--set", "leaderElection.enabled=false",
			"--set", "resources.limits.memory=1Gi",
			"--set", "extraArgs={--zap-log-level=debug}",
			"--set", "rbac.aggregateRoles=false",
			"--set", "metrics.service.enabled=false",
			"--set", "metrics.secure=false",
			"--set", "fileStoreRoots={/var/lib/indexbuild,/data}",
			"--set", "concurrency=32",
			"--set", "kubeAPI.qps=400",
			"--set", "kubeAPI.burst=800",
			"--set", "statusProgressInterval=2s",
			"--set", "policy.builderImages={registry.example.com/indexbuild/*,example.com/builder:v9}",
			"--set", "policy.allowBuilderCommand=true",
			"--set", "policy.serviceAccounts={indexer}",
			"--set", "policy.secretOptInLabel=example.com/indexbuild-ok",
			"--set", "metrics.indexBuildLabels={team,app.kubernetes.io/part-of}",
		))
		_, c := manager(t, objs, "Deployment indexbuild-system/ops-indexbuild-controller-manager")
		if c["image"] != "example.com/indexbuild:v1.2.3" {
			t.Errorf("image = %v", c["image"])
		}
		if v, _ := envValue(c, "INDEXBUILD_BUILDER_IMAGE"); v != "example.com/builder:v9" {
			t.Errorf("INDEXBUILD_BUILDER_IMAGE = %q", v)
		}
		args := stringList(c["args"])
		if slices.Contains(args, "--leader-elect") {
			t.Errorf("args %v: leader election is off", args)
		}
		for _, a := range []string{"--watch-namespace=team-a", "--zap-log-level=debug", "--metrics-secure=false", "--file-store-roots=/var/lib/indexbuild,/data",
			"--max-concurrent-reconciles=32", "--kube-api-qps=400", "--kube-api-burst=800", "--status-progress-interval=2s",
			"--allowed-builder-images=registry.example.com/indexbuild/*,example.com/builder:v9", "--allow-builder-command",
			"--allowed-service-accounts=indexer", "--secret-opt-in-label=example.com/indexbuild-ok",
			"--metrics-indexbuild-labels=team,app.kubernetes.io/part-of"} {
			if !slices.Contains(args, a) {
				t.Errorf("args %v: want %s", args, a)
			}
		}
		if m := get(c, "resources", "limits", "memory"); m != "1Gi" {
			t.Errorf("memory limit = %v", m)
		}
		for k := range objs {
			for _, absent := range []string{"-leader-election-role", "-leader-election-rolebinding", "Service ", "-editor-role", "-viewer-role", "-metrics-auth-role", "-metrics-reader", "ClusterRole /ops-indexbuild-manager-role"} {
				if strings.HasPrefix(k, absent) || strings.HasSuffix(k, absent) {
					t.Errorf("%s rendered, want it off", k)
				}
			}
		}
		// Every object is named after the release, so two releases do not collide.
		for k, o := range objs {
			if str(o, "kind") == "CustomResourceDefinition" {
				continue
			}
			if n := str(o, "metadata", "name"); !strings.HasPrefix(n, "ops-indexbuild-") {
				t.Errorf("%s: name %q does not start with the release's prefix", k, n)
			}
		}
		// One watched namespace: the manager's rights are a Role there.
		if _, ok := objs["Role team-a/ops-indexbuild-manager-role"]; !ok {
			t.Errorf("no manager Role in the watched namespace team-a")
		}
		rb := objs["RoleBinding team-a/ops-indexbuild-manager-rolebinding"]
		subjects, _ := rb["subjects"].([]any)
		if len(subjects) != 1 || get(subjects[0].(map[string]any), "name") != "ops-indexbuild-controller-manager" ||
			get(subjects[0].(map[string]any), "namespace") != namespace || get(rb, "roleRef", "kind") != "Role" {
			t.Errorf("RoleBinding %v", rb)
		}
	})

	t.Run("schema rejects unknown values", func(t *testing.T) {
		// values.schema.json: a misspelt value fails instead of being ignored.
		cmd := exec.Command(helm, "template", release, filepath.Join("charts", chartDir),
			"--set", "watchNamespaces=team-a")
		cmd.Dir = repoRoot(t)
		out, err := cmd.CombinedOutput()
		if err == nil || !strings.Contains(string(out), "watchNamespaces") {
			t.Errorf("helm template --set watchNamespaces=team-a: err %v, output:\n%s", err, out)
		}
	})

	t.Run("existing service account", func(t *testing.T) {
		objs := byKey(t, helmTemplate(t, helm, release,
			"--set", "serviceAccount.create=false", "--set", "serviceAccount.name=mine"))
		if _, ok := objs["ServiceAccount indexbuild-system/indexbuild-controller-manager"]; ok {
			t.Error("ServiceAccount rendered with serviceAccount.create=false")
		}
		d, _ := manager(t, objs, "Deployment indexbuild-system/indexbuild-controller-manager")
		if sa := str(d, "spec", "template", "spec", "serviceAccountName"); sa != "mine" {
			t.Errorf("serviceAccountName = %q", sa)
		}
	})
}
