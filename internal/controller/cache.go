package controller

import (
	batchv1 "k8s.io/api/batch/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// CacheByObject limits the manager's Job cache to the operator's own Jobs,
// so it does not hold every Job in the cluster.
func CacheByObject() map[client.Object]cache.ByObject {
	own, err := labels.NewRequirement(LabelBuildName, selection.Exists, nil)
	if err != nil {
		// A constant, valid label key: NewRequirement cannot fail.
		panic(err)
	}
	return map[client.Object]cache.ByObject{
		&batchv1.Job{}: {Label: labels.NewSelector().Add(*own)},
	}
}
