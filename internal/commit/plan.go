package commit

import (
	"cmp"
	"context"
	"fmt"
	"slices"

	"github.com/indexbuild/indexbuild/internal/staging"
	"github.com/indexbuild/indexbuild/internal/storage"
	"github.com/indexbuild/indexbuild/internal/taskmeta"
)

// copyStep copies one staged file to its final name.
type copyStep struct {
	src   staging.File // as staged
	final staging.File // as it will be committed
}

// plan is what a finalize will commit.
type plan struct {
	steps      []copyStep
	partitions int // non-empty partitions
	rows       int64
}

// makePlan lists staging/, checks the task manifest and every partition's
// metadata against task, and maps the non-empty partitions densely onto
// 0..N-1. It reads only; nothing is copied unless all of staging checks out.
func makePlan(ctx context.Context, b storage.Bucket, task taskmeta.Meta, partitions int) (plan, error) {
	objects, err := b.List(ctx, staging.Prefix)
	if err != nil {
		return plan{}, err
	}
	staged := make(map[string]int64, len(objects)) // key -> size
	var metaKeys []int
	for _, o := range objects {
		staged[o.Key] = o.Size
		if p, ok := staging.ParsePartitionMetaKey(o.Key); ok {
			metaKeys = append(metaKeys, p)
		}
	}
	if _, ok := staged[staging.TaskManifestKey]; ok {
		recorded, err := staging.ReadTaskManifest(ctx, b)
		if err != nil {
			return plan{}, err
		}
		if err := staging.CheckTask(staging.TaskManifestKey, b.URI(), recorded, task); err != nil {
			return plan{}, err
		}
	}

	slices.Sort(metaKeys)
	metas := make([]staging.PartitionMeta, 0, len(metaKeys))
	for _, p := range metaKeys {
		m, _, err := staging.ReadPartitionMeta(ctx, b, p)
		if err != nil {
			return plan{}, err
		}
		if err := staging.CheckTask(staging.PartitionMetaKey(p), b.URI(), m.Task, task); err != nil {
			return plan{}, err
		}
		metas = append(metas, m)
	}
	if err := checkComplete(metas, partitions); err != nil {
		return plan{}, err
	}

	var pl plan
	for _, m := range metas {
		pl.rows += m.Rows
		if len(m.Files) == 0 {
			continue // an empty partition drops out of the dense numbering
		}
		n := pl.partitions
		pl.partitions++
		files := slices.Clone(m.Files)
		slices.SortFunc(files, func(a, b staging.File) int { return cmp.Compare(a.Element, b.Element) })
		for _, f := range files {
			size, ok := staged[f.Path]
			if !ok {
				return plan{}, fmt.Errorf("staged file %s of partition %d is missing", f.Path, m.Partition)
			}
			if size != f.Size {
				return plan{}, fmt.Errorf("%w: staged file %s is %d bytes, partition metadata says %d", ErrCorruptStaging, f.Path, size, f.Size)
			}
			_, element, ext, _ := staging.ParsePartFileKey(f.Path) // Validate checked the form
			final := f
			final.Path = FinalKey(n, element, ext)
			pl.steps = append(pl.steps, copyStep{src: f, final: final})
		}
	}
	return pl, nil
}

// checkComplete requires metadata for exactly partitions 0..partitions-1,
// each agreeing on the count: finalize must never commit a build with a
// partition missing.
func checkComplete(metas []staging.PartitionMeta, partitions int) error {
	var missing []int
	for i, j := 0, 0; i < partitions; i++ {
		if j < len(metas) && metas[j].Partition == i {
			j++
			continue
		}
		missing = append(missing, i)
	}
	for _, m := range metas {
		if m.Partitions != partitions || m.Partition >= partitions {
			return fmt.Errorf("%w: partition %d was staged as one of %d partitions, finalize expects %d",
				ErrCorruptStaging, m.Partition, m.Partitions, partitions)
		}
	}
	if len(missing) > 0 {
		// Retryable: the operator runs finalize only after every worker
		// succeeded, so this is a listing that has not caught up yet or a
		// concurrent finalizer's cleanup (then the marker now exists).
		return fmt.Errorf("partitions %v of %d have no metadata in %s", missing, partitions, staging.Prefix)
	}
	return nil
}
