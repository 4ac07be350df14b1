package controller

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
)

// jobRefusedError: the API server refused to create a child Job. Refused as
// invalid (422) it can never be created from this spec, and ends the build;
// any other refusal (a quota, an admission webhook, permissions, a namespace
// being deleted) can heal, and is shown and retried with backoff.
type jobRefusedError struct {
	job, role string
	err       error
}

func (e *jobRefusedError) Error() string {
	return fmt.Sprintf("the API refused to create Job %s: %s", e.job, apiMessage(e.err))
}

func (e *jobRefusedError) Unwrap() error { return e.err }

// invalid reports whether the refusal is final: the Job itself is invalid.
func (e *jobRefusedError) invalid() bool { return apierrors.IsInvalid(e.err) }

// message is the condition message: the API's own words, and for an
// invalid Job the IndexBuild fields behind the Job fields it names.
func (e *jobRefusedError) message() string {
	msg := e.Error()
	if !e.invalid() {
		return msg + "; retrying with backoff until the API accepts it"
	}
	var fields []string
	var status apierrors.APIStatus
	if errors.As(e.err, &status) && status.Status().Details != nil {
		for _, cause := range status.Status().Details.Causes {
			for _, f := range specFieldsOf(e.role, cause.Field, cause.Message) {
				if !slices.Contains(fields, f) {
					fields = append(fields, f)
				}
			}
		}
	}
	if len(fields) > 0 {
		msg += "; check " + strings.Join(fields, ", ")
	}
	return msg
}

// apiMessage is what the API server said, without client-go's prefixes.
func apiMessage(err error) string {
	var status apierrors.APIStatus
	if errors.As(err, &status) && status.Status().Message != "" {
		return status.Status().Message
	}
	return err.Error()
}

// jobFieldsToSpec maps a Job field the API refused (a fragment of its
// path, first match wins) to the IndexBuild field the pod recipe
// (pod_recipe.go) made it from.
var jobFieldsToSpec = []struct{ jobField, specField string }{
	{"template.metadata.labels", "spec.pod.labels"},
	{"template.metadata.annotations", "spec.pod.annotations"},
	{".nodeSelector", "spec.pod.nodeSelector"},
	{".tolerations", "spec.pod.tolerations"},
	{".affinity", "spec.pod.affinity"},
	{".topologySpreadConstraints", "spec.pod.topologySpreadConstraints"},
	{".priorityClassName", "spec.pod.priorityClassName"},
	{".serviceAccountName", "spec.pod.serviceAccountName"},
	{".imagePullSecrets", "spec.pod.imagePullSecrets"},
	{".envFrom", "spec.source.secretRef, spec.output.secretRef"},
	{".env", "spec.pod.env"},
	{".image", "spec.builder.image"},
	{".command", "spec.builder.command"},
	{"volumeMounts", "spec.source.uri, spec.output.uri (file:// stores are mounted at their paths, beside the scratch volume at " + scratchPath + ")"},
	{".volumes", "spec.source, spec.output (claims and file:// stores), spec.pod.scratchSize"},
	{".hostname", "metadata.name"},
	{"metadata.name", "metadata.name"},
}

// specFieldsOf names the IndexBuild fields behind a refused Job field
// (jobField, with the API's detail), none when it knows of none. Resources
// come from the role's own settings, and the scratch size is requested as
// ephemeral storage.
func specFieldsOf(role, jobField, detail string) []string {
	if strings.Contains(jobField, ".resources") {
		fields := []string{"spec.finalize.resources"}
		switch role {
		case RoleBuild:
			fields = []string{"spec.worker.resources"}
		case RoleMerge:
			fields = []string{"spec.merge.resources", "spec.worker.resources"}
		}
		if strings.Contains(jobField+detail, "ephemeral-storage") {
			fields = append(fields, "spec.pod.scratchSize")
		}
		return fields
	}
	for _, m := range jobFieldsToSpec {
		if strings.Contains(jobField, m.jobField) {
			return []string{m.specField}
		}
	}
	return nil
}
