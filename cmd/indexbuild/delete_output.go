package main

import (
	"context"
	"flag"
	"fmt"
	"io"

	"github.com/indexbuild/indexbuild/internal/commit"
	"github.com/indexbuild/indexbuild/internal/output"
	"github.com/indexbuild/indexbuild/internal/retry"
	"github.com/indexbuild/indexbuild/internal/storage"
)

func init() {
	register("delete-output", "remove an output root's versions, pointer and owner record (deletionPolicy Delete)", runDeleteOutput)
}

// runDeleteOutput removes the output layout (current.json, versions/,
// _owner.json last) and nothing else at the root. It exits 0 when nothing
// of the layout is left (also when there was nothing), 5 when another
// IndexBuild owns the root, and 1 when it should be run again.
func runDeleteOutput(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("delete-output", flag.ContinueOnError)
	fs.SetOutput(stderr)
	uri := fs.String("output", "", "URI of the index root in object storage (required)")
	ownerFlag := fs.String("owner", "", "namespace/name of the IndexBuild deleting it; another owner's root is refused")
	parallelism := fs.Int("parallelism", commit.DefaultCopyParallelism, "maximum concurrent deletes")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *uri == "" || *parallelism < 1 {
		return fmt.Errorf("%w: --output and --parallelism >= 1 are required", retry.ErrInvalidInput)
	}
	owner, err := output.ParseOwner(*ownerFlag)
	if err != nil {
		return err
	}
	b, err := storage.Open(ctx, *uri)
	if err != nil {
		return err
	}
	defer b.Close()
	if err := output.DeleteLayout(ctx, b, owner, *parallelism); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "deleted: %s (%s, %s, %s)\n", *uri, output.PointerKey, output.VersionsPrefix, output.OwnerKey)
	return nil
}
