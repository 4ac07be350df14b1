package query

import (
	"context"
	"errors"
	"fmt"

	"github.com/indexbuild/indexbuild/internal/commit"
	"github.com/indexbuild/indexbuild/internal/output"
	"github.com/indexbuild/indexbuild/internal/storage"
)

// Open opens the index published at the output root: the version its
// pointer names, through that version's commit marker. An output without a
// pointer is not an index yet (storage.ErrNotFound).
//
// The index follows the pointer when retention removes the version it
// reads (see Run); a version removed between reading the pointer and its
// marker is followed the same way.
func Open(ctx context.Context, root storage.Bucket) (*Index, error) {
	_, p, err := commit.OpenPublished(ctx, root)
	if err != nil {
		return nil, err
	}
	ix := newIndex()
	ix.root, ix.jobID = root, p.JobID
	if err := ix.load(ctx, p.JobID); err != nil {
		if err := ix.follow(ctx, err); err != nil {
			return nil, err
		}
	}
	return ix, nil
}

// load makes ix read version jobID of its root, through the version's
// commit marker. Only once the marker is read does ix drop what it opened
// in the version it read before: a failed load leaves ix as it was.
func (ix *Index) load(ctx context.Context, jobID int64) error {
	v := output.Version(ix.root, jobID)
	m, err := commit.ReadMarker(ctx, v)
	if err != nil {
		return err
	}
	ix.release()
	ix.jobID, ix.out, ix.task = jobID, v, m.Task
	ix.setFiles(m.Files)
	return nil
}

// follow handles err, a failure reading the version ix reads (or, for an
// Index being opened, the version the pointer named). When err is a
// NotFound and the pointer now names a newer version, the version was
// retired (keepVersions: retention removes it once newer tasks publish):
// follow opens the newer version and returns nil, and the caller tries once
// more. Otherwise it returns err, saying why it did not follow.
func (ix *Index) follow(ctx context.Context, err error) error {
	if !errors.Is(err, storage.ErrNotFound) || ix.root == nil {
		return err
	}
	p, _, found, perr := output.ReadPointer(ctx, ix.root)
	switch {
	case perr != nil:
		return fmt.Errorf("%w (re-reading the pointer %s: %v)", err, output.PointerKey, perr)
	case !found || p.JobID <= ix.jobID:
		// Retention never removes the published version.
		return fmt.Errorf("output %s: the published version %d is damaged: %w", ix.root.URI(), ix.jobID, err)
	}
	if lerr := ix.load(ctx, p.JobID); lerr != nil {
		return ix.retired(ix.jobID, p.JobID, lerr)
	}
	return nil
}

// retired says that version old was retired and that version next, which
// the pointer named then, could not be read either (err).
func (ix *Index) retired(old, next int64, err error) error {
	if !errors.Is(err, storage.ErrNotFound) {
		return err
	}
	return fmt.Errorf("output %s: version %d was retired (removed by retention after newer tasks published) while it was read, and version %d, which the pointer named next, is gone too: %w",
		ix.root.URI(), old, next, err)
}
