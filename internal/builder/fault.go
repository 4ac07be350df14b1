package builder

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/indexbuild/indexbuild/internal/retry"
	"github.com/indexbuild/indexbuild/internal/staging"
)

// FaultEnv injects a failure into build workers, for tests of retries and
// restarts on a real cluster (set it in spec.pod.env): "P:N" makes the
// first N attempts at partition P fail with exit 1, whichever Job runs
// them. Attempts are counted in the task's staging (staging/_faults/),
// which finalize removes with the rest of staging.
const FaultEnv = "INDEXBUILD_FAULT_FAIL_PARTITION"

// injectFault fails this attempt at cfg's partition when FaultEnv says so.
func injectFault(ctx context.Context, cfg Config) error {
	spec := os.Getenv(FaultEnv)
	if spec == "" {
		return nil
	}
	ps, ns, ok := strings.Cut(spec, ":")
	partition, err1 := strconv.Atoi(ps)
	attempts, err2 := strconv.Atoi(ns)
	if !ok || err1 != nil || err2 != nil || attempts < 0 {
		return fmt.Errorf("%w: %s=%q, want PARTITION:ATTEMPTS", retry.ErrInvalidInput, FaultEnv, spec)
	}
	if partition != cfg.Partition {
		return nil
	}
	prefix := fmt.Sprintf("%s_faults/p%d/", staging.Prefix, partition)
	seen, err := cfg.Output.List(ctx, prefix)
	if err != nil {
		return err
	}
	attempt := len(seen) + 1
	if err := cfg.Output.Write(ctx, prefix+strconv.Itoa(attempt), strings.NewReader("")); err != nil {
		return err
	}
	if attempt > attempts {
		return nil
	}
	// A plain error: retryable (exit 1).
	return fmt.Errorf("injected fault (%s): attempt %d of the %d that fail at partition %d", FaultEnv, attempt, attempts, partition)
}
