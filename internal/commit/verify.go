package commit

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/indexbuild/indexbuild/internal/output"
	"github.com/indexbuild/indexbuild/internal/retry"
	"github.com/indexbuild/indexbuild/internal/sstindex"
	"github.com/indexbuild/indexbuild/internal/staging"
	"github.com/indexbuild/indexbuild/internal/storage"
)

// ErrVerify marks a committed output that fails verification: no marker, a
// bad marker, or a listed file missing or different. It is invalid input
// (exit 4): reading the same objects again gives the same answer. Storage
// trouble during verification stays retryable (exit 1) instead.
var ErrVerify = fmt.Errorf("%w: verification failed", retry.ErrInvalidInput)

// VerifyError lists every problem found.
type VerifyError struct {
	Problems []string
}

func (e *VerifyError) Error() string {
	return fmt.Sprintf("%v: %d problem(s):\n  %s", ErrVerify, len(e.Problems), strings.Join(e.Problems, "\n  "))
}

func (e *VerifyError) Unwrap() error { return ErrVerify }

// Verify checks that b holds a commit marker without problems, that every
// file it lists exists with the listed size and SHA-256, and that each file
// with a key range holds exactly the keys from its First to its Last. It
// returns the marker, and a *VerifyError naming each problem.
func Verify(ctx context.Context, b storage.Bucket, parallelism int) (Marker, error) {
	if parallelism <= 0 {
		parallelism = DefaultCopyParallelism
	}
	data, err := storage.ReadAll(ctx, b, MarkerKey)
	if errors.Is(err, storage.ErrNotFound) {
		return Marker{}, &VerifyError{Problems: []string{fmt.Sprintf("no commit marker %s", storage.ObjectURI(b.URI(), MarkerKey))}}
	}
	if err != nil {
		return Marker{}, err
	}
	m, err := parseMarker(data)
	if err != nil {
		return Marker{}, &VerifyError{Problems: []string{err.Error()}}
	}
	problems := m.Problems()

	files := m.Files
	if m.Source != nil {
		files = append(slices.Clone(files), *m.Source)
	}
	var mu sync.Mutex
	err = forEach(ctx, parallelism, files, func(ctx context.Context, f staging.File) error {
		err := checkContent(ctx, b, f)
		if err == nil && f.KeyRange != nil {
			err = checkKeyRange(ctx, b, f)
		}
		switch {
		case err == nil:
			return nil
		case errors.Is(err, storage.ErrNotFound):
			err = fmt.Errorf("%s is missing", f.Path)
		case errors.Is(err, storage.ErrRetryable), errors.Is(err, storage.ErrPermanent):
			return err // I/O trouble, not a finding
		}
		mu.Lock()
		problems = append(problems, err.Error())
		mu.Unlock()
		return nil
	})
	if err != nil {
		return Marker{}, err
	}
	if len(problems) > 0 {
		slices.Sort(problems)
		return m, &VerifyError{Problems: problems}
	}
	return m, nil
}

// checkKeyRange compares the first and last entry key of the SSTable f with
// the key range the marker gives it: a reader picks the file by that range,
// so a wrong one hides entries.
func checkKeyRange(ctx context.Context, b storage.Bucket, f staging.File) error {
	// Ranged reads: the footer, the index and the first and last block.
	r, err := sstindex.OpenObject(ctx, b, f.Path, nil)
	if err != nil {
		return err
	}
	defer r.Close()
	first, last, err := sstindex.EntryBounds(r)
	switch {
	case err != nil:
		return fmt.Errorf("%s: read its keys: %w", f.Path, err)
	case first == nil:
		return fmt.Errorf("%s has no entries, the marker gives it key range %x..%x", f.Path, f.KeyRange.First, f.KeyRange.Last)
	case !bytes.Equal(first, f.KeyRange.First) || !bytes.Equal(last, f.KeyRange.Last):
		return fmt.Errorf("%s holds keys %x..%x, the marker gives it key range %x..%x", f.Path, first, last, f.KeyRange.First, f.KeyRange.Last)
	}
	return nil
}

// VerifyOutput verifies the version root's pointer publishes (Verify), and
// that its marker records the task the pointer names. No pointer is a
// problem like no marker.
func VerifyOutput(ctx context.Context, root storage.Bucket, parallelism int) (Marker, output.Pointer, error) {
	v, p, err := OpenPublished(ctx, root)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return Marker{}, p, &VerifyError{Problems: []string{fmt.Sprintf("nothing published: no %s", storage.ObjectURI(root.URI(), output.PointerKey))}}
	case errors.Is(err, retry.ErrInvalidInput):
		return Marker{}, p, &VerifyError{Problems: []string{err.Error()}}
	case err != nil:
		return Marker{}, p, err
	}
	m, err := Verify(ctx, v, parallelism)
	if err != nil {
		return m, p, err
	}
	if err := staging.CheckTask(p.Marker, root.URI(), m.Task, p.Task); err != nil {
		return m, p, &VerifyError{Problems: []string{fmt.Sprintf("%s records other task metadata than %s: %v", p.Marker, output.PointerKey, err)}}
	}
	return m, p, nil
}
