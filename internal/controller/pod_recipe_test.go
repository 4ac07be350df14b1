package controller

import (
	"maps"
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	indexbuildv1alpha1 "github.com/indexbuild/indexbuild/api/v1alpha1"
	"github.com/indexbuild/indexbuild/internal/testutil"
)

func mountsByPath(c corev1.Container) map[string]corev1.VolumeMount {
	mounts := map[string]corev1.VolumeMount{}
	for _, m := range c.VolumeMounts {
		mounts[m.MountPath] = m
	}
	return mounts
}

func volumesByName(pod corev1.PodSpec) map[string]corev1.Volume {
	vols := map[string]corev1.Volume{}
	for _, v := range pod.Volumes {
		vols[v.Name] = v
	}
	return vols
}

func TestPodRecipeIsRestrictedByDefault(t *testing.T) {
	pod := newBuildJob(testutil.MakeIndexBuild("b", "ns").Obj(), podDefaults{image: "img"}).Spec.Template.Spec
	psc, c := pod.SecurityContext, pod.Containers[0]
	if !ptr.Deref(psc.RunAsNonRoot, false) || ptr.Deref(psc.RunAsUser, 0) != podUser || psc.SeccompProfile == nil ||
		psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("pod security context %+v", psc)
	}
	sc := c.SecurityContext
	if ptr.Deref(sc.AllowPrivilegeEscalation, true) || !ptr.Deref(sc.ReadOnlyRootFilesystem, false) ||
		len(sc.Capabilities.Drop) != 1 || sc.Capabilities.Drop[0] != "ALL" {
		t.Errorf("container security context %+v", sc)
	}
	if ptr.Deref(pod.AutomountServiceAccountToken, true) {
		t.Error("a service-account token is mounted though no service account is named")
	}
	if v := volumesByName(pod)["scratch"]; v.EmptyDir == nil || v.EmptyDir.SizeLimit != nil {
		t.Errorf("scratch volume %+v", v)
	}
	if _, ok := mountsByPath(c)[scratchPath]; !ok {
		t.Errorf("no scratch mount at %s: %+v", scratchPath, c.VolumeMounts)
	}
	if len(c.Env) != 1 || c.Env[0] != (corev1.EnvVar{Name: "TMPDIR", Value: scratchPath}) {
		t.Errorf("env %+v", c.Env)
	}
}

// A hostPath store is reached through the allowed root plus subPath, for
// every role: the kubelet resolves a subPath inside its volume, so a
// symlink planted under the root cannot lead a mount out of it.
func TestFileStoresAreMountedThroughTheirRoot(t *testing.T) {
	ib := testutil.MakeIndexBuild("b", "ns").SourceURI("file:///data/tables/t1").OutputURI("file:///var/lib/indexbuild/a/esc/etc/").Obj()
	defaults := podDefaults{image: "img", fileStoreRoots: []string{"/data", "/var/lib/indexbuild"}}
	for role, pod := range map[string]corev1.PodSpec{
		RoleBuild:    stageJob(ib, RoleBuild, defaults).Spec.Template.Spec,
		RoleMerge:    stageJob(ib, RoleMerge, defaults).Spec.Template.Spec,
		RoleFinalize: stageJob(ib, RoleFinalize, defaults).Spec.Template.Spec,
		RoleCleanup:  newCleanupJob(ib, defaults).Spec.Template.Spec,
	} {
		mounts, vols := mountsByPath(pod.Containers[0]), volumesByName(pod)
		want := map[string]corev1.VolumeMount{
			"/var/lib/indexbuild/a/esc/etc": {Name: "output", MountPath: "/var/lib/indexbuild/a/esc/etc", SubPath: "a/esc/etc"},
		}
		wantRoots := map[string]string{"output": "/var/lib/indexbuild"}
		if roleReadsSource(role) {
			want["/data/tables/t1"] = corev1.VolumeMount{Name: "source", MountPath: "/data/tables/t1", SubPath: "tables/t1", ReadOnly: true}
			wantRoots["source"] = "/data"
		}
		for path, m := range want {
			if !equality.Semantic.DeepEqual(mounts[path], m) {
				t.Errorf("%s: mount at %s = %+v, want %+v", role, path, mounts[path], m)
			}
		}
		for name, root := range wantRoots {
			if hp := vols[name].HostPath; hp == nil || hp.Path != root || *hp.Type != corev1.HostPathDirectoryOrCreate {
				t.Errorf("%s: volume %s = %+v, want the root %s", role, name, vols[name], root)
			}
		}
		if _, ok := vols["source"]; ok != roleReadsSource(role) {
			t.Errorf("%s: source volume present = %v", role, ok)
		}
		// The kubelet creates hostPath and subPath directories owned by
		// root, and fsGroup does not apply to hostPath volumes.
		if pod.SecurityContext.RunAsNonRoot != nil || pod.SecurityContext.RunAsUser != nil {
			t.Errorf("%s: a hostPath pod must run as the image's user: %+v", role, pod.SecurityContext)
		}
		sc := pod.Containers[0].SecurityContext
		if ptr.Deref(sc.AllowPrivilegeEscalation, true) || !ptr.Deref(sc.ReadOnlyRootFilesystem, false) || len(sc.Capabilities.Drop) != 1 ||
			sc.Capabilities.Drop[0] != "ALL" || pod.SecurityContext.SeccompProfile == nil {
			t.Errorf("%s: a hostPath pod keeps every other restriction: %+v %+v", role, pod.SecurityContext, sc)
		}
	}
}

func TestStoreAtItsRootHasNoSubPath(t *testing.T) {
	ib := testutil.MakeIndexBuild("b", "ns").OutputURI("file:///var/lib/indexbuild").Obj()
	pod := newBuildJob(ib, podDefaults{image: "img", fileStoreRoots: []string{"/var/lib/indexbuild"}}).Spec.Template.Spec
	if m := mountsByPath(pod.Containers[0])["/var/lib/indexbuild"]; m.Name != "output" || m.SubPath != "" {
		t.Errorf("mount %+v", m)
	}
}

func TestFileStoresOnClaims(t *testing.T) {
	ib := testutil.MakeIndexBuild("b", "ns").
		SourceURI("file:///data/tables/t1").SourceClaim("tables").
		OutputURI("file:///data/indexes/i1").OutputClaim("indexes").Obj()
	pod := newBuildJob(ib, podDefaults{image: "img"}).Spec.Template.Spec
	vols := volumesByName(pod)
	if c := vols["source"].PersistentVolumeClaim; c == nil || c.ClaimName != "tables" || !c.ReadOnly {
		t.Errorf("source volume %+v", vols["source"])
	}
	if c := vols["output"].PersistentVolumeClaim; c == nil || c.ClaimName != "indexes" || c.ReadOnly {
		t.Errorf("output volume %+v", vols["output"])
	}
	if m := mountsByPath(pod.Containers[0]); m["/data/tables/t1"].Name != "source" || m["/data/indexes/i1"].Name != "output" {
		t.Errorf("mounts %+v", m)
	}
	if !ptr.Deref(pod.SecurityContext.RunAsNonRoot, false) || ptr.Deref(pod.SecurityContext.FSGroup, 0) != podUser {
		t.Errorf("claims need no root: %+v", pod.SecurityContext)
	}
}

func TestPodSettingsReachEveryRole(t *testing.T) {
	settings := indexbuildv1alpha1.PodSettings{
		Labels:                    map[string]string{"team": "search", LabelRole: "mine"},
		Annotations:               map[string]string{"example.com/a": "1"},
		ServiceAccountName:        "indexer",
		NodeSelector:              map[string]string{"pool": "batch"},
		Tolerations:               []corev1.Toleration{{Key: "batch", Operator: corev1.TolerationOpExists}},
		Affinity:                  &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{}},
		TopologySpreadConstraints: []corev1.TopologySpreadConstraint{{MaxSkew: 1, TopologyKey: "zone", WhenUnsatisfiable: corev1.ScheduleAnyway}},
		PriorityClassName:         "low",
		ImagePullSecrets:          []corev1.LocalObjectReference{{Name: "regcred"}},
		Env:                       []corev1.EnvVar{{Name: "GOMEMLIMIT", Value: "1GiB"}},
		ScratchSize:               ptr.To(resource.MustParse("10Gi")),
	}
	workerRes := corev1.ResourceRequirements{
		Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2")},
		Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("4Gi")},
	}
	finalizeRes := corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m")}}
	ib := testutil.MakeIndexBuild("b", "ns").Pod(settings).WorkerResources(workerRes).FinalizeResources(finalizeRes).Obj()

	for role, tmpl := range map[string]corev1.PodTemplateSpec{
		RoleBuild:    stageJob(ib, RoleBuild, podDefaults{image: "img"}).Spec.Template,
		RoleMerge:    stageJob(ib, RoleMerge, podDefaults{image: "img"}).Spec.Template,
		RoleFinalize: stageJob(ib, RoleFinalize, podDefaults{image: "img"}).Spec.Template,
	} {
		pod, c := tmpl.Spec, tmpl.Spec.Containers[0]
		if tmpl.Labels["team"] != "search" || tmpl.Labels[LabelRole] != role || tmpl.Labels[LabelBuildName] != "b" {
			t.Errorf("%s: labels %v (the operator's own must win)", role, tmpl.Labels)
		}
		if !maps.Equal(tmpl.Annotations, settings.Annotations) {
			t.Errorf("%s: annotations %v", role, tmpl.Annotations)
		}
		if pod.ServiceAccountName != "indexer" || !ptr.Deref(pod.AutomountServiceAccountToken, false) {
			t.Errorf("%s: service account %q, token %v", role, pod.ServiceAccountName, pod.AutomountServiceAccountToken)
		}
		if pod.NodeSelector["pool"] != "batch" || len(pod.Tolerations) != 1 || pod.Affinity == nil ||
			len(pod.TopologySpreadConstraints) != 1 || pod.PriorityClassName != "low" || pod.ImagePullSecrets[0].Name != "regcred" {
			t.Errorf("%s: scheduling fields not copied: %+v", role, pod)
		}
		if c.Env[len(c.Env)-1].Name != "GOMEMLIMIT" {
			t.Errorf("%s: env %+v", role, c.Env)
		}
		if v := volumesByName(pod)["scratch"]; v.EmptyDir.SizeLimit.String() != "10Gi" {
			t.Errorf("%s: scratch %+v", role, v)
		}
		if q := c.Resources.Requests[corev1.ResourceEphemeralStorage]; q.String() != "10Gi" {
			t.Errorf("%s: ephemeral-storage request %v", role, q)
		}
		// Merge pods take the workers' resources unless spec.merge names
		// their own (TestMergeResources).
		want := map[string]string{RoleBuild: "2", RoleMerge: "2", RoleFinalize: "100m"}[role]
		if q := c.Resources.Requests[corev1.ResourceCPU]; q.String() != want {
			t.Errorf("%s: cpu request %v, want %s", role, q, want)
		}
	}
	if settings.Labels[LabelRole] != "mine" || ib.Spec.Worker.Resources.Requests[corev1.ResourceEphemeralStorage] != (resource.Quantity{}) {
		t.Error("podRecipe changed the IndexBuild's spec")
	}
}

// userVolumesBuild mounts a CA bundle in every role, a Secret in finalize
// and cleanup only, and declares a claim nobody mounts.
func userVolumesBuild(name, ns string) *indexbuildv1alpha1.IndexBuild {
	return testutil.MakeIndexBuild(name, ns).Pod(indexbuildv1alpha1.PodSettings{
		EnvFrom: []corev1.EnvFromSource{{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "store-settings"}}}},
		Volumes: []indexbuildv1alpha1.PodVolume{
			{Name: "ca", ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "ca-bundle"}}},
			{Name: "keys", Secret: &corev1.SecretVolumeSource{SecretName: "signing-keys"}},
			{Name: "unused", PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "nope"}},
			{Name: "work", EmptyDir: &corev1.EmptyDirVolumeSource{}},
		},
	}).WorkerVolumeMounts(corev1.VolumeMount{Name: "ca", MountPath: "/etc/ssl/custom", ReadOnly: true}, corev1.VolumeMount{Name: "work", MountPath: "/work"}).
		FinalizeVolumeMounts(corev1.VolumeMount{Name: "ca", MountPath: "/etc/ssl/custom", ReadOnly: true}, corev1.VolumeMount{Name: "keys", MountPath: "/keys", ReadOnly: true}).Obj()
}

// A role's pods get the user's volumes it mounts, and only those: a
// Secret or claim no mount names never keeps a pod from starting.
func TestUserVolumesReachTheRolesThatMountThem(t *testing.T) {
	ib := userVolumesBuild("b", "ns")
	for role, tc := range map[string]struct {
		tmpl   corev1.PodTemplateSpec
		mounts map[string]string // path -> volume
	}{
		RoleBuild:    {newBuildJob(ib, podDefaults{image: "img"}).Spec.Template, map[string]string{"/etc/ssl/custom": "ca", "/work": "work"}},
		RoleFinalize: {newFinalizeJob(ib, podDefaults{image: "img"}, mergePlan{}).Spec.Template, map[string]string{"/etc/ssl/custom": "ca", "/keys": "keys"}},
		RoleCleanup:  {newCleanupJob(ib, podDefaults{image: "img"}).Spec.Template, map[string]string{"/etc/ssl/custom": "ca", "/keys": "keys"}},
	} {
		pod, c := tc.tmpl.Spec, tc.tmpl.Spec.Containers[0]
		vols, mounts := volumesByName(pod), mountsByPath(c)
		for path, name := range tc.mounts {
			if m, ok := mounts[path]; !ok || m.Name != name {
				t.Errorf("%s: mount at %s = %+v, want volume %s", role, path, m, name)
			}
			if _, ok := vols[name]; !ok {
				t.Errorf("%s: volume %s mounted but not in the pod: %v", role, name, pod.Volumes)
			}
		}
		for _, absent := range []string{"unused"} {
			if _, ok := vols[absent]; ok {
				t.Errorf("%s: volume %s is in the pod though nothing mounts it", role, absent)
			}
		}
		if len(vols) != len(tc.mounts)+1 { // + scratch
			t.Errorf("%s: volumes %v", role, pod.Volumes)
		}
		if vols["ca"].ConfigMap == nil || vols["ca"].ConfigMap.Name != "ca-bundle" {
			t.Errorf("%s: ca volume %+v", role, vols["ca"])
		}
		if len(c.EnvFrom) != 1 || c.EnvFrom[0].ConfigMapRef.Name != "store-settings" {
			t.Errorf("%s: envFrom %+v", role, c.EnvFrom)
		}
	}
}

// The apiserver's own Pod Security admission judges the recipe: pods of a
// build on object storage or claims pass "restricted"; a hostPath store
// does not, and the apiserver's message says why.
var _ = Describe("Pod recipe under Pod Security", func() {
	var ns string
	BeforeEach(func() { ns = restrictedNamespace("ib-restricted-") })

	It("admits the pods of every stage of object-store and claim-backed builds", func() {
		for _, ib := range []*indexbuildv1alpha1.IndexBuild{
			testutil.MakeIndexBuild("s3", ns).Obj(),
			testutil.MakeIndexBuild("claims", ns).SourceURI("file:///data/t").SourceClaim("tables").
				OutputURI("file:///data/i").OutputClaim("indexes").Pod(indexbuildv1alpha1.PodSettings{ScratchSize: ptr.To(resource.MustParse("1Gi"))}).Obj(),
			userVolumesBuild("volumes", ns),
		} {
			for _, job := range stageJobs(ib, podDefaults{image: "img"}) {
				pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{GenerateName: ib.Name + "-", Namespace: ns}, Spec: job.Spec.Template.Spec}
				Expect(k8sClient.Create(ctx, pod)).To(Succeed(), "pod of %s", ib.Name)
			}
		}
	})

	It("refuses a hostPath store, naming the violations", func() {
		ib := testutil.MakeIndexBuild("host", ns).OutputURI("file:///var/lib/indexbuild/x").Obj()
		job := newBuildJob(ib, podDefaults{image: "img", fileStoreRoots: []string{testFileStoreRoot}})
		pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{GenerateName: "host-", Namespace: ns}, Spec: job.Spec.Template.Spec}
		err := k8sClient.Create(ctx, pod)
		Expect(err).To(MatchError(SatisfyAll(ContainSubstring("violates PodSecurity"), ContainSubstring("hostPath"))))
	})
})

// restrictedNamespace creates a namespace that enforces the restricted Pod
// Security level and returns its name.
func restrictedNamespace(prefix string) string {
	GinkgoHelper()
	n := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: prefix, Labels: map[string]string{
		"pod-security.kubernetes.io/enforce": "restricted",
	}}}
	Expect(k8sClient.Create(ctx, n)).To(Succeed())
	return n.Name
}
