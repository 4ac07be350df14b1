package controller

import (
	"slices"
	"strings"
	"testing"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/indexbuild/indexbuild/internal/testutil"
)

func TestPodFailurePolicyMatchesTheExitCodeContract(t *testing.T) {
	rules := podFailurePolicy().Rules
	if len(rules) != 4 {
		t.Fatalf("%d rules", len(rules))
	}
	// jobFailureReason maps exit codes, not rule positions, but the Job
	// message also names the rule: keep 3, 4 and 5 as rules 0, 1 and 2.
	for i, code := range []int32{3, 4, 5} {
		r := rules[i]
		if r.Action != batchv1.PodFailurePolicyActionFailJob || !slices.Equal(r.OnExitCodes.Values, []int32{code}) {
			t.Errorf("rule %d = %+v, want FailJob on exit code %d", i, r, code)
		}
	}
	if rules[3].Action != batchv1.PodFailurePolicyActionIgnore || rules[3].OnPodConditions[0].Type != corev1.DisruptionTarget {
		t.Errorf("rule 3 = %+v, want Ignore on DisruptionTarget", rules[3])
	}
}

func TestChildJobNameStaysShort(t *testing.T) {
	long := strings.Repeat("a", 63)
	a := testutil.MakeIndexBuild(long, "ns").JobID(1234567890123).Obj()
	b := testutil.MakeIndexBuild(long[:62]+"b", "ns").JobID(1234567890123).Obj()
	for _, role := range []string{RoleBuild, RoleFinalize, RoleCleanup} {
		na, nb := childJobName(a, role), childJobName(b, role)
		if len(na) > maxJobNameLength || len(nb) > maxJobNameLength {
			t.Fatalf("names too long: %q %q", na, nb)
		}
		if na == nb {
			t.Fatalf("different IndexBuilds share Job name %q", na)
		}
		if !strings.HasSuffix(na, "-1234567890123-"+role) {
			t.Fatalf("name %q lost its suffix", na)
		}
	}
	huge := testutil.MakeIndexBuild("x", "ns").JobID(9223372036854775807).Obj()
	if n := childJobName(huge, RoleFinalize); len(n) > maxJobNameLength {
		t.Fatalf("name %q too long", n)
	}
}

// Regression: an IndexBuild named books.v2 stayed Pending forever, its
// Indexed Job's pod hostnames (<job>-<index>) refused for the dot.
func TestChildJobNameIsAHostnameForDottedNames(t *testing.T) {
	dotted := testutil.MakeIndexBuild("books.v2", "ns").JobID(1).Obj()
	dashed := testutil.MakeIndexBuild("books-v2", "ns").JobID(1).Obj()
	for _, role := range []string{RoleBuild, RoleFinalize, RoleCleanup} {
		name := childJobName(dotted, role)
		if errs := validation.IsDNS1123Label(name + "-63"); len(errs) > 0 {
			t.Errorf("%s Job %q: pod hostname not a DNS label: %v", role, name, errs)
		}
		if name == childJobName(dashed, role) {
			t.Errorf("books.v2 and books-v2 share Job name %q", name)
		}
	}
	if plain := childJobName(dashed, RoleBuild); plain != "books-v2-1-build" {
		t.Errorf("a name that is already a DNS label changed: %q", plain)
	}
}
