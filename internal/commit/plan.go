package commit

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"

	"github.com/indexbuild/indexbuild/internal/staging"
	"github.com/indexbuild/indexbuild/internal/storage"
	"github.com/indexbuild/indexbuild/internal/taskmeta"
)

// copyStep copies one staged file to its final name.
type copyStep struct {
	src    staging.File // as staged
	srcMD5 []byte       // as the store listed it; nil when it has none
	final  staging.File // as it will be committed
}

// plan is what a finalize will commit.
type plan struct {
	steps      []copyStep
	partitions int // non-empty partitions
	rows       int64
	staged     []string // every key under staging/, for the cleanup
}

// makePlan lists staging/, checks the task manifest and every partition's
// metadata against task, and maps the non-empty partitions densely onto
// 0..N-1, reading up to parallelism partition metadata objects at once. It
// reads only; nothing is copied unless all of staging checks out.
func makePlan(ctx context.Context, b storage.Bucket, task taskmeta.Meta, partitions, parallelism int) (plan, error) {
	objects, err := b.List(ctx, staging.Prefix)
	if err != nil {
		return plan{}, err
	}
	staged := make(map[string]storage.Attrs, len(objects))
	var metaPartitions []int
	for _, o := range objects {
		staged[o.Key] = o
		if p, ok := staging.ParsePartitionMetaKey(o.Key); ok {
			metaPartitions = append(metaPartitions, p)
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

	slices.Sort(metaPartitions)
	metas := make([]staging.PartitionMeta, len(metaPartitions))
	positions := make([]int, len(metaPartitions))
	for i := range positions {
		positions[i] = i
	}
	err = forEach(ctx, parallelism, positions, func(ctx context.Context, i int) error {
		p := metaPartitions[i]
		m, exists, err := staging.ReadPartitionMeta(ctx, b, p)
		if err != nil {
			return err
		}
		if !exists {
			// Listed a moment ago: a concurrent finalizer's cleanup, whose
			// marker Finalize then finds.
			return fmt.Errorf("%s disappeared", staging.PartitionMetaKey(p))
		}
		metas[i] = m
		return staging.CheckTask(staging.PartitionMetaKey(p), b.URI(), m.Task, task)
	})
	if err != nil {
		return plan{}, err
	}
	if err := checkComplete(metas, partitions); err != nil {
		return plan{}, err
	}

	pl := plan{staged: slices.Collect(maps.Keys(staged))}
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
			src, ok := staged[f.Path]
			if !ok {
				return plan{}, fmt.Errorf("staged file %s of partition %d is missing", f.Path, m.Partition)
			}
			if src.Size != f.Size {
				return plan{}, fmt.Errorf("%w: staged file %s is %d bytes, partition metadata says %d", ErrCorruptStaging, f.Path, src.Size, f.Size)
			}
			_, element, ext, _ := staging.ParsePartFileKey(f.Path) // Validate checked the form
			final := f
			final.Path = FinalKey(n, element, ext)
			pl.steps = append(pl.steps, copyStep{src: f, srcMD5: src.MD5, final: final})
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
