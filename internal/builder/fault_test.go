package builder_test

import (
	"context"
	"strings"
	"testing"

	"github.com/indexbuild/indexbuild/internal/builder"
	"github.com/indexbuild/indexbuild/internal/gentable"
	"github.com/indexbuild/indexbuild/internal/retry"
	"github.com/indexbuild/indexbuild/internal/rows"
	"github.com/indexbuild/indexbuild/internal/storage/storagetest"
)

// TestInjectedFaultFailsTheFirstAttempts: FaultEnv "0:2" fails the first
// two attempts at partition 0 (exit 1), the third builds, and a finished
// partition exits 0 at once without counting an attempt.
func TestInjectedFaultFailsTheFirstAttempts(t *testing.T) {
	t.Setenv(builder.FaultEnv, "0:2")
	src := generate(t, gentable.Options{Rows: 50, Format: rows.JSONL})
	out := storagetest.Mem().Open(t)
	cfg := config(t, src, out, indexTask)
	for attempt := 1; attempt <= 2; attempt++ {
		_, err := builder.Build(context.Background(), cfg)
		if err == nil || retry.ExitCode(err) != retry.ExitRetryable || !strings.Contains(err.Error(), builder.FaultEnv) {
			t.Fatalf("attempt %d: err = %v, want the injected retryable fault", attempt, err)
		}
	}
	sum, err := builder.Build(context.Background(), cfg)
	if err != nil || sum.AlreadyDone || sum.Rows != 50 {
		t.Fatalf("attempt 3: %+v, %v; want the partition built", sum, err)
	}
	sum, err = builder.Build(context.Background(), cfg)
	if err != nil || !sum.AlreadyDone {
		t.Fatalf("attempt 4: %+v, %v; want AlreadyDone", sum, err)
	}
	if faults, _ := out.List(context.Background(), "staging/_faults/"); len(faults) != 3 {
		t.Errorf("attempts counted: %d, want 3 (a finished partition is not an attempt)", len(faults))
	}

	t.Setenv(builder.FaultEnv, "zero:x")
	if _, err := builder.Build(context.Background(), config(t, src, storagetest.Mem().Open(t), indexTask)); retry.ExitCode(err) != retry.ExitInvalidInput {
		t.Errorf("a malformed %s: %v, want exit 4", builder.FaultEnv, err)
	}
}
