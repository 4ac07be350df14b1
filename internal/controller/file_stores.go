package controller

import (
	"fmt"
	"strings"

	indexbuildv1alpha1 "github.com/indexbuild/indexbuild/api/v1alpha1"
	"github.com/indexbuild/indexbuild/internal/fileroots"
)

// FileStoreRootsFlag is the manager flag that lists the allowed roots.
const FileStoreRootsFlag = "--file-store-roots"

// fileStoreError is a file:// store the operator will not mount.
type fileStoreError struct{ msg string }

func (e *fileStoreError) Error() string { return e.msg }

// checkFileStores refuses file:// stores that would mount a node path the
// admin did not allow: the pods of a namespace user must not reach
// /etc or any other path on the node. A store on a PersistentVolumeClaim
// reaches only the claim and is always allowed.
func checkFileStores(ib *indexbuildv1alpha1.IndexBuild, roots []string) error {
	stores := []struct {
		field, uri string
		claim      *indexbuildv1alpha1.PersistentVolumeClaimReference
	}{
		{"spec.source", ib.Spec.Source.URI, ib.Spec.Source.PersistentVolumeClaim},
		{"spec.output", ib.Spec.Output.URI, ib.Spec.Output.PersistentVolumeClaim},
	}
	for _, s := range stores {
		p, isFile, err := fileroots.Path(s.uri)
		if !isFile {
			continue
		}
		if err != nil {
			return &fileStoreError{fmt.Sprintf("%s.uri: %v", s.field, err)}
		}
		if s.claim != nil {
			continue
		}
		if err := fileroots.Check(p, roots); err != nil {
			allowed := "none"
			if len(roots) > 0 {
				allowed = strings.Join(roots, ",")
			}
			return &fileStoreError{fmt.Sprintf("%s.uri %s: a hostPath store %v (manager flag %s=%s); name a %s.persistentVolumeClaim or ask the cluster admin to allow the path",
				s.field, s.uri, err, FileStoreRootsFlag, allowed, s.field)}
		}
	}
	return nil
}
