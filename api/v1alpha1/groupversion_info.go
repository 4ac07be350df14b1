// Package v1alpha1 contains the IndexBuild API, group indexbuild.dev.
// +kubebuilder:object:generate=true
// +groupName=indexbuild.dev
package v1alpha1

import (
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/scheme"
)

var (
	// GroupVersion is the group and version of the IndexBuild API.
	GroupVersion = schema.GroupVersion{Group: "indexbuild.dev", Version: "v1alpha1"}

	// SchemeBuilder adds the API's types to a scheme.
	SchemeBuilder = &scheme.Builder{GroupVersion: GroupVersion}

	// AddToScheme adds the API's types to a scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)
