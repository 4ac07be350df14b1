package controller

import (
	"context"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	indexbuildv1alpha1 "github.com/indexbuild/indexbuild/api/v1alpha1"
)

// Manager flags of the admin policy.
const (
	AllowedBuilderImagesFlag   = "--allowed-builder-images"
	AllowBuilderCommandFlag    = "--allow-builder-command"
	AllowedServiceAccountsFlag = "--allowed-service-accounts"
	SecretOptInLabelFlag       = "--secret-opt-in-label"
)

// DefaultSecretOptInLabel is the manager's default --secret-opt-in-label.
const DefaultSecretOptInLabel = "indexbuild.dev/usable-by-indexbuilds"

// AllowAny is the list entry that allows every value.
const AllowAny = "*"

// AdminPolicy is what the cluster admin lets the author of an IndexBuild
// choose for its pods (the manager's flags). Whoever may create an
// IndexBuild otherwise runs any code (builder image and command) with any
// service account's token and any Secret of the namespace: create pods and
// read Secrets through the operator. The zero AdminPolicy allows only the
// operator's own image, no command, no service account, and every Secret.
type AdminPolicy struct {
	// BuilderImages are the patterns spec.builder.image must match: an
	// image as written, or a prefix ending in "*" ("registry.example.com/
	// indexbuild/*"); "*" allows any. The operator's own builder image is
	// always allowed.
	BuilderImages []string
	// BuilderCommand allows spec.builder.command.
	BuilderCommand bool
	// ServiceAccounts spec.pod.serviceAccountName may name; "*" allows any.
	// Without one, pods run as the namespace's default account with no
	// token mounted.
	ServiceAccounts []string
	// SecretOptInLabel, when set, makes a Secret usable by a build (its
	// secretRefs and spec.pod.env secretKeyRefs) only while it carries
	// this label with the value "true". Empty: every Secret of the
	// namespace is usable.
	SecretOptInLabel string
}

// policyRefusal is a build the admin policy refuses: the field, what it
// holds, and the rule it breaks.
type policyRefusal struct{ field, value, rule string }

func (e *policyRefusal) Error() string {
	return fmt.Sprintf("%s %q is not allowed by the operator's policy: %s", e.field, e.value, e.rule)
}

// secretMissingError is a Secret a build names that does not exist (yet):
// its opt-in cannot be read. It can heal (GitOps may apply the Secret
// next), so it is shown and retried, not a refusal.
type secretMissingError struct{ field, name string }

func (e *secretMissingError) Error() string {
	return fmt.Sprintf("%s names Secret %q, which does not exist: create it (the operator's policy reads its labels before any pod may load it)", e.field, e.name)
}

// policyChoice is one thing an IndexBuild's author chose that a rule of
// the policy judges.
type policyChoice struct {
	field, value string
	judge        func(ctx context.Context, r *IndexBuildReconciler, ib *indexbuildv1alpha1.IndexBuild, c policyChoice) error
}

// policyChoices are what a role's pods would get from the spec, each with
// the rule that judges it. A role's pods load only the Secrets and stores
// they use (the cleanup pod no source), so only those are judged.
func policyChoices(ib *indexbuildv1alpha1.IndexBuild, role string) []policyChoice {
	var choices []policyChoice
	if b := ib.Spec.Builder; b != nil {
		if b.Image != "" {
			choices = append(choices, policyChoice{"spec.builder.image", b.Image, judgeImage})
		}
		if len(b.Command) > 0 {
			choices = append(choices, policyChoice{"spec.builder.command", strings.Join(b.Command, " "), judgeCommand})
		}
	}
	settings := ib.Spec.Pod
	if settings == nil {
		settings = &indexbuildv1alpha1.PodSettings{}
	}
	if sa := settings.ServiceAccountName; sa != "" {
		choices = append(choices, policyChoice{"spec.pod.serviceAccountName", sa, judgeServiceAccount})
	}
	if ref := ib.Spec.Source.SecretRef; ref != nil && roleReadsSource(role) {
		choices = append(choices, policyChoice{"spec.source.secretRef.name", ref.Name, judgeSecret})
	}
	if ref := ib.Spec.Output.SecretRef; ref != nil {
		choices = append(choices, policyChoice{"spec.output.secretRef.name", ref.Name, judgeSecret})
	}
	for i, env := range settings.Env {
		if env.ValueFrom != nil && env.ValueFrom.SecretKeyRef != nil {
			choices = append(choices, policyChoice{fmt.Sprintf("spec.pod.env[%d].valueFrom.secretKeyRef.name", i), env.ValueFrom.SecretKeyRef.Name, judgeSecret})
		}
	}
	for i, from := range settings.EnvFrom {
		if from.SecretRef != nil {
			choices = append(choices, policyChoice{fmt.Sprintf("spec.pod.envFrom[%d].secretRef.name", i), from.SecretRef.Name, judgeSecret})
		}
	}
	for i, v := range settings.Volumes {
		if v.Secret != nil && roleMounts(ib, role, v.Name) {
			choices = append(choices, policyChoice{fmt.Sprintf("spec.pod.volumes[%d].secret.secretName", i), v.Secret.SecretName, judgeSecret})
		}
	}
	return choices
}

// checkPolicy refuses a Job of role whose pods would break the admin
// policy: a *policyRefusal for the first choice a rule refuses, a
// *secretMissingError for a Secret it cannot judge yet.
func (r *IndexBuildReconciler) checkPolicy(ctx context.Context, ib *indexbuildv1alpha1.IndexBuild, role string) error {
	for _, c := range policyChoices(ib, role) {
		if err := c.judge(ctx, r, ib, c); err != nil {
			return err
		}
	}
	return nil
}

func judgeImage(_ context.Context, r *IndexBuildReconciler, _ *indexbuildv1alpha1.IndexBuild, c policyChoice) error {
	if c.value == r.podDefaults.image || matchesAny(c.value, r.policy.BuilderImages) {
		return nil
	}
	return &policyRefusal{c.field, c.value, fmt.Sprintf("builder images must match %s=%s or be the operator's own %s",
		AllowedBuilderImagesFlag, listOrNone(r.policy.BuilderImages), r.podDefaults.image)}
}

func judgeCommand(_ context.Context, r *IndexBuildReconciler, _ *indexbuildv1alpha1.IndexBuild, c policyChoice) error {
	if r.policy.BuilderCommand {
		return nil
	}
	return &policyRefusal{c.field, c.value, "the image's own entrypoint runs unless the manager runs with " + AllowBuilderCommandFlag}
}

func judgeServiceAccount(_ context.Context, r *IndexBuildReconciler, _ *indexbuildv1alpha1.IndexBuild, c policyChoice) error {
	if matchesAny(c.value, r.policy.ServiceAccounts) {
		return nil
	}
	return &policyRefusal{c.field, c.value, fmt.Sprintf("service accounts must be one of %s=%s",
		AllowedServiceAccountsFlag, listOrNone(r.policy.ServiceAccounts))}
}

// judgeSecret reads only the Secret's metadata (get, never list or watch,
// and never its data).
func judgeSecret(ctx context.Context, r *IndexBuildReconciler, ib *indexbuildv1alpha1.IndexBuild, c policyChoice) error {
	label := r.policy.SecretOptInLabel
	if label == "" {
		return nil
	}
	ns := ib.Namespace
	secret := &metav1.PartialObjectMetadata{}
	secret.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Secret"))
	if err := r.apiReader.Get(ctx, types.NamespacedName{Namespace: ns, Name: c.value}, secret); err != nil {
		if apierrors.IsNotFound(err) {
			return &secretMissingError{field: c.field, name: c.value}
		}
		return fmt.Errorf("get Secret %s/%s for %s: %w", ns, c.value, c.field, err)
	}
	if secret.Labels[label] == "true" {
		return nil
	}
	return &policyRefusal{c.field, c.value, fmt.Sprintf("a Secret is usable by IndexBuilds only with the label %s=true (%s)", label, SecretOptInLabelFlag)}
}

// matchesAny reports whether value is one of patterns: equal to it, or
// starting with a pattern's text before its trailing "*".
func matchesAny(value string, patterns []string) bool {
	for _, p := range patterns {
		if prefix, wild := strings.CutSuffix(p, "*"); (wild && strings.HasPrefix(value, prefix)) || p == value {
			return true
		}
	}
	return false
}

func listOrNone(list []string) string {
	if len(list) == 0 {
		return "(none)"
	}
	return strings.Join(list, ",")
}
