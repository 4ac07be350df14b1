package controller

import (
	"context"
	"testing"

	batchv1 "k8s.io/api/batch/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/indexbuild/indexbuild/internal/testutil"
)

// Regression: without the finalize pod's summary the marker's URI was
// appended after the output URI's query string
// (s3://b/p?region=x/versions/...).
func TestCommitFromFinalizeWithoutSummaryNamesTheMarker(t *testing.T) {
	r := &IndexBuildReconciler{apiReader: fake.NewClientBuilder().Build()}
	for uri, want := range map[string]string{
		"s3://b/p?region=x":  "s3://b/p/versions/7/metadata.json?region=x",
		"file:///data/out/":  "file:///data/out/versions/7/metadata.json",
		"gs://bucket/prefix": "gs://bucket/prefix/versions/7/metadata.json",
	} {
		ib := testutil.MakeIndexBuild("books", "ns").JobID(7).OutputURI(uri).Obj()
		job := &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: "books-7-finalize", Namespace: "ns"}}
		if got := r.commitFromFinalize(context.Background(), ib, job).MarkerURI; got != want {
			t.Errorf("output %q: marker %q, want %q", uri, got, want)
		}
	}
}
