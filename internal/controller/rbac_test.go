package controller

import (
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	rbacv1 "k8s.io/api/rbac/v1"
	"sigs.k8s.io/yaml"
)

// The manager's RBAC (config/rbac/role.yaml, generated from the
// +kubebuilder:rbac markers) is checked against what the manager does: the
// suite's manager sends its API requests through apiRequests, and after a
// full run every rule's verb on every resource must have been used, and
// every request must be allowed by a rule.

// apiRule is one verb on one resource ("group/resource[/subresource]").
type apiRule struct{ resource, verb string }

func (r apiRule) String() string { return r.verb + " " + r.resource }

// requestRule maps an API request to the RBAC verb and resource it needs;
// ok is false for non-resource requests (discovery, /metrics).
func requestRule(method, urlPath string, watch bool) (apiRule, bool) {
	parts := strings.Split(strings.Trim(urlPath, "/"), "/")
	var group string
	switch {
	case len(parts) >= 2 && parts[0] == "api":
		parts = parts[2:]
	case len(parts) >= 3 && parts[0] == "apis":
		group, parts = parts[1], parts[3:]
	default:
		return apiRule{}, false
	}
	if len(parts) >= 2 && parts[0] == "namespaces" && len(parts) != 2 {
		parts = parts[2:] // namespaced resource
	}
	if len(parts) == 0 {
		return apiRule{}, false
	}
	resource, named := parts[0], len(parts) >= 2
	if len(parts) >= 3 {
		resource += "/" + parts[2]
	}
	var verb string
	switch method {
	case http.MethodGet:
		verb = map[bool]string{true: "get", false: "list"}[named]
		if watch {
			verb = "watch"
		}
	case http.MethodPost:
		verb = "create"
	case http.MethodPut:
		verb = "update"
	case http.MethodPatch:
		verb = "patch"
	case http.MethodDelete:
		verb = map[bool]string{true: "delete", false: "deletecollection"}[named]
	default:
		return apiRule{}, false
	}
	return apiRule{resource: group + "/" + resource, verb: verb}, true
}

func TestRequestRule(t *testing.T) {
	for _, tc := range []struct {
		method, path string
		watch        bool
		want         string
	}{
		{"GET", "/api/v1/namespaces/ns/pods", false, "list /pods"},
		{"GET", "/apis/batch/v1/jobs", true, "watch batch/jobs"},
		{"GET", "/apis/indexbuild.dev/v1alpha1/namespaces/ns/indexbuilds/b", false, "get indexbuild.dev/indexbuilds"},
		{"PATCH", "/apis/indexbuild.dev/v1alpha1/namespaces/ns/indexbuilds/b/status", false, "patch indexbuild.dev/indexbuilds/status"},
		{"POST", "/apis/events.k8s.io/v1/namespaces/ns/events", false, "create events.k8s.io/events"},
		{"DELETE", "/apis/batch/v1/namespaces/ns/jobs/j", false, "delete batch/jobs"},
		{"GET", "/api/v1/namespaces/ns", false, "get /namespaces"},
		{"GET", "/apis", false, ""},
	} {
		got, ok := requestRule(tc.method, tc.path, tc.watch)
		if (tc.want == "") == ok || (ok && got.String() != tc.want) {
			t.Errorf("requestRule(%s %s) = %v, %v; want %q", tc.method, tc.path, got, ok, tc.want)
		}
	}
}

// requestLog records the rules the manager's requests needed.
type requestLog struct {
	mu   sync.Mutex
	used map[apiRule]bool
}

func (l *requestLog) wrap(rt http.RoundTripper) http.RoundTripper {
	return roundTripFunc(func(req *http.Request) (*http.Response, error) {
		if rule, ok := requestRule(req.Method, req.URL.Path, req.URL.Query().Get("watch") == "true"); ok {
			l.mu.Lock()
			l.used[rule] = true
			if rule.verb == "watch" {
				// An informer's watch starts from its initial list, streamed
				// (sendInitialEvents) where the server can, else a list.
				l.used[apiRule{resource: rule.resource, verb: "list"}] = true
			}
			l.mu.Unlock()
		}
		return rt.RoundTrip(req)
	})
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(req *http.Request) (*http.Response, error) { return f(req) }

var apiRequests = &requestLog{used: map[apiRule]bool{}}

// unobservedRules are granted though a suite may not exercise them, each
// with the reason.
var unobservedRules = map[apiRule]string{
	// The events.k8s.io recorder patches an Event to count a repeat (an
	// EventSeries) only when the same Event recurs.
	{resource: "events.k8s.io/events", verb: "patch"}: "event series",
	// Where the OwnerReferencesPermissionEnforcement admission plugin runs
	// (OpenShift), creating a Job whose owner reference blocks the
	// IndexBuild's deletion takes update on its finalizers; the envtest
	// apiserver does not run that plugin, and it is no request of its own.
	{resource: "indexbuild.dev/indexbuilds/finalizers", verb: "update"}: "blockOwnerDeletion",
}

// generatedRules reads config/rbac/role.yaml.
func generatedRules() map[apiRule]bool {
	data, err := os.ReadFile(filepath.Join("..", "..", "config", "rbac", "role.yaml"))
	Expect(err).NotTo(HaveOccurred())
	var role rbacv1.ClusterRole
	Expect(yaml.Unmarshal(data, &role)).To(Succeed())
	rules := map[apiRule]bool{}
	for _, r := range role.Rules {
		for _, g := range r.APIGroups {
			for _, res := range r.Resources {
				for _, v := range r.Verbs {
					rules[apiRule{resource: g + "/" + res, verb: v}] = true
				}
			}
		}
	}
	return rules
}

// checkRBAC runs after the whole suite (not after a focused run, which does
// not exercise every path).
func checkRBAC() {
	cfg, _ := GinkgoConfiguration()
	if len(cfg.FocusStrings) > 0 || len(cfg.SkipStrings) > 0 || cfg.LabelFilter != "" || len(cfg.FocusFiles) > 0 {
		GinkgoWriter.Println("RBAC check skipped: not a full run")
		return
	}
	granted := generatedRules()
	apiRequests.mu.Lock()
	defer apiRequests.mu.Unlock()
	var unused, missing []string
	for rule := range granted {
		if !apiRequests.used[rule] && unobservedRules[rule] == "" {
			unused = append(unused, rule.String())
		}
	}
	for rule := range apiRequests.used {
		if !granted[rule] {
			missing = append(missing, rule.String())
		}
	}
	sort.Strings(unused)
	sort.Strings(missing)
	Expect(missing).To(BeEmpty(), "the manager made requests config/rbac/role.yaml does not allow: add +kubebuilder:rbac markers")
	Expect(unused).To(BeEmpty(), "config/rbac/role.yaml grants what the manager never used: drop it from the +kubebuilder:rbac markers")
	Expect(slices.Collect(func(yield func(string) bool) {
		for r := range unobservedRules {
			if !granted[r] && !yield(r.String()) {
				return
			}
		}
	})).To(BeEmpty(), "unobservedRules lists rules the role no longer grants")
}
