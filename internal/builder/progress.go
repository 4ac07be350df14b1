package builder

import (
	"fmt"
	"sync/atomic"
	"time"

	"github.com/indexbuild/indexbuild/internal/summary"
)

// counters are what the scan of a partition has done so far.
type counters struct {
	rows atomic.Int64
	read atomic.Int64 // input weight read, out of the partition's total
}

// reportProgress logs rows, rows/s and the share of the partition's input
// read so far every cfg.ProgressEvery until the returned stop is called,
// which logs a final line.
func reportProgress(cfg Config, c *counters, total int64) (stop func()) {
	if cfg.Log == nil || cfg.ProgressEvery <= 0 {
		return func() {}
	}
	start := time.Now()
	line := func() {
		elapsed := time.Since(start).Seconds()
		pct := 100.0
		if total > 0 {
			pct = min(100, 100*float64(c.read.Load())/float64(total))
		}
		n := c.rows.Load()
		fmt.Fprintln(cfg.Log, summary.Progress{Partition: cfg.Partition, Partitions: cfg.Partitions, Rows: n, RowsPerSecond: float64(n) / max(elapsed, 1e-9), PercentRead: pct})
	}
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(cfg.ProgressEvery)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				line()
			case <-done:
				return
			}
		}
	}()
	return func() {
		close(done)
		<-finished
		line()
	}
}

// logf writes one progress line for the partition, if there is a log.
func logf(cfg Config, format string, args ...any) {
	if cfg.Log != nil {
		fmt.Fprintf(cfg.Log, "partition %d/%d: "+format+"\n", append([]any{cfg.Partition, cfg.Partitions}, args...)...)
	}
}
