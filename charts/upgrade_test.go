package charts

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/yaml"
)

var indexBuilds = schema.GroupVersionResource{Group: "indexbuild.dev", Version: "v1alpha1", Resource: "indexbuilds"}

// newFields are fields this chart's CRD has that the older chart's lacks
// (the fields of the release that added them); the test drops them from a
// copy of the chart to make the older one.
var newFields = [][]string{{"spec", "pod", "volumes"}, {"spec", "pod", "envFrom"}, {"spec", "worker", "volumeMounts"}, {"spec", "finalize", "volumeMounts"}}

// TestHelmUpgradeUpgradesTheCRD installs an older chart on a real
// apiserver, creates builds, upgrades to this chart and checks that the
// builds are still there and that the new fields are kept, not pruned; an
// uninstall keeps the CRD and the builds.
func TestHelmUpgradeUpgradesTheCRD(t *testing.T) {
	helm := helmBinary(t)
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("KUBEBUILDER_ASSETS is not set (make test sets it)")
		}
		t.Skip("KUBEBUILDER_ASSETS is not set: run make test")
	}
	readInputs(t)
	env := &envtest.Environment{}
	cfg, err := env.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { env.Stop() })
	kubeconfig := writeKubeconfig(t, cfg)
	helmRun := func(args ...string) string {
		t.Helper()
		return string(run(t, helm, append(args, "--kubeconfig", kubeconfig, "--namespace", namespace)...))
	}
	client, err := dynamic.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	builds := client.Resource(indexBuilds).Namespace("default")
	ctx := context.Background()

	old := olderChart(t)
	helmRun("install", release, old, "--create-namespace")
	created, err := builds.Create(ctx, indexBuild("before-upgrade"), metav1CreateOptions)
	if err != nil {
		t.Fatal(err)
	}
	if _, found, _ := unstructured.NestedSlice(created.Object, newFields[0]...); found {
		t.Fatal("the older chart's CRD kept spec.pod.volumes: the test's older chart is not older")
	}

	helmRun("upgrade", release, filepath.Join(repoRoot(t), "charts", chartDir))
	kept, err := builds.Get(ctx, "before-upgrade", metav1GetOptions)
	if err != nil {
		t.Fatalf("the build created before the upgrade: %v", err)
	}
	if got, _, _ := unstructured.NestedInt64(kept.Object, "spec", "jobID"); got != 1 {
		t.Errorf("the build created before the upgrade has jobID %d", got)
	}
	// The same build edited, and a new one, with the new fields: kept.
	for _, name := range []string{"before-upgrade", "after-upgrade"} {
		ib := indexBuild(name)
		var stored *unstructured.Unstructured
		if name == "before-upgrade" {
			ib.SetResourceVersion(kept.GetResourceVersion())
			stored, err = builds.Update(ctx, ib, metav1UpdateOptions)
		} else {
			stored, err = builds.Create(ctx, ib, metav1CreateOptions)
		}
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		for _, f := range newFields {
			if _, found, _ := unstructured.NestedFieldNoCopy(stored.Object, f...); !found {
				t.Errorf("%s: %s pruned after the upgrade: the CRD was not upgraded", name, strings.Join(f, "."))
			}
		}
	}

	helmRun("uninstall", release)
	for _, name := range []string{"before-upgrade", "after-upgrade"} {
		if _, err := builds.Get(ctx, name, metav1GetOptions); err != nil {
			t.Errorf("%s after helm uninstall: %v (the CRD must be kept)", name, err)
		}
	}
}

// olderChart copies this chart and removes newFields from its CRD.
func olderChart(t *testing.T) string {
	t.Helper()
	src := filepath.Join(repoRoot(t), "charts", chartDir)
	dst := filepath.Join(t.TempDir(), chartDir)
	if err := os.CopyFS(dst, os.DirFS(src)); err != nil {
		t.Fatal(err)
	}
	crds, err := filepath.Glob(filepath.Join(dst, "files", "crds", "*.yaml"))
	if err != nil || len(crds) != 1 {
		t.Fatalf("CRDs of the chart: %v, %v", crds, err)
	}
	data, err := os.ReadFile(crds[0])
	if err != nil {
		t.Fatal(err)
	}
	var crd map[string]any
	if err := yaml.Unmarshal(data, &crd); err != nil {
		t.Fatal(err)
	}
	versions, _, _ := unstructured.NestedSlice(crd, "spec", "versions")
	for i := range versions {
		v := versions[i].(map[string]any)
		for _, f := range newFields {
			path := []string{"schema", "openAPIV3Schema"}
			for _, p := range f[:len(f)-1] {
				path = append(path, "properties", p)
			}
			props, found, _ := unstructured.NestedMap(v, append(path, "properties")...)
			if !found {
				t.Fatalf("the CRD has no %s", strings.Join(f, "."))
			}
			delete(props, f[len(f)-1])
			if err := unstructured.SetNestedMap(v, props, append(path, "properties")...); err != nil {
				t.Fatal(err)
			}
		}
	}
	dropRulesNaming(versions)
	if err := unstructured.SetNestedSlice(crd, versions, "spec", "versions"); err != nil {
		t.Fatal(err)
	}
	if data, err = yaml.Marshal(crd); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(crds[0], data, 0o644); err != nil {
		t.Fatal(err)
	}
	return dst
}

// dropRulesNaming drops the CEL rules, anywhere in the schema, that name a
// field of newFields: the older CRD had neither.
func dropRulesNaming(node any) {
	switch n := node.(type) {
	case map[string]any:
		if rules, ok := n["x-kubernetes-validations"].([]any); ok {
			var keep []any
			for _, r := range rules {
				rule, _ := r.(map[string]any)["rule"].(string)
				if !slices.ContainsFunc(newFields, func(f []string) bool { return strings.Contains(rule, "."+f[len(f)-1]) }) {
					keep = append(keep, r)
				}
			}
			n["x-kubernetes-validations"] = keep
		}
		for _, v := range n {
			dropRulesNaming(v)
		}
	case []any:
		for _, v := range n {
			dropRulesNaming(v)
		}
	}
}

// indexBuild is a build that sets the new fields.
func indexBuild(name string) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "indexbuild.dev/v1alpha1",
		"kind":       "IndexBuild",
		"metadata":   map[string]any{"name": name, "namespace": "default"},
		"spec": map[string]any{
			"jobID": int64(1), "schemaID": int64(1), "tableID": int64(1), "elementType": "index", "elementIDs": []any{int64(1)},
			"source": map[string]any{"uri": "s3://bucket/table"},
			"output": map[string]any{"uri": "s3://bucket/index-" + name},
			"pod": map[string]any{
				"volumes": []any{map[string]any{"name": "ca", "configMap": map[string]any{"name": "store-ca"}}},
				"envFrom": []any{map[string]any{"configMapRef": map[string]any{"name": "store-settings"}}},
			},
			"worker":   map[string]any{"volumeMounts": []any{map[string]any{"name": "ca", "mountPath": "/etc/ssl/store"}}},
			"finalize": map[string]any{"volumeMounts": []any{map[string]any{"name": "ca", "mountPath": "/etc/ssl/store"}}},
		},
	}}
}

// writeKubeconfig writes a kubeconfig for cfg (envtest's admin user).
func writeKubeconfig(t *testing.T, cfg *rest.Config) string {
	t.Helper()
	kc := clientcmdapi.NewConfig()
	kc.Clusters["envtest"] = &clientcmdapi.Cluster{Server: cfg.Host, CertificateAuthorityData: cfg.CAData}
	kc.AuthInfos["admin"] = &clientcmdapi.AuthInfo{ClientCertificateData: cfg.CertData, ClientKeyData: cfg.KeyData}
	kc.Contexts["envtest"] = &clientcmdapi.Context{Cluster: "envtest", AuthInfo: "admin"}
	kc.CurrentContext = "envtest"
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*kc, path); err != nil {
		t.Fatal(err)
	}
	return path
}

var (
	metav1CreateOptions = metav1.CreateOptions{}
	metav1GetOptions    = metav1.GetOptions{}
	metav1UpdateOptions = metav1.UpdateOptions{}
)
