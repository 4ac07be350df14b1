package builder

import (
	"fmt"
	"sync/atomic"
	"time"
)

// reportProgress logs rows, rows/s and the share of the partition's input
// read so far every cfg.ProgressEvery until the returned stop is called,
// which logs a final line with the peak RSS.
func reportProgress(cfg Config, rows, read *atomic.Int64, total int64, start time.Time) (stop func()) {
	if cfg.Log == nil || cfg.ProgressEvery <= 0 {
		return func() {}
	}
	line := func() {
		elapsed := time.Since(start).Seconds()
		pct := 100.0
		if total > 0 {
			pct = min(100, 100*float64(read.Load())/float64(total))
		}
		fmt.Fprintf(cfg.Log, "partition %d/%d: %d rows, %.0f rows/s, %.1f%% of share read\n",
			cfg.Partition, cfg.Partitions, rows.Load(), float64(rows.Load())/max(elapsed, 1e-9), pct)
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
		if rss, ok := PeakRSS(); ok {
			fmt.Fprintf(cfg.Log, "partition %d/%d: peak RSS %.1f MiB\n", cfg.Partition, cfg.Partitions, float64(rss)/(1<<20))
		}
	}
}
