package summary

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestEmitAndParseCommit(t *testing.T) {
	path := filepath.Join(t.TempDir(), "termination-log")
	want := Commit{MarkerURI: "file:///x/metadata.json", Files: 3, Bytes: 99, Rows: 7, Partitions: 2, CommittedAt: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	var out bytes.Buffer
	if err := Emit(&out, path, want); err != nil {
		t.Fatal(err)
	}
	if strings.Count(out.String(), "\n") != 1 {
		t.Fatalf("stdout summary is not one line: %q", out.String())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	got, err := ParseCommit(string(b))
	if err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Fatalf("got %+v, want %+v", got, want)
	}
}

func TestEmitTruncatesToKubernetesLimit(t *testing.T) {
	path := filepath.Join(t.TempDir(), "termination-log")
	if err := Emit(&bytes.Buffer{}, path, Worker{Error: strings.Repeat("x", 10000)}); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Size() != maxTerminationBytes {
		t.Fatalf("termination message is %d bytes, want %d", st.Size(), maxTerminationBytes)
	}
}

func TestParseRejectsGarbage(t *testing.T) {
	if _, err := ParseCommit("not json"); err == nil {
		t.Fatal("ParseCommit accepted garbage")
	}
	if _, err := ParseWorker("{"); err == nil {
		t.Fatal("ParseWorker accepted garbage")
	}
}

func TestProgressLineRoundTrip(t *testing.T) {
	p := Progress{Partition: 3, Partitions: 16, Rows: 120000, RowsPerSecond: 40000, PercentRead: 37.5}
	line := p.String()
	if line != "partition 3/16: 120000 rows, 40000 rows/s, 37.5% of share read" {
		t.Fatalf("String() = %q", line)
	}
	got, ok := ParseProgress(line)
	if !ok || got != p {
		t.Fatalf("ParseProgress(%q) = %+v, %v", line, got, ok)
	}
	for _, other := range []string{"partition 3/16: done, peak RSS 12.0 MiB", "", `{"partition":3}`} {
		if _, ok := ParseProgress(other); ok {
			t.Errorf("ParseProgress(%q) parsed", other)
		}
	}
}
