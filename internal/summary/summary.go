// Package summary defines the one-line JSON summaries that data-plane pods
// print on stdout and write to their termination-message file. The operator
// reads them from the pod status for progress and for the commit summary.
package summary

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"time"
)

// DefaultTerminationPath is where Kubernetes reads a container's termination
// message from unless the pod spec says otherwise.
const DefaultTerminationPath = "/dev/termination-log"

// Kubernetes keeps at most 4096 bytes of a termination message.
const maxTerminationBytes = 4096

// Worker is what a build worker reports for its partition.
type Worker struct {
	Partition      int     `json:"partition"`
	Rows           int64   `json:"rows"`
	Bytes          int64   `json:"bytes"`
	Files          int     `json:"files"`
	ElapsedSeconds float64 `json:"elapsedSeconds"`
	AlreadyDone    bool    `json:"alreadyDone,omitempty"`
	Error          string  `json:"error,omitempty"`
}

// Merge is what a merge pod reports for its key range.
type Merge struct {
	Range          int     `json:"range"`
	Ranges         int     `json:"ranges"`
	Entries        int64   `json:"entries"`
	Bytes          int64   `json:"bytes"`
	Files          int     `json:"files"`
	ElapsedSeconds float64 `json:"elapsedSeconds"`
	AlreadyDone    bool    `json:"alreadyDone,omitempty"`
	Error          string  `json:"error,omitempty"`
}

// Commit is what finalize reports.
type Commit struct {
	// MarkerURI is the commit marker of the task's version.
	MarkerURI string `json:"markerURI"`
	// Version is the task's version prefix in the output, "versions/<jobID>/".
	Version string `json:"version,omitempty"`
	// PointerURI is the pointer (current.json) that publishes Version.
	PointerURI       string    `json:"pointerURI,omitempty"`
	Files            int       `json:"files"`
	Bytes            int64     `json:"bytes"`
	Rows             int64     `json:"rows"`
	Partitions       int       `json:"partitions"`
	CommittedAt      time.Time `json:"committedAt"`
	AlreadyCommitted bool      `json:"alreadyCommitted,omitempty"`
	Error            string    `json:"error,omitempty"`
}

// Emit writes v as one JSON line to w and, when terminationPath is not
// empty, to that file (truncated to what Kubernetes keeps). A failure to
// write the termination file is returned but w has been written already.
func Emit(w io.Writer, terminationPath string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode summary: %w", err)
	}
	if _, err := fmt.Fprintf(w, "%s\n", b); err != nil {
		return fmt.Errorf("print summary: %w", err)
	}
	if terminationPath == "" {
		return nil
	}
	if len(b) > maxTerminationBytes {
		b = b[:maxTerminationBytes]
	}
	if err := os.WriteFile(terminationPath, b, 0o644); err != nil {
		return fmt.Errorf("write termination message: %w", err)
	}
	return nil
}

// ParseCommit reads a finalize termination message.
func ParseCommit(msg string) (Commit, error) {
	var c Commit
	if err := json.Unmarshal([]byte(msg), &c); err != nil {
		return Commit{}, fmt.Errorf("parse commit summary: %w", err)
	}
	return c, nil
}

// ParseWorker reads a worker termination message.
func ParseWorker(msg string) (Worker, error) {
	var s Worker
	if err := json.Unmarshal([]byte(msg), &s); err != nil {
		return Worker{}, fmt.Errorf("parse worker summary: %w", err)
	}
	return s, nil
}

// Progress is a build worker's progress, which it logs to stderr every
// --progress-interval as one line (String); `kubectl indexbuild status`
// reads the latest line of each running worker for the live rate.
type Progress struct {
	Partition, Partitions int
	Rows                  int64
	RowsPerSecond         float64
	// PercentRead is the share of the partition's input read so far.
	PercentRead float64
}

// String is the progress line:
// "partition 3/16: 120000 rows, 40000 rows/s, 37.5% of share read".
func (p Progress) String() string {
	return fmt.Sprintf("partition %d/%d: %d rows, %.0f rows/s, %.1f%% of share read", p.Partition, p.Partitions, p.Rows, p.RowsPerSecond, p.PercentRead)
}

// ParseProgress reads a progress line; false for any other line.
func ParseProgress(line string) (Progress, bool) {
	var p Progress
	n, err := fmt.Sscanf(line, "partition %d/%d: %d rows, %f rows/s, %f%% of share read", &p.Partition, &p.Partitions, &p.Rows, &p.RowsPerSecond, &p.PercentRead)
	return p, err == nil && n == 5
}
