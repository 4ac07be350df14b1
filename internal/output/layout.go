// Package output is the layout of an output root: which IndexBuild owns it,
// the pointer readers follow, and one version per task:
//
//	_owner.json                     Owner, create-if-absent by the first data-plane process given one
//	current.json                    Pointer to the published version, replaced conditionally
//	current.json.lock               file:// only: the lock of the pointer's compare-and-swap
//	versions/<jobID>/staging/...    the task's staging (internal/staging)
//	versions/<jobID>/part_*         its committed files
//	versions/<jobID>/metadata.json  its commit marker (internal/commit), written last
//
// Nothing else at the root belongs to the layout: DeleteLayout leaves any
// other key alone.
package output

import (
	"strconv"
	"strings"

	"github.com/indexbuild/indexbuild/internal/storage"
)

// Keys of the layout, relative to the output root.
const (
	OwnerKey       = "_owner.json"
	PointerKey     = "current.json"
	VersionsPrefix = "versions/"
)

// FormatVersion is the format of the owner and pointer objects.
const FormatVersion = 1

// VersionPrefix is the prefix of task jobID's version.
func VersionPrefix(jobID int64) string {
	return VersionsPrefix + strconv.FormatInt(jobID, 10) + "/"
}

// ParseVersionKey splits a key under versions/ into the version's jobID and
// the key inside the version; false for keys outside any version.
func ParseVersionKey(key string) (jobID int64, rest string, ok bool) {
	s, ok := strings.CutPrefix(key, VersionsPrefix)
	if !ok {
		return 0, "", false
	}
	id, rest, ok := strings.Cut(s, "/")
	if !ok {
		return 0, "", false
	}
	jobID, err := strconv.ParseInt(id, 10, 64)
	if err != nil || jobID < 1 || strconv.FormatInt(jobID, 10) != id {
		return 0, "", false
	}
	return jobID, rest, true
}

// Version is task jobID's version of root: a bucket whose keys are relative
// to versions/<jobID>/, where staging and commit work as on a root of their
// own.
func Version(root storage.Bucket, jobID int64) storage.Bucket {
	return storage.Sub(root, VersionPrefix(jobID))
}
