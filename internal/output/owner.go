package output

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/indexbuild/indexbuild/internal/retry"
	"github.com/indexbuild/indexbuild/internal/storage"
)

// Owner is the IndexBuild an output root belongs to. The zero Owner is
// "no ownership check" (local use, tests).
type Owner struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
}

func (o Owner) String() string { return o.Namespace + "/" + o.Name }

// IsZero reports whether o names nobody.
func (o Owner) IsZero() bool { return o == Owner{} }

// ParseOwner parses "namespace/name"; "" is the zero Owner.
func ParseOwner(s string) (Owner, error) {
	if s == "" {
		return Owner{}, nil
	}
	ns, name, ok := strings.Cut(s, "/")
	if !ok || ns == "" || name == "" || strings.Contains(name, "/") {
		return Owner{}, fmt.Errorf("%w: owner %q is not namespace/name", retry.ErrInvalidInput, s)
	}
	return Owner{Namespace: ns, Name: name}, nil
}

type ownerRecord struct {
	FormatVersion int `json:"formatVersion"`
	Owner
}

// OwnerError is an output root owned by another IndexBuild.
type OwnerError struct {
	URI          string
	Owner, Asker Owner
}

func (e *OwnerError) Error() string {
	return fmt.Sprintf("%v: output %s belongs to IndexBuild %s, not %s: point spec.output.uri elsewhere or delete %s first",
		retry.ErrOutputInUse, e.URI, e.Owner, e.Asker, e.Owner)
}

func (e *OwnerError) Is(target error) bool { return target == retry.ErrOutputInUse }

// Claim makes sure root belongs to owner: it records owner with a
// create-if-absent write if root has no owner yet, and fails with an
// *OwnerError (retry.ErrOutputInUse) without writing anything if another
// IndexBuild owns it. The same namespace/name (a recreated object) keeps
// its root. The zero owner checks nothing.
func Claim(ctx context.Context, root storage.Bucket, owner Owner) error {
	if owner.IsZero() {
		return nil
	}
	cur, found, err := ReadOwner(ctx, root)
	if err != nil || found {
		return checkOwner(root, cur, owner, err)
	}
	data, err := json.Marshal(ownerRecord{FormatVersion: FormatVersion, Owner: owner})
	if err != nil {
		return err
	}
	err = root.Create(ctx, OwnerKey, bytes.NewReader(append(data, '\n')))
	if !errors.Is(err, storage.ErrExists) {
		return err
	}
	// Another process claimed it first: its claim stands.
	cur, found, err = ReadOwner(ctx, root)
	if err == nil && !found {
		// There, but not readable as there: removed since (an owner's
		// delete), or a store that calls "denied" not found. Not another
		// owner: say what happened and let the caller try again.
		err = &storage.Error{Op: "claim", Key: OwnerKey, Kind: storage.ErrRetryable,
			Err: fmt.Errorf("%s exists (a create-if-absent was refused) but reads as not found", storage.ObjectURI(root.URI(), OwnerKey))}
	}
	return checkOwner(root, cur, owner, err)
}

func checkOwner(root storage.Bucket, cur, owner Owner, err error) error {
	if err == nil && cur != owner {
		err = &OwnerError{URI: root.URI(), Owner: cur, Asker: owner}
	}
	return err
}

// ReadOwner reads the owner of root; found is false for an unowned root.
func ReadOwner(ctx context.Context, root storage.Bucket) (Owner, bool, error) {
	data, err := storage.ReadAll(ctx, root, OwnerKey)
	if errors.Is(err, storage.ErrNotFound) {
		return Owner{}, false, nil
	}
	if err != nil {
		return Owner{}, false, err
	}
	var rec ownerRecord
	if err := json.Unmarshal(data, &rec); err != nil || rec.FormatVersion != FormatVersion || rec.Namespace == "" || rec.Name == "" {
		return Owner{}, false, fmt.Errorf("%w: %s is not an owner record (formatVersion %d): %v",
			retry.ErrInvalidInput, storage.ObjectURI(root.URI(), OwnerKey), FormatVersion, err)
	}
	return rec.Owner, true, nil
}
