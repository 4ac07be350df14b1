package query

import (
	"context"
	"fmt"

	"github.com/indexbuild/indexbuild/internal/staging"
	"github.com/indexbuild/indexbuild/internal/storage"
)

// Open opens the index at out.
//
// Interim: until the commit marker (internal/commit) is merged, the files
// come from the staged partition metadata of partitions 0..n-1.
func Open(ctx context.Context, out storage.Bucket, tmpDir string) (*Index, error) {
	var files []staging.File
	for p := 0; ; p++ {
		m, ok, err := staging.ReadPartitionMeta(ctx, out, p)
		if err != nil {
			return nil, err
		}
		if !ok {
			if p == 0 {
				return nil, fmt.Errorf("no index at %s", out.URI())
			}
			break
		}
		files = append(files, m.Files...)
	}
	return FromFiles(out, files, tmpDir), nil
}
