package controller

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	lua "github.com/yuin/gopher-lua"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	indexbuildv1alpha1 "github.com/indexbuild/indexbuild/api/v1alpha1"
	"github.com/indexbuild/indexbuild/internal/testutil"
)

var argoHealthScript = filepath.Join("..", "..", "config", "argocd", "health.lua")

// TestArgoCDHealth runs the shipped Argo CD health script the way Argo CD
// does (obj global, returns {status, message}) on IndexBuilds in every phase,
// their status written by the controller's own status code.
func TestArgoCDHealth(t *testing.T) {
	script, err := os.ReadFile(argoHealthScript)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		apply   func(ib *indexbuildv1alpha1.IndexBuild)
		status  string
		message string
	}{
		{"not observed yet", func(ib *indexbuildv1alpha1.IndexBuild) {}, "Progressing", "Waiting"},
		{"building", func(ib *indexbuildv1alpha1.IndexBuild) {
			w := newPhaseConditions(ib, testNow)
			w.inProgress(indexbuildv1alpha1.PhaseBuilding, ReasonBuilding, "")
			w.partitions(indexbuildv1alpha1.PartitionCounts{Total: 4, Succeeded: 1})
			ib.Status.ObservedGeneration = ib.Generation
		}, "Progressing", "Building 1/4"},
		{"finalizing", func(ib *indexbuildv1alpha1.IndexBuild) {
			newPhaseConditions(ib, testNow).inProgress(indexbuildv1alpha1.PhaseFinalizing, ReasonFinalizing, "")
			ib.Status.ObservedGeneration = ib.Generation
		}, "Progressing", "Finalizing"},
		{"suspended", func(ib *indexbuildv1alpha1.IndexBuild) {
			w := newPhaseConditions(ib, testNow)
			w.inProgress(indexbuildv1alpha1.PhaseBuilding, ReasonSuspended, "")
			w.suspended(true)
			ib.Status.ObservedGeneration = ib.Generation
		}, "Suspended", "spec.suspend"},
		{"succeeded", func(ib *indexbuildv1alpha1.IndexBuild) {
			newPhaseConditions(ib, testNow).succeeded(indexbuildv1alpha1.CommitStatus{MarkerURI: "s3://i/metadata.json", Files: 4, Rows: 10})
			ib.Status.ObservedGeneration = ib.Generation
		}, "Healthy", "committed 4 files"},
		{"stale metadata", func(ib *indexbuildv1alpha1.IndexBuild) {
			newPhaseConditions(ib, testNow).failed(ReasonStaleMeta, "elementIDs recorded in status.task is [1] but the current value is [2]")
			ib.Status.ObservedGeneration = ib.Generation
		}, "Degraded", "StaleMeta: elementIDs recorded"},
		{"invalid input", func(ib *indexbuildv1alpha1.IndexBuild) {
			newPhaseConditions(ib, testNow).failed(ReasonInvalidInput, "data.csv line 3")
			ib.Status.ObservedGeneration = ib.Generation
		}, "Degraded", "InvalidInput: data.csv line 3"},
		{"out of retries", func(ib *indexbuildv1alpha1.IndexBuild) {
			newPhaseConditions(ib, testNow).failed(ReasonBackoffLimitExceeded, "partition 2")
			ib.Status.ObservedGeneration = ib.Generation
		}, "Degraded", "BackoffLimitExceeded"},
		{"spec changed after success", func(ib *indexbuildv1alpha1.IndexBuild) {
			newPhaseConditions(ib, testNow).succeeded(indexbuildv1alpha1.CommitStatus{})
			ib.Status.ObservedGeneration = ib.Generation - 1
		}, "Progressing", "Waiting"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ib := testutil.MakeIndexBuild("b", "ns").Obj()
			ib.Generation = 2
			tt.apply(ib)
			status, message := runHealthScript(t, string(script), ib)
			if status != tt.status || !strings.Contains(message, tt.message) {
				t.Fatalf("health = %q %q, want %q containing %q", status, message, tt.status, tt.message)
			}
		})
	}
}

// The ConfigMap patch users apply must carry the script that is tested.
func TestArgoCDConfigMapPatchEmbedsTheScript(t *testing.T) {
	script, err := os.ReadFile(argoHealthScript)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join("..", "..", "config", "argocd", "argocd-cm-patch.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var cm corev1.ConfigMap
	if err := yaml.Unmarshal(raw, &cm); err != nil {
		t.Fatal(err)
	}
	if got := cm.Data["resource.customizations.health.indexbuild.dev_IndexBuild"]; got != string(script) {
		t.Fatalf("argocd-cm-patch.yaml does not embed health.lua as it is (regenerate it from the script)")
	}
}

func runHealthScript(t *testing.T, script string, ib *indexbuildv1alpha1.IndexBuild) (string, string) {
	t.Helper()
	raw, err := json.Marshal(ib)
	if err != nil {
		t.Fatal(err)
	}
	var obj any
	if err := json.Unmarshal(raw, &obj); err != nil {
		t.Fatal(err)
	}
	L := lua.NewState()
	defer L.Close()
	L.SetGlobal("obj", toLua(L, obj))
	if err := L.DoString(script); err != nil {
		t.Fatalf("health script: %v", err)
	}
	hs, ok := L.Get(-1).(*lua.LTable)
	if !ok {
		t.Fatalf("health script returned %v, want a table", L.Get(-1))
	}
	return lua.LVAsString(hs.RawGetString("status")), lua.LVAsString(hs.RawGetString("message"))
}

// toLua converts decoded JSON into Lua values the way Argo CD hands objects
// to health scripts.
func toLua(L *lua.LState, v any) lua.LValue {
	switch v := v.(type) {
	case map[string]any:
		t := L.NewTable()
		for k, e := range v {
			t.RawSetString(k, toLua(L, e))
		}
		return t
	case []any:
		t := L.NewTable()
		for _, e := range v {
			t.Append(toLua(L, e))
		}
		return t
	case string:
		return lua.LString(v)
	case float64:
		return lua.LNumber(v)
	case bool:
		return lua.LBool(v)
	default:
		return lua.LNil
	}
}
